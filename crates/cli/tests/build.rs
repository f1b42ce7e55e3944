//! `build`, as root, against the busybox fixture of the test registry: every instruction
//! family, docker's classic builder output, the layer cache, multi-stage builds,
//! `.dockerignore`, ADD of archives, `--chown`, a Dockerfile on stdin or outside the
//! context, and the clean-up of a failing step.

#![allow(clippy::print_stdout, clippy::print_stderr)] // Test diagnostics (skips).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failure is a test failure.

mod common;

use common::{Env, mounts_under};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A test environment with a context directory of its own.
struct Build {
    env: Env,
    ctx: tempfile::TempDir,
}

impl Build {
    fn new(tag: &str) -> Self {
        Build {
            env: Env::new(tag),
            ctx: tempfile::Builder::new()
                .prefix("mydocker-build-ctx-")
                .tempdir()
                .unwrap(),
        }
    }

    fn dir(&self) -> &Path {
        self.ctx.path()
    }

    /// Writes `rel` (parents created) in the context.
    fn file(&self, rel: &str, data: &str) -> PathBuf {
        let p = self.dir().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
        p
    }

    /// Writes the Dockerfile; `%BASE%` stands for the busybox fixture.
    fn dockerfile(&self, text: &str) {
        self.file("Dockerfile", &text.replace("%BASE%", &self.env.image));
    }

    /// `build --cgroup-parent P ARGS... CONTEXT`.
    fn args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut v = vec!["build", "--cgroup-parent", self.env.cg.name.as_str()];
        v.extend_from_slice(args);
        v.push(self.dir().to_str().unwrap());
        v
    }

    /// A build that must succeed; returns its stdout.
    fn ok(&self, args: &[&str]) -> String {
        self.env.md.ok(&self.args(args))
    }

    /// `-q` build: the image ID.
    fn id(&self, args: &[&str]) -> String {
        let mut a = vec!["-q"];
        a.extend_from_slice(args);
        let out = self.ok(&a);
        let id = out.trim().to_owned();
        assert!(
            id.starts_with("sha256:") && id.len() == 71 && !id.contains('\n'),
            "-q prints only the ID: {out:?}"
        );
        id
    }

    /// Runs `cmd` in `image` (no network); stdout.
    fn run(&self, image: &str, cmd: &[&str]) -> String {
        let mut a = vec![
            "run",
            "--rm",
            "--network",
            "none",
            "--cgroup-parent",
            &self.env.cg.name,
            image,
        ];
        a.extend_from_slice(cmd);
        self.env.md.ok(&a)
    }

    /// The image's inspect document.
    fn inspect(&self, image: &str) -> serde_json::Value {
        let out = self.env.md.ok(&["image", "inspect", image]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v[0].clone()
    }

    /// Nothing of the build's steps is left: no container, mount, cgroup, scratch
    /// layer or claim.
    fn assert_clean(&self) {
        let ps = self.env.md.ok(&["ps", "-aq"]);
        assert!(ps.trim().is_empty(), "containers left: {ps}");
        self.env.assert_clean();
        let claims = self.env.md.files_under("builder/scratch");
        assert!(claims.is_empty(), "build claims left: {claims:?}");
        let md = self.env.md.root().to_string_lossy().into_owned();
        let layers: Vec<_> = std::fs::read_dir(self.env.md.root().join("layers"))
            .into_iter()
            .flatten()
            .flatten()
            .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten().flatten())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("build-"))
            .collect();
        assert!(layers.is_empty(), "scratch layers left in {md}: {layers:?}");
    }
}

fn steps(out: &str) -> Vec<&str> {
    out.lines().filter(|l| l.starts_with("Step ")).collect()
}

#[test]
fn every_instruction_family_and_docker_output() {
    let b = Build::new("build-all");
    b.file("hello.txt", "hello from the context\n");
    b.dockerfile(
        r#"# syntax=docker/dockerfile:1
# escape=\
ARG BASE=%BASE%
FROM ${BASE} AS base
ARG VERSION=1.0
ARG FROM_CLI
ENV GREETING="hi there" \
    EMPTY=
# a comment between instructions
WORKDIR /app
WORKDIR sub
RUN echo "v=$VERSION cli=$FROM_CLI g=$GREETING" > /app/run.txt && \
    echo "default=${UNSET:-dflt} alt=${GREETING:+alt} none=${EMPTY:+x}" >> /app/run.txt
RUN ["/bin/sh", "-c", "echo exec-form > /app/exec.txt"]
COPY hello.txt ./
ADD hello.txt /added/
USER nobody
CMD ["cat", "/app/run.txt"]
ENTRYPOINT ["/bin/sh", "-c", "exec \"$@\"", "--"]
EXPOSE 8080/tcp 53/udp
LABEL org.example.name="demo app" version=$VERSION
VOLUME ["/data"]
STOPSIGNAL SIGINT
HEALTHCHECK --interval=30s --retries=2 CMD ["true"]
SHELL ["/bin/sh", "-ec"]
ONBUILD RUN echo triggered
MAINTAINER someone
"#,
    );
    let out = b.ok(&[
        "-t",
        "app",
        "--build-arg",
        "FROM_CLI=given",
        "--label",
        "built=yes",
    ]);
    let s = steps(&out);
    assert_eq!(s.len(), 22, "{out}");
    assert!(
        s[0].starts_with("Step 1/22 : FROM ${BASE} AS base"),
        "{out}"
    );
    assert!(
        out.contains("Step 8/22 : RUN [\"/bin/sh\", \"-c\", \"echo exec-form > /app/exec.txt\"]"),
        "{out}"
    );
    assert!(out.contains(" ---> Running in "), "{out}");
    assert!(out.contains("Removing intermediate container "), "{out}");
    assert!(
        out.contains("Step 22/22 : LABEL \"built\"=\"yes\""),
        "{out}"
    );
    let built = out
        .lines()
        .find_map(|l| l.strip_prefix("Successfully built "))
        .expect(&out)
        .to_owned();
    assert_eq!(built.len(), 12, "{out}");
    assert!(out.ends_with("Successfully tagged app:latest\n"), "{out}");

    let run_txt = b.run("app", &["cat", "/app/run.txt"]);
    assert_eq!(
        run_txt,
        "v=1.0 cli=given g=hi there\ndefault=dflt alt=alt none=\n"
    );
    assert_eq!(b.run("app", &["cat", "/app/exec.txt"]), "exec-form\n");
    assert_eq!(
        b.run("app", &["cat", "/app/sub/hello.txt"]),
        "hello from the context\n"
    );
    assert_eq!(
        b.run("app", &["cat", "/added/hello.txt"]),
        "hello from the context\n"
    );
    assert_eq!(b.run("app", &["pwd"]), "/app/sub\n");
    assert_eq!(b.run("app", &["id", "-u"]), "65534\n");
    // No command: CMD through the ENTRYPOINT.
    assert_eq!(b.run("app", &[]), run_txt);

    let v = b.inspect("app");
    assert!(v["Id"].as_str().unwrap().contains(&built), "{v}");
    let c = &v["Config"];
    assert_eq!(c["Cmd"], serde_json::json!(["cat", "/app/run.txt"]));
    assert_eq!(c["Entrypoint"][0], "/bin/sh");
    assert_eq!(c["User"], "nobody");
    assert_eq!(c["WorkingDir"], "/app/sub");
    assert_eq!(c["StopSignal"], "SIGINT");
    assert_eq!(c["Labels"]["org.example.name"], "demo app");
    assert_eq!(c["Labels"]["version"], "1.0");
    assert_eq!(c["Labels"]["built"], "yes");
    assert!(c["ExposedPorts"]["8080/tcp"].is_object(), "{c}");
    assert!(c["ExposedPorts"]["53/udp"].is_object(), "{c}");
    assert!(c["Volumes"]["/data"].is_object(), "{c}");
    assert_eq!(c["Healthcheck"]["Test"], serde_json::json!(["CMD", "true"]));
    assert_eq!(c["Healthcheck"]["Retries"], 2);
    assert_eq!(c["Shell"], serde_json::json!(["/bin/sh", "-ec"]));
    assert_eq!(c["OnBuild"], serde_json::json!(["RUN echo triggered"]));
    let env: Vec<&str> = c["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(env.contains(&"GREETING=hi there"), "{env:?}");
    assert!(env.contains(&"EMPTY="), "{env:?}");

    // history: the steps, newest first, docker's `#(nop)` lines for the metadata ones,
    // each with the image of its step.
    let hist = b.env.md.ok(&["history", "--no-trunc", "app"]);
    let first = hist.lines().nth(1).unwrap();
    assert!(first.starts_with(v["Id"].as_str().unwrap()), "{hist}");
    assert!(first.contains("LABEL built=yes"), "{hist}");
    let ids = b.env.md.ok(&["history", "-q", "app"]);
    assert!(
        ids.lines()
            .take(20)
            .all(|l| l.len() == 12 && l != "<missing>"),
        "{ids}"
    );
    // The steps' images are intermediate: `images` hides them, `images -a` lists them.
    let listed = b.env.md.ok(&["images"]);
    assert!(!listed.contains("<none>"), "{listed}");
    let all = b.env.md.ok(&["images", "-a"]);
    assert!(all.contains("<none>"), "{all}");
    for needle in [
        "ENV GREETING=hi there EMPTY=",
        "|2 FROM_CLI=given VERSION=1.0 /bin/sh -c echo",
        "/bin/sh -c echo exec-form > /app/exec.txt",
        "#(nop)  WORKDIR /app/sub",
        "#(nop)  ARG VERSION=1.0",
        "#(nop)  ARG FROM_CLI",
        "#(nop)  USER nobody",
        "#(nop)  CMD [\"cat\" \"/app/run.txt\"]",
        "#(nop)  EXPOSE",
        "#(nop)  STOPSIGNAL SIGINT",
        "#(nop) COPY file:",
        "#(nop) ADD file:",
    ] {
        assert!(hist.contains(needle), "history lacks {needle:?}:\n{hist}");
    }

    // ONBUILD: the triggers run in a build FROM the image.
    std::fs::write(
        b.dir().join("Dockerfile"),
        "FROM app\nRUN test -e /app/run.txt\n",
    )
    .unwrap();
    let out = b.ok(&["-t", "child"]);
    assert!(out.contains("# Executing 1 build trigger\n"), "{out}");
    assert!(out.contains("triggered\n"), "{out}");
    assert_eq!(
        b.inspect("child")["Config"]["OnBuild"],
        serde_json::Value::Null
    );
    b.assert_clean();
}

#[test]
fn cache_hits_misses_and_no_cache() {
    let b = Build::new("build-cache");
    b.file("a.txt", "one\n");
    b.file("b.txt", "bee\n");
    b.dockerfile(
        "FROM %BASE%\nENV X=1\nRUN echo built > /built\nCOPY b.txt /b.txt\nCOPY a.txt /a.txt\nRUN cat /a.txt > /copy\nCMD [\"cat\", \"/copy\"]\n",
    );
    let first = b.ok(&["-t", "cached"]);
    assert!(!first.contains("Using cache"), "{first}");
    let id1 = b.inspect("cached")["Id"].as_str().unwrap().to_owned();

    // The same build again: every step from the cache, the same image.
    let second = b.ok(&["-t", "cached"]);
    assert_eq!(second.matches(" ---> Using cache").count(), 6, "{second}");
    assert_eq!(steps(&second).len(), 7, "{second}");
    assert!(!second.contains("Running in"), "{second}");
    assert_eq!(b.inspect("cached")["Id"], id1.as_str());
    assert_eq!(b.id(&[]), id1);

    // A context file changes: its COPY and what follows run again.
    std::fs::write(b.dir().join("a.txt"), "two\n").unwrap();
    let third = b.ok(&["-t", "cached"]);
    assert_eq!(third.matches(" ---> Using cache").count(), 3, "{third}");
    assert_eq!(third.matches(" ---> Running in").count(), 1, "{third}");
    let id3 = b.inspect("cached")["Id"].as_str().unwrap().to_owned();
    assert_ne!(id3, id1);
    assert_eq!(b.run("cached", &[]), "two\n");
    // A change of mtime only (same contents) keeps the cache, as docker's hash does.
    std::fs::write(b.dir().join("a.txt"), "two\n").unwrap();
    assert_eq!(b.id(&[]), id3);

    // --no-cache: everything runs again.
    let fresh = b.ok(&["--no-cache", "-t", "cached"]);
    assert!(!fresh.contains("Using cache"), "{fresh}");
    assert_eq!(fresh.matches(" ---> Running in").count(), 2, "{fresh}");

    // A build argument's value is part of the key of the RUN steps that see it.
    b.dockerfile("FROM %BASE%\nARG V=1\nRUN echo $V > /v\n");
    let v2 = b.id(&["--build-arg", "V=2"]);
    assert_eq!(b.id(&["--build-arg", "V=2"]), v2);
    let v3 = b.ok(&["--build-arg", "V=3", "-t", "v3"]);
    assert_eq!(v3.matches(" ---> Using cache").count(), 1, "{v3}");
    assert_eq!(b.run("v3", &["cat", "/v"]), "3\n");
    b.assert_clean();
}

#[test]
fn multi_stage_with_copy_from_and_target() {
    let b = Build::new("build-stages");
    b.dockerfile(
        "FROM %BASE% AS builder\nRUN mkdir /out && echo artifact > /out/app\n\
         FROM %BASE% AS unused\nRUN echo never > /never\n\
         FROM %BASE% AS tester\nRUN echo tested > /tested\n\
         FROM scratch\nCOPY --from=builder /out/app /app\nCOPY --from=0 /bin/busybox /bin/busybox\n\
         CMD [\"/bin/busybox\", \"cat\", \"/app\"]\n",
    );
    let out = b.ok(&["-t", "final"]);
    assert!(
        !out.contains("echo never"),
        "unused stages are skipped: {out}"
    );
    assert!(
        !out.contains("echo tested"),
        "unused stages are skipped: {out}"
    );
    assert_eq!(b.run("final", &[]), "artifact\n");
    let v = b.inspect("final");
    assert_eq!(v["RootFS"]["Layers"].as_array().unwrap().len(), 2, "{v}");

    let out = b.ok(&["--target", "tester", "-t", "tester"]);
    assert!(out.contains("echo tested"), "{out}");
    assert!(!out.contains("echo artifact"), "{out}");
    assert_eq!(b.run("tester", &["cat", "/tested"]), "tested\n");

    let (code, err) = b.env.md.fails(&b.args(&["--target", "nope"]));
    assert_eq!(code, 1);
    assert!(err.contains("failed to reach build target nope"), "{err}");
    b.assert_clean();
}

#[test]
fn dockerignore_with_double_star_and_exceptions() {
    let b = Build::new("build-ignore");
    for f in [
        "keep.txt",
        "secret.key",
        "logs/a.log",
        "src/deep/x.log",
        "src/deep/important.log",
        "src/main.rs",
        "tmp/junk",
    ] {
        b.file(f, f);
    }
    b.file(
        ".dockerignore",
        "# comment\n**/*.log\n!src/deep/important.log\n*.key\ntmp\n",
    );
    b.dockerfile("FROM %BASE%\nCOPY . /ctx/\n");
    b.ok(&["-t", "ign"]);
    let listing = b.run("ign", &["find", "/ctx", "-type", "f"]);
    let mut files: Vec<&str> = listing.lines().collect();
    files.sort_unstable();
    assert_eq!(
        files,
        [
            "/ctx/.dockerignore",
            "/ctx/Dockerfile",
            "/ctx/keep.txt",
            "/ctx/src/deep/important.log",
            "/ctx/src/main.rs",
        ]
    );
    // An ignored file cannot be copied by name either.
    b.dockerfile("FROM %BASE%\nCOPY secret.key /\n");
    let (code, err) = b.env.md.fails(&b.args(&[]));
    assert_eq!(code, 1);
    assert!(err.contains("secret.key"), "{err}");
    // Changing an ignored file keeps the cache.
    b.dockerfile("FROM %BASE%\nCOPY . /ctx/\n");
    let id = b.id(&[]);
    b.file("tmp/junk", "changed");
    b.file("logs/a.log", "changed");
    assert_eq!(b.id(&[]), id);
    b.assert_clean();
}

#[test]
fn add_extracts_local_archives_and_copy_chown() {
    let b = Build::new("build-add");
    // A .tar.gz made by the system's tar.
    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(src.path().join("pkg/bin")).unwrap();
    std::fs::write(src.path().join("pkg/bin/tool"), "tool\n").unwrap();
    std::fs::write(src.path().join("pkg/README"), "readme\n").unwrap();
    let tgz = b.dir().join("pkg.tar.gz");
    let st = Command::new("tar")
        .arg("-czf")
        .arg(&tgz)
        .arg("-C")
        .arg(src.path())
        .arg("pkg")
        .status()
        .unwrap();
    assert!(st.success());
    b.file("owned/f.txt", "mine\n");
    b.dockerfile(
        "FROM %BASE%\nADD pkg.tar.gz /opt/\nCOPY pkg.tar.gz /raw/\n\
         COPY --chown=1000:1000 owned /home/user/\nCOPY --chown=nobody owned/f.txt /n.txt\n",
    );
    b.ok(&["-t", "added"]);
    assert_eq!(b.run("added", &["cat", "/opt/pkg/bin/tool"]), "tool\n");
    assert_eq!(b.run("added", &["cat", "/opt/pkg/README"]), "readme\n");
    // COPY does not extract.
    assert_eq!(
        b.run(
            "added",
            &["sh", "-c", "test -f /raw/pkg.tar.gz && echo file"]
        ),
        "file\n"
    );
    assert_eq!(
        b.run(
            "added",
            &[
                "stat",
                "-c",
                "%u:%g",
                "/home/user",
                "/home/user/f.txt",
                "/n.txt"
            ]
        ),
        "1000:1000\n1000:1000\n65534:65534\n"
    );
    // A URL is refused with a clear error.
    b.dockerfile("FROM %BASE%\nADD http://127.0.0.1:1/x /x\n");
    let (code, err) = b.env.md.fails(&b.args(&[]));
    assert_eq!(code, 1);
    assert!(err.contains("not supported"), "{err}");
    b.assert_clean();
}

#[test]
fn dockerfile_from_stdin_and_from_outside_the_context() {
    let b = Build::new("build-stdin");
    let df = format!("FROM {}\nRUN echo from-stdin > /s\n", b.env.image);
    let out = b.env.md.run_input(
        &[
            "build",
            "--cgroup-parent",
            &b.env.cg.name,
            "-t",
            "stdin",
            "-",
        ],
        df.as_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(b.run("stdin", &["cat", "/s"]), "from-stdin\n");
    // No context: COPY has nothing to copy.
    let df = format!("FROM {}\nCOPY x /x\n", b.env.image);
    let out = b.env.md.run_input(
        &["build", "--cgroup-parent", &b.env.cg.name, "-"],
        df.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(1));

    // -f outside the context, and -f - with a context directory.
    b.file("data.txt", "ctx data\n");
    let outside = tempfile::tempdir().unwrap();
    let path = outside.path().join("Build.df");
    std::fs::write(&path, format!("FROM {}\nCOPY data.txt /\n", b.env.image)).unwrap();
    b.ok(&["-f", path.to_str().unwrap(), "-t", "outside"]);
    assert_eq!(b.run("outside", &["cat", "/data.txt"]), "ctx data\n");
    let df = format!("FROM {}\nCOPY data.txt /d2\n", b.env.image);
    let args = b.args(&["-f", "-", "-t", "dash"]);
    let out = b.env.md.run_input(&args, df.as_bytes());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(b.run("dash", &["cat", "/d2"]), "ctx data\n");
    b.assert_clean();
}

#[test]
fn failing_run_prints_its_output_and_leaves_nothing() {
    let b = Build::new("build-fail");
    b.dockerfile("FROM %BASE%\nRUN echo before-failing\nRUN echo output-of-the-step && false\nRUN echo never\n");
    let before = b.env.md.ok(&["images", "-aq"]);
    let out = b.env.md.run(&b.args(&["-t", "broken"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("Step 3/4 : RUN echo output-of-the-step && false"),
        "{stdout}"
    );
    assert!(stdout.contains("output-of-the-step\n"), "{stdout}");
    assert!(!stdout.contains("never"), "{stdout}");
    assert_eq!(
        stderr.trim(),
        "The command '/bin/sh -c echo output-of-the-step && false' returned a non-zero code: 1"
    );
    let (_, err) = b.env.md.fails(&["image", "inspect", "broken"]);
    assert!(err.contains("No such image"), "{err}");
    // Only the successful steps' images were added (as docker keeps them for the cache).
    let after = b.env.md.ok(&["images", "-aq"]);
    assert!(after.lines().count() >= before.lines().count(), "{after}");
    b.assert_clean();

    // Another status is docker's too: the build exits with it.
    b.dockerfile("FROM %BASE%\nRUN exit 3\n");
    let out = b.env.md.run(&b.args(&[]));
    assert_eq!(out.status.code(), Some(3));
    // A command that does not exist: 127, its reason printed.
    b.dockerfile("FROM %BASE%\nRUN [\"/no/such/thing\"]\n");
    let out = b.env.md.run(&b.args(&[]));
    assert_eq!(
        out.status.code(),
        Some(127),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    b.assert_clean();
    assert!(mounts_under(b.env.md.root()).is_empty());
}

#[test]
fn dockerfile_errors_name_the_line() {
    let b = Build::new("build-errors");
    b.dockerfile("FROM %BASE%\n\nRUN true\nFOO bar\n");
    let (code, err) = b.env.md.fails(&b.args(&[]));
    assert_eq!(code, 1);
    assert!(
        err.contains("dockerfile parse error on line 4: unknown instruction: FOO"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    b.dockerfile("RUN true\n");
    let (code, err) = b.env.md.fails(&b.args(&[]));
    assert_eq!(code, 1);
    assert!(err.contains("line 1"), "{err}");
    let (code, err) = b.env.md.fails(&["build", "/no/such/context/dir"]);
    assert_eq!(code, 1);
    assert!(err.contains("unable to prepare context"), "{err}");
    b.assert_clean();
}

/// Pushes a built image to the test registry and runs it with podman (when installed).
#[test]
fn built_images_push_and_run_under_podman() {
    let b = Build::new("build-podman");
    b.file("msg", "built by mydocker\n");
    b.dockerfile("FROM %BASE%\nCOPY msg /msg\nRUN cat /msg > /msg2\nCMD [\"cat\", \"/msg2\"]\n");
    let registry = test_support::Registry::shared();
    let name = format!("{}/built-{}:v1", registry.host(), std::process::id());
    b.ok(&["-t", &name]);
    b.env.md.ok(&["push", &name]);
    // skopeo copies it elsewhere (an OCI layout), checking every blob's digest.
    let tool = |t: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if tool("skopeo") {
        let layout = tempfile::tempdir().unwrap();
        let out = Command::new("skopeo")
            .args(["copy", "--quiet", "--src-tls-verify=false"])
            .arg(format!("docker://{name}"))
            .arg(format!("oci:{}:built", layout.path().display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skopeo copy: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        println!("skipped: skopeo is not installed (no copy of the pushed image)");
    }
    let Some(pm) = common::Podman::new() else {
        println!("skipped: podman is not installed (the image was pushed; not run under podman)");
        return;
    };
    let podman =
        |args: &[&str]| common::run_bounded(pm.command(args), std::time::Duration::from_secs(120));
    // podman pulls it from the registry and sees its config...
    let pulled = podman(&["pull", "--tls-verify=false", &name]);
    let inspect = podman(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Cmd}}",
        &name,
    ]);
    // ...and runs it (where its runtime may set rlimits: it needs CAP_SYS_RESOURCE).
    // crun refuses this hybrid cgroup layout; runc, in a cgroup parent of the test's own.
    let pm_cgroup = common::CgroupParent::new("build-podman-pm");
    // podman's rootful rlimit defaults exceed what a root without CAP_SYS_RESOURCE may
    // set: ask for the hard limits this process has (nproc as podman caps itself).
    let hard = |r| rustix::process::getrlimit(r).maximum.unwrap_or(1024);
    let nofile = hard(rustix::process::Resource::Nofile);
    let nproc = hard(rustix::process::Resource::Nproc).min(32768);
    let nofile = format!("nofile={nofile}:{nofile}");
    let nproc = format!("nproc={nproc}:{nproc}");
    let out = podman(&[
        "run",
        "--rm",
        "--runtime",
        "runc",
        "--cgroup-parent",
        &format!("/{}", pm_cgroup.name),
        "--network",
        "none",
        "--ulimit",
        &nofile,
        "--ulimit",
        &nproc,
        &name,
    ]);
    let _ = podman(&["system", "reset", "-f"]);
    assert!(
        pulled.status.success(),
        "podman pull: {}",
        String::from_utf8_lossy(&pulled.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&inspect.stdout).trim(),
        r#"["cat","/msg2"]"#
    );
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && err.contains("setrlimit") {
        println!(
            "skipped: podman run (its OCI runtime cannot set rlimits here: {}); the image was pulled and inspected",
            err.trim()
        );
    } else {
        assert!(out.status.success(), "podman run: {err}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "built by mydocker\n");
    }
    drop(pm_cgroup); // Removes podman's `conmon` cgroups below it too.
    b.assert_clean();
}

#[test]
fn run_steps_use_the_bridge_unless_told_otherwise() {
    let b = Build::new("build-net");
    b.dockerfile(
        "FROM %BASE%\nRUN ls /sys/class/net > /default.txt\n\
         RUN --network=none ls /sys/class/net > /none.txt\n",
    );
    b.ok(&["-t", "net"]);
    let default = b.run("net", &["cat", "/default.txt"]);
    assert!(
        default.contains("eth0") && default.contains("lo"),
        "{default}"
    );
    assert_eq!(b.run("net", &["cat", "/none.txt"]), "lo\n");
    b.dockerfile("FROM %BASE%\nRUN ls /sys/class/net > /n.txt\n");
    b.ok(&["--network", "none", "-t", "net2"]);
    assert_eq!(b.run("net2", &["cat", "/n.txt"]), "lo\n");
    b.assert_clean();
}

/// Starts `build ARGS` and waits (bounded) until its step printed `started`; the child
/// and whether it did.
fn start_build(b: &Build, args: &[&str]) -> (std::process::Child, bool) {
    use std::io::BufRead;
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let mut child = b
        .env
        .md
        .command(&b.args(args))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        if line == "started" {
            return (child, true);
        }
    }
    (child, false)
}

/// Sends `signal` to the child, waits (bounded) for it; its status (`None`: it had to be
/// killed).
fn signal_and_wait(
    child: &mut std::process::Child,
    signal: rustix::process::Signal,
) -> Option<std::process::ExitStatus> {
    use std::time::{Duration, Instant};
    let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap();
    let _ = rustix::process::kill_process(pid, signal);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_interrupted_build_leaves_nothing() {
    let b = Build::new("build-intr");
    b.dockerfile("FROM %BASE%\nRUN echo started && sleep 60\n");
    let (mut child, started) = start_build(&b, &["-t", "intr"]);
    let status = signal_and_wait(&mut child, rustix::process::Signal::INT);
    assert!(started, "the step did not start");
    let status = status.expect("the build did not stop on SIGINT");
    assert!(!status.success());
    let (_, err) = b.env.md.fails(&["image", "inspect", "intr"]);
    assert!(err.contains("No such image"), "{err}");
    b.assert_clean();
}

#[test]
fn a_killed_builds_leftovers_are_removed_by_the_next_build() {
    let b = Build::new("build-killed");
    b.dockerfile("FROM %BASE%\nRUN echo started && sleep 60\n");
    let (mut child, started) = start_build(&b, &["-t", "killed"]);
    let status = signal_and_wait(&mut child, rustix::process::Signal::KILL);
    assert!(started, "the step did not start");
    assert!(status.is_some());
    // The step's container outlived its build: the next build removes it.
    assert!(!b.env.md.ok(&["ps", "-aq"]).trim().is_empty());
    b.dockerfile("FROM %BASE%\nRUN true\n");
    b.ok(&["-t", "next"]);
    b.assert_clean();
}

#[test]
fn rmi_removes_the_build_intermediates() {
    let b = Build::new("build-rmi");
    b.dockerfile("FROM %BASE%\nENV A=1\nRUN echo x > /x\nCMD [\"cat\", \"/x\"]\n");
    let before = b.env.md.ok(&["images", "-aq"]);
    b.ok(&["-t", "gone"]);
    let during = b.env.md.ok(&["images", "-aq"]);
    assert_eq!(
        during.lines().count(),
        before.lines().count() + 3,
        "{during}"
    );
    let out = b.env.md.ok(&["rmi", "gone"]);
    assert_eq!(out.matches("Deleted: ").count(), 3, "{out}");
    assert_eq!(b.env.md.ok(&["images", "-aq"]), before);
    // --no-prune keeps them (no longer anyone's parent: `images` lists them, dangling).
    b.ok(&["-t", "kept"]);
    let out = b.env.md.ok(&["rmi", "--no-prune", "kept"]);
    assert_eq!(out.matches("Deleted: ").count(), 1, "{out}");
    let left = b.env.md.ok(&["images", "-aq"]);
    assert_eq!(left.lines().count(), before.lines().count() + 2, "{left}");
    b.assert_clean();
}

#[test]
fn copy_follows_dockers_rules_for_files_directories_and_globs() {
    let b = Build::new("build-copy");
    b.file("a.txt", "a\n");
    b.file("b.txt", "b\n");
    b.file("c.md", "c\n");
    b.file("dir/x", "x\n");
    b.file("dir/sub/y", "y\n");
    std::os::unix::fs::symlink("a.txt", b.dir().join("link")).unwrap();
    std::fs::set_permissions(
        b.dir().join("dir/x"),
        std::os::unix::fs::PermissionsExt::from_mode(0o750),
    )
    .unwrap();
    b.dockerfile(
        "FROM %BASE%\nENV D=/dst\nWORKDIR $D\n\
         COPY a.txt renamed\nCOPY a.txt into/\nCOPY *.txt globbed/\nCOPY dir contents\n\
         COPY dir/ contents2/\nCOPY link followed\nCOPY [\"c.md\", \"${D}/json form\"]\n",
    );
    b.ok(&["-t", "copies"]);
    let listing = b.run(
        "copies",
        &[
            "sh",
            "-c",
            "cd /dst && find . -type f -o -type l | sort && stat -c %a contents/x",
        ],
    );
    assert_eq!(
        listing,
        "./contents/sub/y\n./contents/x\n./contents2/sub/y\n./contents2/x\n./followed\n\
         ./globbed/a.txt\n./globbed/b.txt\n./into/a.txt\n./json form\n./renamed\n750\n"
    );
    assert_eq!(b.run("copies", &["cat", "/dst/followed"]), "a\n");
    // Several sources into a path without a trailing `/`: docker's error.
    b.dockerfile("FROM %BASE%\nCOPY a.txt b.txt /notadir\n");
    let (code, err) = b.env.md.fails(&b.args(&[]));
    assert_eq!(code, 1);
    assert!(
        err.contains("the destination must be a directory and end with a /"),
        "{err}"
    );
    // A source outside the context or missing.
    b.dockerfile("FROM %BASE%\nCOPY ../../etc/passwd /p\n");
    let (code, _) = b.env.md.fails(&b.args(&[]));
    assert_eq!(code, 1);
    b.dockerfile("FROM %BASE%\nCOPY nothing.txt /n\n");
    let (code, err) = b.env.md.fails(&b.args(&[]));
    assert_eq!(code, 1);
    assert!(err.contains("nothing.txt"), "{err}");
    b.assert_clean();
}
