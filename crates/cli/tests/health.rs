//! Health checks run by the supervisor: `--health-*` flags and the image's
//! `HEALTHCHECK` (made here with `commit --change`), `.State.Health` in `inspect`,
//! `(healthy)` in `ps` and `ps --filter health=`. Every wait is bounded polling; every
//! test removes its containers and checks that no monitor is left.

mod common;

use common::{Env, alive, eventually};

/// Starts a detached container; returns its monitor's PID.
fn run_d(env: &Env, name: &str, flags: &[&str], image: &str) -> u32 {
    env.run_sleeper(name, flags, image).1
}

fn health(env: &Env, name: &str) -> serde_json::Value {
    let out = env.md.ok(&["inspect", name]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("inspect is JSON");
    v[0]["State"]["Health"].clone()
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn names(env: &Env, filter: &str) -> Vec<String> {
    let mut v: Vec<String> = env
        .md
        .ok(&["ps", "-a", "--filter", filter, "--format", "{{.Names}}"])
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    v.sort();
    v
}

fn clean_up(env: &Env, monitors: &[u32]) {
    for id in env.md.ok(&["ps", "-aq"]).split_whitespace() {
        env.md.ok(&["rm", "-f", id]);
    }
    for &p in monitors {
        eventually(&format!("monitor {p} exits"), || !alive(p));
    }
}

#[test]
fn probes_make_containers_healthy_or_unhealthy() {
    let env = Env::new("hc-flags");
    let image = env.image.clone();
    let fast = ["--health-interval", "200ms"];
    let monitors = vec![
        run_d(
            &env,
            "good",
            &[&fast[..], &["--health-cmd", "echo fine"]].concat(),
            &image,
        ),
        run_d(
            &env,
            "bad",
            &[
                &fast[..],
                &["--health-cmd", "echo bad; exit 3", "--health-retries", "2"],
            ]
            .concat(),
            &image,
        ),
        run_d(
            &env,
            "slow",
            &[
                &fast[..],
                &[
                    "--health-cmd",
                    "sleep 30",
                    "--health-timeout",
                    "300ms",
                    "--health-retries",
                    "1",
                ],
            ]
            .concat(),
            &image,
        ),
        run_d(
            &env,
            "later",
            &["--health-cmd", "true", "--health-interval", "1h"],
            &image,
        ),
        run_d(&env, "plain", &[], &image),
        run_d(
            &env,
            "user",
            &[&fast[..], &["-u", "nobody", "--health-cmd", "id -u"]].concat(),
            &image,
        ),
    ];

    eventually("good is healthy", || {
        env.inspect("good", "{{.State.Health.Status}}") == "healthy"
    });
    let h = health(&env, "good");
    assert_eq!(h["FailingStreak"], 0, "{h}");
    let log = h["Log"].as_array().expect("a log");
    let last = log.last().expect("a probe");
    assert_eq!(last["ExitCode"], 0, "{h}");
    assert_eq!(last["Output"], "fine\n", "{h}");
    assert!(
        last["Start"].as_str().is_some_and(|s| s.starts_with("20")),
        "{h}"
    );
    assert!(
        last["End"].as_str().is_some_and(|s| s.starts_with("20")),
        "{h}"
    );
    assert!(
        env.ps_line("good").contains("(healthy)"),
        "{}",
        env.ps_line("good")
    );

    eventually("bad is unhealthy", || {
        env.inspect("bad", "{{.State.Health.Status}}") == "unhealthy"
    });
    let h = health(&env, "bad");
    assert!(h["FailingStreak"].as_u64().is_some_and(|n| n >= 2), "{h}");
    let last = h["Log"]
        .as_array()
        .and_then(|l| l.last().cloned())
        .expect("a probe");
    assert_eq!(last["ExitCode"], 3, "{h}");
    assert_eq!(last["Output"], "bad\n", "{h}");
    assert!(env.ps_line("bad").contains("(unhealthy)"));
    // The log keeps the last five probes.
    eventually("five probes logged", || {
        health(&env, "bad")["Log"].as_array().map(Vec::len) == Some(5)
    });

    eventually("slow is unhealthy by timeout", || {
        env.inspect("slow", "{{.State.Health.Status}}") == "unhealthy"
    });
    let last = health(&env, "slow")["Log"]
        .as_array()
        .and_then(|l| l.last().cloned())
        .expect("a probe");
    assert_eq!(last["ExitCode"], -1, "{last}");
    assert!(
        last["Output"]
            .as_str()
            .is_some_and(|o| o.contains("exceeded timeout")),
        "{last}"
    );

    assert_eq!(env.inspect("later", "{{.State.Health.Status}}"), "starting");
    assert!(env.ps_line("later").contains("(health: starting)"));
    assert!(
        !env.ps_line("plain").contains('('),
        "{}",
        env.ps_line("plain")
    );

    // The check runs as the container's user.
    eventually("user is healthy", || {
        env.inspect("user", "{{.State.Health.Status}}") == "healthy"
    });
    let last = health(&env, "user")["Log"]
        .as_array()
        .and_then(|l| l.last().cloned())
        .expect("a probe");
    assert_eq!(last["Output"], "65534\n", "{last}");
    assert_eq!(names(&env, "health=healthy"), ["good", "user"]);
    assert_eq!(names(&env, "health=unhealthy"), ["bad", "slow"]);
    let ids = env.md.ok(&["ps", "--filter", "health=healthy", "-q"]);
    assert_eq!(ids.lines().count(), 2, "{ids}");
    assert_eq!(names(&env, "health=starting"), ["later"]);
    assert_eq!(names(&env, "health=none"), ["plain"]);
    let (code, err) = env.md.fails(&["ps", "--filter", "health=sick"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("Unrecognised filter value for health: sick"),
        "{err}"
    );
    assert_eq!(
        json(&env.inspect("bad", "{{json .Config.Healthcheck}}")),
        serde_json::json!({"Test": ["CMD-SHELL", "echo bad; exit 3"], "Interval": 200000000, "Retries": 2})
    );
    // As docker: the checks end with the container, which is unhealthy then.
    env.md.ok(&["stop", "-t", "0", "good"]);
    assert_eq!(env.inspect("good", "{{.State.Health.Status}}"), "unhealthy");
    assert!(
        env.ps_line("good").contains("Exited"),
        "{}",
        env.ps_line("good")
    );
    clean_up(&env, &monitors);
}

#[test]
fn the_images_healthcheck_applies_unless_disabled() {
    let env = Env::new("hc-image");
    let mut monitors = Vec::new();
    monitors.push(run_d(&env, "base", &[], &env.image.clone()));
    let image = "hc-image-test:1";
    env.md.ok(&[
        "commit",
        "-c",
        "HEALTHCHECK --interval=200ms --retries=1 CMD [\"sh\", \"-c\", \"echo from-image\"]",
        "base",
        image,
    ]);
    let history = env.md.ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Healthcheck}}",
        image,
    ]);
    assert!(history.contains("from-image"), "{history}");
    monitors.push(run_d(&env, "checked", &[], image));
    monitors.push(run_d(&env, "unchecked", &["--no-healthcheck"], image));
    monitors.push(run_d(
        &env,
        "overridden",
        &["--health-cmd", "exit 1"],
        image,
    ));
    eventually("the image's check passes", || {
        env.inspect("checked", "{{.State.Health.Status}}") == "healthy"
    });
    let last = health(&env, "checked")["Log"]
        .as_array()
        .and_then(|l| l.last().cloned())
        .expect("a probe");
    assert_eq!(last["Output"], "from-image\n", "{last}");
    // The flag's command with the image's interval and retries.
    eventually("the flag's check fails", || {
        env.inspect("overridden", "{{.State.Health.Status}}") == "unhealthy"
    });
    assert_eq!(health(&env, "unchecked"), serde_json::Value::Null);
    assert_eq!(
        json(&env.inspect("unchecked", "{{json .Config.Healthcheck}}")),
        serde_json::json!({"Test": ["NONE"]})
    );
    assert_eq!(names(&env, "health=none"), ["base", "unchecked"]);
    clean_up(&env, &monitors);
    env.md.ok(&["rmi", image]);
}

#[test]
fn bad_health_flags_are_refused_with_dockers_messages() {
    let env = Env::new("hc-bad");
    for (flags, msg) in [
        (
            &["--no-healthcheck", "--health-cmd", "true"][..],
            "--no-healthcheck conflicts with --health-* options",
        ),
        (
            &["--health-interval", "soon"][..],
            "invalid argument \"soon\" for \"--health-interval\" flag: time: invalid duration \"soon\"",
        ),
        (
            &["--health-retries", "-1"][..],
            "--health-retries cannot be negative",
        ),
    ] {
        let mut args = vec!["create"];
        args.extend_from_slice(flags);
        args.push(&env.image);
        let (code, err) = env.md.fails(&args);
        assert_eq!(code, 125, "{flags:?}: {err}");
        assert!(err.contains(msg), "{flags:?}: {err}");
    }
    assert_eq!(env.md.ok(&["ps", "-aq"]).trim(), "");
}
