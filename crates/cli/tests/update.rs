//! `update` of running and stopped containers: the limits reach the cgroup, the runtime
//! spec (next start) and `inspect`; the restart policy reaches the monitor; docker's
//! messages and exit codes for bad input. Every wait is bounded polling; every test
//! removes its containers and checks that no monitor is left.

mod common;

use common::{Env, alive, eventually};

fn clean_up(env: &Env, monitors: &[u32]) {
    for id in env.md.ok(&["ps", "-aq"]).split_whitespace() {
        env.md.ok(&["rm", "-f", id]);
    }
    for &p in monitors {
        eventually(&format!("monitor {p} exits"), || !alive(p));
    }
}

#[test]
fn update_changes_a_running_containers_cgroup_and_inspect() {
    let env = Env::new("upd-run");
    let (id, monitor) = env.run_sleeper(
        "svc",
        &["-m", "64m", "--pids-limit", "100", "--cpu-shares", "512"],
        &env.image,
    );
    let monitors = [monitor];
    let out = env.md.ok(&[
        "update",
        "-m",
        "128m",
        "--pids-limit",
        "200",
        "--cpu-shares",
        "1024",
        "--cpus",
        "0.5",
        "--cpuset-cpus",
        "0",
        "--restart",
        "on-failure:3",
        "svc",
    ]);
    assert_eq!(out.trim(), "svc");
    assert_eq!(
        env.cg_file(&id, &["memory.limit_in_bytes", "memory.max"])
            .as_deref(),
        Some("134217728")
    );
    assert_eq!(env.cg_file(&id, &["pids.max"]).as_deref(), Some("200"));
    if let Some(shares) = env.cg_file(&id, &["cpu.shares"]) {
        assert_eq!(shares, "1024");
    }
    match (
        env.cg_file(&id, &["cpu.cfs_quota_us"]),
        env.cg_file(&id, &["cpu.max"]),
    ) {
        (Some(q), _) => assert_eq!(q, "50000"),
        (None, Some(m)) => assert_eq!(m, "50000 100000"),
        (None, None) => panic!("no cpu quota file for {id}"),
    }
    assert_eq!(env.cg_file(&id, &["cpuset.cpus"]).as_deref(), Some("0"));
    assert_eq!(
        env.inspect(
            "svc",
            "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.CpuShares}} {{.HostConfig.NanoCpus}} {{.HostConfig.CpusetCpus}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}"
        ),
        "134217728 200 1024 500000000 0 on-failure:3"
    );
    // Still running, with the new limits kept for its next start.
    assert_eq!(env.inspect("svc", "{{.State.Status}}"), "running");
    env.md.ok(&["stop", "-t", "0", "svc"]);
    env.md.ok(&["start", "svc"]);
    assert_eq!(env.cg_file(&id, &["pids.max"]).as_deref(), Some("200"));
    let mut monitors = monitors.to_vec();
    monitors.push(env.monitor_of(&id));
    clean_up(&env, &monitors);
}

#[test]
fn update_sets_the_cfs_period_and_quota_memory_reservation_and_blkio_weight() {
    let env = Env::new("upd-cfs");
    let (id, monitor) = env.run_sleeper("cfs", &[], &env.image);
    let monitors = [monitor];
    let out = env.md.run(&[
        "update",
        "--cpu-period",
        "50000",
        "--cpu-quota",
        "25000",
        "--memory-reservation",
        "32m",
        "--blkio-weight",
        "300",
        "cfs",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "cfs");
    match (
        env.cg_file(&id, &["cpu.cfs_period_us"]),
        env.cg_file(&id, &["cpu.cfs_quota_us"]),
        env.cg_file(&id, &["cpu.max"]),
    ) {
        (Some(p), Some(q), _) => assert_eq!((p.as_str(), q.as_str()), ("50000", "25000")),
        (None, None, Some(m)) => assert_eq!(m, "25000 50000"),
        other => panic!("no cfs files for {id}: {other:?}"),
    }
    assert_eq!(
        env.cg_file(&id, &["memory.soft_limit_in_bytes", "memory.low"])
            .as_deref(),
        Some("33554432")
    );
    // The weight reaches a v1 weight file where the I/O scheduler has one; otherwise the
    // cgroup crate warns that it was ignored.
    match env.cg_file(&id, &["blkio.weight", "blkio.bfq.weight"]) {
        Some(w) => assert_eq!(w, "300"),
        None if env.cg_file(&id, &["io.weight", "io.bfq.weight"]).is_none() => {
            assert!(stderr.contains("blkio weight"), "{stderr}")
        }
        None => {}
    }
    assert_eq!(
        env.inspect(
            "cfs",
            "{{.HostConfig.CpuPeriod}} {{.HostConfig.CpuQuota}} {{.HostConfig.MemoryReservation}} {{.HostConfig.BlkioWeight}}"
        ),
        "50000 25000 33554432 300"
    );
    clean_up(&env, &monitors);
}

#[test]
fn update_of_a_stopped_container_applies_at_its_start() {
    let env = Env::new("upd-stop");
    let id = env
        .md
        .ok(&[
            "create",
            "--name",
            "later",
            "--network",
            "none",
            "--cgroup-parent",
            &env.cg.name,
            &env.image,
            "sleep",
            "1000",
        ])
        .trim()
        .to_owned();
    env.md
        .ok(&["update", "--memory", "96m", "--pids-limit", "50", "later"]);
    assert_eq!(
        env.inspect("later", "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}"),
        "100663296 50"
    );
    env.md.ok(&["start", "later"]);
    let monitors = [env.monitor_of(&id)];
    assert_eq!(
        env.cg_file(&id, &["memory.limit_in_bytes", "memory.max"])
            .as_deref(),
        Some("100663296")
    );
    assert_eq!(env.cg_file(&id, &["pids.max"]).as_deref(), Some("50"));
    clean_up(&env, &monitors);
}

#[test]
fn an_updated_restart_policy_applies_at_the_next_exit() {
    let env = Env::new("upd-rst");
    let id = env
        .md
        .ok(&[
            "run",
            "-d",
            "--name",
            "waiter",
            "--network",
            "none",
            "--cgroup-parent",
            &env.cg.name,
            &env.image,
            "sh",
            "-c",
            "while [ ! -e /go ]; do sleep 0.1; done; exit 1",
        ])
        .trim()
        .to_owned();
    let monitors = [env.monitor_of(&id)];
    env.md
        .ok(&["update", "--restart", "on-failure:1", "waiter"]);
    env.md.ok(&["exec", "waiter", "touch", "/go"]);
    eventually("one restart, then exited", || {
        env.inspect("waiter", "{{.State.Status}} {{.RestartCount}}") == "exited 1"
    });
    clean_up(&env, &monitors);
}

#[test]
fn bad_updates_are_refused_with_dockers_messages() {
    let env = Env::new("upd-bad");
    env.md.ok(&[
        "create",
        "--name",
        "lim",
        "--network",
        "none",
        "-m",
        "64m",
        "--memory-swap",
        "100m",
        &env.image,
    ]);
    env.md.ok(&["create", "--rm", "--name", "gone", &env.image]);
    for (args, msg) in [
        (
            &["update", "lim"][..],
            "You must provide one or more flags when using this command.",
        ),
        (
            &["update", "-m", "1m", "lim"][..],
            "Minimum memory limit allowed is 6MB",
        ),
        (
            &["update", "-m", "200m", "lim"][..],
            "Memory limit should be smaller than already set memoryswap limit",
        ),
        (
            &["update", "--restart", "always", "gone"][..],
            "Restart policy cannot be updated because AutoRemove is enabled",
        ),
        (
            &["update", "--restart", "often", "lim"][..],
            "unknown policy 'often'",
        ),
        (
            &["update", "-m", "64m", "nosuch"][..],
            "No such container: nosuch",
        ),
        (
            &["update", "--cpus", "0.5", "--cpu-period", "50000", "lim"][..],
            "Conflicting options: Nano CPUs and CPU Period cannot both be set",
        ),
        (
            &["update", "--cpu-quota", "500", "lim"][..],
            "CPU cfs quota can not be less than 1ms (i.e. 1000)",
        ),
        (
            &["update", "--blkio-weight", "5", "lim"][..],
            "Range of blkio weight is from 10 to 1000",
        ),
    ] {
        let (code, err) = env.md.fails(args);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(err.contains(msg), "{args:?}: {err}");
    }
    // Nothing changed.
    assert_eq!(
        env.inspect("lim", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}"),
        "67108864 104857600"
    );
    assert_eq!(
        env.inspect("gone", "{{.HostConfig.RestartPolicy.Name}}"),
        "no"
    );
    clean_up(&env, &[]);
}
