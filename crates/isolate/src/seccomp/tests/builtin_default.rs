//! Docker's default profile: its shape, and the program's decisions per architecture and
//! capability set.

use super::*;

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
