//! `cargo xtask demo`: a guided tour on a fresh Debian 12 machine (as root). Installs what
//! is needed, builds mydocker, starts a local registry with the busybox fixture, pulls it
//! into a private root, lists images, runs containers (in the foreground, and a detached
//! web server with a published port that the demo queries), shows `info`, and cleans up.
//!
//! The demo keeps everything private so it never touches a real installation: its root is
//! a temporary directory (`/var/tmp/mydocker-demo-PID`), its default network has its own
//! bridge, subnet and nftables table, and its containers get their own cgroup parent.
//! All of it is removed at the end, also when a step fails.

use crate::bench::{self, fixture::FixtureRegistry};
use anyhow::{Context, Result, bail};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub(crate) fn run(args: &[String]) -> Result<()> {
    if let Some(a) = args.first() {
        bail!("demo takes no arguments (got {a:?})");
    }
    step(
        1,
        "install the Debian packages the demo needs (skipped when present)",
    );
    crate::deps::install(crate::deps::TEST)?;

    step(2, "build mydocker and the fixture registry (release)");
    let bins = bench::build_release()?;

    let demo = Demo::new(&bins.mydocker)?;
    let result = demo.tour(&bins.fixture_registry);
    drop(demo);
    result?;
    println!("\nThe demo is over: its root, bridge, nft table and cgroups are removed.");
    Ok(())
}

struct Demo {
    root: PathBuf,
    mydocker: PathBuf,
    env: Vec<(&'static str, String)>,
    bridge: String,
    nft_table: String,
    cgroup_parent: String,
}

impl Demo {
    fn new(mydocker: &Path) -> Result<Demo> {
        let pid = std::process::id();
        let root = PathBuf::from(format!("/var/tmp/mydocker-demo-{pid}"));
        std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
        let bridge = format!("mdemo{}", pid % 1_000_000);
        let nft_table = format!("mydocker_demo_{pid}");
        let cgroup_parent = format!("mydocker-demo-{pid}");
        let env = vec![
            ("MYDOCKER_ROOT", root.display().to_string()),
            ("MYDOCKER_DEFAULT_BRIDGE", bridge.clone()),
            (
                "MYDOCKER_DEFAULT_SUBNET",
                format!("10.253.{}.0/24", pid % 256),
            ),
            ("MYDOCKER_NFT_TABLE", nft_table.clone()),
            ("MYDOCKER_CGROUP_PARENT", cgroup_parent.clone()),
            // A demo leaves the host's sysctls alone: no `net.ipv4.ip_forward=1` for its
            // bridge (containers reach the host and each other, not the outside).
            ("MYDOCKER_MANAGE_IP_FORWARD", "0".to_owned()),
        ];
        Ok(Demo {
            root,
            mydocker: mydocker.to_owned(),
            env,
            bridge,
            nft_table,
            cgroup_parent,
        })
    }

    fn tour(&self, fixture_registry: &Path) -> Result<()> {
        step(
            3,
            "start a local registry (Debian's docker-registry on 127.0.0.1) with fixture \
             images built from busybox-static",
        );
        let mut registry = FixtureRegistry::start(fixture_registry, &[])?;
        for image in registry.images() {
            println!("    {image}");
        }
        let busybox = registry
            .image("busybox")
            .context("the fixture registry printed no busybox image")?
            .to_owned();
        println!(
            "\nThe demo's mydocker keeps its state in {} (a temporary directory) and uses its \
             own default bridge, subnet, nft table and cgroup parent:",
            self.root.display()
        );
        for (k, v) in &self.env {
            println!("    export {k}={v}");
        }
        println!("    alias mydocker={}", self.mydocker.display());

        step(
            4,
            "pull the busybox image into the demo root (plain HTTP: it is 127.0.0.1)",
        );
        self.mydocker(&["pull", &busybox])?;

        step(5, "list the images");
        self.mydocker(&["images"])?;

        step(
            6,
            "run a container on the default bridge network: its hostname is its short ID, \
             it has no /etc/os-release, and it runs as root",
        );
        self.mydocker(&[
            "run",
            "--rm",
            &busybox,
            "sh",
            "-c",
            "echo hello from $(hostname); cat /etc/os-release || true; id",
        ])?;

        step(
            7,
            "run with --network none: only the loopback interface exists",
        );
        self.mydocker(&[
            "run",
            "--rm",
            "--network",
            "none",
            &busybox,
            "sh",
            "-c",
            "ip link; ls /sys/class/net",
        ])?;

        step(
            8,
            "a detached web server with a port published on 127.0.0.1: busybox httpd \
             serving the container's /etc",
        );
        let port = free_port()?;
        let name = format!("demo-web-{}", std::process::id());
        self.mydocker(&[
            "run",
            "-d",
            "--name",
            &name,
            "-p",
            &format!("127.0.0.1:{port}:80"),
            &busybox,
            "httpd",
            "-f",
            "-v",
            "-p",
            "80",
            "-h",
            "/etc",
        ])?;
        self.mydocker(&["ps"])?;
        println!("$ GET http://127.0.0.1:{port}/hostname  (from the host, by xtask)");
        let reply = http_get(port, "/hostname")?;
        for line in reply.lines() {
            println!("    {line}");
        }
        self.mydocker(&["exec", &name, "ps"])?;
        self.mydocker(&["logs", &name])?;
        // httpd is PID 1 and has no SIGTERM handler, so the kernel ignores the signal:
        // `stop` sends SIGKILL after the grace period, here 1 s instead of 10.
        self.mydocker(&["stop", "-t", "1", &name])?;
        self.mydocker(&["ps", "-a"])?;
        self.mydocker(&["rm", &name])?;

        step(
            9,
            "system information: storage driver, cgroup version, root",
        );
        self.mydocker(&["info"])?;

        step(10, "stop the registry and clean up");
        registry.stop();
        Ok(())
    }

    /// mydocker with the demo's environment.
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.mydocker);
        c.args(args)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())));
        c
    }

    /// Runs mydocker with the demo's environment, its output shown as it comes.
    fn mydocker(&self, args: &[&str]) -> Result<()> {
        println!("$ mydocker {}", shell_words(args));
        let status = self.command(args).status().context("starting mydocker")?;
        if !status.success() {
            bail!("`mydocker {}` failed: {status}", shell_words(args));
        }
        Ok(())
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        // Containers first: they hold mounts, cgroups, veths and port rules.
        if let Ok(out) = self.command(&["ps", "-aq"]).output() {
            for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = self.command(&["rm", "-f", id]).output();
            }
        }
        bench::cleanup_dir(&self.root);
        bench::remove_cgroups(&self.cgroup_parent);
        if Path::new("/sys/class/net").join(&self.bridge).exists() {
            let _ = Command::new("ip")
                .args(["link", "del", &self.bridge])
                .status();
        }
        let _ = Command::new("nft")
            .args(["delete", "table", "ip", &self.nft_table])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// A port that was free a moment ago on 127.0.0.1.
fn free_port() -> Result<u16> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding a free port")?;
    Ok(l.local_addr()?.port())
}

/// `GET path` from 127.0.0.1:`port` (HTTP/1.0, so the server closes the connection);
/// retries a refused connection for up to 5 s while the server starts.
fn http_get(port: u16, path: &str) -> Result<String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = None;
    for _ in 0..50 {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    let mut stream = stream.with_context(|| format!("nothing answers on {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut reply = String::new();
    stream
        .read_to_string(&mut reply)
        .with_context(|| format!("reading the reply from {addr}"))?;
    // The status line and the body (the headers carry a date: leave them out).
    let status = reply.lines().next().unwrap_or_default().to_owned();
    let body = reply
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.trim())
        .unwrap_or_default();
    Ok(format!("{status}\n{body}"))
}

fn step(n: u32, what: &str) {
    println!("\n==> Step {n}: {what}");
}

fn shell_words(args: &[&str]) -> String {
    let mut c = Command::new("x");
    c.args(args);
    let shown = crate::measure::show(&c);
    shown.strip_prefix("x ").unwrap_or(&shown).to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn shell_words_quote_the_script() {
        assert_eq!(
            super::shell_words(&["run", "--rm", "img", "sh", "-c", "echo $(hostname)"]),
            "run --rm img sh -c 'echo $(hostname)'"
        );
    }
}
