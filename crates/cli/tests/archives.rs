//! `commit`, `export`, `import`, `save` and `load`, as root, with real containers, the test
//! registry, and independent tools reading what mydocker writes and writing what it reads:
//! skopeo (`docker-archive:`, `oci-archive:`, `oci:`) and podman (with a private root).

#![allow(clippy::print_stdout, clippy::print_stderr)] // Test diagnostics (seeds, skips).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failure is a test failure.

mod common;

use common::{CgroupParent, Mydocker, mounts_under, run_bounded};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use test_support::{Fixtures, Registry};

/// A root with busybox pulled and a cgroup parent of its own.
struct Env {
    md: Mydocker,
    cg: CgroupParent,
    image: String,
    /// Scratch space for archives, removed with the test.
    dir: tempfile::TempDir,
}

impl Env {
    fn new(tag: &str) -> Self {
        let md = Mydocker::new();
        let image = Fixtures::shared().busybox.reference.to_string();
        md.ok(&["pull", "-q", &image]);
        Env {
            md,
            cg: CgroupParent::new(tag),
            image,
            dir: tempfile::Builder::new()
                .prefix("mydocker-archives-")
                .tempdir()
                .unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `run --rm --network none --cgroup-parent P IMAGE cmd...`, expecting success.
    fn run_in(&self, md: &Mydocker, image: &str, cmd: &[&str]) -> String {
        let mut args = vec![
            "run",
            "--rm",
            "--network",
            "none",
            "--cgroup-parent",
            &self.cg.name,
            image,
        ];
        args.extend_from_slice(cmd);
        md.ok(&args)
    }

    /// A stopped container named `name` whose command changed the filesystem.
    fn changed_container(&self, name: &str) {
        self.md.ok(&[
            "run",
            "--name",
            name,
            "--network",
            "none",
            "--cgroup-parent",
            &self.cg.name,
            "-e",
            "FROM_RUN=yes",
            &self.image,
            "sh",
            "-c",
            "echo committed > /hello && rm /bin/ls && mkdir -p /data/sub && echo deep > /data/sub/f",
        ]);
    }

    /// Nothing left mounted or in a cgroup.
    fn assert_clean(&self) {
        assert!(
            self.cg.children().is_empty(),
            "cgroups left: {:?}",
            self.cg.children()
        );
        assert!(
            mounts_under(self.md.root()).is_empty(),
            "mounts left: {:?}",
            mounts_under(self.md.root())
        );
    }
}

fn image_id(out: &str) -> String {
    let id = out.trim();
    assert!(
        id.len() == 71
            && id.starts_with("sha256:")
            && id[7..].bytes().all(|b| b.is_ascii_hexdigit()),
        "not an image ID: {out:?}"
    );
    id.to_owned()
}

/// Runs a tool, bounded; expects success; returns stdout.
fn tool(cmd: Command) -> String {
    let shown = format!("{cmd:?}");
    let out = run_bounded(cmd, Duration::from_secs(180));
    assert!(
        out.status.success(),
        "{shown} failed ({:?}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn skopeo(args: &[&str]) -> String {
    let mut c = Command::new("skopeo");
    c.args(args);
    tool(c)
}

/// A file's entries, by running `tar tf` (an independent reader).
fn tar_list(path: &Path) -> Vec<String> {
    let mut c = Command::new("tar");
    c.arg("tf").arg(path);
    tool(c).lines().map(str::to_owned).collect()
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// The config of an image in a root, read through mydocker's own store.
fn config_of(md: &Mydocker, image: &str) -> serde_json::Value {
    let store = store::Store::open(md.root()).unwrap();
    let rec = store.image(image).unwrap();
    serde_json::from_slice(&store.blobs().read(&rec.config_digest).unwrap()).unwrap()
}

fn diff_ids(config: &serde_json::Value) -> Vec<String> {
    config["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn commit_then_run_shows_the_change() {
    let env = Env::new("commit");
    env.changed_container("c1");
    let id = image_id(&env.md.ok(&[
        "commit",
        "-a",
        "Tester <t@example.com>",
        "-m",
        "added hello",
        "-c",
        "ENV FOO=bar",
        "-c",
        r#"CMD ["cat", "/hello"]"#,
        "-c",
        "WORKDIR /data",
        "-c",
        "EXPOSE 8080",
        "c1",
        "committed:v1",
    ]));
    let images = env.md.ok(&["images"]);
    assert!(
        images.contains("committed") && images.contains("v1"),
        "{images}"
    );
    // The CMD from --change, the file from the container.
    assert_eq!(env.run_in(&env.md, "committed:v1", &[]), "committed\n");
    let out = env.run_in(
        &env.md,
        "committed:v1",
        &[
            "sh",
            "-c",
            "echo $FOO $FROM_RUN; pwd; cat sub/f; ls /bin/ls 2>/dev/null || echo ls-gone",
        ],
    );
    assert_eq!(out, "bar yes\n/data\ndeep\nls-gone\n");

    // The config: one more layer and history entry, the metadata asked for.
    let store = store::Store::open(env.md.root()).unwrap();
    let rec = store.image("docker.io/library/committed:v1").unwrap();
    assert_eq!(rec.id.to_string(), id);
    let bb = store
        .image(&format!("{}", Fixtures::shared().busybox.reference))
        .unwrap();
    let config = config_of(&env.md, "docker.io/library/committed:v1");
    let base_config = config_of(&env.md, &Fixtures::shared().busybox.reference.to_string());
    assert_eq!(diff_ids(&config).len(), diff_ids(&base_config).len() + 1);
    assert_eq!(
        &diff_ids(&config)[..bb.layers.len()],
        diff_ids(&base_config).as_slice()
    );
    assert_eq!(config["author"], "Tester <t@example.com>");
    assert_eq!(config["comment"], "added hello");
    assert_eq!(
        config["config"]["ExposedPorts"]["8080/tcp"],
        serde_json::json!({})
    );
    let history = config["history"].as_array().unwrap();
    assert_eq!(history.last().unwrap()["comment"], "added hello");
    assert!(
        history.last().unwrap()["created_by"]
            .as_str()
            .unwrap()
            .contains("echo committed"),
        "{history:?}"
    );
    // The base is a docker v2s2 image: so is the commit, with a gzip layer on top.
    assert_eq!(
        rec.manifest_media_type.as_deref(),
        bb.manifest_media_type.as_deref()
    );
    let top = rec.layers.last().unwrap();
    assert!(top.media_type.ends_with("tar.gzip") || top.media_type.ends_with("tar+gzip"));
    assert_eq!(&rec.layers[..bb.layers.len()], &bb.layers[..]);
    assert_eq!(
        inspect(&env.md, "committed:v1", "{{.Author}}"),
        "Tester <t@example.com>"
    );

    // Without a name: a dangling image; an unknown container and a bad change fail.
    let dangling = image_id(&env.md.ok(&["commit", "c1"]));
    assert_ne!(dangling, id, "a new created time, a new image");
    assert!(env.md.ok(&["images"]).contains("<none>"));
    let (code, err) = env.md.fails(&["commit", "no-such-container", "x:y"]);
    assert_eq!(code, 1);
    assert!(err.contains("No such container"), "{err}");
    let (_, err) = env.md.fails(&["commit", "-c", "RUN rm -rf /", "c1", "x:y"]);
    assert!(err.contains("not a valid change command"), "{err}");
    env.assert_clean();
}

fn inspect(md: &Mydocker, image: &str, format: &str) -> String {
    md.ok(&["image", "inspect", "--format", format, image])
        .trim()
        .to_owned()
}

#[test]
fn commit_push_pull_into_another_root_runs() {
    let env = Env::new("push");
    env.changed_container("c2");
    let name = Registry::shared()
        .reference(&format!("committed-{}:v2", std::process::id()))
        .unwrap()
        .to_string();
    let id = image_id(&env.md.ok(&["commit", "c2", &name]));
    let pushed = env.md.ok(&["push", &name]);
    assert!(pushed.contains("digest: sha256:"), "{pushed}");
    // skopeo sees what the registry serves: the commit's layers.
    let remote = json(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{name}"),
    ]));
    let store = store::Store::open(env.md.root()).unwrap();
    let rec = store.image(&name).unwrap();
    let remote_layers: Vec<&str> = remote["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let local_layers: Vec<String> = rec.layers.iter().map(|l| l.digest.to_string()).collect();
    assert_eq!(remote_layers, local_layers);

    let other = Mydocker::new();
    other.ok(&["pull", "-q", &name]);
    assert_eq!(inspect(&other, &name, "{{.Id}}"), id);
    assert_eq!(
        env.run_in(&other, &name, &["cat", "/hello", "/data/sub/f"]),
        "committed\ndeep\n"
    );
    env.assert_clean();
    assert!(mounts_under(other.root()).is_empty());
}

#[test]
fn export_and_import_round_trip() {
    let env = Env::new("export");
    env.changed_container("c3");
    let file = env.path("c3.tar");
    let out = env.md.ok(&["export", "-o", file.to_str().unwrap(), "c3"]);
    assert!(out.is_empty(), "{out}");
    let names = tar_list(&file);
    for want in ["hello", "bin/busybox", "data/sub/f", "etc/passwd"] {
        assert!(
            names
                .iter()
                .any(|n| n.trim_start_matches("./").trim_end_matches('/') == want),
            "{want} missing from the export: {names:?}"
        );
    }
    assert!(
        !names.iter().any(|n| n.contains(".wh.")),
        "whiteouts in an export"
    );
    assert!(
        !names.iter().any(|n| n == "bin/ls"),
        "a deleted file was exported"
    );
    // To stdout: the same entries.
    let piped = env.md.run(&["export", "c3"]);
    assert!(piped.status.success());
    let piped_file = env.path("piped.tar");
    std::fs::write(&piped_file, &piped.stdout).unwrap();
    assert_eq!(tar_list(&piped_file), names);

    let id = image_id(&env.md.ok(&[
        "import",
        "-c",
        r#"CMD ["/bin/sh", "-c", "cat /hello"]"#,
        "-m",
        "from an export",
        file.to_str().unwrap(),
        "imported:v1",
    ]));
    assert_eq!(env.run_in(&env.md, "imported:v1", &[]), "committed\n");
    assert_eq!(
        env.run_in(&env.md, "imported:v1", &["cat", "/data/sub/f"]),
        "deep\n"
    );
    let config = config_of(&env.md, "docker.io/library/imported:v1");
    assert_eq!(diff_ids(&config).len(), 1, "a single-layer image");
    assert_eq!(config["os"], "linux");
    assert_eq!(config["comment"], "from an export");
    assert_eq!(inspect(&env.md, "imported:v1", "{{.Id}}"), id);

    // From stdin, gzip-compressed.
    let gz = env.path("c3.tar.gz");
    let status = Command::new("gzip").arg("-k").arg(&file).status().unwrap();
    assert!(status.success());
    let mut c = env.md.command(&["import", "-", "imported:stdin"]);
    c.stdin(Stdio::from(std::fs::File::open(&gz).unwrap()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        env.run_in(&env.md, "imported:stdin", &["cat", "/hello"]),
        "committed\n"
    );

    // Not a tar: one clear error, no image.
    let junk = env.path("junk");
    std::fs::write(&junk, vec![0x55u8; 10_000]).unwrap();
    let before = env.md.ok(&["images", "-q"]);
    let (code, err) = env.md.fails(&["import", junk.to_str().unwrap(), "junk:1"]);
    assert_eq!(code, 1);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(env.md.ok(&["images", "-q"]), before);
    env.assert_clean();
}

#[test]
fn save_rmi_load_run_round_trip() {
    let env = Env::new("save");
    let file = env.path("bb.tar");
    let out = env
        .md
        .ok(&["save", "-o", file.to_str().unwrap(), &env.image]);
    assert!(out.is_empty());
    let names = tar_list(&file);
    for want in ["manifest.json", "index.json", "oci-layout", "repositories"] {
        assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
    }
    let id = inspect(&env.md, &env.image, "{{.Id}}");
    env.md.ok(&["rmi", &env.image]);
    assert!(env.md.ok(&["images", "-q"]).is_empty());
    let loaded = env.md.ok(&["load", "-i", file.to_str().unwrap()]);
    let familiar = env.image.clone();
    assert_eq!(loaded, format!("Loaded image: {familiar}\n"));
    assert_eq!(inspect(&env.md, &env.image, "{{.Id}}"), id);
    assert_eq!(env.run_in(&env.md, &env.image, &["echo", "back"]), "back\n");

    // save to stdout, load from stdin (a pipe), into a fresh root.
    let piped = env.md.run(&["save", &env.image]);
    assert!(piped.status.success());
    let other = Mydocker::new();
    let mut c = other.command(&["load"]);
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = piped.stdout.clone();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("Loaded image: {familiar}\n")
    );
    assert_eq!(
        env.run_in(&other, &env.image, &["echo", "piped"]),
        "piped\n"
    );

    // By ID: no names; the image loads untagged.
    let by_id = env.path("by-id.tar");
    env.md
        .ok(&["save", "-o", by_id.to_str().unwrap(), &id[7..19]]);
    let third = Mydocker::new();
    let out = third.ok(&["load", "-i", by_id.to_str().unwrap()]);
    assert_eq!(out, format!("Loaded image ID: {id}\n"));
    // A terminal-less stdout is required, an unknown image is an error.
    let (_, err) = env
        .md
        .fails(&["save", "-o", env.path("x.tar").to_str().unwrap(), "nope:1"]);
    assert!(err.contains("No such image"), "{err}");
    assert!(!env.path("x.tar").exists(), "a failed save left its file");
    env.assert_clean();
    assert!(mounts_under(other.root()).is_empty());
}

#[test]
fn skopeo_reads_what_mydocker_saves() {
    let env = Env::new("skopeo");
    env.changed_container("c4");
    env.md.ok(&["commit", "c4", "skopeo-check:v1"]);
    let file = env.path("two.tar");
    env.md
        .ok(&["save", "-o", file.to_str().unwrap(), "skopeo-check:v1"]);
    let config = config_of(&env.md, "docker.io/library/skopeo-check:v1");
    let ids = diff_ids(&config);
    assert_eq!(ids.len(), 2);
    // docker-archive: the layers as skopeo reads them are the diff IDs.
    let docker_archive = format!("docker-archive:{}", file.display());
    let seen = json(&skopeo(&["inspect", &docker_archive]));
    let layers: Vec<String> = seen["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(layers, ids);
    let seen_config = json(&skopeo(&["inspect", "--config", &docker_archive]));
    assert_eq!(diff_ids(&seen_config), ids);
    // The same tar is an OCI layout archive too.
    let oci_archive = format!("oci-archive:{}:v1", file.display());
    let seen = json(&skopeo(&["inspect", "--config", &oci_archive]));
    assert_eq!(diff_ids(&seen), ids);
    // And skopeo copies it into an OCI layout whose blobs it verified.
    let layout = env.path("layout");
    skopeo(&[
        "copy",
        &docker_archive,
        &format!("oci:{}:copied", layout.display()),
    ]);
    let index = json(&std::fs::read_to_string(layout.join("index.json")).unwrap());
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
    let copied = json(&skopeo(&[
        "inspect",
        "--config",
        &format!("oci:{}:copied", layout.display()),
    ]));
    assert_eq!(diff_ids(&copied), ids);
    env.assert_clean();
}

#[test]
fn skopeo_archives_load_and_run() {
    let env = Env::new("skopeoload");
    let fx = &Fixtures::shared().busybox;
    let remote = format!("docker://{}", fx.reference);
    let docker_archive = env.path("from-skopeo.tar");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &remote,
        &format!("docker-archive:{}:busybox:skopeo", docker_archive.display()),
    ]);
    let oci_archive = env.path("from-skopeo-oci.tar");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &remote,
        &format!("oci-archive:{}:example.com/bb:oci", oci_archive.display()),
    ]);
    let pulled_id = inspect(&env.md, &env.image, "{{.Id}}");
    let md = Mydocker::new();
    let out = md.ok(&["load", "-i", docker_archive.to_str().unwrap()]);
    assert_eq!(out, "Loaded image: busybox:skopeo\n");
    assert_eq!(
        inspect(&md, "busybox:skopeo", "{{.Id}}"),
        pulled_id,
        "same config, same ID"
    );
    assert_eq!(
        env.run_in(&md, "busybox:skopeo", &["echo", "docker-archive"]),
        "docker-archive\n"
    );
    let out = md.ok(&["load", "-i", oci_archive.to_str().unwrap()]);
    assert_eq!(out, "Loaded image: example.com/bb:oci\n");
    assert_eq!(
        env.run_in(&md, "example.com/bb:oci", &["echo", "oci-archive"]),
        "oci-archive\n"
    );
    // skopeo converted the docker image to OCI (a new config, so a new ID); the loaded
    // image is skopeo's manifest as it is, over the registry's compressed layers.
    let store = store::Store::open(md.root()).unwrap();
    let via_oci = store.image("example.com/bb:oci").unwrap();
    let pulled = store::Store::open(env.md.root())
        .unwrap()
        .image(&env.image)
        .unwrap();
    let skopeo_manifest = json(&skopeo(&[
        "inspect",
        "--raw",
        &format!("oci-archive:{}:example.com/bb:oci", oci_archive.display()),
    ]));
    assert_eq!(
        via_oci.config_digest.to_string(),
        skopeo_manifest["config"]["digest"].as_str().unwrap()
    );
    let digests = |r: &store::ImageRecord| -> Vec<(String, String)> {
        r.layers
            .iter()
            .map(|l| (l.digest.to_string(), l.diff_id.to_string()))
            .collect()
    };
    assert_eq!(digests(&via_oci), digests(&pulled));
    assert_eq!(
        via_oci.layers[0].media_type,
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    env.assert_clean();
    assert!(mounts_under(md.root()).is_empty());
}

fn status(md: &Mydocker, container: &str) -> String {
    md.ok(&["inspect", "--format", "{{.State.Status}}", container])
        .trim()
        .to_owned()
}

/// The freezer state of a container: `FROZEN`/`THAWED` (v1) or `frozen 1/0` (v2).
fn frozen(cg: &CgroupParent, id: &str) -> bool {
    for d in cg.dirs() {
        for f in ["freezer.state", "cgroup.events"] {
            if let Ok(s) = std::fs::read_to_string(d.join(id).join(f)) {
                return s.trim() == "FROZEN" || s.contains("frozen 1");
            }
        }
    }
    panic!("no freezer file for {id} under {:?}", cg.dirs());
}

#[test]
fn commit_and_export_of_a_running_container() {
    let env = Env::new("live");
    let id = env
        .md
        .ok(&[
            "run",
            "-d",
            "--name",
            "live",
            "--network",
            "none",
            "--cgroup-parent",
            &env.cg.name,
            &env.image,
            "sh",
            "-c",
            "echo alive > /live; exec sleep 1000",
        ])
        .trim()
        .to_owned();
    let mut ready = false;
    for _ in 0..100 {
        if env
            .md
            .run(&["exec", "live", "cat", "/live"])
            .status
            .success()
        {
            ready = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(ready, "the container never wrote /live");
    // Paused during the commit, running again after it.
    image_id(&env.md.ok(&["commit", "live", "live:v1"]));
    assert_eq!(status(&env.md, "live"), "running");
    assert!(!frozen(&env.cg, &id), "commit left the container frozen");
    assert_eq!(env.run_in(&env.md, "live:v1", &["cat", "/live"]), "alive\n");
    // A container the user paused stays paused.
    env.md.ok(&["pause", "live"]);
    image_id(&env.md.ok(&["commit", "live", "live:v2"]));
    assert!(frozen(&env.cg, &id));
    assert_eq!(status(&env.md, "live"), "paused");
    env.md.ok(&["unpause", "live"]);
    image_id(&env.md.ok(&["commit", "--pause=false", "live", "live:v3"]));
    assert!(!frozen(&env.cg, &id));
    // Export leaves the running container's rootfs mounted.
    let file = env.path("live.tar");
    env.md.ok(&["export", "-o", file.to_str().unwrap(), "live"]);
    assert!(
        tar_list(&file)
            .iter()
            .any(|n| n.trim_start_matches("./") == "live")
    );
    assert_eq!(env.md.ok(&["exec", "live", "cat", "/live"]), "alive\n");
    env.md.ok(&["rm", "-f", "live"]);
    env.assert_clean();
}

#[test]
fn podman_loads_what_mydocker_saves_and_the_reverse() {
    let Some(podman) = common::Podman::new() else {
        println!("skipped: podman is not installed (cargo xtask installs it)");
        return;
    };
    let podman_run = |args: &[&str]| tool(podman.command(args));
    let env = Env::new("podman");
    env.changed_container("c5");
    let id = image_id(&env.md.ok(&["commit", "c5", "podman-check:v1"]));
    let file = env.path("for-podman.tar");
    env.md
        .ok(&["save", "-o", file.to_str().unwrap(), "podman-check:v1"]);
    let out = podman_run(&["load", "-i", file.to_str().unwrap()]);
    assert!(out.contains("podman-check:v1"), "{out}");
    let listed = podman_run(&[
        "images",
        "--no-trunc",
        "--format",
        "{{.ID}} {{.Repository}}:{{.Tag}}",
    ]);
    assert!(
        listed
            .lines()
            .any(|l| l == format!("{id} docker.io/library/podman-check:v1")),
        "{listed}"
    );
    let seen = json(&podman_run(&["image", "inspect", "podman-check:v1"]));
    let layers: Vec<String> = seen[0]["RootFS"]["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        layers,
        diff_ids(&config_of(&env.md, "docker.io/library/podman-check:v1"))
    );

    // podman's own archive (docker-archive) loads into mydocker and runs.
    let back = env.path("from-podman.tar");
    podman_run(&["save", "-o", back.to_str().unwrap(), "podman-check:v1"]);
    let md = Mydocker::new();
    let out = md.ok(&["load", "-i", back.to_str().unwrap()]);
    assert_eq!(out, "Loaded image: podman-check:v1\n");
    assert_eq!(inspect(&md, "podman-check:v1", "{{.Id}}"), id);
    assert_eq!(
        env.run_in(&md, "podman-check:v1", &["cat", "/hello"]),
        "committed\n"
    );
    // And podman's OCI archive.
    let oci = env.path("from-podman-oci.tar");
    podman_run(&[
        "save",
        "--format",
        "oci-archive",
        "-o",
        oci.to_str().unwrap(),
        "podman-check:v1",
    ]);
    let out = md.ok(&["load", "-i", oci.to_str().unwrap()]);
    assert!(out.starts_with("Loaded image"), "{out}");
    env.assert_clean();
    assert!(mounts_under(md.root()).is_empty());
}

// ---- hostile archives ----

/// A ustar header + data, padded: enough to write archives no honest tool would.
fn tar_entry(out: &mut Vec<u8>, name: &[u8], kind: u8, link: &[u8], data: &[u8]) {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name);
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
    h[136..148].copy_from_slice(b"00000000000\0");
    h[156] = kind;
    h[157..157 + link.len()].copy_from_slice(link);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

fn sha256_hex(data: &[u8]) -> String {
    store::sha256_of(data).digest().to_owned()
}

#[test]
fn hostile_archives_fail_cleanly() {
    let md = Mydocker::new();
    let dir = tempfile::Builder::new()
        .prefix("mydocker-hostile-")
        .tempdir()
        .unwrap();
    let sentinel = dir.path().join("sentinel");
    std::fs::create_dir(&sentinel).unwrap();
    let s = sentinel.display().to_string();
    // A real (tiny) layer and its config.
    let mut layer = Vec::new();
    tar_entry(&mut layer, b"file", b'0', b"", b"content");
    layer.extend_from_slice(&[0u8; 1024]);
    let config = format!(
        r#"{{"os":"linux","architecture":"amd64","rootfs":{{"type":"layers","diff_ids":["sha256:{}"]}}}}"#,
        sha256_hex(&layer)
    );
    let manifest = |config_path: &str, layer_path: &str| {
        format!(r#"[{{"Config":"{config_path}","RepoTags":["evil:1"],"Layers":["{layer_path}"]}}]"#)
    };
    let archive = |extra: &dyn Fn(&mut Vec<u8>), manifest: &str, layer_bytes: &[u8]| {
        let mut t = Vec::new();
        tar_entry(&mut t, b"config.json", b'0', b"", config.as_bytes());
        tar_entry(&mut t, b"layer.tar", b'0', b"", layer_bytes);
        extra(&mut t);
        tar_entry(&mut t, b"manifest.json", b'0', b"", manifest.as_bytes());
        t.extend_from_slice(&[0u8; 1024]);
        t
    };
    let ok_manifest = manifest("config.json", "layer.tar");
    let mut other = Vec::new();
    tar_entry(&mut other, b"file", b'0', b"", b"CONTENT");
    other.extend_from_slice(&[0u8; 1024]);
    let abs = format!("{s}/abs");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "dot-dot entry",
            archive(
                &|t| tar_entry(t, b"../../escape", b'0', b"", b"x"),
                &ok_manifest,
                &layer,
            ),
            "escapes the archive",
        ),
        (
            "absolute entry",
            archive(
                &|t| tar_entry(t, abs.as_bytes(), b'0', b"", b"x"),
                &ok_manifest,
                &layer,
            ),
            "escapes the archive",
        ),
        (
            "config outside",
            archive(
                &|_| {},
                &manifest("../../../etc/passwd", "layer.tar"),
                &layer,
            ),
            "escapes the archive",
        ),
        (
            "symlinked layer pointing outside",
            archive(
                &|t| tar_entry(t, b"link.tar", b'2', b"../../../etc/shadow", b""),
                &manifest("config.json", "link.tar"),
                &layer,
            ),
            "escapes the archive",
        ),
        (
            "digest mismatch",
            archive(&|_| {}, &ok_manifest, &other),
            "digest mismatch",
        ),
        (
            "huge claimed size",
            {
                let mut t = Vec::new();
                let mut h = Vec::new();
                tar_entry(&mut h, b"manifest.json", b'0', b"", b"");
                // 8 GiB claimed, nothing behind it.
                h[124..136].copy_from_slice(b"77777777777\0");
                h[148..156].copy_from_slice(b"        ");
                let sum: u32 = h[..512].iter().map(|&b| u32::from(b)).sum();
                h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
                t.extend_from_slice(&h);
                t.extend_from_slice(&[0u8; 1024]);
                t
            },
            "invalid image archive",
        ),
    ];
    for (name, bytes, expect) in cases {
        let file = dir.path().join("hostile.tar");
        std::fs::write(&file, &bytes).unwrap();
        let (code, err) = md.fails(&["load", "-i", file.to_str().unwrap()]);
        assert_eq!(code, 1, "{name}");
        assert_eq!(err.lines().count(), 1, "{name}: one line: {err}");
        assert!(
            err.starts_with("Error: ") && err.contains(expect),
            "{name}: {err}"
        );
        assert!(
            md.ok(&["images", "-q"]).is_empty(),
            "{name}: an image was recorded"
        );
        assert!(
            md.files_under("blobs").is_empty(),
            "{name}: blobs written: {:?}",
            md.files_under("blobs")
        );
        assert!(md.files_under("tmp").is_empty(), "{name}: staging left");
        assert_eq!(
            std::fs::read_dir(&sentinel).unwrap().count(),
            0,
            "{name}: wrote outside"
        );
        assert!(!dir.path().join("escape").exists() && !Path::new("/escape").exists());
    }
    // The honest version of the same archive loads.
    let file = dir.path().join("honest.tar");
    std::fs::write(&file, archive(&|_| {}, &ok_manifest, &layer)).unwrap();
    assert_eq!(
        md.ok(&["load", "-i", file.to_str().unwrap()]),
        "Loaded image: evil:1\n"
    );
    assert!(mounts_under(md.root()).is_empty());
}
