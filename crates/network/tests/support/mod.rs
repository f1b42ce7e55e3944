//! Test harness for the root tests: a throw-away "host" network namespace per test,
//! "containers" that are bare network namespaces held by a sleeping process, unique
//! names, and bounded helpers to run busybox inside them. Every process started here is
//! killed by PID in a `Drop` guard; traffic only goes to 127.0.0.1 and to addresses the
//! test created.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use network::{Config, Netns, Networks};

/// Why the root tests cannot run here, if they cannot.
pub(crate) fn skip_reason() -> Option<String> {
    if !rustix::process::geteuid().is_root() {
        return Some("needs root (network namespaces, bridges, nftables)".into());
    }
    for tool in ["busybox", "nft", "unshare", "nsenter", "ip", "timeout"] {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).exists()))
            .unwrap_or(false);
        if !found {
            return Some(format!(
                "{tool} is not installed (cargo xtask deps installs it)"
            ));
        }
    }
    None
}

/// Returns early from a test that cannot run here, saying why.
#[macro_export]
macro_rules! require_root {
    () => {
        if let Some(reason) = support::skip_reason() {
            support::report_skip(&reason);
            return;
        }
    };
}

/// Says why a test does not run, as `skipped: <reason>` on stderr: a test that cannot
/// run here must say so rather than pass silently.
#[allow(clippy::print_stderr)]
pub(crate) fn report_skip(reason: &str) {
    eprintln!("skipped: {reason}");
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A short name unique to this test process and call: `<prefix><pid hex><n>`.
pub(crate) fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("{prefix}{:x}{n}", std::process::id() & 0xfffff)
}

/// A process holding a fresh network namespace (`unshare --net sleep`), killed on drop.
#[derive(Debug)]
pub(crate) struct NsHolder {
    child: Child,
}

impl NsHolder {
    pub(crate) fn new() -> NsHolder {
        let mut child = Command::new("unshare")
            .args(["--net", "sh", "-c", "echo ready; exec sleep 600"])
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn unshare");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read ready");
        assert_eq!(line.trim(), "ready", "unshare did not start");
        NsHolder { child }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn netns(&self) -> Netns {
        Netns::Pid(self.pid())
    }

    pub(crate) fn ns_path(&self) -> String {
        format!("/proc/{}/ns/net", self.pid())
    }

    /// Runs a command inside this namespace (nsenter), bounded by `timeout`.
    pub(crate) fn exec(&self, secs: u32, args: &[&str]) -> Output {
        let ns = format!("--net={}", self.ns_path());
        Command::new("timeout")
            .arg(secs.to_string())
            .arg("nsenter")
            .arg(ns)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run nsenter")
    }

    /// Starts a long-running command inside this namespace; killed on drop.
    ///
    /// Its stdin is a pipe kept open (never written) for as long as the guard lives:
    /// a `busybox nc -l` that reads end-of-file on stdin shuts down its side of an
    /// accepted connection at once, and the client may then exit before sending.
    pub(crate) fn spawn(&self, args: &[&str]) -> Guard {
        let ns = format!("--net={}", self.ns_path());
        let child = Command::new("nsenter")
            .arg(ns)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nsenter");
        Guard { child }
    }

    /// busybox httpd serving `www` on port 80 inside this namespace; killed on drop.
    pub(crate) fn httpd(&self, www: &Path) -> Guard {
        let dir = www.to_str().expect("utf-8 path");
        self.spawn(&["busybox", "httpd", "-f", "-p", "80", "-h", dir])
    }

    /// `busybox ping -c 1 -W 1`, retried up to 3 times (a fresh veth may need a moment).
    pub(crate) fn ping(&self, target: &str) -> bool {
        (0..3).any(|_| {
            self.exec(5, &["busybox", "ping", "-c", "1", "-W", "1", target])
                .status
                .success()
        })
    }

    /// One ping, no retry: for checks that must fail.
    pub(crate) fn ping_once(&self, target: &str) -> bool {
        self.exec(5, &["busybox", "ping", "-c", "1", "-W", "1", target])
            .status
            .success()
    }

    /// `ip -j addr` inside, as JSON.
    pub(crate) fn ip_json(&self, what: &[&str]) -> serde_json::Value {
        let mut args = vec!["ip", "-j"];
        args.extend_from_slice(what);
        let out = self.exec(5, &args);
        assert!(
            out.status.success(),
            "ip {what:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("ip json")
    }

    /// Names of the links in this namespace.
    pub(crate) fn links(&self) -> BTreeSet<String> {
        link_names(&self.ip_json(&["link"]))
    }

    /// The links of this namespace that a new namespace does not have (see
    /// [`fresh_netns_links`]): what "only lo" means on any host.
    pub(crate) fn extra_links(&self) -> Vec<String> {
        let fresh = fresh_netns_links();
        self.links()
            .into_iter()
            .filter(|l| !fresh.contains(l))
            .collect()
    }

    /// The flags of one link (`UP`, `LOOPBACK`...).
    pub(crate) fn flags(&self, ifname: &str) -> Vec<String> {
        let json = self.ip_json(&["link"]);
        json.as_array()
            .into_iter()
            .flatten()
            .filter(|l| l["ifname"] == ifname)
            .flat_map(|l| l["flags"].as_array().cloned().unwrap_or_default())
            .filter_map(|f| f.as_str().map(str::to_string))
            .collect()
    }

    /// Kills the holder now (a container dying by SIGKILL).
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NsHolder {
    fn drop(&mut self) {
        self.kill();
    }
}

fn link_names(json: &serde_json::Value) -> BTreeSet<String> {
    json.as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["ifname"].as_str().map(str::to_string))
        .collect()
}

/// The links every new network namespace of this kernel starts with: `lo`, and on
/// hosts where tunnel modules are loaded their fallback devices (`tunl0`, `sit0`,
/// `gre0`...) unless `net.core.fb_tunnels_only_for_init_net` is set. Read anew at
/// each call, as a module may be loaded meanwhile.
pub(crate) fn fresh_netns_links() -> BTreeSet<String> {
    let out = Command::new("timeout")
        .args(["10", "unshare", "--net", "ip", "-j", "link"])
        .stdin(Stdio::null())
        .output()
        .expect("run unshare --net ip link");
    assert!(out.status.success(), "unshare --net ip -j link");
    let names = link_names(&serde_json::from_slice(&out.stdout).expect("ip json"));
    assert!(names.contains("lo"), "{names:?}");
    names
}

/// A background process started by a test, killed by PID on drop.
#[derive(Debug)]
pub(crate) struct Guard {
    pub(crate) child: Child,
}

impl Guard {
    /// Waits for the process to exit by itself (it must be bounded, e.g. by `timeout`)
    /// and returns its stdout.
    pub(crate) fn output(mut self) -> String {
        let mut out = String::new();
        if let Some(mut s) = self.child.stdout.take() {
            let _ = s.read_to_string(&mut out);
        }
        let _ = self.child.wait();
        out
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A throw-away host: a network namespace that the test body runs in (on its own
/// thread), with `lo` up. Bridges, nftables tables and sysctls made there vanish with
/// it, and nothing of the real host is touched.
///
/// A new network namespace copies the real host's IPv4 `all`/`default` settings and
/// `ip_forward` (`net.core.devconf_inherit_init_net` = 0), which may have been turned
/// on by docker, a router setup or earlier runs. The sandbox sets those the tests
/// assert on to the kernel's defaults, so the tests mean the same on every host.
#[derive(Debug)]
pub(crate) struct Sandbox {
    holder: NsHolder,
}

/// Sysctls set in every sandbox before the test body runs, with their values.
pub(crate) const SANDBOX_SYSCTLS: [(&str, &str); 3] = [
    ("/proc/sys/net/ipv4/ip_forward", "0"),
    ("/proc/sys/net/ipv4/conf/all/route_localnet", "0"),
    ("/proc/sys/net/ipv4/conf/default/route_localnet", "0"),
];

impl Sandbox {
    pub(crate) fn new() -> Sandbox {
        let holder = NsHolder::new();
        Networks::loopback_up(&holder.netns()).expect("lo up in sandbox");
        let sandbox = Sandbox { holder };
        sandbox.run(|| {
            for (path, value) in SANDBOX_SYSCTLS {
                std::fs::write(path, value).unwrap_or_else(|e| panic!("set {path}: {e}"));
                let now = std::fs::read_to_string(path).expect("read back sysctl");
                assert_eq!(now.trim(), value, "{path} in the sandbox");
            }
        });
        sandbox
    }

    /// Runs `f` on a thread that entered the sandbox's namespace; panics propagate.
    pub(crate) fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = self.holder.ns_path();
        std::thread::scope(|s| {
            let h = s.spawn(move || {
                let ns = std::fs::File::open(&path).expect("open sandbox netns");
                rustix::thread::move_into_link_name_space(
                    std::os::fd::AsFd::as_fd(&ns),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )
                .expect("enter sandbox netns");
                f()
            });
            match h.join() {
                Ok(v) => v,
                Err(p) => std::panic::resume_unwind(p),
            }
        })
    }
}

/// A config with unique names and its own state directory.
pub(crate) struct TestNet {
    pub(crate) nets: Networks,
    pub(crate) dir: tempfile::TempDir,
    /// Purge everything on drop (needed outside a sandbox).
    pub(crate) purge_on_drop: bool,
}

impl TestNet {
    pub(crate) fn new() -> TestNet {
        TestNet::with_config(|_| {})
    }

    pub(crate) fn with_config(change: impl FnOnce(&mut Config)) -> TestNet {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config::new(dir.path().join("networks"));
        config.nft_table = unique("mdt");
        config.default_bridge = unique("mdb");
        config.bridge_prefix = "bt-".into();
        config.veth_prefix = "vt".into();
        // Host-wide locks of this test's own (the product's are in /run/lock).
        config.lock_dir = dir.path().join("locks");
        change(&mut config);
        TestNet {
            nets: Networks::new(config).expect("config"),
            dir,
            purge_on_drop: false,
        }
    }

    /// A second root on the same host as `other`, as `mydocker --root OTHER_DIR`
    /// would be: its own state directory, the same default bridge, subnet, nftables
    /// table, prefixes and host-wide lock directory.
    pub(crate) fn sharing(other: &TestNet) -> TestNet {
        let theirs = other.nets.config().clone();
        TestNet::with_config(|c| {
            let state_dir = c.state_dir.clone();
            *c = theirs;
            c.state_dir = state_dir;
        })
    }

    pub(crate) fn table(&self) -> String {
        self.nets.config().nft_table.clone()
    }

    /// `nft -j list table ip T` as JSON, or None when the table does not exist.
    pub(crate) fn nft_table_json(&self) -> Option<serde_json::Value> {
        let out = Command::new("nft")
            .args(["-j", "list", "table", "ip", &self.table()])
            .output()
            .expect("run nft");
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).expect("nft json"))
    }

    /// Elements of a set or map of the table.
    pub(crate) fn nft_elements(&self, set: &str) -> Vec<serde_json::Value> {
        let Some(json) = self.nft_table_json() else {
            return Vec::new();
        };
        json["nftables"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|o| o.get("set").or_else(|| o.get("map")))
            .filter(|s| s["name"] == set)
            .flat_map(|s| s["elem"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    pub(crate) fn hosts_file(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join(format!("{name}.hosts"));
        std::fs::write(&p, "").expect("create hosts file");
        p
    }
}

impl Drop for TestNet {
    // A failed clean-up cannot fail the test from here: it is reported.
    #[allow(clippy::print_stderr)]
    fn drop(&mut self) {
        if self.purge_on_drop {
            if let Err(e) = self.nets.purge() {
                eprintln!("purge failed: {e}");
            }
        }
    }
}

/// Names of the links of the calling thread's namespace.
pub(crate) fn host_links() -> Vec<String> {
    let out = Command::new("ip")
        .args(["-j", "link"])
        .output()
        .expect("ip link");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ip json");
    json.as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["ifname"].as_str().map(str::to_string))
        .collect()
}

/// IPv4 addresses of a link as `a.b.c.d/len` strings (from `ip -j addr` output).
pub(crate) fn addrs_of(json: &serde_json::Value, ifname: &str) -> Vec<String> {
    json.as_array()
        .into_iter()
        .flatten()
        .filter(|l| l["ifname"] == ifname)
        .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
        .filter(|a| a["family"] == "inet")
        .map(|a| format!("{}/{}", a["local"].as_str().unwrap_or(""), a["prefixlen"]))
        .collect()
}

/// A free TCP port on 127.0.0.1 right now.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// HTTP GET with bounded timeouts; retries the connection while the server starts.
/// Returns the body.
pub(crate) fn http_get(ip: Ipv4Addr, port: u16, path: &str) -> Option<Vec<u8>> {
    let addr = SocketAddr::from((ip, port));
    for _ in 0..50 {
        let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        };
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        s.set_write_timeout(Some(Duration::from_secs(5))).ok()?;
        let req = format!("GET {path} HTTP/1.0\r\nHost: {ip}\r\n\r\n");
        if s.write_all(req.as_bytes()).is_err() {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        let mut resp = Vec::new();
        if s.read_to_end(&mut resp).is_err() || resp.is_empty() {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        let split = resp.windows(4).position(|w| w == b"\r\n\r\n")?;
        return Some(resp[split + 4..].to_vec());
    }
    None
}

/// A directory with one file for busybox httpd to serve.
pub(crate) fn www(dir: &Path, content: &[u8]) -> PathBuf {
    let www = dir.join("www");
    std::fs::create_dir_all(&www).expect("mkdir www");
    std::fs::write(www.join("file.bin"), content).expect("write file");
    www
}
