//! Unit tests: the profiles are checked by running the compiled BPF in a small interpreter of
//! the instructions seccomp accepts, so they assert what the kernel would decide. This module
//! holds the interpreter and the helpers; the tests are grouped by what they check: docker's
//! default profile, hand-written OCI profiles, docker-format JSON profiles.

mod builtin_default;
mod docker_json;
mod profiles;

use std::collections::HashSet;

use oci_spec::runtime::{
    Arch as OciArch, Capability, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg,
    LinuxSeccompArgBuilder, LinuxSeccompFilterFlag, LinuxSeccompOperator, LinuxSyscall,
};

use super::syscalls::Abi;
use super::*;
use crate::caps;

const ALLOW: u32 = 0x7fff_0000;
const ERRNO: u32 = 0x0005_0000;
const KILL_PROCESS: u32 = 0x8000_0000;
const TRAP: u32 = 0x0003_0000;
const LOG: u32 = 0x7ffc_0000;
const EPERM: u32 = ERRNO | 1;
const ENOSYS: u32 = ERRNO | 38;

/// Runs `program` on a `seccomp_data` the way the kernel does, returning the filter's result.
fn run(program: &BpfProgram, audit_arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    let mut data = [0u8; 64];
    data[0..4].copy_from_slice(&nr.to_ne_bytes());
    data[4..8].copy_from_slice(&audit_arch.to_ne_bytes());
    for (i, arg) in args.iter().enumerate() {
        data[16 + 8 * i..24 + 8 * i].copy_from_slice(&arg.to_ne_bytes());
    }
    let insns = program.instructions();
    let mut a: u32 = 0;
    let mut pc = 0usize;
    for _ in 0..insns.len() {
        let insn = &insns[pc];
        pc += 1;
        match insn.code {
            // BPF_LD | BPF_W | BPF_ABS
            0x20 => {
                let k = insn.k as usize;
                assert!(k % 4 == 0 && k + 4 <= 64, "load outside seccomp_data: {k}");
                a = u32::from_ne_bytes(data[k..k + 4].try_into().unwrap());
            }
            // BPF_ALU | BPF_AND | BPF_K
            0x54 => a &= insn.k,
            // BPF_JMP | BPF_JA
            0x05 => pc += insn.k as usize,
            // BPF_JMP | BPF_JEQ/JGT/JGE/JSET | BPF_K
            0x15 | 0x25 | 0x35 | 0x45 => {
                let taken = match insn.code {
                    0x15 => a == insn.k,
                    0x25 => a > insn.k,
                    0x35 => a >= insn.k,
                    _ => a & insn.k != 0,
                };
                pc += usize::from(if taken { insn.jt } else { insn.jf });
            }
            // BPF_RET | BPF_K
            0x06 => return insn.k,
            other => panic!("instruction {other:#x} the interpreter does not know"),
        }
        assert!(pc < insns.len(), "jump out of the program");
    }
    panic!("program did not return")
}

fn x86_64(program: &BpfProgram, name: &str, args: [u64; 6]) -> u32 {
    let nr = Abi::X86_64.syscall_number(name).unwrap();
    run(program, Abi::X86_64.audit_arch(), nr, args)
}

fn no_args() -> [u64; 6] {
    [0; 6]
}

fn arg0(value: u64) -> [u64; 6] {
    [value, 0, 0, 0, 0, 0]
}

fn default_program(arch: Arch, caps: &oci_spec::runtime::LinuxCapabilities) -> BpfProgram {
    compile(&docker_default(arch, caps), arch).unwrap()
}

fn with_caps(extra: &[Capability]) -> oci_spec::runtime::LinuxCapabilities {
    let mut set: HashSet<_> = caps::DOCKER_DEFAULT.iter().copied().collect();
    set.extend(extra.iter().copied());
    caps::from_set(set)
}

fn names_allowed(profile: &LinuxSeccomp) -> HashSet<String> {
    profile
        .syscalls()
        .as_ref()
        .unwrap()
        .iter()
        .filter(|s| s.action() == LinuxSeccompAction::ScmpActAllow)
        .flat_map(|s| s.names().iter().cloned())
        .collect()
}
