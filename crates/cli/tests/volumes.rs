//! Named and anonymous volumes: `volume create/ls/inspect/rm/prune`, `-v NAME:/path`,
//! copy-up of the image's content, the image's `VOLUME`s removed by `rm -v`, `ps --filter
//! volume=`, and `--mount type=bind|volume|tmpfs` with its options.

#![allow(clippy::print_stdout, clippy::print_stderr)] // Test diagnostics.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failure is a test failure.
mod common;

use common::{Env, mounts_under};

fn volume_names(env: &Env) -> Vec<String> {
    let mut v: Vec<String> = env
        .md
        .ok(&["volume", "ls", "-q"])
        .lines()
        .map(str::to_owned)
        .collect();
    v.sort();
    v
}

#[test]
fn named_volumes_live_across_containers() {
    let env = Env::new("vol");
    let md = &env.md;
    assert_eq!(
        md.ok(&["volume", "create", "--label", "team=core", "data"])
            .trim(),
        "data"
    );
    // Creating it again returns it unchanged.
    assert_eq!(md.ok(&["volume", "create", "data"]).trim(), "data");
    let doc: serde_json::Value =
        serde_json::from_str(&md.ok(&["volume", "inspect", "data"])).unwrap();
    assert_eq!(doc[0]["Name"], "data");
    assert_eq!(doc[0]["Driver"], "local");
    assert_eq!(doc[0]["Scope"], "local");
    assert_eq!(doc[0]["Labels"]["team"], "core");
    let mountpoint = doc[0]["Mountpoint"].as_str().unwrap().to_owned();
    assert!(mountpoint.ends_with("/volumes/data/_data"), "{mountpoint}");
    assert_eq!(
        md.ok(&[
            "volume",
            "inspect",
            "--format",
            "{{.Name}} {{.Driver}}",
            "data"
        ])
        .trim(),
        "data local"
    );
    let table = md.ok(&["volume", "ls"]);
    assert!(table.starts_with("DRIVER"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["local", "data"]),
        "{table}"
    );

    // Written by one container, read by the next; `-v NAME:` creates a missing volume.
    env.stdout(
        &["-v", "data:/data"],
        &["sh", "-c", "echo persisted > /data/f"],
    );
    assert_eq!(
        env.stdout(&["-v", "data:/data:ro"], &["cat", "/data/f"]),
        "persisted\n"
    );
    let ro = env.run(&["-v", "data:/data:ro"], &["sh", "-c", "echo x > /data/g"]);
    assert_ne!(ro.status.code(), Some(0), "a :ro volume was writable");
    env.stdout(&["-v", "fresh:/fresh"], &["touch", "/fresh/x"]);
    assert_eq!(volume_names(&env), ["data", "fresh"]);
    // `--mount type=volume` names the same volume; readonly works there too.
    assert_eq!(
        env.stdout(
            &["--mount", "type=volume,source=data,target=/m,readonly"],
            &["cat", "/m/f"]
        ),
        "persisted\n"
    );

    // In use (even by a stopped container): `volume rm` exits 1, ps --filter finds it.
    md.ok(&[
        "create",
        "--name",
        "user",
        "--cgroup-parent",
        &env.cg.name,
        "-v",
        "data:/data",
        &env.image,
        "true",
    ]);
    let (code, err) = md.fails(&["volume", "rm", "data"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("volume is in use"), "{err}");
    assert_eq!(
        md.ok(&[
            "ps",
            "-a",
            "--filter",
            "volume=data",
            "--format",
            "{{.Names}}"
        ])
        .trim(),
        "user"
    );
    assert_eq!(
        md.ok(&[
            "ps",
            "-a",
            "--filter",
            "volume=/data",
            "--format",
            "{{.Names}}"
        ])
        .trim(),
        "user"
    );
    assert!(
        md.ok(&["ps", "-a", "--filter", "volume=fresh", "-q"])
            .trim()
            .is_empty()
    );
    // Filters of volume ls.
    assert_eq!(
        md.ok(&["volume", "ls", "-q", "-f", "dangling=true"]).trim(),
        "fresh"
    );
    assert_eq!(
        md.ok(&["volume", "ls", "-q", "-f", "label=team=core"])
            .trim(),
        "data"
    );
    assert_eq!(
        md.ok(&[
            "volume",
            "ls",
            "--format",
            "{{.Name}}:{{.Label \"team\"}}",
            "-f",
            "name=dat"
        ])
        .trim(),
        "data:core"
    );
    // A named volume survives `rm -v`; then it can go.
    md.ok(&["rm", "-v", "user"]);
    md.ok(&["volume", "rm", "data"]);
    let (code, err) = md.fails(&["volume", "inspect", "data"]);
    assert_eq!(code, 1);
    assert!(err.contains("no such volume"), "{err}");
    let (code, _) = md.fails(&["volume", "rm", "data"]);
    assert_eq!(code, 1);
    md.ok(&["volume", "rm", "-f", "data"]);
    // Prune: only anonymous volumes unless -a.
    let out = md.ok(&["volume", "prune", "-f"]);
    assert!(out.contains("Total reclaimed space: 0B"), "{out}");
    assert_eq!(volume_names(&env), ["fresh"]);
    let out = md.ok(&["volume", "prune", "-af"]);
    assert!(out.starts_with("Deleted Volumes:\nfresh\n"), "{out}");
    assert!(volume_names(&env).is_empty());
    // Bad names and options: docker's exit codes, nothing made.
    let (code, _) = md.fails(&["volume", "create", "a/b"]);
    assert_eq!(code, 1);
    let bad = env.run(&["-v", "bad name:/x"], &["true"]);
    assert_eq!(bad.status.code(), Some(125));
    // A create that fails later takes back the volumes it made.
    let bad = env.run(&["-v", "leak:/x", "--sysctl", "vm.swappiness=1"], &["true"]);
    assert_eq!(bad.status.code(), Some(125));
    assert!(volume_names(&env).is_empty());
    env.assert_clean();
}

#[test]
fn copy_up_and_anonymous_volumes_of_images() {
    let env = Env::new("volcopy");
    let md = &env.md;
    // An image with content at /srv/data and `VOLUME /srv/data`.
    md.ok(&[
        "run", "--name", "base", "--cgroup-parent", &env.cg.name, &env.image, "sh", "-c",
        "mkdir -p /srv/data && echo from-image > /srv/data/seed && chown 1000:1000 /srv/data && chmod 750 /srv/data",
    ]);
    md.ok(&[
        "commit",
        "--change",
        "VOLUME /srv/data",
        "base",
        "withvol:1",
    ]);
    md.ok(&["rm", "base"]);
    // A named, empty volume gets the image's content (busybox's /etc here).
    let out = env.stdout(
        &["-v", "seeded:/etc", "--hostname", "myhost"],
        &["sh", "-c", "grep -c ^root: /etc/passwd; cat /etc/hostname"],
    );
    // ... under the container's own /etc files (mounted after, as docker orders them).
    assert_eq!(out, "1\nmyhost\n");
    // A parent mount given after a child's does not hide it.
    let out = env.stdout(
        &["-v", "inner:/data/sub", "-v", "outer:/data"],
        &["sh", "-c", "touch /data/sub/x && ls /data"],
    );
    assert_eq!(out, "sub\n");
    let cg = env.cg.name.as_str();
    let run = |flags: &[&str], cmd: &str| {
        let mut args = vec!["run", "--rm", "--cgroup-parent", cg];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["withvol:1", "sh", "-c", cmd]);
        md.ok(&args)
    };
    // ... with the directory's owner and mode.
    assert_eq!(
        run(
            &["-v", "seeded2:/srv/data"],
            "cat /srv/data/seed; stat -c '%u:%g %a' /srv/data"
        ),
        "from-image\n1000:1000 750\n"
    );
    // A volume with content keeps it; nocopy leaves an empty one empty.
    run(
        &["-v", "seeded2:/srv/data"],
        "echo changed > /srv/data/seed",
    );
    assert_eq!(
        run(&["-v", "seeded2:/srv/data"], "cat /srv/data/seed"),
        "changed\n"
    );
    assert_eq!(
        run(&["-v", "empty:/srv/data:nocopy"], "ls -A /srv/data | wc -l").trim(),
        "0"
    );
    assert_eq!(
        run(
            &[
                "--mount",
                "type=volume,src=empty2,dst=/srv/data,volume-nocopy"
            ],
            "ls -A /srv/data | wc -l"
        )
        .trim(),
        "0"
    );
    // The image's VOLUME gets an anonymous volume with the content; `rm -v` removes it,
    // plain `rm` leaves it, `--rm` takes it along.
    let before = volume_names(&env);
    md.ok(&[
        "create",
        "--name",
        "anon",
        "--cgroup-parent",
        cg,
        "withvol:1",
        "cat",
        "/srv/data/seed",
    ]);
    let after = volume_names(&env);
    let anon: Vec<&String> = after.iter().filter(|v| !before.contains(v)).collect();
    assert_eq!(anon.len(), 1, "{after:?}");
    assert_eq!(anon[0].len(), 64);
    let mounts = md.ok(&[
        "inspect",
        "--format",
        "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}}{{end}}",
        "anon",
    ]);
    assert_eq!(mounts.trim(), format!("volume {} /srv/data", anon[0]));
    assert_eq!(
        md.ok(&["inspect", "--format", "{{json .Config.Volumes}}", "anon"])
            .trim(),
        r#"{"/srv/data":{}}"#
    );
    assert_eq!(md.ok(&["start", "-a", "anon"]), "from-image\n");
    md.ok(&["rm", "-v", "anon"]);
    assert_eq!(volume_names(&env), before);
    md.ok(&[
        "create",
        "--name",
        "anon2",
        "--cgroup-parent",
        cg,
        "withvol:1",
        "true",
    ]);
    md.ok(&["rm", "anon2"]);
    assert_eq!(
        volume_names(&env).len(),
        before.len() + 1,
        "plain rm removed the volume"
    );
    md.ok(&["volume", "prune", "-f"]);
    assert_eq!(volume_names(&env), before);
    run(&[], "true");
    assert_eq!(volume_names(&env), before, "--rm left its anonymous volume");
    // `-v /path` without a name is anonymous too.
    run(&["-v", "/scratch"], "touch /scratch/x");
    assert_eq!(volume_names(&env), before);
    md.ok(&["volume", "prune", "-af"]);
    md.ok(&["rmi", "withvol:1"]);
    env.assert_clean();
}

#[test]
fn mount_flag_types_and_options() {
    let env = Env::new("mountflag");
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("f"), "bound\n").unwrap();
    let src = host.path().to_string_lossy().into_owned();
    let bind = format!("type=bind,source={src},target=/b");
    assert_eq!(env.stdout(&["--mount", &bind], &["cat", "/b/f"]), "bound\n");
    env.stdout(&["--mount", &bind], &["sh", "-c", "echo w > /b/w"]);
    assert!(host.path().join("w").exists());
    let ro = format!("{bind},readonly");
    let out = env.run(&["--mount", &ro], &["sh", "-c", "echo w > /b/x"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(!host.path().join("x").exists());
    let prop = format!("{bind},bind-propagation=rslave");
    let cg = env.cg.name.as_str();
    let id = env.md.ok(&[
        "create",
        "--cgroup-parent",
        cg,
        "--mount",
        &prop,
        &env.image,
        "true",
    ]);
    let id = id.trim();
    assert_eq!(
        env.md
            .ok(&[
                "inspect",
                "--format",
                "{{range .Mounts}}{{.Type}} {{.Propagation}} {{.RW}}{{end}}",
                id
            ])
            .trim(),
        "bind rslave true"
    );
    // The runtime spec asks isolate for it (the host's / here may be private, so a slave
    // mount has no master to show in mountinfo).
    let spec = std::fs::read_to_string(
        env.md
            .root()
            .join("containers")
            .join(id)
            .join("config.json"),
    )
    .unwrap();
    assert!(spec.contains("\"rslave\""), "{spec}");
    env.md.ok(&["rm", id]);
    // tmpfs with a size.
    let df = env.stdout(
        &[
            "--mount",
            "type=tmpfs,target=/t,tmpfs-size=2m,tmpfs-mode=1770",
        ],
        &["sh", "-c", "grep ' /t ' /proc/mounts; stat -c %a /t"],
    );
    assert!(df.contains("tmpfs") && df.contains("size=2048k"), "{df}");
    assert!(df.ends_with("1770\n"), "{df}");
    // docker's errors, exit 125.
    for bad in [
        "type=bind,target=/x".to_owned(),
        "type=bind,source=/no/such/dir,target=/x".to_owned(),
        "type=nfs,target=/x".to_owned(),
        "type=tmpfs,target=/t,bind-propagation=shared".to_owned(),
        format!("type=bind,source={src},target=/b,bogus=1"),
    ] {
        let out = env.run(&["--mount", &bad], &["true"]);
        assert_eq!(
            out.status.code(),
            Some(125),
            "{bad}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(mounts_under(env.md.root()).is_empty());
    env.assert_clean();
}
