//! The container lifecycle steps shared by `run`, the monitor of `run -d`, `start` and `rm`:
//!
//! - [`create`] (docker's `create`): image, name, writable layer, /etc files, runtime spec
//!   (`ROOT/containers/<id>/config.json`) and the record, in state `created`;
//! - [`start`]: mount the rootfs, create the cgroup, spawn the init, put it in the cgroup,
//!   attach its networks, let it go; the record becomes `running`;
//! - [`finish`]: record how it ended, then [`release`] what only a running container needs
//!   (network attachments, cgroup, mount), and remove the container for `--rm`;
//! - [`remove`]: everything, idempotently (after a crash too).
//!
//! Each step undoes its own partial work when it fails, so nothing leaks.

use crate::cli::RunArgs;
use crate::container::{self, Containers, Record, State, Status};
use crate::ctx::Ctx;
use crate::parse;
use crate::progress::Progress;
use crate::spec;
use anyhow::{Context, Result, bail};
use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// How a container is networked, as `run` asked; kept in the record for `start`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct NetSettings {
    /// `bridge`, `none`, `host` or a network name.
    pub(crate) mode: String,
    pub(crate) hostname: String,
    #[serde(default)]
    pub(crate) ip: Option<String>,
    #[serde(default)]
    pub(crate) aliases: Vec<String>,
    /// `-p` specs as given.
    #[serde(default)]
    pub(crate) publish: Vec<String>,
    /// Exposed ports (image `ExposedPorts` and `--expose`), published by `-P`.
    #[serde(default)]
    pub(crate) expose: Vec<String>,
    #[serde(default)]
    pub(crate) publish_all: bool,
    #[serde(default)]
    pub(crate) dns: Vec<String>,
    #[serde(default)]
    pub(crate) dns_search: Vec<String>,
    #[serde(default)]
    pub(crate) dns_option: Vec<String>,
    #[serde(default)]
    pub(crate) add_host: Vec<String>,
}

/// Finds the image for `run`, pulling it when missing (or always, with `--pull always`).
fn image_for_run(ctx: &Ctx, run: &RunArgs) -> Result<store::ImageRecord> {
    let store = ctx.store()?;
    let found = crate::cmd::images::find_image(&store, &run.image);
    match (run.pull.as_str(), found) {
        ("missing" | "never", Ok(rec)) => Ok(rec),
        ("never", Err(e)) => Err(e),
        ("missing", Err(_)) | ("always", _) => {
            if run.pull == "missing" {
                let shown = crate::cmd::pull::parse_reference(&run.image)
                    .map(|r| {
                        let mut s = r.familiar_string();
                        if r.tag().is_none() && r.digest().is_none() {
                            s.push_str(":latest");
                        }
                        s
                    })
                    .unwrap_or_else(|_| run.image.clone());
                eprintln!("Unable to find image '{shown}' locally");
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

pub(crate) fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

/// The paths of a container's own /etc files.
fn etc_files(dir: &Path) -> spec::EtcFiles {
    spec::EtcFiles {
        hostname: dir.join("hostname"),
        hosts: dir.join("hosts"),
        resolv_conf: dir.join("resolv.conf"),
    }
}

/// Checks the network flags before anything is created, so a typo fails early.
fn check_net_flags(net: &NetSettings) -> Result<()> {
    for p in &net.publish {
        network::PortSpec::parse(p)?;
    }
    for h in &net.add_host {
        network::HostEntry::parse(h)?;
    }
    for d in &net.dns {
        network::parse_dns_server(d)?;
    }
    if let Some(ip) = &net.ip {
        network::parse_ipv4(ip)?;
    }
    if matches!(net.mode.as_str(), "none" | "host")
        && (!net.publish.is_empty() || net.publish_all || net.ip.is_some())
    {
        bail!(
            "conflicting options: port publishing and --ip need a bridge network, not --network {}",
            net.mode
        );
    }
    Ok(())
}

/// Writes /etc/hostname, /etc/resolv.conf and the base /etc/hosts of a container (before
/// it has an address; [`start`] completes hosts when it joins a network).
fn write_etc(dir: &Path, net: &NetSettings) -> Result<spec::EtcFiles> {
    let files = etc_files(dir);
    std::fs::write(&files.hostname, network::hostname_content(&net.hostname))?;
    if net.mode == "host" {
        let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        std::fs::write(&files.hosts, hosts)?;
        let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        std::fs::write(&files.resolv_conf, resolv)?;
        return Ok(files);
    }
    let dns = network::DnsConfig {
        servers: net
            .dns
            .iter()
            .map(|d| network::parse_dns_server(d))
            .collect::<Result<_, _>>()?,
        search: net.dns_search.clone(),
        options: net.dns_option.clone(),
    };
    let host = network::host_resolv_conf().unwrap_or_default();
    std::fs::write(
        &files.resolv_conf,
        network::resolv_conf_content(&host, &dns),
    )?;
    std::fs::write(
        &files.hosts,
        network::hosts_content(&hosts_spec(net)?, None, None, &[]),
    )?;
    Ok(files)
}

fn hosts_spec(net: &NetSettings) -> Result<network::HostsSpec> {
    Ok(network::HostsSpec {
        hostname: net.hostname.clone(),
        domainname: None,
        extra_hosts: net
            .add_host
            .iter()
            .map(|h| network::HostEntry::parse(h))
            .collect::<Result<_, _>>()?,
    })
}

/// Unpacks from the blob store the layers of `image` that `driver` does not have yet (an
/// image pulled while another storage driver was in use).
fn ensure_layers(
    store: &store::Store,
    driver: &dyn store::driver::StorageDriver,
    image: &store::ImageRecord,
) -> Result<()> {
    if image.layers.iter().try_fold(true, |all, l| {
        Ok::<_, store::Error>(all && driver.has_layer(&l.chain_id)?)
    })? {
        return Ok(());
    }
    let _lease = store.lease()?;
    let mut parent: Option<&store::Digest> = None;
    for layer in &image.layers {
        let source = store::LayerSource {
            digest: layer.digest.clone(),
            media_type: layer.media_type.clone(),
            diff_id: layer.diff_id.clone(),
        };
        let (staged, _) = store.ingest_layer(driver, parent, &source, || {
            Err::<std::io::Empty, _>(std::io::Error::other(format!(
                "the blob of layer {} is missing from the store: pull the image again",
                layer.digest
            )))
        })?;
        if !staged.is_present() {
            driver.commit_layer(staged)?;
        }
        parent = Some(&layer.chain_id);
    }
    Ok(())
}

/// What [`create`] does with the rootfs it mounts to resolve the user: `run` keeps it
/// mounted for the [`start`] that follows at once (an overlay unmount syncs the upper
/// filesystem, milliseconds on a busy disk, and the mount would be redone right away);
/// `create` unmounts it, so a created container holds no mount. Should `run` fail between
/// the two, it unmounts the rootfs itself, and a failed [`start`] releases it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rootfs {
    Unmount,
    KeepMounted,
}

/// Unmounts the rootfs of a container whose start did not happen after a [`create`] that
/// kept it mounted. Idempotent; errors are ignored (`rm` unmounts again).
pub(crate) fn unmount_rootfs(ctx: &Ctx, rec: &Record) {
    if let Ok(store) = ctx.store()
        && let Ok(driver) = store::driver::by_name(&store, &rec.driver)
    {
        let _ = driver.unmount(&rec.id);
    }
}

/// docker's `create`: everything up to a container in state `created`.
pub(crate) fn create(ctx: &Ctx, run: &RunArgs, rootfs_after: Rootfs) -> Result<Record> {
    let image = image_for_run(ctx, run)?;
    let store = ctx.store()?;
    let driver = ctx.driver(&store)?;
    let containers = Containers::new(&ctx.root);
    // Until the record is saved, the directory is ours even without one (see `sweep`).
    let _creating = containers.creating()?;
    let id = crate::names::new_id()?;
    let dir = containers.dir(&id);
    let mut undo = Removal::new(ctx, &id);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = reserve_name(&containers, run, &id)?;
    undo.name = Some(name.clone());
    prepare_volumes(ctx, run)?;

    let config_bytes = store.blobs().read(&image.config_digest)?;
    let image_config: oci_spec::image::ImageConfiguration =
        serde_json::from_slice(&config_bytes).context("the image config is not valid")?;
    let image_cfg = image_config.config().as_ref();
    let hostname = run.hostname.clone().unwrap_or_else(|| id[..12].to_owned());
    let mut expose: Vec<String> = image_cfg
        .and_then(|c| c.exposed_ports().clone())
        .unwrap_or_default();
    expose.extend(run.expose.iter().cloned());
    let net = NetSettings {
        mode: run.network.clone().unwrap_or_else(|| "bridge".to_owned()),
        hostname: hostname.clone(),
        ip: run.ip.clone(),
        aliases: run.network_alias.clone(),
        publish: run.publish.clone(),
        expose,
        publish_all: run.publish_all,
        dns: run.dns.clone(),
        dns_search: run.dns_search.clone(),
        dns_option: run.dns_option.clone(),
        add_host: run.add_host.clone(),
    };
    check_net_flags(&net)?;
    if !matches!(net.mode.as_str(), "none" | "host") {
        // An unknown network is an error now, not after the rootfs exists.
        let nets = ctx.networks()?;
        if net.mode == "bridge" {
            nets.ensure_default()?;
        } else {
            nets.inspect(&net.mode)?;
        }
    }

    ensure_layers(&store, driver.as_ref(), &image)?;
    driver.create_writable(&id, image.top_chain_id())?;
    undo.writable = true;
    if run.rm {
        driver.set_disposable(&id)?;
    }
    let rootfs = driver.mount(&id)?;
    undo.mounted = true;

    let user_spec = spec::user(image_cfg, run)?;
    let passwd = crate::rootfs::read_in_root(&rootfs, "/etc/passwd")?;
    let group = crate::rootfs::read_in_root(&rootfs, "/etc/group")?;
    let user = parse::resolve_user(&user_spec, passwd.as_deref(), group.as_deref())?;
    let etc = write_etc(&dir, &net)?;

    let cgroup_fs = cgroup::CgroupFs::detect()?;
    let runtime_spec = spec::build(&spec::Input {
        image: image_cfg,
        run,
        rootfs: &rootfs,
        hostname: &hostname,
        user: &user,
        etc: &etc,
        online_cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        host_network: net.mode == "host",
        cgroup_v2: cgroup_fs.layout() == cgroup::Layout::V2,
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
    let args = runtime_spec
        .process()
        .as_ref()
        .and_then(|p| p.args().clone())
        .unwrap_or_default();
    let record = Record {
        id: id.clone(),
        name,
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
        init: run.init,
        network: net.mode.clone(),
        net,
        ports: Vec::new(),
        log_driver: run.log_driver.clone(),
        log_opts: run.log_opt.clone(),
        run_args: serde_json::to_value(run).unwrap_or_default(),
        state: State::default(),
    };
    containers.save(&record)?;
    if rootfs_after == Rootfs::Unmount {
        driver.unmount(&id)?;
    }
    undo.mounted = false;
    undo.disarm();
    Ok(record)
}

/// Where the container's standard streams go (ignored with a terminal).
#[derive(Debug, Default)]
pub(crate) struct StartIo {
    pub(crate) stdin: isolate::Stdio,
    pub(crate) stdout: isolate::Stdio,
    pub(crate) stderr: isolate::Stdio,
}

/// A started container: its process and cgroup.
#[derive(Debug)]
pub(crate) struct Started {
    pub(crate) running: isolate::Running,
    pub(crate) cgroup: cgroup::AnyManager,
}

/// The cgroup manager of a record.
pub(crate) fn cgroup_of(rec: &Record) -> Result<cgroup::AnyManager> {
    let fs = cgroup::CgroupFs::detect()?;
    let path = cgroup::CgroupPath::new(&rec.cgroup_path)?;
    Ok(fs.manager(&path))
}

/// Starts a created (or exited) container; on failure everything `start` set up is
/// released again and the error says why (its `exit_code` gives docker's 125/126/127).
pub(crate) fn start(ctx: &Ctx, rec: &mut Record, io: StartIo) -> Result<Started> {
    let mut guard = Runtime::new(ctx, rec);
    // The rootfs may be mounted already (`run` keeps the mount `create` made): a failure
    // from here on unmounts it (unmounting is idempotent).
    guard.mounted = true;
    let containers = Containers::new(&ctx.root);
    // Who is starting it, before anything is set up: should this process die half-way,
    // the next command sees the owner gone and releases what was set up (`sweep`).
    containers.save_unsynced(rec)?;
    let dir = containers.dir(&rec.id);
    let spec_bytes = std::fs::read(dir.join("config.json"))
        .with_context(|| format!("reading the spec of container {}", rec.id))?;
    let mut spec: Spec = serde_json::from_slice(&spec_bytes)?;
    let store = ctx.store()?;
    let driver = store::driver::by_name(&store, &rec.driver)?;
    let rootfs = driver.mount(&rec.id)?;
    if let Some(root) = spec.root_mut() {
        root.set_path(rootfs);
    }
    // /etc files are rewritten at every start: a restarted container gets a fresh address.
    write_etc(&dir, &rec.net)?;

    let cg = cgroup_of(rec)?;
    let resources = spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().clone())
        .unwrap_or_default();
    guard.cgroup = true;
    for w in cg.create(&resources)? {
        ctx.warn(w);
    }

    let mut opts = isolate::SpawnOptions::new(["mydocker", "init"]);
    opts.reaper = rec.init;
    opts.stdin = io.stdin;
    opts.stdout = io.stdout;
    opts.stderr = io.stderr;
    let pending = isolate::Container::spawn(&spec, opts)?;
    let pid = pending.pid() as u32;
    cg.add_task(pid)?;
    rec.ports = attach_networks(ctx, rec, pid, &dir)?;
    guard.networks = true;
    let running = pending.start()?;
    for w in running.warnings() {
        ctx.warn(w);
    }
    let pid = running.pid() as u32;
    rec.state = State {
        status: Status::Running,
        pid,
        pid_start: container::process_start(pid).unwrap_or(0),
        // The owner (monitor or foreground `run`) set these before starting.
        monitor_pid: rec.state.monitor_pid,
        monitor_start: rec.state.monitor_start,
        started_at: now_rfc3339(),
        ..State::default()
    };
    containers.save(rec)?;
    guard.disarm();
    Ok(Started {
        running,
        cgroup: cg,
    })
}

/// Joins the container's network(s): `none` gets `lo` up, `host` nothing, a bridge network
/// a veth with an address, its hosts file and published ports.
fn attach_networks(
    ctx: &Ctx,
    rec: &Record,
    pid: u32,
    dir: &Path,
) -> Result<Vec<container::PortBinding>> {
    let netns = network::Netns::Pid(pid);
    match rec.net.mode.as_str() {
        "host" => return Ok(Vec::new()),
        "none" => {
            network::Networks::loopback_up(&netns)?;
            return Ok(Vec::new());
        }
        _ => {}
    }
    let nets = ctx.networks()?;
    let mut ports = Vec::new();
    for p in &rec.net.publish {
        ports.extend(network::PortSpec::parse(p)?);
    }
    if rec.net.publish_all {
        ports.extend(network::PortSpec::publish_all(&rec.net.expose)?);
    }
    let opts = network::AttachOptions {
        name: Some(rec.name.clone()),
        ip: rec.net.ip.as_deref().map(network::parse_ipv4).transpose()?,
        aliases: rec.net.aliases.clone(),
        ports,
        hosts: Some(network::HostsConfig {
            path: dir.join("hosts"),
            spec: hosts_spec(&rec.net)?,
        }),
        ..Default::default()
    };
    let att = nets.attach(&netns, &rec.id, &rec.net.mode, &opts)?;
    for w in &att.warnings {
        ctx.warn(w);
    }
    Ok(att
        .ports
        .iter()
        .map(|p| container::PortBinding {
            host_ip: p.host_ip.to_string(),
            host_port: p.host_port,
            container_port: p.container_port,
            protocol: p.protocol.to_string(),
        })
        .collect())
}

/// Records how a container ended, releases its runtime resources, and removes it when it
/// was started with `--rm`.
pub(crate) fn finish(ctx: &Ctx, rec: &mut Record, code: i32, oom: bool) -> Result<()> {
    rec.state.status = Status::Exited;
    rec.state.exit_code = code;
    rec.state.oom_killed = oom;
    rec.state.pid = 0;
    rec.state.pid_start = 0;
    rec.state.monitor_pid = 0;
    rec.state.monitor_start = 0;
    rec.state.finished_at = now_rfc3339();
    release(ctx, rec);
    if rec.auto_remove {
        return remove(ctx, rec);
    }
    Containers::new(&ctx.root).save(rec)
}

/// Releases what only a running container holds: network attachments, the cgroup (its
/// processes killed first) and the rootfs mount. Idempotent; errors are warnings.
pub(crate) fn release(ctx: &Ctx, rec: &Record) {
    if !matches!(rec.net.mode.as_str(), "none" | "host" | "") {
        match ctx.networks().and_then(|n| Ok(n.detach_all(&rec.id)?)) {
            Ok(d) => d.warnings.iter().for_each(|w| ctx.warn(w)),
            Err(e) => ctx.warn(format_args!(
                "detaching the networks of {}: {e:#}",
                &rec.id[..12]
            )),
        }
    }
    if let Ok(cg) = cgroup_of(rec) {
        let _ = cg.kill_all();
        if let Err(e) = cg.remove() {
            ctx.warn(format_args!(
                "removing the cgroup of {}: {e}",
                &rec.id[..12]
            ));
        }
    }
    if let Ok(store) = ctx.store()
        && let Ok(driver) = store::driver::by_name(&store, &rec.driver)
        && let Err(e) = driver.unmount(&rec.id)
    {
        ctx.warn(format_args!(
            "unmounting the rootfs of {}: {e}",
            &rec.id[..12]
        ));
    }
}

/// Removes a container entirely: runtime resources, writable layer, name, state.
pub(crate) fn remove(ctx: &Ctx, rec: &Record) -> Result<()> {
    release(ctx, rec);
    let store = ctx.store()?;
    let driver = store::driver::by_name(&store, &rec.driver)?;
    driver.remove_writable(&rec.id)?;
    let containers = Containers::new(&ctx.root);
    containers.release_name(&rec.name, &rec.id);
    let dir = containers.dir(&rec.id);
    match std::fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", dir.display()))
        }
        _ => Ok(()),
    }
}

/// Undoes a partial `create`.
struct Removal<'a> {
    ctx: &'a Ctx,
    id: String,
    name: Option<String>,
    writable: bool,
    mounted: bool,
    armed: bool,
}

impl<'a> Removal<'a> {
    fn new(ctx: &'a Ctx, id: &str) -> Self {
        Removal {
            ctx,
            id: id.to_owned(),
            name: None,
            writable: false,
            mounted: false,
            armed: true,
        }
    }

    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for Removal<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Ok(store) = self.ctx.store()
            && let Ok(driver) = self.ctx.driver(&store)
        {
            if self.mounted {
                let _ = driver.unmount(&self.id);
            }
            if self.writable {
                let _ = driver.remove_writable(&self.id);
            }
        }
        let containers = Containers::new(&self.ctx.root);
        if let Some(name) = &self.name {
            containers.release_name(name, &self.id);
        }
        let _ = std::fs::remove_dir_all(containers.dir(&self.id));
    }
}

/// Undoes a partial `start`.
struct Runtime<'a> {
    ctx: &'a Ctx,
    rec: Record,
    mounted: bool,
    cgroup: bool,
    networks: bool,
    armed: bool,
}

impl<'a> Runtime<'a> {
    fn new(ctx: &'a Ctx, rec: &Record) -> Self {
        Runtime {
            ctx,
            rec: rec.clone(),
            mounted: false,
            cgroup: false,
            networks: false,
            armed: true,
        }
    }

    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for Runtime<'_> {
    fn drop(&mut self) {
        if self.armed && (self.mounted || self.cgroup || self.networks) {
            // The spawned init (if any) was killed when its `Pending` was dropped.
            release(self.ctx, &self.rec);
        }
    }
}
