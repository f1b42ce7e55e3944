//! Shared helpers of the integration tests: a busybox rootfs, specs, running a container
//! and collecting its output. The tests need root (namespaces, mounts).

#![allow(
    dead_code,
    clippy::unwrap_used,
    reason = "each test binary uses a part of these helpers; a failed unwrap is a failed test"
)]

use std::io::{Read, Write};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use isolate::{Container, Error, ExitStatus, SpawnOptions, Stdio};
use oci_spec::runtime::Spec;

const APPLETS: &[&str] = &[
    "sh", "ls", "cat", "echo", "hostname", "id", "ip", "env", "pwd", "sleep", "readlink", "mount",
    "ps", "true", "false", "stat", "kill", "test", "mkdir", "touch", "wc", "grep", "head", "sed",
    "tr", "uname", "ln", "chmod", "stty", "tty", "ulimit", "cut", "sort", "dd", "rm",
];

/// A throwaway rootfs made of Debian's static busybox and its applet symlinks.
pub(crate) struct Rootfs {
    pub(crate) dir: tempfile::TempDir,
}

impl Rootfs {
    pub(crate) fn busybox() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("isolate-test-")
            .tempdir()
            .unwrap();
        populate_busybox(dir.path());
        Self { dir }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn spec(&self, args: &[&str]) -> Spec {
        spec_at(self.path(), args)
    }
}

/// Fill `root` with Debian's static busybox, its applet symlinks, and an /etc/passwd
/// and /etc/group with `root` and `user` (1000:1000, home /tmp).
pub(crate) fn populate_busybox(root: &Path) {
    for d in ["bin", "etc", "tmp", "root"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    for a in APPLETS {
        symlink("busybox", root.join("bin").join(a)).unwrap();
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/tmp:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\nuser:x:1000:\n").unwrap();
}

/// Docker's spec for a rootfs at `root` (which may be an empty mount point).
pub(crate) fn spec_at(root: &Path, args: &[&str]) -> Spec {
    let mut spec = isolate::spec::docker_spec(root, args);
    spec.set_hostname(Some("isolated".into()));
    // Only the rlimit test asks for docker's default nofile (which this host clamps).
    spec.process_mut().as_mut().unwrap().set_rlimits(None);
    spec
}

/// Say that a test cannot run here, and why (the test then returns without asserting).
#[allow(clippy::print_stderr, reason = "a skipped test must say so")]
pub(crate) fn skip(reason: &str) {
    eprintln!("skipped: {reason}");
}

pub(crate) fn test_init() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_isolate-test-init"))
}

pub(crate) fn options() -> SpawnOptions {
    let mut o = SpawnOptions::new(["isolate-test-init"]);
    o.init_exe = test_init();
    o.stdin = Stdio::Null;
    o.stdout = Stdio::Piped;
    o.stderr = Stdio::Piped;
    o
}

#[derive(Debug)]
pub(crate) struct Output {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) warnings: Vec<String>,
}

/// Run a container to completion, feeding `input` to its stdin when given.
pub(crate) fn run_with(
    spec: &Spec,
    mut opts: SpawnOptions,
    input: Option<&[u8]>,
) -> Result<Output, Error> {
    if input.is_some() {
        opts.stdin = Stdio::Piped;
    }
    let pending = Container::spawn(spec, opts)?;
    let mut running = pending.start()?;
    if let (Some(mut stdin), Some(data)) = (running.stdin.take(), input) {
        stdin.write_all(data).unwrap();
    }
    let mut out = running.stdout.take().unwrap();
    let mut err = running.stderr.take().unwrap();
    let t = std::thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).unwrap();
        s
    });
    let mut stdout = String::new();
    out.read_to_string(&mut stdout).unwrap();
    let stderr = t.join().unwrap();
    let status = running.wait()?;
    Ok(Output {
        status,
        stdout,
        stderr,
        warnings: running.warnings().to_vec(),
    })
}

pub(crate) fn run(spec: &Spec) -> Result<Output, Error> {
    run_with(spec, options(), None)
}

/// Run `sh -c script` in a fresh busybox rootfs and expect exit 0.
pub(crate) fn sh(rootfs: &Rootfs, script: &str) -> Output {
    let out = run(&rootfs.spec(&["sh", "-c", script])).unwrap();
    assert_eq!(out.status, ExitStatus::Exited(0), "{out:?}");
    out
}

/// Mount points of the host (this test process's mount namespace) under `dir`.
pub(crate) fn host_mounts_under(dir: &Path) -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let d = dir.to_string_lossy().to_string();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|m| m.starts_with(&d))
        .collect()
}

/// Kills and reaps a container when a test ends early (a failed assertion).
pub(crate) struct Guard(pub(crate) isolate::Running);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.signal(libc::SIGKILL);
        let _ = self.0.wait();
    }
}

impl std::ops::Deref for Guard {
    type Target = isolate::Running;
    fn deref(&self) -> &isolate::Running {
        &self.0
    }
}

impl std::ops::DerefMut for Guard {
    fn deref_mut(&mut self) -> &mut isolate::Running {
        &mut self.0
    }
}
