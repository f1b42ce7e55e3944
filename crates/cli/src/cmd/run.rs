//! `run`: create a container from an image and run it in the foreground.
//!
//! Steps: find (or pull) the image; reserve the name; create and mount the writable layer;
//! write the container's /etc files; build the runtime spec; create the cgroup; spawn the
//! init (it sets up the rootfs and waits); put it in the cgroup; let it go; forward signals
//! (and proxy the pty for `-t`); wait; record the exit; clean up. A failure at any step
//! undoes the earlier ones ([`Undo`]), so nothing is left behind.

use crate::cli::RunArgs;
use crate::cmd::Status as ExitWith;
use crate::container::{self, Containers, Record, State, Status};
use crate::ctx::Ctx;
use crate::parse;
use crate::progress::Progress;
use crate::spec;
use anyhow::{Context, Result, bail};
use std::path::Path;
use std::sync::Arc;
use store::driver::StorageDriver;

/// Docker's exit code when mydocker itself fails.
pub(crate) const EXIT_MYDOCKER: u8 = 125;

/// Everything created for a container so far, removed again on drop unless disarmed.
struct Undo<'a> {
    containers: &'a Containers,
    id: String,
    name: Option<String>,
    driver: Option<Arc<dyn StorageDriver>>,
    writable: bool,
    mounted: bool,
    cgroup: Option<cgroup::AnyManager>,
    /// Keep the container (record and writable layer) but release runtime resources.
    keep: bool,
}

impl Undo<'_> {
    fn release_runtime(&mut self) {
        if let Some(cg) = self.cgroup.take() {
            let _ = cg.kill_all();
            let _ = cg.remove();
        }
        if self.mounted
            && let Some(d) = &self.driver
        {
            let _ = d.unmount(&self.id);
            self.mounted = false;
        }
    }
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        self.release_runtime();
        if self.keep {
            return;
        }
        if self.writable
            && let Some(d) = &self.driver
        {
            let _ = d.remove_writable(&self.id);
        }
        if let Some(name) = &self.name {
            self.containers.release_name(name, &self.id);
        }
        let _ = std::fs::remove_dir_all(self.containers.dir(&self.id));
    }
}

/// Finds the image for `run`, pulling it when missing (or always, with `--pull always`).
fn image_for_run(ctx: &Ctx, run: &RunArgs) -> Result<store::ImageRecord> {
    let store = ctx.store()?;
    let found = crate::cmd::images::find_image(&store, &run.image);
    match (run.pull.as_str(), found) {
        ("missing", Ok(rec)) | ("never", Ok(rec)) => Ok(rec),
        ("never", Err(e)) => Err(e),
        ("missing", Err(_)) | ("always", _) => {
            if run.pull == "missing" {
                eprintln!(
                    "Unable to find image '{}' locally",
                    crate::cmd::pull::parse_reference(&run.image)
                        .map(|r| {
                            let mut s = r.familiar_string();
                            if r.tag().is_none() && r.digest().is_none() {
                                s.push_str(":latest");
                            }
                            s
                        })
                        .unwrap_or_else(|_| run.image.clone())
                );
            }
            // stdout belongs to the container: docker prints run's pull progress on stderr.
            let progress = Progress::to_stderr(run.quiet);
            let outcome =
                crate::cmd::pull::pull(ctx, &run.image, run.platform.as_deref(), &progress)?;
            Ok(outcome.image)
        }
        (other, _) => bail!("invalid pull policy {other:?}: use always, missing or never"),
    }
}

/// Picks the container's name: `--name` (validated, reserved) or a random free one.
fn reserve_name(containers: &Containers, run: &RunArgs, id: &str) -> Result<String> {
    if let Some(name) = &run.name {
        let name = name.strip_prefix('/').unwrap_or(name);
        if !crate::names::valid_name(name) {
            bail!("Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
        }
        containers.reserve_name(name, id)?;
        return Ok(name.to_owned());
    }
    for retry in 0..10 {
        let name = crate::names::random_name(retry)?;
        if containers.reserve_name(&name, id).is_ok() {
            return Ok(name);
        }
    }
    bail!("could not find a free container name")
}

/// The container's /etc/hosts, /etc/hostname and /etc/resolv.conf, written in its directory.
fn write_etc_files(dir: &Path, hostname: &str, extra_hosts: &str) -> Result<spec::EtcFiles> {
    let files = spec::EtcFiles {
        hostname: dir.join("hostname"),
        hosts: dir.join("hosts"),
        resolv_conf: dir.join("resolv.conf"),
    };
    std::fs::write(&files.hostname, format!("{hostname}\n"))?;
    let mut hosts = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n\
         ff02::2\tip6-allrouters\n",
    );
    hosts.push_str(extra_hosts);
    std::fs::write(&files.hosts, hosts)?;
    std::fs::write(&files.resolv_conf, resolv_conf())?;
    Ok(files)
}

/// The host's resolv.conf without loopback nameservers (they would not be reachable from
/// the container's network namespace), as docker writes it.
fn resolv_conf() -> String {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut out = String::new();
    let mut servers = 0;
    for line in host.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some("nameserver") {
            let addr = words.next().unwrap_or("");
            if addr.starts_with("127.") || addr == "::1" {
                continue;
            }
            servers += 1;
        }
        out.push_str(line);
        out.push('\n');
    }
    if servers == 0 {
        out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    out
}

/// Creates missing host directories of `-v` bind mounts, as docker does, and refuses
/// sources inside mydocker's own state.
fn prepare_volumes(ctx: &Ctx, run: &RunArgs) -> Result<()> {
    for v in &run.volume {
        let vol = parse::volume(v)?;
        let source = parse::clean_abs(&vol.source);
        if source.starts_with(&ctx.root) || source.starts_with(&ctx.run_root) {
            bail!(
                "invalid volume specification: '{v}': the source {} is inside mydocker's own state and is not allowed",
                source.display()
            );
        }
        if !source.exists() {
            std::fs::create_dir_all(&source)
                .with_context(|| format!("creating the volume source {}", source.display()))?;
        }
    }
    Ok(())
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

pub(crate) fn run(ctx: &Ctx, run: &RunArgs) -> Result<()> {
    if run.detach {
        bail!(
            "run -d needs the container monitor, which is not available yet: run in the foreground"
        );
    }
    let network = run.network.clone().unwrap_or_else(|| "none".to_owned());
    let host_network = match network.as_str() {
        "none" => false,
        "host" => true,
        other => bail!("network {other:?} is not available yet: use --network none or host"),
    };
    let image = image_for_run(ctx, run)?;
    let store = ctx.store()?;
    let driver = ctx.driver(&store)?;
    let containers = Containers::new(&ctx.root);
    let id = crate::names::new_id()?;
    let dir = containers.dir(&id);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut undo = Undo {
        containers: &containers,
        id: id.clone(),
        name: None,
        driver: Some(driver.clone()),
        writable: false,
        mounted: false,
        cgroup: None,
        keep: false,
    };
    let name = reserve_name(&containers, run, &id)?;
    undo.name = Some(name.clone());
    prepare_volumes(ctx, run)?;

    driver.create_writable(&id, image.top_chain_id())?;
    undo.writable = true;
    let rootfs = driver.mount(&id)?;
    undo.mounted = true;

    let config_bytes = store.blobs().read(&image.config_digest)?;
    let image_config: oci_spec::image::ImageConfiguration =
        serde_json::from_slice(&config_bytes).context("the image config is not valid")?;
    let image_cfg = image_config.config().as_ref();
    let hostname = run.hostname.clone().unwrap_or_else(|| id[..12].to_owned());
    let user_spec = spec::user(image_cfg, run)?;
    let passwd = crate::rootfs::read_in_root(&rootfs, "/etc/passwd")?;
    let group = crate::rootfs::read_in_root(&rootfs, "/etc/group")?;
    let user = parse::resolve_user(&user_spec, passwd.as_deref(), group.as_deref())?;
    let etc = write_etc_files(&dir, &hostname, "")?;

    let cgroup_fs = cgroup::CgroupFs::detect()?;
    let cgroup_v2 = cgroup_fs.layout() == cgroup::Layout::V2;
    let runtime_spec = spec::build(&spec::Input {
        image: image_cfg,
        run,
        rootfs: &rootfs,
        hostname: &hostname,
        user: &user,
        etc: &etc,
        online_cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        host_network,
        cgroup_v2,
    })?;
    container::write_atomic(
        &dir.join("config.json"),
        &serde_json::to_vec_pretty(&runtime_spec)?,
    )?;

    let parent = run
        .cgroup_parent
        .clone()
        .unwrap_or_else(|| cgroup::DEFAULT_PARENT.to_owned());
    let cgroup_path = cgroup::CgroupPath::under(&parent, &id)?;
    let cg = cgroup_fs.manager(&cgroup_path);
    let resources = runtime_spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().clone())
        .unwrap_or_default();
    undo.cgroup = Some(cg);
    let cg = undo.cgroup.as_ref().context("cgroup")?;
    for w in cg.create(&resources)? {
        ctx.warn(w);
    }

    let args = runtime_spec
        .process()
        .as_ref()
        .and_then(|p| p.args().clone())
        .unwrap_or_default();
    let mut record = Record {
        id: id.clone(),
        name: name.clone(),
        created: now_rfc3339(),
        image: run.image.clone(),
        image_id: image.id.to_string(),
        path: args.first().cloned().unwrap_or_default(),
        args: args.iter().skip(1).cloned().collect(),
        driver: driver.name().to_owned(),
        cgroup_path: cgroup_path.to_string(),
        tty: run.tty,
        open_stdin: run.interactive,
        auto_remove: run.rm,
        network: network.clone(),
        ports: Vec::new(),
        log_opts: run.log_opt.clone(),
        run_args: serde_json::Value::Null,
        state: State::default(),
    };
    containers.save(&record)?;

    let mut opts = isolate::SpawnOptions::new(["mydocker", "init"]);
    opts.reaper = run.init;
    if !run.tty {
        opts.stdin = if run.interactive {
            isolate::Stdio::Inherit
        } else {
            isolate::Stdio::Null
        };
    }
    let pending = isolate::Container::spawn(&runtime_spec, opts)?;
    cg.add_task(pending.pid() as u32)?;
    let mut running = match pending.start() {
        Ok(r) => r,
        Err(e) => {
            let code = u8::try_from(e.exit_code()).unwrap_or(EXIT_MYDOCKER);
            eprintln!("mydocker: {e}");
            return Err(ExitWith(code).into());
        }
    };
    for w in running.warnings() {
        ctx.warn(w);
    }
    let pid = running.pid() as u32;
    record.state = State {
        status: Status::Running,
        pid,
        pid_start: container::process_start(pid).unwrap_or(0),
        started_at: now_rfc3339(),
        ..State::default()
    };
    containers.save(&record)?;

    let forwarder = isolate::SignalForwarder::start(running.pid())?;
    let proxy = match running.take_pty_master() {
        Some(master) => Some(isolate::PtyProxy::start(master)?),
        None => None,
    };
    let status = running.wait()?;
    if let Some(p) = proxy {
        let _ = p.wait();
    }
    drop(forwarder);
    let code = status.code();
    let oom = code == 137 && cg.oom_killed().unwrap_or(false);
    if oom {
        eprintln!(
            "mydocker: container {} was killed: out of memory (OOM)",
            &id[..12]
        );
    }
    record.state.status = Status::Exited;
    record.state.exit_code = code;
    record.state.oom_killed = oom;
    record.state.pid = 0;
    record.state.finished_at = now_rfc3339();
    if !run.rm {
        containers.save(&record)?;
        undo.keep = true;
    }
    drop(undo);
    Err(ExitWith(u8::try_from(code).unwrap_or(255)).into())
}
