//! Unit tests: the profiles are checked by running the compiled BPF in a small interpreter of
//! the instructions seccomp accepts, so they assert what the kernel would decide.

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

#[test]
fn default_profile_shape() {
    let profile = docker_default(Arch::X86_64, &caps::docker_default());
    assert_eq!(profile.default_action(), LinuxSeccompAction::ScmpActErrno);
    assert_eq!(profile.default_errno_ret(), Some(1));
    assert_eq!(
        profile.architectures().as_deref(),
        Some(
            &[
                OciArch::ScmpArchX86_64,
                OciArch::ScmpArchX86,
                OciArch::ScmpArchX32
            ][..]
        )
    );
    let allowed = names_allowed(&profile);
    for name in [
        "read",
        "write",
        "execve",
        "openat",
        "clone",
        "socket",
        "arch_prctl",
    ] {
        assert!(allowed.contains(name), "{name} should be allowed");
    }
    for name in [
        "mount",
        "umount2",
        "unshare",
        "setns",
        "reboot",
        "kcmp",
        "kexec_load",
    ] {
        assert!(!allowed.contains(name), "{name} should need a capability");
    }
    // ptrace needs no capability on kernels from 4.8, where seccomp can no longer be bypassed
    // with it.
    assert!(allowed.contains("ptrace"));
    for name in ["io_uring_setup", "io_uring_enter", "io_uring_register"] {
        assert!(!allowed.contains(name), "{name} is blocked since docker 25");
    }
    // ARM-only rules are not in an x86_64 profile, and the reverse.
    assert!(!allowed.contains("set_tls"));
    let arm = docker_default(Arch::Aarch64, &caps::docker_default());
    assert!(names_allowed(&arm).contains("set_tls"));
    assert!(!names_allowed(&arm).contains("arch_prctl"));
    assert_eq!(
        arm.architectures().as_deref(),
        Some(&[OciArch::ScmpArchAarch64, OciArch::ScmpArchArm][..])
    );
}

#[test]
fn capabilities_open_syscalls() {
    let plain = docker_default(Arch::X86_64, &caps::docker_default());
    let admin = docker_default(Arch::X86_64, &with_caps(&[Capability::SysAdmin]));
    let boot = docker_default(Arch::X86_64, &with_caps(&[Capability::SysBoot]));
    let ptrace = docker_default(Arch::X86_64, &with_caps(&[Capability::SysPtrace]));
    assert!(names_allowed(&admin).contains("mount"));
    assert!(names_allowed(&admin).contains("unshare"));
    assert!(!names_allowed(&plain).contains("reboot"));
    assert!(names_allowed(&boot).contains("reboot"));
    assert!(!names_allowed(&plain).contains("pidfd_getfd"));
    assert!(names_allowed(&ptrace).contains("pidfd_getfd"));
    assert!(names_allowed(&ptrace).contains("kcmp"));
    // With CAP_SYS_ADMIN the clone3 -> ENOSYS rule is excluded.
    let clone3_errno = |p: &LinuxSeccomp| {
        p.syscalls().as_ref().unwrap().iter().any(|s| {
            s.names().iter().any(|n| n == "clone3")
                && s.action() == LinuxSeccompAction::ScmpActErrno
        })
    };
    assert!(clone3_errno(&plain));
    assert!(!clone3_errno(&admin));
}

#[test]
fn default_program_decisions_x86_64() {
    let program = default_program(Arch::X86_64, &caps::docker_default());
    for name in [
        "read",
        "write",
        "execve",
        "getpid",
        "exit_group",
        "arch_prctl",
        "fchmodat2",
    ] {
        assert_eq!(x86_64(&program, name, no_args()), ALLOW, "{name}");
    }
    for name in [
        "mount",
        "umount2",
        "unshare",
        "setns",
        "reboot",
        "kcmp",
        "io_uring_setup",
    ] {
        assert_eq!(x86_64(&program, name, no_args()), EPERM, "{name}");
    }
    assert_eq!(x86_64(&program, "clone3", no_args()), ENOSYS);
    // clone: plain fork flags pass, any namespace flag fails.
    assert_eq!(x86_64(&program, "clone", arg0(0x1200011)), ALLOW);
    for flag in [
        0x0002_0000,
        0x0400_0000,
        0x1000_0000,
        0x4000_0000,
        0x0200_0000,
    ] {
        assert_eq!(
            x86_64(&program, "clone", arg0(0x11 | flag)),
            EPERM,
            "{flag:#x}"
        );
    }
    // personality: only docker's five values.
    for ok in [0, 8, 0x20000, 0x20008, 0xffff_ffff] {
        assert_eq!(x86_64(&program, "personality", arg0(ok)), ALLOW, "{ok:#x}");
    }
    for denied in [0x0040000, 0x1, 0x1_ffff_ffff] {
        assert_eq!(
            x86_64(&program, "personality", arg0(denied)),
            EPERM,
            "{denied:#x}"
        );
    }
    // socket: everything but AF_VSOCK.
    assert_eq!(x86_64(&program, "socket", arg0(2)), ALLOW);
    assert_eq!(x86_64(&program, "socket", arg0(40)), EPERM);
    // Syscalls above the highest the profile names: ENOSYS, so libc falls back.
    let highest = Abi::X86_64.syscall_number("removexattrat").unwrap();
    assert_eq!(
        run(&program, Abi::X86_64.audit_arch(), highest + 1, no_args()),
        ENOSYS
    );
    assert_eq!(
        run(&program, Abi::X86_64.audit_arch(), 1000, no_args()),
        ENOSYS
    );
    // x32 syscalls (bit 30) are not covered: ENOSYS, as on a kernel without x32.
    assert_eq!(
        run(&program, Abi::X86_64.audit_arch(), 0x4000_0000, no_args()),
        ENOSYS
    );
    // An architecture the program does not cover is killed.
    assert_eq!(
        run(&program, Abi::Aarch64.audit_arch(), 63, no_args()),
        KILL_PROCESS
    );
}

#[test]
fn default_program_decisions_x86_32bit_programs() {
    let program = default_program(Arch::X86_64, &caps::docker_default());
    let i386 = |name: &str, args: [u64; 6]| {
        let nr = Abi::X86.syscall_number(name).unwrap();
        run(&program, Abi::X86.audit_arch(), nr, args)
    };
    assert_eq!(i386("read", no_args()), ALLOW);
    assert_eq!(i386("socketcall", no_args()), ALLOW);
    assert_eq!(i386("modify_ldt", no_args()), ALLOW);
    assert_eq!(i386("mount", no_args()), EPERM);
    assert_eq!(i386("clone3", no_args()), ENOSYS);
    assert_eq!(i386("clone", arg0(0x11)), ALLOW);
    assert_eq!(i386("clone", arg0(0x0400_0011)), EPERM);
    assert_eq!(i386("personality", arg0(0xffff_ffff)), ALLOW);
    // Rules selected for the amd64 host cover its 32-bit programs too, as libseccomp adds
    // every rule to every architecture of the filter.
    assert_eq!(i386("arch_prctl", no_args()), ALLOW);
    assert_eq!(i386("kexec_load", no_args()), EPERM);
}

#[test]
fn default_program_decisions_aarch64() {
    let program = default_program(Arch::Aarch64, &caps::docker_default());
    let arm = |name: &str, args: [u64; 6]| {
        let nr = Abi::Aarch64.syscall_number(name).unwrap();
        run(&program, Abi::Aarch64.audit_arch(), nr, args)
    };
    assert_eq!(arm("read", no_args()), ALLOW);
    assert_eq!(arm("openat", no_args()), ALLOW);
    assert_eq!(arm("mount", no_args()), EPERM);
    assert_eq!(arm("clone3", no_args()), ENOSYS);
    assert_eq!(arm("clone", arg0(0x0400_0011)), EPERM);
    assert_eq!(arm("clone", arg0(0x11)), ALLOW);
    assert_eq!(
        run(&program, Abi::X86_64.audit_arch(), 0, no_args()),
        KILL_PROCESS
    );
}

#[test]
fn capabilities_change_the_program() {
    let admin = default_program(Arch::X86_64, &with_caps(&[Capability::SysAdmin]));
    assert_eq!(x86_64(&admin, "mount", no_args()), ALLOW);
    assert_eq!(x86_64(&admin, "clone", arg0(0x0400_0011)), ALLOW);
    assert_eq!(x86_64(&admin, "clone3", no_args()), ALLOW);
    assert_eq!(x86_64(&admin, "reboot", no_args()), EPERM);
    let boot = default_program(Arch::X86_64, &with_caps(&[Capability::SysBoot]));
    assert_eq!(x86_64(&boot, "reboot", no_args()), ALLOW);
    // Dropping everything still leaves the ordinary syscalls.
    let none = default_program(Arch::X86_64, &caps::from_set(HashSet::new()));
    assert_eq!(x86_64(&none, "write", no_args()), ALLOW);
    assert_eq!(x86_64(&none, "chroot", no_args()), EPERM);
}

#[test]
fn compile_succeeds_for_both_arches_within_limits() {
    for arch in [Arch::X86_64, Arch::Aarch64] {
        for caps in [
            caps::docker_default(),
            caps::from_set(caps::kernel_capabilities().unwrap()),
        ] {
            let program = default_program(arch, &caps);
            assert!(
                program.len() > 100 && program.len() <= 4096,
                "{arch}: {}",
                program.len()
            );
            assert_eq!(program.filter_flags(), 0);
        }
    }
}

#[test]
fn program_bytes_round_trip() {
    let program = default_program(Arch::X86_64, &caps::docker_default());
    let bytes = program.to_bytes();
    assert_eq!(bytes.len(), 4 + 8 * program.len());
    assert_eq!(BpfProgram::from_bytes(&bytes).unwrap(), program);
    assert!(matches!(
        BpfProgram::from_bytes(&bytes[..3]),
        Err(Error::BadProgram(_))
    ));
    assert!(matches!(
        BpfProgram::from_bytes(&bytes[..bytes.len() - 1]),
        Err(Error::BadProgram(_))
    ));
    assert!(matches!(
        BpfProgram::from_bytes(&bytes[..4]),
        Err(Error::BadProgram(_))
    ));
    let mut bad_flags = bytes.clone();
    bad_flags[0] = 0x80;
    assert!(matches!(
        BpfProgram::from_bytes(&bad_flags),
        Err(Error::BadProgram(_))
    ));
}

fn syscall(
    names: &[&str],
    action: LinuxSeccompAction,
    errno: Option<u32>,
    args: Vec<LinuxSeccompArg>,
) -> LinuxSyscall {
    let mut s = LinuxSyscall::default();
    s.set_names(names.iter().map(|n| (*n).to_owned()).collect());
    s.set_action(action);
    s.set_errno_ret(errno);
    s.set_args((!args.is_empty()).then_some(args));
    s
}

fn arg(index: usize, op: LinuxSeccompOperator, value: u64, value_two: u64) -> LinuxSeccompArg {
    LinuxSeccompArgBuilder::default()
        .index(index)
        .op(op)
        .value(value)
        .value_two(value_two)
        .build()
        .unwrap()
}

fn profile(default: LinuxSeccompAction, syscalls: Vec<LinuxSyscall>) -> LinuxSeccomp {
    let mut p = LinuxSeccomp::default();
    p.set_default_action(default);
    p.set_syscalls(Some(syscalls));
    p
}

#[test]
fn deny_list_profile_with_mixed_actions() {
    use LinuxSeccompAction::*;
    let p = profile(
        ScmpActAllow,
        vec![
            syscall(&["mkdir"], ScmpActErrno, Some(13), vec![]),
            syscall(&["rmdir"], ScmpActKillProcess, None, vec![]),
            syscall(&["getpid"], ScmpActLog, None, vec![]),
            syscall(&["getppid"], ScmpActTrap, None, vec![]),
            // Same action as the default: dropped.
            syscall(&["read"], ScmpActAllow, None, vec![]),
            // A name x86_64 does not have: skipped.
            syscall(&["chown32"], ScmpActErrno, None, vec![]),
        ],
    );
    let program = compile(&p, Arch::X86_64).unwrap();
    assert_eq!(x86_64(&program, "mkdir", no_args()), ERRNO | 13);
    assert_eq!(x86_64(&program, "rmdir", no_args()), KILL_PROCESS);
    assert_eq!(x86_64(&program, "getpid", no_args()), LOG);
    assert_eq!(x86_64(&program, "getppid", no_args()), TRAP);
    assert_eq!(x86_64(&program, "read", no_args()), ALLOW);
    assert_eq!(x86_64(&program, "write", no_args()), ALLOW);
    // An allowing default gets no ENOSYS stub.
    assert_eq!(
        run(&program, Abi::X86_64.audit_arch(), 1000, no_args()),
        ALLOW
    );
}

#[test]
fn conditions_and_alternatives() {
    use LinuxSeccompAction::*;
    use LinuxSeccompOperator::*;
    let p = profile(
        ScmpActErrno,
        vec![
            // Conditions on different arguments: all must hold.
            syscall(
                &["lseek"],
                ScmpActAllow,
                None,
                vec![arg(0, ScmpCmpEq, 3, 0), arg(2, ScmpCmpLe, 2, 0)],
            ),
            // Several conditions on one argument: alternatives (runc).
            syscall(
                &["kill"],
                ScmpActAllow,
                None,
                vec![arg(1, ScmpCmpEq, 9, 0), arg(1, ScmpCmpEq, 15, 0)],
            ),
            // 64-bit comparisons.
            syscall(
                &["mmap"],
                ScmpActAllow,
                None,
                vec![arg(1, ScmpCmpGt, 0x1_0000_0000, 0)],
            ),
            syscall(
                &["ioctl"],
                ScmpActAllow,
                None,
                vec![arg(1, ScmpCmpMaskedEq, 0xff00, 0x5400)],
            ),
            // A masked comparison that can never hold: the rule disappears.
            syscall(
                &["dup"],
                ScmpActAllow,
                None,
                vec![arg(0, ScmpCmpMaskedEq, 0x0f, 0x10)],
            ),
            // Another action on a syscall that also has an allow rule: the stricter first.
            syscall(&["getpid"], ScmpActAllow, None, vec![]),
            syscall(
                &["getpid"],
                ScmpActErrno,
                Some(38),
                vec![arg(0, ScmpCmpNe, 0, 0)],
            ),
        ],
    );
    let program = compile(&p, Arch::X86_64).unwrap();
    assert_eq!(x86_64(&program, "lseek", [3, 0, 1, 0, 0, 0]), ALLOW);
    assert_eq!(x86_64(&program, "lseek", [3, 0, 3, 0, 0, 0]), EPERM);
    assert_eq!(x86_64(&program, "lseek", [4, 0, 1, 0, 0, 0]), EPERM);
    assert_eq!(x86_64(&program, "kill", [1, 9, 0, 0, 0, 0]), ALLOW);
    assert_eq!(x86_64(&program, "kill", [1, 15, 0, 0, 0, 0]), ALLOW);
    assert_eq!(x86_64(&program, "kill", [1, 2, 0, 0, 0, 0]), EPERM);
    assert_eq!(
        x86_64(&program, "mmap", [0, 0x1_0000_0001, 0, 0, 0, 0]),
        ALLOW
    );
    assert_eq!(
        x86_64(&program, "mmap", [0, 0x1_0000_0000, 0, 0, 0, 0]),
        EPERM
    );
    assert_eq!(
        x86_64(&program, "mmap", [0, 0xffff_ffff, 0, 0, 0, 0]),
        EPERM
    );
    assert_eq!(x86_64(&program, "ioctl", [0, 0x5401, 0, 0, 0, 0]), ALLOW);
    assert_eq!(x86_64(&program, "ioctl", [0, 0x8901, 0, 0, 0, 0]), EPERM);
    assert_eq!(x86_64(&program, "dup", arg0(0x10)), EPERM);
    assert_eq!(x86_64(&program, "getpid", arg0(0)), ALLOW);
    assert_eq!(x86_64(&program, "getpid", arg0(5)), ENOSYS);
}

#[test]
fn unsupported_and_invalid_profiles_are_typed_errors() {
    use LinuxSeccompAction::*;
    let notify = profile(
        ScmpActErrno,
        vec![syscall(&["read"], ScmpActNotify, None, vec![])],
    );
    assert!(matches!(
        compile(&notify, Arch::X86_64),
        Err(Error::Unsupported(Unsupported::NotifyAction))
    ));

    let mut listener = profile(ScmpActErrno, vec![]);
    listener.set_listener_path(Some("/run/agent.sock".into()));
    let err = compile(&listener, Arch::X86_64).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);

    let mut flags = profile(ScmpActErrno, vec![]);
    flags.set_flags(Some(vec![
        LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv,
    ]));
    assert!(matches!(
        compile(&flags, Arch::X86_64),
        Err(Error::Unsupported(Unsupported::Flag(_)))
    ));
    flags.set_flags(Some(vec![LinuxSeccompFilterFlag::SeccompFilterFlagLog]));
    assert_eq!(compile(&flags, Arch::X86_64).unwrap().filter_flags(), 2);

    let bad_index = profile(
        ScmpActErrno,
        vec![syscall(
            &["read"],
            ScmpActAllow,
            None,
            vec![arg(6, LinuxSeccompOperator::ScmpCmpEq, 0, 0)],
        )],
    );
    assert!(matches!(
        compile(&bad_index, Arch::X86_64),
        Err(Error::ArgIndex { index: 6, .. })
    ));

    let mut other_arch = profile(ScmpActErrno, vec![]);
    other_arch.set_architectures(Some(vec![OciArch::ScmpArchAarch64]));
    assert!(matches!(
        compile(&other_arch, Arch::X86_64),
        Err(Error::ArchNotCovered(Arch::X86_64))
    ));
}

/// A docker-format profile in the shape of docker's `default.json`, exercising every field.
const SAMPLE: &str = r#"{
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrnoRet": 1,
    "archMap": [
        { "architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"] },
        { "architecture": "SCMP_ARCH_AARCH64", "subArchitectures": null }
    ],
    "syscalls": [
        { "names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW", "args": null,
          "comment": "", "includes": {}, "excludes": {} },
        { "name": "getpid", "action": "SCMP_ACT_ALLOW" },
        { "names": ["personality"], "action": "SCMP_ACT_ALLOW",
          "args": [ { "index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ" } ] },
        { "names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": { "caps": ["CAP_SYS_ADMIN"] } },
        { "names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
          "excludes": { "caps": ["CAP_SYS_ADMIN"] } },
        { "names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": { "arches": ["amd64", "x32"] } },
        { "names": ["set_tls"], "action": "SCMP_ACT_ALLOW", "includes": { "arches": ["arm", "arm64"] } },
        { "names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": { "minKernel": "4.8" } },
        { "names": ["kcmp"], "action": "SCMP_ACT_ALLOW", "includes": { "minKernel": "99.0" } },
        { "names": ["uname"], "action": "SCMP_ACT_ALLOW", "excludes": { "minKernel": "4.0" } },
        { "names": ["syslog"], "action": "SCMP_ACT_ALLOW",
          "includes": { "caps": ["CAP_SYSLOG", "CAP_SYS_ADMIN"] } }
    ]
}"#;

fn resolved_names(p: &LinuxSeccomp) -> Vec<String> {
    p.syscalls()
        .as_ref()
        .unwrap()
        .iter()
        .flat_map(|s| s.names().iter().cloned())
        .collect()
}

#[test]
fn docker_json_sample() {
    let kernel = Some((6, 1));
    let parsed = docker::parse(SAMPLE.as_bytes()).unwrap();
    let default_caps: HashSet<_> = caps::DOCKER_DEFAULT.iter().copied().collect();
    let p = docker::resolve(&parsed, Arch::X86_64, &default_caps, kernel)
        .unwrap()
        .unwrap();
    assert_eq!(p.default_action(), LinuxSeccompAction::ScmpActErrno);
    assert_eq!(p.default_errno_ret(), Some(1));
    assert_eq!(
        p.architectures().as_deref(),
        Some(
            &[
                OciArch::ScmpArchX86_64,
                OciArch::ScmpArchX86,
                OciArch::ScmpArchX32
            ][..]
        )
    );
    assert_eq!(
        resolved_names(&p),
        [
            "read",
            "write",
            "exit_group",
            "getpid",
            "personality",
            "clone3",
            "arch_prctl",
            "ptrace"
        ]
    );
    let entry = |name: &str| {
        p.syscalls()
            .as_ref()
            .unwrap()
            .iter()
            .find(|s| s.names().iter().any(|n| n == name))
            .unwrap()
            .clone()
    };
    let personality = entry("personality");
    let args = personality.args().as_ref().unwrap();
    assert_eq!(
        (args[0].index(), args[0].value(), args[0].op()),
        (0, 8, LinuxSeccompOperator::ScmpCmpEq)
    );
    assert_eq!(entry("clone3").errno_ret(), Some(38));

    // With CAP_SYS_ADMIN and CAP_SYSLOG on arm64, an old kernel.
    let mut more = default_caps.clone();
    more.extend([Capability::SysAdmin, Capability::Syslog]);
    let p = docker::resolve(&parsed, Arch::Aarch64, &more, Some((3, 10)))
        .unwrap()
        .unwrap();
    assert_eq!(
        resolved_names(&p),
        [
            "read",
            "write",
            "exit_group",
            "getpid",
            "personality",
            "mount",
            "set_tls",
            "uname",
            "syslog"
        ]
    );
    assert_eq!(
        p.architectures().as_deref(),
        Some(&[OciArch::ScmpArchAarch64][..])
    );

    // The resolved sample compiles and behaves.
    let p = docker::resolve(&parsed, Arch::X86_64, &default_caps, kernel)
        .unwrap()
        .unwrap();
    let program = compile(&p, Arch::X86_64).unwrap();
    assert_eq!(x86_64(&program, "getpid", no_args()), ALLOW);
    assert_eq!(x86_64(&program, "personality", arg0(8)), ALLOW);
    assert_eq!(x86_64(&program, "personality", arg0(0)), EPERM);
    assert_eq!(x86_64(&program, "clone3", no_args()), ENOSYS);
    assert_eq!(x86_64(&program, "mount", no_args()), EPERM);
}

#[test]
fn docker_json_public_entry_point() {
    let p = from_docker_json(SAMPLE.as_bytes(), Arch::X86_64, &caps::docker_default())
        .unwrap()
        .unwrap();
    assert!(resolved_names(&p).contains(&"getpid".to_owned()));
    // `{}` is docker's "no filter".
    assert!(
        from_docker_json(b"{}", Arch::X86_64, &caps::docker_default())
            .unwrap()
            .is_none()
    );
}

#[test]
fn docker_json_errors() {
    let caps = caps::docker_default();
    let check = |json: &str| from_docker_json(json.as_bytes(), Arch::X86_64, &caps).unwrap_err();
    assert!(matches!(check("{"), Error::Json(_)));
    assert!(matches!(
        check(r#"{"defaultAction": "SCMP_ACT_NOPE"}"#),
        Error::UnknownAction(_)
    ));
    assert!(matches!(
        check(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"name": "a", "names": ["b"], "action": "SCMP_ACT_ALLOW"}]}"#
        ),
        Error::NameAndNames { .. }
    ));
    assert!(matches!(
        check(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"], "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}"#
        ),
        Error::ArchitecturesAndArchMap
    ));
    assert!(matches!(
        check(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ABOUT"}]}]}"#
        ),
        Error::UnknownOperator(_)
    ));
    assert!(matches!(
        check(r#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_Z80"]}"#),
        Error::UnknownArch(_)
    ));
    assert!(matches!(
        check(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "5"}}]}"#
        ),
        Error::InvalidKernelVersion(_)
    ));
    assert!(matches!(
        check(r#"{"defaultAction": "SCMP_ACT_ERRNO", "flags": ["SECCOMP_FILTER_FLAG_X"]}"#),
        Error::UnknownFlag(_)
    ));
}

#[test]
fn builtin_default_round_trips_through_docker_json() {
    // The built-in table, written out as docker JSON and read back, resolves to the same profile:
    // the JSON reader handles everything docker's default.json uses.
    let json = serde_json::to_vec(&default_profile::profile()).unwrap();
    for arch in [Arch::X86_64, Arch::Aarch64] {
        for caps in [
            caps::docker_default(),
            with_caps(&[Capability::SysAdmin, Capability::SysPtrace]),
        ] {
            let from_json = from_docker_json(&json, arch, &caps).unwrap().unwrap();
            assert_eq!(from_json, docker_default(arch, &caps));
        }
    }
}

#[test]
fn kernel_versions() {
    assert_eq!(docker::parse_kernel_version("6.1.0-18-amd64"), Some((6, 1)));
    assert_eq!(
        docker::parse_kernel_version("6.18.44-fc-v782"),
        Some((6, 18))
    );
    assert_eq!(docker::parse_kernel_version("5"), Some((5, 0)));
    assert_eq!(docker::parse_kernel_version("x"), None);
    assert!(docker::running_kernel().is_some());
}
