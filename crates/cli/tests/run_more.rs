//! More of docker's `run` flags (issue 14): `--volumes-from`, `--device-cgroup-rule`,
//! block I/O limits, the modes that only have docker's default here, and the flags
//! refused with the reason.

#![allow(clippy::print_stdout, clippy::print_stderr)] // Test diagnostics.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failure is a test failure.
mod common;

use common::Env;

#[test]
fn volumes_from_shares_a_donors_volumes_and_binds() {
    let env = Env::new("volfrom");
    let bind = tempfile::tempdir().unwrap();
    std::fs::write(bind.path().join("seen"), "bound\n").unwrap();
    let b = format!("{}:/b:ro", bind.path().display());
    env.md.ok(&[
        "create",
        "--name",
        "donor",
        "-v",
        "vf-data:/data",
        "-v",
        "/anon",
        "-v",
        &b,
        "--network",
        "none",
        &env.image,
        "true",
    ]);
    let none = ["--network", "none"];
    let out = env.stdout(
        &[&none[..], &["--volumes-from", "donor"]].concat(),
        &[
            "sh",
            "-c",
            "echo hi > /data/f && echo x > /anon/g && cat /b/seen && if touch /b/new 2>/dev/null; then echo rw; else echo ro; fi",
        ],
    );
    assert_eq!(out, "bound\nro\n");
    // `:ro` makes every shared mount read-only; the donor's data is there.
    let out = env.stdout(
        &[&none[..], &["--volumes-from", "donor:ro"]].concat(),
        &[
            "sh",
            "-c",
            "cat /data/f /anon/g && if touch /data/z 2>/dev/null; then echo rw; else echo ro; fi",
        ],
    );
    assert_eq!(out, "hi\nx\nro\n");
    // A destination of the container's own keeps its mount.
    let out = env.stdout(
        &[
            &none[..],
            &["--volumes-from", "donor", "-v", "vf-other:/data"],
        ]
        .concat(),
        &["ls", "/data"],
    );
    assert_eq!(out, "");
    // inspect: `Binds` are the container's own `-v`, the donors are `VolumesFrom` (docker's);
    // `Mounts` has both.
    env.md.ok(&[
        "create",
        "--name",
        "taker",
        "--network",
        "none",
        "--volumes-from",
        "donor:ro",
        "-v",
        "vf-other:/data",
        &env.image,
        "true",
    ]);
    assert_eq!(
        env.inspect(
            "taker",
            "{{json .HostConfig.Binds}} {{json .HostConfig.VolumesFrom}}"
        ),
        r#"["vf-other:/data"] ["donor:ro"]"#
    );
    let mut dests: Vec<String> = env
        .inspect(
            "taker",
            "{{range .Mounts}}{{.Destination}} {{.RW}}\n{{end}}",
        )
        .lines()
        .map(str::to_owned)
        .collect();
    dests.sort();
    assert_eq!(dests, ["/anon false", "/b false", "/data true"]);
    env.md.ok(&["rm", "taker"]);
    for (flags, msg) in [
        (&["--volumes-from", "nope"][..], "No such container: nope"),
        (
            &["--volumes-from", "donor:xx"][..],
            "invalid mode for volumes-from: xx",
        ),
    ] {
        let (code, err) = env.md.fails(&env.args(flags, &["true"]));
        assert_eq!(code, 125, "{flags:?}: {err}");
        assert!(err.contains(msg), "{flags:?}: {err}");
    }
    env.md.ok(&["rm", "-v", "donor"]);
    env.md.ok(&["volume", "rm", "vf-data", "vf-other"]);
    env.assert_clean();
}

#[test]
fn device_cgroup_rules_allow_nodes_made_inside() {
    use std::os::unix::fs::MetadataExt;
    let env = Env::new("devrule");
    // A node the container makes (mknod is allowed) of a device it may not use by
    // default: /dev/cpu_dma_latency (its minor is given out at boot).
    let rdev = std::fs::metadata("/dev/cpu_dma_latency").unwrap().rdev();
    let (major, minor) = (rustix::fs::major(rdev), rustix::fs::minor(rdev));
    let script = format!("mknod /tmp/lat c {major} {minor} && head -c 4 /tmp/lat | wc -c");
    let rule = format!("c {major}:* r");
    let none = ["--network", "none"];
    let out = env.stdout(
        &[&none[..], &["--device-cgroup-rule", &rule]].concat(),
        &["sh", "-c", &script],
    );
    assert_eq!(out.trim(), "4");
    let denied = env.md.run(&env.args(&none, &["sh", "-c", &script]));
    assert_eq!(String::from_utf8_lossy(&denied.stdout).trim(), "0");
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("not permitted"),
        "{denied:?}"
    );
    let (code, err) = env
        .md
        .fails(&env.args(&["--device-cgroup-rule", "c 1:3"], &["true"]));
    assert_eq!(code, 125);
    assert!(
        err.contains("invalid device cgroup format 'c 1:3'"),
        "{err}"
    );
    env.assert_clean();
}

/// The block device the root filesystem is on (a whole disk or a partition), as
/// `/dev/NAME`, when there is one.
fn a_block_device() -> Option<String> {
    for e in std::fs::read_dir("/sys/block").ok()?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("loop") || name.starts_with("ram") {
            continue;
        }
        let dev = format!("/dev/{name}");
        if std::path::Path::new(&dev).exists() {
            return Some(dev);
        }
    }
    None
}

#[test]
fn block_io_flags_are_checked_and_shown() {
    let env = Env::new("blkio");
    for (flags, msg) in [
        (
            &["--blkio-weight", "5"][..],
            "Range of blkio weight is from 10 to 1000",
        ),
        (
            &["--device-read-bps", "/etc/passwd:1mb"][..],
            "bad format for device path: /etc/passwd:1mb",
        ),
        (
            &["--device-read-bps", "/dev/null:1mb"][..],
            "/dev/null is not a block device",
        ),
        (
            &["--device-write-iops", "/dev/null:many"][..],
            "invalid rate for device: /dev/null:many",
        ),
        (&["--device-write-iops", "sda"][..], "bad format: sda"),
    ] {
        let (code, err) = env.md.fails(&env.args(flags, &["true"]));
        assert_eq!(code, 125, "{flags:?}: {err}");
        assert!(err.contains(msg), "{flags:?}: {err}");
    }
    let Some(dev) = a_block_device() else {
        eprintln!("skipped: the limits' effect: no block device in /sys/block");
        return;
    };
    let rate = format!("{dev}:1mb");
    let id = env
        .md
        .ok(&[
            "create",
            "--network",
            "none",
            "--device-read-bps",
            &rate,
            &env.image,
            "true",
        ])
        .trim()
        .to_owned();
    let spec: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            env.md
                .root()
                .join("containers")
                .join(&id)
                .join("config.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let t = &spec["linux"]["resources"]["blockIO"]["throttleReadBpsDevice"][0];
    assert_eq!(t["rate"], 1 << 20, "{spec}");
    let (major, minor) = (t["major"].clone(), t["minor"].clone());
    // Started, the limit is in the kernel's files (v1 blkio, or v2 io).
    env.md.ok(&["rm", &id]);
    let cg = env.cg.name.clone();
    let id = env
        .md
        .ok(&[
            "run",
            "-d",
            "--network",
            "none",
            "--cgroup-parent",
            &cg,
            "--device-read-bps",
            &rate,
            &env.image,
            "sleep",
            "1000",
        ])
        .trim()
        .to_owned();
    let found = env.cg_file(&id, &["blkio.throttle.read_bps_device", "io.max"]);
    let text = found.expect("a blkio or io cgroup file");
    assert!(
        text.contains(&format!("{major}:{minor} 1048576"))
            || text.contains(&format!("{major}:{minor} rbps=1048576")),
        "{text}"
    );
    env.md.ok(&["rm", "-f", &id]);
    env.assert_clean();
}

#[test]
fn default_only_modes_and_refused_flags_say_why() {
    let env = Env::new("refused");
    let none = ["--network", "none"];
    for ok in [
        &["--userns", "host"][..],
        &["--runtime", "runc"][..],
        &["--isolation", "default"][..],
        &["--volume-driver", "local"][..],
        &["--disable-content-trust"][..],
        &["--sig-proxy"][..],
    ] {
        let out = env.stdout(&[&none[..], ok].concat(), &["echo", "ok"]);
        assert_eq!(out, "ok\n", "{ok:?}");
    }
    for (flags, msg) in [
        (
            &["--userns", "remap"][..],
            "invalid user namespace mode: remap",
        ),
        (
            &["--runtime", "kata"][..],
            "unknown or invalid runtime name: kata",
        ),
        (&["--ip6", "fd00::2"][..], "IPv4 only"),
        (&["--link", "other"][..], "legacy links are not supported"),
        (&["--mac-address", "02:42:ac:11:00:02"][..], "--mac-address"),
        (&["--gpus", "all"][..], "--gpus"),
        (&["--kernel-memory", "10m"][..], "--kernel-memory"),
        (&["-a", "stdout"][..], "-a/--attach"),
        (&["--sig-proxy=false"][..], "--sig-proxy=false"),
    ] {
        let (code, err) = env.md.fails(&env.args(flags, &["true"]));
        assert_eq!(code, 125, "{flags:?}: {err}");
        assert!(err.contains(msg), "{flags:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
    assert_eq!(env.md.ok(&["ps", "-aq"]).trim(), "");
    env.assert_clean();
}
