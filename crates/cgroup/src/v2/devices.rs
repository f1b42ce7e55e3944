//! Device access rules on cgroup v2: there is no `devices` controller; the kernel asks a
//! `BPF_PROG_TYPE_CGROUP_DEVICE` program attached to the cgroup (as runc and crun do).
//!
//! [`program`] turns OCI rules into that program: the rules are tried from the last to
//! the first, and the first one that matches decides (a later rule overrides an earlier
//! one, as with the v1 controller); nothing matching means deny. An allow rule matches a
//! request whose every access is one it allows; a deny rule matches a request asking for
//! any access it denies. [`apply`] loads it and attaches it to the cgroup, replacing the
//! programs an earlier `apply` attached.

use std::path::Path;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::error::{Error, Result};
use crate::sys::{self, Insn};

// The context: `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`,
// access_type = (access << 16) | type.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;

// eBPF opcodes used here.
const LDX_W: u8 = 0x61; // dst = *(u32 *)(src + off)
const AND32_K: u8 = 0x54; // dst &= imm (32 bit)
const RSH32_K: u8 = 0x74; // dst >>= imm (32 bit)
const MOV64_X: u8 = 0xbf; // dst = src
const MOV64_K: u8 = 0xb7; // dst = imm
const JNE_K: u8 = 0x55; // if dst != imm goto +off
const JEQ_K: u8 = 0x15; // if dst == imm goto +off
const JNE_X: u8 = 0x5d; // if dst != src goto +off
const EXIT: u8 = 0x95;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | (dst & 0x0f),
        off,
        imm,
    }
}

fn access_bits(access: Option<&str>) -> i32 {
    let access = access.unwrap_or("rwm");
    let mut bits = 0;
    for c in access.chars() {
        bits |= match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => 0,
        };
    }
    bits
}

/// The block of one rule: tests that jump to the next block when it does not apply,
/// then the verdict.
fn rule_block(rule: &LinuxDeviceCgroup) -> Vec<Insn> {
    // (instruction, whether it jumps to the next block)
    let mut body: Vec<(Insn, bool)> = Vec::new();
    match rule.typ() {
        Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => {
            body.push((insn(JNE_K, 2, 0, 0, DEV_CHAR), true));
        }
        Some(LinuxDeviceType::B) => body.push((insn(JNE_K, 2, 0, 0, DEV_BLOCK), true)),
        // `a` (or none): every type; `p` (fifo) is not a device the kernel asks about.
        _ => {}
    }
    let bits = access_bits(rule.access().as_deref());
    let all = ACC_READ | ACC_WRITE | ACC_MKNOD;
    if rule.allow() {
        if bits & all != all {
            // Every requested access must be allowed: (req & bits) == req.
            body.push((insn(MOV64_X, 1, 3, 0, 0), false));
            body.push((insn(AND32_K, 1, 0, 0, bits), false));
            body.push((insn(JNE_X, 1, 3, 0, 0), true));
        }
    } else if bits & all != all {
        // Any denied access requested: (req & bits) != 0.
        body.push((insn(MOV64_X, 1, 3, 0, 0), false));
        body.push((insn(AND32_K, 1, 0, 0, bits), false));
        body.push((insn(JEQ_K, 1, 0, 0, 0), true));
    }
    if let Some(major) = rule.major().filter(|m| *m >= 0) {
        body.push((insn(JNE_K, 4, 0, 0, major as i32), true));
    }
    if let Some(minor) = rule.minor().filter(|m| *m >= 0) {
        body.push((insn(JNE_K, 5, 0, 0, minor as i32), true));
    }
    body.push((insn(MOV64_K, 0, 0, 0, i32::from(rule.allow())), false));
    body.push((insn(EXIT, 0, 0, 0, 0), false));
    let len = body.len();
    body.into_iter()
        .enumerate()
        .map(|(i, (mut ins, jumps))| {
            if jumps {
                // To the first instruction after this block.
                ins.off = (len - i - 1) as i16;
            }
            ins
        })
        .collect()
}

/// The device program for `rules` (see the module docs).
pub(crate) fn program(rules: &[LinuxDeviceCgroup]) -> Vec<Insn> {
    let mut p = vec![
        insn(LDX_W, 2, 1, 0, 0),        // r2 = access_type
        insn(AND32_K, 2, 0, 0, 0xffff), // r2 = type
        insn(LDX_W, 3, 1, 0, 0),        // r3 = access_type
        insn(RSH32_K, 3, 0, 0, 16),     // r3 = access
        insn(LDX_W, 4, 1, 4, 0),        // r4 = major
        insn(LDX_W, 5, 1, 8, 0),        // r5 = minor
    ];
    for rule in rules.iter().rev() {
        let block = rule_block(rule);
        // A rule without any test decides every request: what would follow it (earlier
        // rules, the default) is unreachable, which the verifier refuses.
        let unconditional = block.len() == 2;
        p.extend(block);
        if unconditional {
            return p;
        }
    }
    p.push(insn(MOV64_K, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

/// Loads the program of `rules` and attaches it to the cgroup at `dir`, then detaches
/// the programs attached before (so that at no moment the cgroup is unguarded).
pub(crate) fn apply(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    let err = |op: &'static str| {
        move |source: std::io::Error| Error::Bpf {
            op,
            path: dir.to_path_buf(),
            source,
        }
    };
    let cgroup = std::fs::File::open(dir).map_err(err("open cgroup"))?;
    let old = sys::bpf_attached_device_programs(&cgroup).map_err(err("query"))?;
    let prog = sys::bpf_load_device_program(&program(rules)).map_err(err("load"))?;
    sys::bpf_attach_device_program(&cgroup, &prog).map_err(err("attach"))?;
    for id in old {
        // A program detached meanwhile by someone else is fine.
        let _ = sys::bpf_detach_device_program_by_id(&cgroup, id);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxDeviceCgroupBuilder;

    fn rule(
        allow: bool,
        typ: Option<LinuxDeviceType>,
        maj: Option<i64>,
        min: Option<i64>,
        access: &str,
    ) -> LinuxDeviceCgroup {
        let mut b = LinuxDeviceCgroupBuilder::default()
            .allow(allow)
            .access(access);
        if let Some(t) = typ {
            b = b.typ(t);
        }
        if let Some(m) = maj {
            b = b.major(m);
        }
        if let Some(m) = min {
            b = b.minor(m);
        }
        b.build().unwrap()
    }

    /// Runs the program on one request, as the kernel would (a tiny interpreter of the
    /// instructions this module emits).
    fn verdict(p: &[Insn], typ: i32, access: i32, major: i32, minor: i32) -> bool {
        let ctx = [((access << 16) | typ) as u32, major as u32, minor as u32];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (dst, src) = ((i.regs & 0x0f) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_W => r[dst] = u64::from(ctx[i.off as usize / 4]),
                AND32_K => r[dst] = (r[dst] as u32 & i.imm as u32) as u64,
                RSH32_K => r[dst] = ((r[dst] as u32) >> i.imm) as u64,
                MOV64_X => r[dst] = r[src],
                MOV64_K => r[dst] = i.imm as i64 as u64,
                JNE_K if r[dst] != i.imm as u32 as u64 => pc += i.off as usize,
                JEQ_K if r[dst] == i.imm as u32 as u64 => pc += i.off as usize,
                JNE_X if r[dst] != r[src] => pc += i.off as usize,
                JNE_K | JEQ_K | JNE_X => {}
                EXIT => return r[0] == 1,
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    #[test]
    fn dockers_default_rules() {
        let c = Some(LinuxDeviceType::C);
        let rules = vec![
            rule(false, Some(LinuxDeviceType::A), None, None, "rwm"),
            rule(true, c, None, None, "m"),
            rule(true, Some(LinuxDeviceType::B), None, None, "m"),
            rule(true, c, Some(1), Some(3), "rwm"),
            rule(true, c, Some(136), None, "rwm"),
        ];
        let p = program(&rules);
        let rw = ACC_READ | ACC_WRITE;
        assert!(verdict(&p, DEV_CHAR, rw, 1, 3), "/dev/null");
        assert!(!verdict(&p, DEV_CHAR, ACC_READ, 1, 1), "/dev/mem");
        assert!(
            verdict(&p, DEV_CHAR, ACC_MKNOD, 1, 1),
            "mknod of any char device"
        );
        assert!(
            verdict(&p, DEV_BLOCK, ACC_MKNOD, 8, 0),
            "mknod of any block device"
        );
        assert!(!verdict(&p, DEV_BLOCK, ACC_READ, 8, 0), "reading /dev/sda");
        assert!(verdict(&p, DEV_CHAR, rw, 136, 7), "a pty");
        assert!(!verdict(&p, DEV_CHAR, rw | ACC_MKNOD, 1, 5), "nothing else");
    }

    #[test]
    fn later_rules_override_and_deny_matches_any_denied_access() {
        let c = Some(LinuxDeviceType::C);
        let rules = vec![
            rule(true, c, Some(1), Some(3), "rw"),
            rule(false, c, Some(1), Some(3), "w"),
        ];
        let p = program(&rules);
        assert!(verdict(&p, DEV_CHAR, ACC_READ, 1, 3));
        assert!(!verdict(&p, DEV_CHAR, ACC_WRITE, 1, 3));
        assert!(!verdict(&p, DEV_CHAR, ACC_READ | ACC_WRITE, 1, 3));
        let all = program(&[rule(true, Some(LinuxDeviceType::A), None, None, "rwm")]);
        assert!(verdict(&all, DEV_BLOCK, ACC_READ | ACC_WRITE, 8, 0));
        assert!(
            !verdict(&program(&[]), DEV_CHAR, ACC_READ, 1, 3),
            "no rule: deny"
        );
    }
}
