//! Shared helpers of the runtime's integration tests: a busybox bundle, the binary with a
//! private `--root`, and a guard that force-deletes the test's containers.

#![allow(dead_code, clippy::print_stderr, clippy::unwrap_used)]

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const APPLETS: &[&str] = &[
    "sh", "echo", "sleep", "cat", "ls", "id", "true", "false", "hostname", "tty", "ps", "readlink",
];

/// Whether the tests can run here (root, busybox); prints the skip line otherwise.
pub(crate) fn can_run(test: &str) -> bool {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: {test} needs root");
        return false;
    }
    if !Path::new("/bin/busybox").exists() {
        eprintln!("skipped: {test} needs /bin/busybox (busybox-static)");
        return false;
    }
    true
}

/// A bundle directory with a busybox rootfs and a config made by `mydocker-runc spec`.
pub(crate) struct Bundle {
    pub(crate) dir: tempfile::TempDir,
}

impl Bundle {
    /// A bundle running `args`, in its own cgroup `/mydocker-runc-test-<pid>-<name>`.
    pub(crate) fn new(rt: &Runtime, name: &str, args: &[&str]) -> Bundle {
        let dir = tempfile::Builder::new()
            .prefix("mydocker-runc-test-")
            .tempdir()
            .unwrap();
        let rootfs = dir.path().join("rootfs");
        for d in ["bin", "etc", "tmp"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
        for a in APPLETS {
            symlink("busybox", rootfs.join("bin").join(a)).unwrap();
        }
        std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/:/bin/sh\n").unwrap();
        let out = rt
            .cmd(&["spec", "--bundle"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "spec: {out:?}");
        let b = Bundle { dir };
        b.edit(|c| {
            c["process"]["args"] = serde_json::json!(args);
            c["process"]["terminal"] = serde_json::json!(false);
            c["root"]["readonly"] = serde_json::json!(false);
            c["linux"]["cgroupsPath"] =
                serde_json::json!(format!("/mydocker-runc-test-{}-{name}", std::process::id()));
        });
        b
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Changes `config.json`.
    pub(crate) fn edit(&self, f: impl FnOnce(&mut serde_json::Value)) {
        let p = self.dir.path().join("config.json");
        let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        f(&mut v);
        std::fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    }

    /// The cgroup path of the config.
    pub(crate) fn cgroup(&self) -> String {
        let p = self.dir.path().join("config.json");
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        v["linux"]["cgroupsPath"].as_str().unwrap().to_string()
    }
}

/// Whether a directory for cgroup `path` exists in any hierarchy.
pub(crate) fn cgroup_exists(path: &str) -> bool {
    let rel = path.trim_start_matches('/');
    let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") else {
        return false;
    };
    let mut dirs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    dirs.push(PathBuf::from("/sys/fs/cgroup"));
    dirs.iter().any(|d| d.join(rel).is_dir())
}

/// The binary with a private state root; force-deletes its containers on drop.
pub(crate) struct Runtime {
    pub(crate) root: tempfile::TempDir,
    ids: std::cell::RefCell<Vec<String>>,
}

impl Runtime {
    pub(crate) fn new() -> Runtime {
        Runtime {
            root: tempfile::Builder::new()
                .prefix("mydocker-runc-root-")
                .tempdir()
                .unwrap(),
            ids: Default::default(),
        }
    }

    pub(crate) fn bin() -> &'static str {
        env!("CARGO_BIN_EXE_mydocker-runc")
    }

    /// A command with `--root` and `args`; stdin is /dev/null.
    pub(crate) fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(Self::bin());
        c.arg("--root").arg(self.root.path()).args(args);
        c.stdin(Stdio::null());
        c
    }

    /// Remembers `id` for the cleanup.
    pub(crate) fn track(&self, id: &str) {
        self.ids.borrow_mut().push(id.to_string());
    }

    /// Runs `args`; returns the output.
    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs `args` and asserts success; returns stdout.
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `args` (a `create` or `run --detach`, whose container keeps the standard
    /// streams it inherits) with stdout and stderr in files; asserts success.
    pub(crate) fn ok_detached(&self, args: &[&str]) {
        let out = self.root.path().join("detached.out");
        let err = self.root.path().join("detached.err");
        let status = self
            .cmd(args)
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "{args:?}: {}",
            std::fs::read_to_string(&err).unwrap_or_default()
        );
    }

    /// The `state` JSON of `id`.
    pub(crate) fn state(&self, id: &str) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["state", id])).unwrap()
    }

    /// Waits (bounded) until `id` has status `want`.
    pub(crate) fn wait_status(&self, id: &str, want: &str) -> bool {
        for _ in 0..200 {
            if self.state(id)["status"] == want {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        false
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let _ = self.run(&["delete", "--force", id]);
        }
    }
}
