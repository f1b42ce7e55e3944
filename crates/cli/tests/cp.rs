//! `mydocker cp` both ways, with running and stopped containers, tar streams, docker's
//! path rules, and symlinks in the container that must never reach the host.

#![allow(clippy::print_stdout, clippy::print_stderr)] // Test diagnostics.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failure is a test failure.
mod common;

use common::{Env, mounts_under};
use std::path::Path;

/// `run -d` of a long-running container named `name`; returns nothing (the name is used).
fn run_d(env: &Env, name: &str) {
    env.md.ok(&[
        "run",
        "-d",
        "--name",
        name,
        "--cgroup-parent",
        &env.cg.name,
        &env.image,
        "sleep",
        "600",
    ]);
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The same checks against a running and a stopped container.
fn path_rules(env: &Env, c: &str, host: &Path) {
    let md = &env.md;
    let h = |p: &str| host.join(p).to_string_lossy().into_owned();
    // A file into an existing directory, then to a new name.
    std::fs::create_dir(host.join("into")).unwrap();
    let out = md.run(&["cp", &format!("{c}:/etc/hostname"), &h("into")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("Successfully copied "),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A stopped container's /etc files are its own, as a running one's.
    assert!(!read(&host.join("into/hostname")).is_empty());
    md.ok(&["cp", "-q", &format!("{c}:/data/a.txt"), &h("renamed.txt")]);
    assert_eq!(read(&host.join("renamed.txt")), "alpha\n");
    // A directory: copied as itself, then its content only (`/.`).
    md.ok(&["cp", &format!("{c}:/data"), &h("into")]);
    assert_eq!(read(&host.join("into/data/sub/b.txt")), "beta\n");
    std::fs::create_dir(host.join("content")).unwrap();
    md.ok(&["cp", &format!("{c}:/data/."), &h("content")]);
    assert_eq!(read(&host.join("content/a.txt")), "alpha\n");
    assert!(!host.join("content/data").exists());
    // A directory to a missing path takes that name.
    md.ok(&["cp", &format!("{c}:/data"), &h("newdir")]);
    assert_eq!(read(&host.join("newdir/sub/b.txt")), "beta\n");
    // Docker's errors: a missing path, a directory onto a file, a file as a directory.
    let (code, err) = md.fails(&["cp", &format!("{c}:/no/such"), &h("x")]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("Could not find the file /no/such in container"),
        "{err}"
    );
    let (code, err) = md.fails(&["cp", &format!("{c}:/data"), &h("renamed.txt")]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot copy a directory to a file"), "{err}");
    let (code, _) = md.fails(&["cp", &format!("{c}:/data/a.txt/"), &h("y")]);
    assert_eq!(code, 1);
    let (code, _) = md.fails(&["cp", &h("nonexistent"), &format!("{c}:/tmp/")]);
    assert_eq!(code, 1);
    let (code, err) = md.fails(&["cp", &h("into"), &h("elsewhere")]);
    assert_eq!(code, 1);
    assert!(
        err.contains("must specify at least one container source"),
        "{err}"
    );

    // Into the container: a file (owned by root, as docker does), a directory, a stream.
    std::fs::write(host.join("up.txt"), "upload\n").unwrap();
    md.ok(&["cp", &h("up.txt"), &format!("{c}:/data/sub/")]);
    md.ok(&["cp", &h("content"), &format!("{c}:/data/copied")]);
    let tar = md.ok_bytes(&["cp", &format!("{c}:/data"), "-"]);
    let mut names: Vec<String> = tar::Archive::new(&tar[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for want in [
        "data/",
        "data/a.txt",
        "data/sub/up.txt",
        "data/copied/a.txt",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }
    let mut b = tar::Builder::new(Vec::new());
    let mut hd = tar::Header::new_gnu();
    hd.set_size(7);
    hd.set_mode(0o640);
    b.append_data(&mut hd, "streamed.txt", &b"stream\n"[..])
        .unwrap();
    let stream = b.into_inner().unwrap();
    let out = md.run_input(&["cp", "-", &format!("{c}:/data")], &stream);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Read back through the container's own view.
    md.ok(&["cp", &format!("{c}:/data/streamed.txt"), &h("streamed.txt")]);
    assert_eq!(read(&host.join("streamed.txt")), "stream\n");
    md.ok(&["cp", &format!("{c}:/data/sub/up.txt"), &h("up-back.txt")]);
    assert_eq!(read(&host.join("up-back.txt")), "upload\n");
    // A stream into a path that is not a directory is refused.
    let out = md.run_input(&["cp", "-", &format!("{c}:/data/a.txt")], &stream);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn cp_both_ways_running_and_stopped() {
    let env = Env::new("cp");
    let host = tempfile::tempdir().unwrap();
    run_d(&env, "cprun");
    env.md.ok(&[
        "exec",
        "cprun",
        "sh",
        "-c",
        "mkdir -p /data/sub && echo alpha > /data/a.txt && echo beta > /data/sub/b.txt",
    ]);
    let running = host.path().join("running");
    std::fs::create_dir(&running).unwrap();
    path_rules(&env, "cprun", &running);
    // Files copied in are visible to the container's processes.
    let seen = env.md.ok(&["exec", "cprun", "cat", "/data/streamed.txt"]);
    assert_eq!(seen, "stream\n");

    // A stopped container: its rootfs is mounted for the copy only.
    env.md.ok(&["stop", "-t", "1", "cprun"]);
    let stopped = host.path().join("stopped");
    std::fs::create_dir(&stopped).unwrap();
    path_rules(&env, "cprun", &stopped);
    assert!(mounts_under(env.md.root()).is_empty(), "cp left mounts");
    env.md.ok(&["start", "cprun"]);
    let seen = env.md.ok(&["exec", "cprun", "cat", "/data/copied/a.txt"]);
    assert_eq!(seen, "alpha\n");
    // Owners: root without -a, the source's with it.
    let owned = host.path().join("owned.txt");
    std::fs::write(&owned, "o\n").unwrap();
    std::os::unix::fs::chown(&owned, Some(1234), Some(2345)).unwrap();
    let o = owned.to_string_lossy().into_owned();
    env.md.ok(&["cp", &o, "cprun:/tmp/plain.txt"]);
    env.md.ok(&["cp", "-a", &o, "cprun:/tmp/kept.txt"]);
    let ids = env.md.ok(&[
        "exec",
        "cprun",
        "stat",
        "-c",
        "%u:%g",
        "/tmp/plain.txt",
        "/tmp/kept.txt",
    ]);
    assert_eq!(ids, "0:0\n1234:2345\n");
    env.md.ok(&["rm", "-f", "cprun"]);

    // A stopped container's volume is where its path leads.
    env.md.ok(&[
        "create",
        "--name",
        "cpvol",
        "--cgroup-parent",
        &env.cg.name,
        "-v",
        "cpdata:/vol",
        &env.image,
        "true",
    ]);
    env.md.ok(&["cp", &o, "cpvol:/vol/in-volume.txt"]);
    let mp = env
        .md
        .ok(&["volume", "inspect", "--format", "{{.Mountpoint}}", "cpdata"]);
    assert_eq!(read(&Path::new(mp.trim()).join("in-volume.txt")), "o\n");
    assert!(mounts_under(env.md.root()).is_empty(), "cp left mounts");
    env.md.ok(&["rm", "-v", "cpvol"]);
    env.md.ok(&["volume", "rm", "cpdata"]);
    let (code, err) = env.md.fails(&["cp", "nosuch:/etc/hostname", "/tmp/"]);
    assert_eq!(code, 1);
    assert!(err.contains("No such container"), "{err}");
    env.assert_clean();
}

#[test]
fn cp_never_follows_container_symlinks_onto_the_host() {
    let env = Env::new("cpsym");
    // A host directory the container names by its host path, with a secret in it.
    let host = tempfile::tempdir().unwrap();
    let hdir = host.path().to_string_lossy().into_owned();
    std::fs::write(host.path().join("secret"), "host secret\n").unwrap();
    let marker = format!("mydocker-cp-test-{}", std::process::id());
    run_d(&env, "cpsym");
    env.md.ok(&[
        "exec",
        "cpsym",
        "sh",
        "-c",
        &format!(
            "ln -s / /x && mkdir -p /tmp/c && ln -s {hdir} /hostlink && ln -s {hdir}/secret /secretlink && ln -s ../../../../../../{hdir} /up"
        ),
    ]);
    for stopped in [false, true] {
        if stopped {
            env.md.ok(&["stop", "-t", "1", "cpsym"]);
        }
        let up = host.path().join("upload.txt");
        std::fs::write(&up, "payload\n").unwrap();
        let up = up.to_string_lossy().into_owned();
        // Writes through the links land in the container or fail; never on the host.
        for dest in [
            format!("cpsym:/x/tmp/{marker}"),
            format!("cpsym:/hostlink/{marker}"),
            format!("cpsym:/up/{marker}"),
            format!("cpsym:/x{hdir}/{marker}"),
        ] {
            let _ = env.md.run(&["cp", &up, &dest]);
        }
        let _ = env.md.run(&["cp", &up, "cpsym:/secretlink"]);
        assert!(
            !Path::new("/tmp").join(&marker).exists(),
            "cp wrote the host's /tmp"
        );
        assert!(
            !host.path().join(&marker).exists(),
            "cp wrote into the host dir"
        );
        assert_eq!(read(&host.path().join("secret")), "host secret\n");
        // What `/x -> /` names is the container's root.
        let got = env
            .md
            .ok_bytes(&["cp", &format!("cpsym:/x/tmp/{marker}"), "-"]);
        let mut a = tar::Archive::new(&got[..]);
        let mut e = a.entries().unwrap().next().unwrap().unwrap();
        let mut s = String::new();
        std::io::Read::read_to_string(&mut e, &mut s).unwrap();
        assert_eq!(s, "payload\n");
        // Reads through the links never return the host's file.
        let out_dir = host.path().join(format!("out-{stopped}"));
        std::fs::create_dir(&out_dir).unwrap();
        let o = out_dir.to_string_lossy().into_owned();
        for src in [
            "cpsym:/hostlink/secret".to_owned(),
            "cpsym:/up/secret".to_owned(),
            format!("cpsym:/x{hdir}/secret"),
        ] {
            let out = env.md.run(&["cp", &src, &o]);
            assert_eq!(out.status.code(), Some(1), "{src} resolved on the host");
        }
        let _ = env
            .md
            .run(&["cp", "-L", "cpsym:/secretlink", &format!("{o}/viaL")]);
        let leaked = std::fs::read_to_string(out_dir.join("viaL")).unwrap_or_default();
        assert!(
            !leaked.contains("host secret"),
            "cp -L read the host's file"
        );
        assert!(!out_dir.join("secret").exists());
        // A symlink copied out stays a symlink (not followed on the host).
        env.md.ok(&["cp", "cpsym:/hostlink", &format!("{o}/link")]);
        assert!(
            out_dir
                .join("link")
                .symlink_metadata()
                .unwrap()
                .is_symlink()
        );
    }
    env.md.ok(&["rm", "-f", "cpsym"]);
    env.assert_clean();
}
