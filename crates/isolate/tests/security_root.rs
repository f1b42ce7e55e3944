//! Root integration tests of `isolate::seccomp` and `isolate::caps` against the real kernel.
//!
//! Filters and capability sets cannot be taken back, so no test applies them to the test
//! process: each test re-runs this test binary with `--exact <its name>` and
//! `MYDOCKER_ISOLATE_SECURITY_CHILD=<its name>`; in that child copy the test's body installs the
//! filter or drops capabilities on its own thread (both are per-thread) and checks what the
//! kernel then allows, and the parent test checks that the child passed. Nothing here needs a
//! container, and nothing outside the child changes (hostname attempts happen in the child's own
//! UTS namespace, mount attempts target a path that does not exist).

#![allow(clippy::unwrap_used)] // Tests may unwrap: a failure is the test failing.

use std::ffi::CString;
use std::io;
use std::process::Command;

use isolate::caps;
use isolate::seccomp::{self, Arch};
use oci_spec::runtime::Capability;

const CHILD: &str = "MYDOCKER_ISOLATE_SECURITY_CHILD";

/// Docker's default capability mask, as `docker run ... grep Cap /proc/self/status` shows it.
const DOCKER_MASK: u64 = 0xa804_25fb;

/// A line for the test's output (skipped checks).
#[allow(clippy::print_stderr, reason = "a skipped test must say so")]
fn say(line: &str) {
    eprintln!("{line}");
}

/// Runs `body` in a child copy of this test binary and checks that it passed there.
fn in_child(name: &str, body: impl FnOnce()) {
    if std::env::var(CHILD).as_deref() == Ok(name) {
        body();
        return;
    }
    if !rustix::process::geteuid().is_root() {
        say(&format!("skipped: {name} needs root"));
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args(["--exact", name, "--nocapture", "--test-threads", "1"])
        .env(CHILD, name)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child for {name} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    // A child that could not run its checks says so; say it here too.
    for line in stderr.lines().chain(stdout.lines()) {
        if line.starts_with("skipped:") {
            say(&format!("{name}: {line}"));
        }
    }
}

/// The errno of a failed libc call, or `None` if `ret` says it succeeded.
fn errno_of(ret: i64) -> Option<i32> {
    (ret < 0).then(|| io::Error::last_os_error().raw_os_error().unwrap())
}

fn native() -> Arch {
    Arch::native().expect("tests run on x86_64 or aarch64")
}

/// A hexadecimal field of a `/proc/.../status` file (`CapEff` and the like).
fn hex_field(status: &str, field: &str) -> u64 {
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in status:\n{status}"));
    u64::from_str_radix(line.trim(), 16).unwrap()
}

/// A decimal field (`Seccomp`, `NoNewPrivs`); for `Uid`, the first (real) value.
fn dec_field(status: &str, field: &str) -> u64 {
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in status:\n{status}"));
    line.split_whitespace().next().unwrap().parse().unwrap()
}

/// This thread's status (capabilities and seccomp are per thread).
fn thread_status() -> String {
    std::fs::read_to_string("/proc/thread-self/status").unwrap()
}

/// The status of a program started from this thread, after its `execve`.
fn status_after_exec() -> String {
    let out = Command::new("/bin/cat")
        .arg("/proc/self/status")
        .output()
        .unwrap();
    assert!(out.status.success(), "cat failed: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// Switches this thread (only) to uid/gid 1000 with no supplementary groups, with raw syscalls:
/// libc's wrappers would switch every thread of the process.
fn become_user_1000() {
    // SAFETY: plain integer and null arguments; the syscalls change only this thread's
    // credentials.
    unsafe {
        assert_eq!(
            libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()),
            0
        );
        assert_eq!(libc::syscall(libc::SYS_setresgid, 1000, 1000, 1000), 0);
        assert_eq!(libc::syscall(libc::SYS_setresuid, 1000, 1000, 1000), 0);
    }
}

fn new_uts_namespace() {
    // SAFETY: unshare only takes flags; it gives this thread its own UTS namespace.
    assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWUTS) }, 0);
}

fn default_program() -> seccomp::BpfProgram {
    let arch = native();
    seccomp::compile(
        &seccomp::docker_default(arch, &caps::docker_default()),
        arch,
    )
    .unwrap()
}

/// The syscalls that docker's default profile denies or allows, checked in the kernel.
fn check_default_filter_decisions() {
    let nonexistent = CString::new("/nonexistent-mydocker-seccomp-target").unwrap();
    let tmpfs = CString::new("tmpfs").unwrap();
    // SAFETY (all blocks below): the arguments are integers, null pointers the syscalls accept,
    // or pointers to live NUL-terminated strings and buffers of the stated length.
    unsafe {
        // Namespaces and mounts need CAP_SYS_ADMIN rules, which the default set lacks.
        assert_eq!(
            errno_of(libc::unshare(libc::CLONE_NEWUTS).into()),
            Some(libc::EPERM)
        );
        // Without the filter this would fail with ENOENT.
        let ret = libc::mount(
            tmpfs.as_ptr(),
            nonexistent.as_ptr(),
            tmpfs.as_ptr(),
            0,
            std::ptr::null(),
        );
        assert_eq!(errno_of(ret.into()), Some(libc::EPERM));
        // clone3 reports ENOSYS (without the filter a zero size gives EINVAL).
        let ret = libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0usize);
        assert_eq!(errno_of(ret), Some(libc::ENOSYS));
        // clone with a namespace flag is refused before the kernel sees it.
        let ret = libc::syscall(
            libc::SYS_clone,
            libc::CLONE_NEWUTS | libc::SIGCHLD,
            0usize,
            0usize,
            0usize,
            0usize,
        );
        if ret == 0 {
            // The filter failed and this is a forked copy: leave at once.
            libc::_exit(0);
        }
        assert_eq!(errno_of(ret), Some(libc::EPERM));
        // Syscalls newer than the profile get ENOSYS so that libc can fall back.
        assert_eq!(errno_of(libc::syscall(1000)), Some(libc::ENOSYS));

        // Ordinary syscalls work.
        assert_eq!(libc::getpid() as u32, std::process::id());
        let devnull = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        assert!(devnull >= 0);
        assert_eq!(libc::write(devnull, b"hello".as_ptr().cast(), 5), 5);
        libc::close(devnull);
        // personality: the query is allowed, changing the persona to anything else is not.
        assert!(libc::personality(0xffff_ffff) >= 0);
        assert_eq!(
            errno_of(libc::personality(libc::ADDR_NO_RANDOMIZE as libc::c_ulong).into()),
            Some(libc::EPERM)
        );
        // socket: AF_VSOCK is denied, the rest allowed.
        assert_eq!(
            errno_of(libc::socket(libc::AF_VSOCK, libc::SOCK_STREAM, 0).into()),
            Some(libc::EPERM)
        );
        let unix = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(unix >= 0, "{}", io::Error::last_os_error());
        libc::close(unix);
    }
    // Starting a program works: libc falls back from clone3 to clone without namespace flags.
    let status = status_after_exec();
    assert_eq!(dec_field(&status, "Seccomp"), 2);
    assert_eq!(dec_field(&thread_status(), "Seccomp"), 2);
}

#[test]
fn seccomp_default_profile_in_the_kernel() {
    in_child("seccomp_default_profile_in_the_kernel", || {
        let program = default_program();
        // As root, without no_new_privs: CAP_SYS_ADMIN allows installing.
        seccomp::install(&program).unwrap();
        check_default_filter_decisions();
        assert_eq!(dec_field(&thread_status(), "NoNewPrivs"), 0);
    });
}

#[test]
fn seccomp_program_passed_as_bytes() {
    in_child("seccomp_program_passed_as_bytes", || {
        // What the parent hands to the init: bytes, read back and installed.
        let bytes = default_program().to_bytes();
        let program = seccomp::BpfProgram::from_bytes(&bytes).unwrap();
        seccomp::install(&program).unwrap();
        check_default_filter_decisions();
    });
}

#[test]
fn seccomp_install_needs_no_new_privs_without_sys_admin() {
    in_child(
        "seccomp_install_needs_no_new_privs_without_sys_admin",
        || {
            let program = default_program();
            caps::apply(&caps::docker_default()).unwrap();
            let err = seccomp::install(&program).unwrap_err();
            assert!(matches!(err, seccomp::Error::NeedsPrivilege), "{err}");
            assert_eq!(dec_field(&thread_status(), "Seccomp"), 0);

            rustix::thread::set_no_new_privs(true).unwrap();
            seccomp::install(&program).unwrap();
            assert_eq!(dec_field(&thread_status(), "NoNewPrivs"), 1);
            check_default_filter_decisions();
        },
    );
}

#[test]
fn seccomp_custom_docker_profile() {
    in_child("seccomp_custom_docker_profile", || {
        // A deny-list profile in docker's format: everything allowed but mkdirat and uname.
        let json = br#"{
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                { "names": ["mkdirat", "mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13 },
                { "names": ["uname"], "action": "SCMP_ACT_ERRNO" }
            ]
        }"#;
        let arch = native();
        let profile = seccomp::from_docker_json(json, arch, &caps::docker_default())
            .unwrap()
            .unwrap();
        let program = seccomp::compile(&profile, arch).unwrap();
        let dir = tempfile::tempdir().unwrap();
        seccomp::install(&program).unwrap();
        let err = std::fs::create_dir(dir.path().join("x")).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EACCES));
        let mut uts = std::mem::MaybeUninit::<libc::utsname>::uninit();
        // SAFETY: uname writes into the buffer it is given.
        let ret = unsafe { libc::uname(uts.as_mut_ptr()) };
        assert_eq!(errno_of(ret.into()), Some(libc::EPERM));
        // Everything else still works.
        std::fs::write(dir.path().join("file"), b"ok").unwrap();
        assert_eq!(std::fs::read(dir.path().join("file")).unwrap(), b"ok");
    });
}

#[test]
fn caps_docker_default_as_root() {
    in_child("caps_docker_default_as_root", || {
        new_uts_namespace();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("owned");
        std::fs::write(&file, b"x").unwrap();

        caps::apply(&caps::docker_default()).unwrap();

        let status = thread_status();
        assert_eq!(hex_field(&status, "CapEff"), DOCKER_MASK);
        assert_eq!(hex_field(&status, "CapPrm"), DOCKER_MASK);
        assert_eq!(hex_field(&status, "CapBnd"), DOCKER_MASK);
        assert_eq!(hex_field(&status, "CapInh"), 0);
        assert_eq!(hex_field(&status, "CapAmb"), 0);

        // No CAP_SYS_ADMIN: sethostname fails even in this thread's own UTS namespace.
        let name = b"mydocker-caps-test";
        // SAFETY: the pointer and length describe `name`.
        let ret = unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) };
        assert_eq!(errno_of(ret.into()), Some(libc::EPERM));
        // CAP_CHOWN is kept.
        std::os::unix::fs::chown(&file, Some(1000), Some(1000)).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(&file).unwrap().uid(), 1000);

        // Root keeps exactly the set across execve.
        let after = status_after_exec();
        assert_eq!(hex_field(&after, "CapEff"), DOCKER_MASK);
        assert_eq!(hex_field(&after, "CapPrm"), DOCKER_MASK);
        assert_eq!(hex_field(&after, "CapBnd"), DOCKER_MASK);
        assert_eq!(hex_field(&after, "CapInh"), 0);
        assert_eq!(hex_field(&after, "CapAmb"), 0);
    });
}

#[test]
fn caps_cap_add_and_drop_as_root() {
    in_child("caps_cap_add_and_drop_as_root", || {
        let set = caps::resolve(&["NET_ADMIN"], &["chown", "CAP_MKNOD"], false).unwrap();
        caps::apply(&set).unwrap();
        let want = (DOCKER_MASK | 1 << 12) & !(1 << 0) & !(1 << 27);
        let after = status_after_exec();
        assert_eq!(hex_field(&after, "CapEff"), want);
        assert_eq!(hex_field(&after, "CapBnd"), want);
    });
}

#[test]
fn caps_non_root_user_after_setuid() {
    in_child("caps_non_root_user_after_setuid", || {
        caps::keep_caps_across_setuid().unwrap();
        become_user_1000();
        // The switch emptied the effective set; the permitted set survived.
        assert_eq!(hex_field(&thread_status(), "CapEff"), 0);

        caps::apply(&caps::docker_default()).unwrap();
        let status = thread_status();
        assert_eq!(dec_field(&status, "Uid"), 1000);
        assert_eq!(hex_field(&status, "CapEff"), DOCKER_MASK);
        assert_eq!(hex_field(&status, "CapBnd"), DOCKER_MASK);

        // After execve a non-root user has no capabilities, as in docker 20.10+.
        let after = status_after_exec();
        assert_eq!(dec_field(&after, "Uid"), 1000);
        assert_eq!(hex_field(&after, "CapEff"), 0);
        assert_eq!(hex_field(&after, "CapPrm"), 0);
        assert_eq!(hex_field(&after, "CapBnd"), DOCKER_MASK);
        assert_eq!(hex_field(&after, "CapAmb"), 0);
    });
}

#[test]
fn caps_setuid_without_keep_caps_cannot_apply() {
    in_child("caps_setuid_without_keep_caps_cannot_apply", || {
        become_user_1000();
        let err = caps::apply(&caps::docker_default()).unwrap_err();
        assert!(
            matches!(err, caps::Error::DropBounding { .. } | caps::Error::Set(_)),
            "{err}"
        );
    });
}

#[test]
fn caps_ambient_for_non_root_user() {
    in_child("caps_ambient_for_non_root_user", || {
        let mut set = caps::docker_default();
        let bind: std::collections::HashSet<_> = [Capability::NetBindService].into();
        set.set_inheritable(Some(bind.clone()));
        set.set_ambient(Some(bind));
        caps::keep_caps_across_setuid().unwrap();
        become_user_1000();
        caps::apply(&set).unwrap();
        assert_eq!(hex_field(&thread_status(), "CapAmb"), 1 << 10);
        let after = status_after_exec();
        assert_eq!(hex_field(&after, "CapAmb"), 1 << 10);
        assert_eq!(hex_field(&after, "CapEff"), 1 << 10);
        assert_eq!(hex_field(&after, "CapPrm"), 1 << 10);
    });
}

#[test]
fn init_sequence_as_documented() {
    in_child("init_sequence_as_documented", || {
        // The order `seccomp::install` and `caps::apply` document for the default
        // (no no-new-privileges): filter first, while CAP_SYS_ADMIN is still effective; then
        // the user switch and the capabilities, which docker's profile allows.
        let program = default_program();
        seccomp::install(&program).unwrap();
        caps::keep_caps_across_setuid().unwrap();
        become_user_1000();
        caps::apply(&caps::docker_default()).unwrap();

        let after = status_after_exec();
        assert_eq!(dec_field(&after, "Seccomp"), 2);
        assert_eq!(dec_field(&after, "NoNewPrivs"), 0);
        assert_eq!(dec_field(&after, "Uid"), 1000);
        assert_eq!(hex_field(&after, "CapEff"), 0);
        assert_eq!(hex_field(&after, "CapBnd"), DOCKER_MASK);
    });
}

/// A 32-bit x86 syscall (`int 0x80`) from this 64-bit process: the kernel handles it as an
/// i386 program's, with `AUDIT_ARCH_I386` in the data seccomp sees. Returns `-errno` on error.
#[cfg(target_arch = "x86_64")]
fn i386_syscall(nr: u32, arg0: u32, arg1: u32) -> i32 {
    let ret: i32;
    // SAFETY: `int 0x80` enters the kernel's 32-bit syscall path with the number in eax and the
    // first arguments in ebx and ecx; ebx is restored by the second xchg, and r8-r11, which the
    // compat entry may clear, are declared clobbered. The syscalls used here take integers or
    // pointers the kernel validates.
    unsafe {
        std::arch::asm!(
            "xchg {a:e}, ebx",
            "int 0x80",
            "xchg {a:e}, ebx",
            a = inout(reg) arg0 => _,
            inlateout("eax") nr as i32 => ret,
            in("ecx") arg1,
            lateout("r8") _,
            lateout("r9") _,
            lateout("r10") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

#[cfg(target_arch = "x86_64")]
#[test]
fn seccomp_covers_32bit_x86_syscalls() {
    in_child("seccomp_covers_32bit_x86_syscalls", || {
        // i386 syscall numbers.
        const GETPID: u32 = 20;
        const MOUNT: u32 = 21;
        const KEXEC_LOAD: u32 = 283;
        const CLONE3: u32 = 435;
        if i386_syscall(GETPID, 0, 0) != std::process::id() as i32 {
            say("skipped: this kernel runs no 32-bit x86 syscalls");
            return;
        }
        // Without the filter: mount with null pointers is EFAULT, clone3 of size 0 EINVAL.
        assert_eq!(i386_syscall(MOUNT, 0, 0), -libc::EFAULT);
        assert_eq!(i386_syscall(CLONE3, 0, 0), -libc::EINVAL);

        seccomp::install(&default_program()).unwrap();
        assert_eq!(i386_syscall(GETPID, 0, 0), std::process::id() as i32);
        assert_eq!(i386_syscall(MOUNT, 0, 0), -libc::EPERM);
        assert_eq!(i386_syscall(KEXEC_LOAD, 0, 0), -libc::EPERM);
        assert_eq!(i386_syscall(CLONE3, 0, 0), -libc::ENOSYS);
        assert_eq!(i386_syscall(1000, 0, 0), -libc::ENOSYS);
    });
}
