//! Leaks and escapes: descriptors (CVE-2024-21626 class), the host's init binary
//! (CVE-2019-5736 class), masked and read-only paths, rlimits, sysctls, the reaping init
//! (root).

#![allow(clippy::unwrap_used)]

mod common;

use std::os::fd::AsRawFd;

use common::{Guard, Rootfs, options, run, run_with, sh, test_init};
use isolate::{Container, Error, ExeProtection, ExitStatus, Stage};

/// Open a descriptor without close-on-exec, as a careless caller might.
fn leaky_fd(path: &str) -> std::fs::File {
    let f = std::fs::File::open(path).unwrap();
    rustix::io::fcntl_setfd(&f, rustix::io::FdFlags::empty()).unwrap();
    f
}

#[test]
fn no_descriptor_of_the_caller_leaks_in() {
    let _leak_dir = leaky_fd("/");
    let _leak_file = leaky_fd("/etc/hostname");
    let r = Rootfs::busybox();
    // `ls` shows its own directory descriptor (3) besides 0, 1 and 2.
    let out = sh(
        &r,
        "ls /proc/self/fd; echo --; ls /proc/$$/fd; ls -l /proc/$$/fd >&2",
    );
    let (ls_fds, sh_fds) = out.stdout.split_once("--\n").unwrap();
    assert_eq!(
        ls_fds.split_whitespace().collect::<Vec<_>>(),
        vec!["0", "1", "2", "3"]
    );
    assert_eq!(
        sh_fds.split_whitespace().collect::<Vec<_>>(),
        vec!["0", "1", "2"],
        "{out:?}"
    );

    // The reaping init (PID 1 for the container's life) holds nothing either.
    let mut o = options();
    o.reaper = true;
    let out = run_with(&r.spec(&["ls", "/proc/1/fd"]), o, None).unwrap();
    assert_eq!(out.status, ExitStatus::Exited(0), "{out:?}");
    assert_eq!(
        out.stdout.split_whitespace().collect::<Vec<_>>(),
        vec!["0", "1", "2"]
    );
}

#[test]
fn cwd_through_a_descriptor_magic_link_is_refused() {
    let leak = leaky_fd("/");
    let r = Rootfs::busybox();
    let mut spec = r.spec(&["pwd"]);
    let cwd = format!("/proc/self/fd/{}", leak.as_raw_fd());
    spec.process_mut().as_mut().unwrap().set_cwd(cwd.into());
    let err = run(&spec).unwrap_err();
    assert!(
        matches!(&err, Error::Init(f) if f.stage == Stage::Cwd),
        "{err:?}"
    );
    assert_eq!(err.exit_code(), 125);
}

fn attempt_overwrite(protection: ExeProtection) -> (common::Output, Vec<u8>) {
    let host_bin = test_init();
    let before = std::fs::read(&host_bin).unwrap();
    let r = Rootfs::busybox();
    let mut o = options();
    o.reaper = true; // our binary stays PID 1 in the container
    o.exe_protection = protection;
    let script = "tr '\\0' ' ' < /proc/1/cmdline; echo; \
                  echo pwned >> /proc/1/exe; echo append=$?; \
                  exec 3</proc/1/exe; echo pwned > /proc/self/fd/3; echo reopen=$?; \
                  echo pwned | dd of=/proc/1/exe conv=notrunc 2>&1; echo dd=$?";
    let out = run_with(&r.spec(&["sh", "-c", script]), o, None).unwrap();
    let after = std::fs::read(&host_bin).unwrap();
    assert!(after == before, "the host binary was modified");
    (out, after)
}

#[test]
fn host_binary_cannot_be_overwritten_read_only_bind() {
    let (out, _) = attempt_overwrite(ExeProtection::ReadOnlyBind);
    assert_eq!(out.status, ExitStatus::Exited(0), "{out:?}");
    assert!(
        out.stdout.contains("isolate-test-init"),
        "PID 1 is our init: {out:?}"
    );
    assert!(
        out.stdout.contains("append=1") && out.stdout.contains("reopen=1"),
        "{out:?}"
    );
    assert!(!out.stdout.contains("dd=0"), "{out:?}");
    assert!(out.stderr.contains("Read-only file system"), "{out:?}");
}

#[test]
fn host_binary_cannot_be_overwritten_sealed_memfd() {
    let (out, _) = attempt_overwrite(ExeProtection::SealedMemfd);
    assert!(
        out.stdout.contains("append=1") && out.stdout.contains("reopen=1"),
        "{out:?}"
    );
    assert!(!out.stdout.contains("dd=0"), "{out:?}");
    // While it runs, this kernel refuses writes to an executing file (ETXTBSY); the seals
    // (EPERM, see the unit test of exe.rs) hold once it no longer does.
    assert!(
        out.stderr.contains("Text file busy") || out.stderr.contains("Operation not permitted"),
        "{out:?}"
    );
}

#[test]
fn masked_and_read_only_paths() {
    let r = Rootfs::busybox();
    let out = sh(
        &r,
        "wc -c < /proc/keys; wc -c < /proc/timer_list; wc -c < /proc/interrupts; \
         ls -A /proc/acpi | wc -l; ls -A /sys/firmware | wc -l; \
         (echo 1 > /proc/sys/kernel/domainname) 2>&1; \
         (cat /proc/irq/default_smp_affinity > /proc/irq/default_smp_affinity) 2>&1; \
         (echo 1 > /sys/kernel/profiling) 2>&1; true",
    );
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(&lines[..5], &["0", "0", "0", "0", "0"], "{out:?}");
    assert!(lines[5].contains("Read-only file system"), "{out:?}");
    assert!(lines[6].contains("Read-only file system"), "{out:?}");
    assert!(
        lines[7].contains("Read-only file system"),
        "/sys is read-only: {out:?}"
    );
    // The host's files are not empty, so the zeros above are the masks.
    assert!(
        !std::fs::read_to_string("/proc/interrupts")
            .unwrap()
            .is_empty()
    );
}

/// Runs `f` on a thread of its own without CAP_SYS_RESOURCE, in every set a container's
/// init could get it from: capabilities (the bounding set included) belong to a thread,
/// the container is cloned from the calling thread, and root's `execve` gives it the
/// bounding and inheritable sets. The rest of the test process keeps its capabilities.
fn without_cap_sys_resource<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    use rustix::thread::CapabilitySet;
    std::thread::scope(|s| {
        s.spawn(|| {
            rustix::thread::remove_capability_from_bounding_set(CapabilitySet::SYS_RESOURCE)
                .unwrap();
            let mut sets = rustix::thread::capabilities(None).unwrap();
            for set in [
                &mut sets.effective,
                &mut sets.permitted,
                &mut sets.inheritable,
            ] {
                set.remove(CapabilitySet::SYS_RESOURCE);
            }
            rustix::thread::set_capabilities(None, sets).unwrap();
            f()
        })
        .join()
        .unwrap()
    })
}

/// Whether the calling thread, and so a container it starts, may raise hard rlimits.
fn has_cap_sys_resource() -> bool {
    use rustix::thread::CapabilitySet;
    rustix::thread::capabilities(None)
        .unwrap()
        .effective
        .contains(CapabilitySet::SYS_RESOURCE)
        && rustix::thread::capability_is_in_bounding_set(CapabilitySet::SYS_RESOURCE).unwrap()
}

fn docker_rlimits_spec(r: &Rootfs) -> oci_spec::runtime::Spec {
    let mut spec = r.spec(&["sh", "-c", "ulimit -n; ulimit -Hn"]);
    spec.process_mut()
        .as_mut()
        .unwrap()
        .set_rlimits(Some(isolate::spec::docker_rlimits()));
    spec
}

/// Without CAP_SYS_RESOURCE (as root on a container host often is), docker's
/// RLIMIT_NOFILE 1048576 cannot be set above the current hard limit: the init clamps it
/// and warns. The capability is dropped for the spawning thread, so this path is tested
/// where root has it too (a VM).
#[test]
fn rlimits_above_the_host_are_clamped_with_a_warning() {
    let r = Rootfs::busybox();
    let spec = docker_rlimits_spec(&r);
    let out = without_cap_sys_resource(|| {
        assert!(!has_cap_sys_resource());
        run(&spec).unwrap()
    });
    assert_eq!(out.status, ExitStatus::Exited(0), "{out:?}");
    let host_hard = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .maximum
        .unwrap_or(u64::MAX);
    let expect = host_hard.min(1_048_576);
    assert_eq!(out.stdout, format!("{expect}\n{expect}\n"));
    if host_hard < 1_048_576 {
        assert_eq!(out.warnings.len(), 1, "{out:?}");
        assert!(out.warnings[0].contains("RLIMIT_NOFILE") && out.warnings[0].contains("clamped"));
    } else {
        assert!(out.warnings.is_empty());
    }
}

/// With CAP_SYS_RESOURCE the init may raise its hard limits: docker's rlimits are applied
/// as asked, without a warning.
#[test]
fn rlimits_above_the_host_are_applied_with_cap_sys_resource() {
    if !has_cap_sys_resource() {
        common::skip("root lacks CAP_SYS_RESOURCE here (the clamping test covers it)");
        return;
    }
    let nr_open: u64 = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        nr_open >= 1_048_576,
        "fs.nr_open {nr_open} is below docker's RLIMIT_NOFILE"
    );
    let r = Rootfs::busybox();
    let out = run(&docker_rlimits_spec(&r)).unwrap();
    assert_eq!(out.status, ExitStatus::Exited(0), "{out:?}");
    assert_eq!(out.stdout, "1048576\n1048576\n");
    assert!(out.warnings.is_empty(), "{out:?}");
}

#[test]
fn sysctls_are_written_in_the_container() {
    let r = Rootfs::busybox();
    let mut spec = r.spec(&["cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start"]);
    let linux = spec.linux_mut().as_mut().unwrap();
    linux.set_sysctl(Some(
        [(
            "net.ipv4.ip_unprivileged_port_start".to_string(),
            "0".to_string(),
        )]
        .into(),
    ));
    let out = run(&spec).unwrap();
    assert_eq!(out.stdout, "0\n", "{out:?}");
    let host = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").unwrap();
    assert_ne!(host.trim(), "0", "the host's value is untouched");
}

#[test]
fn reaping_init_forwards_signals_and_reaps_orphans() {
    let r = Rootfs::busybox();
    let mut o = options();
    o.reaper = true;
    // An orphan is reparented to PID 1 and must not stay a zombie.
    let script = "echo $$; sh -c 'sleep 0.1 & exit 0'; i=0; \
                  while [ $i -lt 400 ]; do \
                    if [ -z \"$(ps -o stat,comm | grep -e '^Z' -e sleep)\" ]; then echo reaped; exit 0; fi; \
                    sleep 0.05; i=$((i+1)); \
                  done; ps -o pid,ppid,stat,comm; exit 1";
    let out = run_with(&r.spec(&["sh", "-c", script]), o, None).unwrap();
    assert_eq!(out.status, ExitStatus::Exited(0), "{out:?}");
    assert_eq!(
        out.stdout, "2\nreaped\n",
        "the command is PID 2 under the init"
    );

    let mut o = options();
    o.reaper = true;
    let mut running = Guard(
        Container::spawn(&r.spec(&["sleep", "1000"]), o)
            .unwrap()
            .start()
            .unwrap(),
    );
    // SIGTERM to PID 1 reaches the command, which dies of it: 128+15.
    running.signal(libc::SIGTERM).unwrap();
    assert_eq!(running.wait().unwrap().code(), 143);
}
