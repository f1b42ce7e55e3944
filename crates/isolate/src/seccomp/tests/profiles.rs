//! Hand-written OCI profiles: actions, argument conditions, and the typed errors of what
//! cannot be compiled.

use super::*;

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
