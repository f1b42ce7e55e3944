//! Users given by name (`SpawnOptions::user`, `ExecOptions::user`), resolved by the init
//! from the container's own /etc/passwd and /etc/group. Root needed.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Read;

use common::{Guard, Rootfs, options, run_with, test_init};
use isolate::{Container, Error, ExecOptions, ExitStatus, Stage, Stdio, UserRequest};
use oci_spec::runtime::Process;

const SCRIPT: &str = "id -u; id -g; id -G; echo $HOME";

/// A busybox rootfs where `user` (1000) is also a member of `staff` (50).
fn rootfs() -> Rootfs {
    let r = Rootfs::busybox();
    std::fs::write(
        r.path().join("etc/group"),
        "root:x:0:\nuser:x:1000:\nstaff:x:50:user\n",
    )
    .unwrap();
    r
}

fn run_as(r: &Rootfs, user: &str, env: &[&str]) -> Result<Vec<String>, Error> {
    let mut spec = r.spec(&["sh", "-c", SCRIPT]);
    let mut e: Vec<String> = vec!["PATH=/bin".into()];
    e.extend(env.iter().map(|s| s.to_string()));
    spec.process_mut().as_mut().unwrap().set_env(Some(e));
    let mut opts = options();
    opts.user = Some(UserRequest::parse(user).unwrap());
    let out = run_with(&spec, opts, None)?;
    assert_eq!(out.status, ExitStatus::Exited(0), "{out:?}");
    Ok(out.stdout.lines().map(str::to_owned).collect())
}

#[test]
fn names_resolve_from_the_containers_files() {
    let r = rootfs();
    assert_eq!(
        run_as(&r, "user", &[]).unwrap(),
        ["1000", "1000", "1000 50", "/tmp"]
    );
    // An explicit group replaces the primary group, without supplementary groups.
    assert_eq!(
        run_as(&r, "user:staff", &[]).unwrap(),
        ["1000", "50", "50", "/tmp"]
    );
    // HOME given by the caller wins.
    assert_eq!(run_as(&r, "user", &["HOME=/custom"]).unwrap()[3], "/custom");
    assert_eq!(run_as(&r, "root", &[]).unwrap(), ["0", "0", "0", "/root"]);
}

#[test]
fn numeric_ids_need_no_files() {
    let r = rootfs();
    std::fs::remove_file(r.path().join("etc/passwd")).unwrap();
    std::fs::remove_file(r.path().join("etc/group")).unwrap();
    assert_eq!(
        run_as(&r, "4242:4343", &[]).unwrap(),
        ["4242", "4343", "4343", "/"]
    );
}

fn expect_user_failure(res: Result<Vec<String>, Error>, message: &str) {
    let err = res.unwrap_err();
    assert_eq!(err.exit_code(), 125, "{err}");
    let Error::Init(f) = &err else {
        panic!("expected an init failure, got {err:?}")
    };
    assert_eq!(f.stage, Stage::User, "{err}");
    assert_eq!(f.message, message);
}

#[test]
fn unknown_names_fail_with_dockers_messages() {
    let r = rootfs();
    expect_user_failure(
        run_as(&r, "mallory", &[]),
        "unable to find user mallory: no matching entries in passwd file",
    );
    expect_user_failure(
        run_as(&r, "user:wheel", &[]),
        "unable to find group wheel: no matching entries in group file",
    );
}

#[test]
fn passwd_symlinked_out_of_the_root_is_not_followed_there() {
    let host = tempfile::Builder::new()
        .prefix("isolate-host-")
        .tempdir()
        .unwrap();
    std::fs::write(
        host.path().join("passwd"),
        "hostuser:x:4321:4321::/host:/bin/sh\n",
    )
    .unwrap();
    let r = rootfs();
    let passwd = r.path().join("etc/passwd");
    std::fs::remove_file(&passwd).unwrap();
    let climbing = format!("../../../../../../..{}/passwd", host.path().display());
    std::os::unix::fs::symlink(&climbing, &passwd).unwrap();
    expect_user_failure(
        run_as(&r, "hostuser", &[]),
        "unable to find user hostuser: no matching entries in passwd file",
    );
}

fn exec_as(target: i32, user: &str) -> Result<(ExitStatus, String), Error> {
    let mut p = Process::default();
    p.set_args(Some(vec!["sh".into(), "-c".into(), SCRIPT.into()]));
    p.set_env(Some(vec!["PATH=/bin".into()]));
    p.set_cwd("/".into());
    p.set_capabilities(None);
    p.set_rlimits(None);
    p.set_no_new_privileges(Some(false));
    let mut o = ExecOptions::new(["isolate-test-init"]);
    o.init_exe = test_init();
    o.stdout = Stdio::Piped;
    o.user = Some(UserRequest::parse(user).unwrap());
    let mut running = Guard(Container::exec(target, &p, None, o)?);
    let mut out = String::new();
    running
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    Ok((running.wait().unwrap(), out))
}

#[test]
fn exec_resolves_names_inside_the_running_container() {
    let r = rootfs();
    let mut o = options();
    o.stdout = Stdio::Null;
    o.stderr = Stdio::Null;
    let c = Guard(
        Container::spawn(&r.spec(&["sleep", "1000"]), o)
            .unwrap()
            .start()
            .unwrap(),
    );
    // Changed after the start: exec reads the files as they are now.
    std::fs::write(
        r.path().join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nlate:x:2000:50::/late:/bin/sh\n",
    )
    .unwrap();
    let (status, out) = exec_as(c.pid(), "late").unwrap();
    assert_eq!(status, ExitStatus::Exited(0), "{out}");
    assert_eq!(out, "2000\n50\n50\n/late\n");
    let err = exec_as(c.pid(), "user").unwrap_err();
    assert_eq!(err.exit_code(), 125, "{err}");
    assert!(
        err.to_string()
            .contains("unable to find user user: no matching entries in passwd file"),
        "{err}"
    );
}

/// A caller whose own step failed after `spawn` (the init died, so its network namespace
/// is gone) learns the init's reason from `Pending::failure`; while the init is healthy,
/// there is none to learn.
#[test]
fn pending_failure_reports_the_inits_own_error() {
    let r = rootfs();
    let mut opts = options();
    opts.user = Some(UserRequest::parse("mallory").unwrap());
    let pending = Container::spawn(&r.spec(&["true"]), opts).unwrap();
    let pid = pending.pid();
    // Bounded: the init resolves the user right after its mounts.
    let ns = format!("/proc/{pid}/ns/net");
    for _ in 0..500 {
        let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(true);
        if zombie || std::fs::metadata(&ns).is_err() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    match pending.failure() {
        Some(Error::Init(f)) => {
            assert_eq!(f.stage, Stage::User);
            assert!(f.message.contains("unable to find user mallory"), "{f}");
        }
        other => panic!("expected the init's user failure, got {other:?}"),
    }
    let healthy = Container::spawn(&r.spec(&["true"]), options()).unwrap();
    assert!(healthy.failure().is_none());
}
