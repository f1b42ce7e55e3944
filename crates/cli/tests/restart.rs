//! Restart policies (`--restart`), run by the monitor of a detached container: docker's
//! flags, messages and exit codes, `RestartCount`, `Restarting (N)` in `ps`, `stop` and
//! `kill` ending the loop, and `boot` bringing containers back after a (simulated)
//! reboot. Every wait is bounded polling; every test removes its containers and checks
//! that no monitor is left.

mod common;

use common::{Env, alive, eventually, kill9};

/// The monitors a test saw, checked gone at the end (after the containers are removed).
struct Monitors(Vec<u32>);

impl Monitors {
    fn note(&mut self, env: &Env, id: &str) {
        if let Some(p) = env.record(id)["state"]["monitor_pid"].as_u64()
            && p != 0
            && !self.0.contains(&(p as u32))
        {
            self.0.push(p as u32);
        }
    }

    fn check_gone(&self, env: &Env) {
        for id in env.md.ok(&["ps", "-aq", "--no-trunc"]).split_whitespace() {
            env.md.ok(&["rm", "-f", id]);
        }
        for &p in &self.0 {
            eventually(&format!("monitor {p} exits"), || !alive(p));
        }
    }
}

fn run_d(env: &Env, flags: &[&str], cmd: &[&str]) -> String {
    let mut args = vec![
        "run",
        "-d",
        "--network",
        "none",
        "--cgroup-parent",
        &env.cg.name,
    ];
    args.extend_from_slice(flags);
    args.push(&env.image);
    args.extend_from_slice(cmd);
    env.md.ok(&args).trim().to_owned()
}

#[test]
fn bad_policies_and_rm_are_refused_with_dockers_messages() {
    let env = Env::new("rst-bad");
    let (code, err) = env
        .md
        .fails(&["run", "--rm", "--restart", "always", &env.image, "true"]);
    assert_eq!(code, 125, "{err}");
    assert!(
        err.contains("Conflicting options: --restart and --rm"),
        "{err}"
    );
    let (code, err) = env
        .md
        .fails(&["create", "--restart", "sometimes", &env.image]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("unknown policy 'sometimes'"), "{err}");
    let (code, err) = env
        .md
        .fails(&["create", "--restart", "on-failure:x", &env.image]);
    assert_eq!(code, 125, "{err}");
    assert!(
        err.contains("maximum retry count must be an integer"),
        "{err}"
    );
    // Nothing was created; `--rm --restart no` is fine.
    assert_eq!(env.md.ok(&["ps", "-aq"]).trim(), "");
    let out = env.run(&["--restart", "no", "--network", "none"], &["true"]);
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn on_failure_restarts_up_to_its_limit() {
    let env = Env::new("rst-onf");
    let mut monitors = Monitors(Vec::new());
    let id = run_d(
        &env,
        &["--name", "flaky", "--restart", "on-failure:2"],
        &["sh", "-c", "echo ran; exit 3"],
    );
    monitors.note(&env, &id);
    eventually("two restarts, then exited", || {
        env.inspect("flaky", "{{.State.Status}} {{.RestartCount}}") == "exited 2"
    });
    assert_eq!(
        env.inspect(
            "flaky",
            "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}} {{.State.ExitCode}}"
        ),
        "on-failure 2 3"
    );
    // Three runs, one log.
    let logs = env.md.ok(&["logs", "flaky"]);
    assert_eq!(logs.matches("ran").count(), 3, "{logs}");
    // A successful exit does not restart under on-failure.
    let ok = run_d(
        &env,
        &["--name", "fine", "--restart", "on-failure"],
        &["true"],
    );
    monitors.note(&env, &ok);
    eventually("exited", || {
        env.inspect("fine", "{{.State.Status}}") == "exited"
    });
    assert_eq!(env.inspect("fine", "{{.RestartCount}}"), "0");
    monitors.check_gone(&env);
}

#[test]
fn always_restarts_with_backoff_until_stopped() {
    let env = Env::new("rst-alw");
    let mut monitors = Monitors(Vec::new());
    let id = run_d(
        &env,
        &["--name", "crashy", "--restart", "always"],
        &["sh", "-c", "exit 1"],
    );
    monitors.note(&env, &id);
    // The back-off doubles: the container soon waits long enough to be seen waiting.
    // Each check polls: between two commands the wait may end and the container run.
    eventually("ps shows it restarting", || {
        env.ps_line("crashy").contains("Restarting (1) ")
    });
    eventually("inspect shows it restarting", || {
        env.inspect("crashy", "{{.State.Restarting}}") == "true"
    });
    let count: u32 = env
        .inspect("crashy", "{{.RestartCount}}")
        .parse()
        .expect("a count");
    assert!(count >= 1, "{count}");
    // `stop` ends the loop, also while it waits for a restart.
    env.md.ok(&["stop", "crashy"]);
    assert_eq!(env.inspect("crashy", "{{.State.Status}}"), "exited");
    let after = env.inspect("crashy", "{{.RestartCount}}");
    let monitor = monitors.0[0];
    eventually("the monitor exits", || !alive(monitor));
    assert_eq!(env.inspect("crashy", "{{.State.Status}}"), "exited");
    assert_eq!(env.inspect("crashy", "{{.RestartCount}}"), after);

    // A long-running `always` container: stopped by the user, it stays stopped until
    // started; `start` counts from zero again.
    let id = run_d(
        &env,
        &["--name", "server", "--restart", "always", "--init"],
        &["sleep", "1000"],
    );
    monitors.note(&env, &id);
    env.md.ok(&["stop", "-t", "1", "server"]);
    assert_eq!(env.inspect("server", "{{.State.Status}}"), "exited");
    env.md.ok(&["start", "server"]);
    monitors.note(&env, &id);
    assert_eq!(
        env.inspect("server", "{{.State.Status}} {{.RestartCount}}"),
        "running 0"
    );
    // The process dying by itself is restarted (by the same monitor).
    let init = env.record(&id)["state"]["pid"].as_u64().expect("pid") as u32;
    kill9(init);
    eventually("restarted after its init was killed", || {
        env.inspect("server", "{{.State.Status}} {{.RestartCount}}") == "running 1"
    });
    // `kill` by the user ends the loop too.
    env.md.ok(&["kill", "server"]);
    assert_eq!(env.inspect("server", "{{.State.Status}}"), "exited");
    monitors.check_gone(&env);
}

#[test]
fn boot_brings_back_what_a_reboot_stopped() {
    let env = Env::new("rst-boot");
    let mut monitors = Monitors(Vec::new());
    let always = run_d(
        &env,
        &["--name", "b-always", "--restart", "always"],
        &["sleep", "1000"],
    );
    let unless = run_d(
        &env,
        &["--name", "b-unless", "--restart", "unless-stopped"],
        &["sleep", "1000"],
    );
    let stopped = run_d(
        &env,
        &["--name", "b-stopped", "--restart", "unless-stopped"],
        &["sleep", "1000"],
    );
    let plain = run_d(&env, &["--name", "b-plain"], &["sleep", "1000"]);
    let ids = [&always, &unless, &stopped, &plain];
    for id in ids {
        monitors.note(&env, id);
    }
    env.md.ok(&["stop", "-t", "0", "b-stopped"]);
    // The "reboot": every monitor and container process killed by PID.
    for id in [&always, &unless, &plain] {
        let st = &env.record(id)["state"];
        let monitor = st["monitor_pid"].as_u64().expect("monitor") as u32;
        let init = st["pid"].as_u64().expect("pid") as u32;
        kill9(monitor);
        kill9(init);
        eventually("the processes are gone", || !alive(monitor) && !alive(init));
    }
    let out = env.md.ok(&["boot"]);
    let mut started: Vec<&str> = out.lines().collect();
    started.sort_unstable();
    assert_eq!(started, ["b-always", "b-unless"], "{out}");
    for name in ["b-always", "b-unless"] {
        assert_eq!(env.inspect(name, "{{.State.Status}}"), "running", "{name}");
    }
    for name in ["b-stopped", "b-plain"] {
        assert_eq!(env.inspect(name, "{{.State.Status}}"), "exited", "{name}");
    }
    for id in ids {
        monitors.note(&env, id);
    }
    // Running ones are left alone: a second boot starts nothing.
    assert_eq!(env.md.ok(&["boot"]).trim(), "");
    monitors.check_gone(&env);
}

#[test]
fn a_foreground_run_returns_at_the_exit_and_restarts_go_on_detached() {
    let env = Env::new("rst-fg");
    let mut monitors = Monitors(Vec::new());
    let out = env.md.run(&[
        "run",
        "--name",
        "fg",
        "--network",
        "none",
        "--cgroup-parent",
        &env.cg.name,
        "--restart",
        "on-failure:2",
        &env.image,
        "sh",
        "-c",
        "echo run; exit 3",
    ]);
    // As docker's client: the exit code of the first run.
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let id = env.inspect("fg", "{{.Id}}");
    monitors.note(&env, &id);
    eventually("two restarts under a monitor, then exited", || {
        monitors.note(&env, &id);
        env.inspect("fg", "{{.State.Status}} {{.RestartCount}}") == "exited 2"
    });
    let logs = env.md.ok(&["logs", "fg"]);
    assert_eq!(logs.matches("run").count(), 3, "{logs}");
    monitors.check_gone(&env);
}

#[test]
fn rm_force_ends_a_container_waiting_for_its_restart() {
    let env = Env::new("rst-rm");
    let mut monitors = Monitors(Vec::new());
    let id = run_d(
        &env,
        &["--name", "loop", "--restart", "always"],
        &["sh", "-c", "exit 2"],
    );
    monitors.note(&env, &id);
    eventually("restarting", || {
        env.inspect("loop", "{{.State.Status}}") == "restarting"
    });
    env.md.ok(&["rm", "-f", "loop"]);
    assert!(!env.md.root().join("containers").join(&id).exists());
    let monitor = monitors.0[0];
    eventually("the monitor exits", || !alive(monitor));
    assert!(env.cg.children().is_empty(), "{:?}", env.cg.children());
    monitors.check_gone(&env);
}

#[test]
fn boot_brings_back_a_bridged_container_after_its_bridge_is_gone() {
    let env = Env::new("rst-bootnet");
    let mut monitors = Monitors(Vec::new());
    let mut args = vec!["run", "-d", "--cgroup-parent", &env.cg.name];
    args.extend_from_slice(&["--name", "netted", "--restart", "always"]);
    args.extend_from_slice(&[&env.image, "sleep", "1000"]);
    let id = env.md.ok(&args).trim().to_owned();
    monitors.note(&env, &id);
    let before = env.wait_ip("netted");
    // The "reboot": the processes killed, and the bridge gone with the kernel's state.
    let st = &env.record(&id)["state"];
    let (monitor, init) = (
        st["monitor_pid"].as_u64().expect("monitor") as u32,
        st["pid"].as_u64().expect("pid") as u32,
    );
    kill9(monitor);
    kill9(init);
    eventually("the processes are gone", || !alive(monitor) && !alive(init));
    let del = std::process::Command::new("ip")
        .args(["link", "del", &env.md.bridge])
        .output()
        .expect("ip link del");
    assert!(del.status.success(), "{del:?}");
    assert_eq!(env.md.ok(&["boot"]).trim(), "netted");
    monitors.note(&env, &id);
    assert_eq!(env.inspect("netted", "{{.State.Status}}"), "running");
    let after = env.wait_ip("netted");
    assert!(!after.is_empty(), "{before} -> {after}");
    let ping = env
        .md
        .run(&["exec", "netted", "ping", "-c", "1", "-W", "5", &after]);
    assert!(ping.status.success(), "{ping:?}");
    monitors.check_gone(&env);
}
