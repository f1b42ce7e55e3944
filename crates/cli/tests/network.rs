//! Networking end to end: user networks, name resolution, isolation between networks,
//! published ports, `none`/`host`, and no leaks after many runs. Traffic goes only to
//! 127.0.0.1 and to containers these tests created.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failure is a test failure.
mod common;

use common::Env;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn containers_on_a_user_network_talk_by_ip_and_name() {
    let env = Env::new("net-talk");
    let subnet = format!("10.{}.200.0/24", 100 + std::process::id() % 100);
    let other_subnet = format!("10.{}.201.0/24", 100 + std::process::id() % 100);
    env.md
        .ok(&["network", "create", "--subnet", &subnet, "front"]);
    env.md
        .ok(&["network", "create", "--subnet", &other_subnet, "back"]);
    let ls = env.md.ok(&["network", "ls"]);
    for n in ["bridge", "front", "back", "host", "none"] {
        assert!(
            ls.lines().any(|l| l.split_whitespace().nth(1) == Some(n)),
            "{n} in {ls}"
        );
    }
    // A TCP server on `front` answering one line, then staying up.
    let _server = env.spawn(
        &[
            "--name",
            "srv",
            "--network",
            "front",
            "--network-alias",
            "api",
        ],
        &["sh", "-c", "while true; do echo pong | nc -l -p 7000; done"],
    );
    let ip = env.wait_ip("srv");
    assert!(
        ip.starts_with(&subnet[..subnet.len() - 4]),
        "{ip} in {subnet}"
    );
    let by_ip = env.stdout(
        &["--network", "front"],
        &["ping", "-c", "1", "-W", "2", &ip],
    );
    assert!(by_ip.contains("1 packets received"), "{by_ip}");
    let by_name = env.stdout(
        &["--network", "front"],
        &["sh", "-c", "ping -c 1 -W 2 srv && grep srv /etc/hosts"],
    );
    assert!(
        by_name.contains("1 packets received") && by_name.contains(&ip),
        "{by_name}"
    );
    let tcp = env.stdout(
        &["--network", "front"],
        &["sh", "-c", "nc -w 3 api 7000 </dev/null"],
    );
    assert_eq!(tcp.trim(), "pong");
    // From another network it is unreachable.
    let blocked = env.run(&["--network", "back"], &["ping", "-c", "1", "-W", "1", &ip]);
    assert!(
        !blocked.status.success(),
        "a container on another network reached {ip}"
    );
    drop(_server);
    let err = env.md.fails(&["network", "rm", "bridge"]).1;
    assert!(
        err.contains("pre-defined") || err.contains("cannot"),
        "{err}"
    );
    env.md.ok(&["network", "rm", "front", "back"]);
    env.assert_clean();
}

#[test]
fn internal_network_has_no_route_out_and_rm_is_refused_while_used() {
    let env = Env::new("net-int");
    let subnet = format!("10.{}.202.0/24", 100 + std::process::id() % 100);
    env.md.ok(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        &subnet,
        "sealed",
    ]);
    let routes = env.stdout(&["--network", "sealed"], &["ip", "route"]);
    assert!(!routes.contains("default"), "{routes}");
    let normal = env.stdout(&[], &["ip", "route"]);
    assert!(normal.contains("default via"), "{normal}");
    let _c = env.spawn(
        &["--name", "holder", "--network", "sealed"],
        &["sleep", "60"],
    );
    env.wait_ip("holder");
    let (_, err) = env.md.fails(&["network", "rm", "sealed"]);
    assert!(
        err.contains("active endpoints") || err.contains("in use") || err.contains("attached"),
        "{err}"
    );
    drop(_c);
    env.md.ok(&["network", "rm", "sealed"]);
    env.assert_clean();
}

#[test]
fn published_port_serves_a_file_on_localhost() {
    let env = Env::new("net-pub");
    let www = tempfile::tempdir().unwrap();
    let body: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
    std::fs::write(www.path().join("data.bin"), &body).unwrap();
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    let vol = format!("{}:/www:ro", www.path().display());
    let _web = env.spawn(
        &["--name", "web", "-p", &publish, "-v", &vol],
        &["httpd", "-f", "-p", "80", "-h", "/www"],
    );
    env.wait_ip("web");
    let mut got = None;
    let deadline = Instant::now() + Duration::from_secs(20);
    while got.is_none() && Instant::now() < deadline {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(b"GET /data.bin HTTP/1.0\r\n\r\n").unwrap();
            let mut resp = Vec::new();
            if s.read_to_end(&mut resp).is_ok() && !resp.is_empty() {
                got = Some(resp);
            }
        }
        if got.is_none() {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let resp = got.expect("no answer on the published port");
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("HTTP header")
        + 4;
    assert!(resp.starts_with(b"HTTP/1.") && resp[..split].windows(3).any(|w| w == b"200"));
    assert_eq!(&resp[split..], &body[..], "the file's bytes");
    let (code, err) = env.md.fails(&env.args(&["-p", &publish], &["true"]));
    assert_eq!(code, 125, "a taken host port is refused: {err}");
    drop(_web);
    env.assert_clean();
}

#[test]
fn none_has_only_lo_and_host_sees_the_host() {
    let env = Env::new("net-modes");
    // An interface of this test's own in the host's namespace (a veth pair: the dummy
    // module may be missing), deleted when the test ends, pass or fail. Parallel tests
    // create and delete veths all the time, so the host's full list is no fixed point;
    // this one is.
    struct HostVeth(String);
    impl Drop for HostVeth {
        fn drop(&mut self) {
            let _ = Command::new("ip")
                .args(["link", "delete", &self.0])
                .output();
        }
    }
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let marker = format!("mdn{}x{n}", std::process::id() % 100_000);
    let out = Command::new("ip")
        .args(["link", "add", &marker, "type", "veth", "peer", "name"])
        .arg(format!("{marker}p"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ip link add {marker}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _marker = HostVeth(marker.clone());
    let host_links = || -> Vec<String> {
        std::fs::read_dir("/sys/class/net")
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    };

    let none = env.stdout(
        &["--network", "none"],
        &[
            "sh",
            "-c",
            "ls /sys/class/net; cat /sys/class/net/lo/operstate",
        ],
    );
    // Only what any new network namespace of this kernel has: lo, and the fallback
    // devices of loaded tunnel modules (tunl0, sit0, gre0...) where there are some.
    let fresh = Command::new("unshare")
        .args(["--net", "ip", "-o", "link", "show"])
        .output()
        .unwrap();
    assert!(fresh.status.success(), "unshare --net ip link");
    let mut fresh: Vec<String> = String::from_utf8_lossy(&fresh.stdout)
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_owned())
        .collect();
    fresh.sort();
    let mut lines: Vec<&str> = none.lines().collect();
    let operstate = lines.pop().unwrap_or_default();
    let mut listed: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    listed.sort();
    assert!(listed.iter().any(|l| l == "lo"), "{none}");
    assert_eq!(listed, fresh, "only what a new namespace has: {none}");
    assert_ne!(operstate, "down", "lo is up: {none}");
    assert!(
        !none.contains(&marker),
        "{marker} is not in a none container: {none}"
    );

    let before = host_links();
    let host = env.stdout(&["--network", "host"], &["ls", "/sys/class/net"]);
    let after = host_links();
    let seen: Vec<&str> = host.split_whitespace().collect();
    assert!(seen.contains(&marker.as_str()), "{marker} in {host}");
    // Every interface the host had both before and after the container listed its
    // own: those existed the whole time it looked.
    for i in before.iter().filter(|i| after.contains(i)) {
        assert!(seen.contains(&i.as_str()), "{i} in {host}");
    }
    let (code, err) = env
        .md
        .fails(&env.args(&["--network", "nosuchnet"], &["true"]));
    assert_eq!(code, 125);
    assert!(err.contains("nosuchnet"), "{err}");
    let (code, err) = env.md.fails(&env.args(&["-p", "80:80:80"], &["true"]));
    assert_eq!(code, 125, "{err}");
    env.assert_clean();
}

#[test]
fn fifty_runs_leave_nothing_and_concurrent_runs_get_distinct_addresses() {
    let env = Env::new("net-cycles");
    for i in 0..50 {
        let out = env.run(&[], &["true"]);
        assert!(
            out.status.success(),
            "run {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    env.assert_clean();
    let nets = env.md.networks();
    let table = Command::new("nft")
        .args(["list", "table", "ip", &env.md.nft_table])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        !table.contains("dnat to"),
        "published-port entries left:\n{table}"
    );
    // Ten at once: ten distinct addresses.
    let handles: Vec<_> = (0..10)
        .map(|_| {
            let c = env
                .md
                .command(&env.args(&[], &["sh", "-c", "ip -4 -o addr show eth0"]));
            std::thread::spawn(move || common::run_bounded(c, Duration::from_secs(120)))
        })
        .collect();
    let mut ips = std::collections::HashSet::new();
    for h in handles {
        let out = h.join().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let ip = text
            .split_whitespace()
            .skip_while(|w| *w != "inet")
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        assert!(!ip.is_empty(), "{text}");
        ips.insert(ip);
    }
    assert_eq!(ips.len(), 10, "{ips:?}");
    let default = nets.inspect("bridge").unwrap();
    assert!(default.containers.is_empty());
    env.assert_clean();
}

/// A second root that uses the same default bridge, subnet and nftables table as `of`
/// (as `--root /var/tmp/x` does beside the default root).
fn sharing_network(of: &common::Mydocker) -> common::Mydocker {
    common::Mydocker {
        root: tempfile::Builder::new()
            .prefix("mydocker-test-")
            .tempdir()
            .unwrap(),
        bridge: of.bridge.clone(),
        nft_table: of.nft_table.clone(),
        subnet: of.subnet.clone(),
        bridge_prefix: of.bridge_prefix.clone(),
    }
}

/// Issue 11: after `rm -rf` of a root, the default bridge it left behind is adopted by
/// the next root (it used to refuse every run with "overlaps host route"), and two roots
/// side by side both run containers on it with distinct addresses.
#[test]
fn default_bridge_survives_its_root_and_is_shared_by_two_roots() {
    let env = Env::new("net-adopt");
    let cg = env.cg.name.clone();
    let sleeper = |md: &common::Mydocker| {
        md.ok(&[
            "run",
            "-d",
            "--cgroup-parent",
            &cg,
            &env.image,
            "sleep",
            "300",
        ])
        .trim()
        .to_owned()
    };
    let ip = |md: &common::Mydocker, id: &str| {
        md.ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", id])
            .trim()
            .to_owned()
    };
    // Root A runs a container, then disappears the hard way (its state only; the bridge
    // and the table stay on the host, as after `rm -rf ROOT`).
    let a = sharing_network(&env.md);
    a.ok(&["pull", "-q", &env.image]);
    let id = sleeper(&a);
    assert!(!ip(&a, &id).is_empty());
    a.ok(&["rm", "-f", &id]);
    let a_root = a.root.path().to_path_buf();
    std::mem::forget(a); // its Drop would purge the networks it no longer knows
    std::fs::remove_dir_all(&a_root).unwrap();

    // The test's own root (B) runs on the adopted bridge; a third root (C) beside it.
    let c = sharing_network(&env.md);
    c.ok(&["pull", "-q", &env.image]);
    let mut seen = std::collections::HashSet::new();
    let mut ids = Vec::new();
    for _ in 0..3 {
        for md in [&env.md, &c] {
            let id = sleeper(md);
            let addr = ip(md, &id);
            assert!(seen.insert(addr.clone()), "{addr} given twice: {seen:?}");
            ids.push((md, id));
        }
    }
    // Removing one root's containers leaves the other's reachable on the shared bridge.
    for (md, id) in &ids {
        if std::ptr::eq(*md, &c) {
            c.ok(&["rm", "-f", id]);
        }
    }
    let (_, b_id) = ids
        .iter()
        .find(|(md, _)| std::ptr::eq(*md, &env.md))
        .unwrap();
    let b_ip = ip(&env.md, b_id);
    let ping = env.stdout(&[], &["ping", "-c", "1", "-W", "2", &b_ip]);
    assert!(ping.contains("1 packets received"), "{ping}");
    for (md, id) in &ids {
        if std::ptr::eq(*md, &env.md) {
            env.md.ok(&["rm", "-f", id]);
        }
    }
    drop(ids);
    drop(c);
    env.assert_clean();
}
