//! Reliability of what the user starts (root): a `run` killed (SIGKILL) at any moment
//! leaves state that the next command repairs, and many `run -d` callers at once get
//! distinct names and addresses and are removed cleanly.

#![allow(clippy::print_stdout, clippy::print_stderr)] // Test diagnostics (seeds, skips).
#![allow(clippy::unwrap_used)]

mod common;

use common::Env;
use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A small deterministic generator (xorshift), seeded from the clock unless
/// `MYDOCKER_FAULT_SEED` replays a failure.
struct Rng(u64);

impl Rng {
    fn new() -> Self {
        let seed = std::env::var("MYDOCKER_FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
                    | 1
            });
        eprintln!("fault seed: MYDOCKER_FAULT_SEED={seed}");
        Rng(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Elements of the publishing maps in the test's nftables table.
fn published(table: &str) -> Vec<String> {
    let out = Command::new("nft")
        .args(["list", "table", "ip", table])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut in_map = false;
    let mut found = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with("map publish") {
            in_map = true;
        } else if l == "}" {
            in_map = false;
        } else if in_map && l.starts_with("elements") {
            found.push(l.to_owned());
        }
    }
    found
}

/// How long one `run` takes here from start to a running container, so the kill points
/// spread over create, start and the running container whatever the machine's speed.
fn run_duration(env: &Env) -> Duration {
    let t = Instant::now();
    env.md.ok(&env.args(&["--network", "none"], &["true"]));
    t.elapsed()
}

#[test]
fn a_run_killed_at_any_moment_is_repaired_by_the_next_command() {
    let env = Env::new("killrun");
    let mut rng = Rng::new();
    let span = run_duration(&env).as_millis() as u64 * 3 / 2 + 20;
    let cg = env.cg.name.clone();
    for i in 0..30 {
        let name = format!("killed{i}");
        let mut args: Vec<&str> = vec!["run", "--cgroup-parent", &cg, "--name", &name];
        match i % 3 {
            0 => args.push("--rm"),
            1 => args.extend(["-p", "127.0.0.1::80"]),
            _ => args.extend(["--network", "none"]),
        }
        args.extend([env.image.as_str(), "sleep", "30"]);
        let mut child = env
            .md
            .command(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.below(span)));
        let _ = child.kill();
        let _ = child.wait();
    }

    // The next command (any that looks at containers) repairs: nothing runs without an
    // owner, and containers that are not running hold no mount, cgroup, address or port.
    let ps = env
        .md
        .ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    eprintln!("after the kills:\n{ps}");
    let running = env.md.ok(&["ps", "-q"]);
    assert!(running.trim().is_empty(), "still running:\n{running}\n{ps}");
    let mounts = common::mounts_under(env.md.root());
    assert!(mounts.is_empty(), "mounts left:\n{mounts:?}\n{ps}");
    assert!(
        env.cg.children().is_empty(),
        "cgroups left: {:?}\n{ps}",
        env.cg.children()
    );
    for n in env.md.networks().list().unwrap() {
        assert!(
            n.containers.is_empty(),
            "endpoints left on {}: {:?}",
            n.name,
            n.containers
        );
    }
    assert!(
        published(&env.md.nft_table).is_empty(),
        "{:?}",
        published(&env.md.nft_table)
    );
    // Every container directory has a record, every name a container.
    let listed: HashSet<String> = env
        .md
        .ok(&["ps", "-aq", "--no-trunc"])
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    for e in std::fs::read_dir(env.md.root().join("containers"))
        .unwrap()
        .flatten()
    {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.len() == 64 {
            assert!(
                listed.contains(&n),
                "a directory without a container: {n}\n{ps}"
            );
        }
    }
    for e in std::fs::read_dir(env.md.root().join("containers/names"))
        .into_iter()
        .flatten()
        .flatten()
    {
        // A reservation is a symbolic link to its owner's ID.
        let owner = std::fs::read_link(e.path()).unwrap();
        assert!(
            listed.contains(owner.to_str().unwrap()),
            "name {:?} held by a missing container",
            e.file_name()
        );
    }
    // They can all be removed, and then nothing is left.
    for id in &listed {
        env.md.ok(&["rm", "-f", id]);
    }
    env.assert_clean();
    // No short link of the overlay driver leads to a removed writable layer.
    let dangling: Vec<_> = std::fs::read_dir(env.md.root().join("layers/overlay/l"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| !p.exists())
        .collect();
    assert!(dangling.is_empty(), "links to removed layers: {dangling:?}");
}

#[test]
fn fifty_containers_from_ten_concurrent_callers() {
    let env = Env::new("parallel");
    let cg = env.cg.name.clone();
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..10)
            .map(|caller| {
                let (env, cg) = (&env, &cg);
                s.spawn(move || {
                    (0..5)
                        .map(|j| {
                            let name = format!("par{caller}x{j}");
                            let mut args = vec!["run", "-d", "--cgroup-parent", cg.as_str()];
                            // Half named, half with docker's random names.
                            if j % 2 == 0 {
                                args.extend(["--name", name.as_str()]);
                            }
                            args.extend([env.image.as_str(), "sleep", "300"]);
                            env.md.ok(&args).trim().to_owned()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert_eq!(ids.len(), 50);
    let mut names = HashSet::new();
    let mut ips = HashSet::new();
    for id in &ids {
        let line = env.md.ok(&[
            "inspect",
            "-f",
            "{{.Name}} {{.NetworkSettings.IPAddress}} {{.State.Status}}",
            id,
        ]);
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f.len(), 3, "{line}");
        assert_eq!(f[2], "running", "{line}");
        assert!(names.insert(f[0].to_owned()), "name given twice: {line}");
        assert!(ips.insert(f[1].to_owned()), "address given twice: {line}");
    }
    std::thread::scope(|s| {
        for chunk in ids.chunks(5) {
            let env = &env;
            s.spawn(move || {
                for id in chunk {
                    env.md.ok(&["rm", "-f", id]);
                }
            });
        }
    });
    env.assert_clean();
}
