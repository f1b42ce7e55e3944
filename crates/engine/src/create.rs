//! `create`: everything up to a container in state `created`: the image (pulled when
//! missing), an ID and a name, the writable layer, the runtime spec
//! (`ROOT/containers/<id>/config.json`) and the record. Each step undoes its partial work
//! when a later one fails; a `create` killed half-way is cleaned up by the next sweep
//! (see [`Containers::creating`]).

use crate::config::Engine;
use crate::containers::Containers;
use crate::error::{Error, Result, invalid};
use crate::options::{CreateOptions, Volume, clean_abs};
use crate::progress::Progress;
use crate::record::{Record, State};
use crate::spec::{self, EtcFiles};
use crate::{names, net};

/// When `create` pulls the image (`--pull`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullPolicy {
    /// Only when it is not in the store.
    #[default]
    Missing,
    /// Always (a newer image replaces the tag).
    Always,
    /// Never: a missing image is an error.
    Never,
}

impl std::str::FromStr for PullPolicy {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "missing" => Ok(PullPolicy::Missing),
            "always" => Ok(PullPolicy::Always),
            "never" => Ok(PullPolicy::Never),
            other => Err(Error::Invalid(format!(
                "invalid pull policy {other:?}: use always, missing or never"
            ))),
        }
    }
}

/// How `create` finds the image.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImageSource<'a> {
    /// `--pull`.
    pub pull: PullPolicy,
    /// `--platform`.
    pub platform: Option<&'a str>,
}

pub(crate) fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

impl Engine {
    /// Finds the image for a new container, pulling it when missing (or always).
    fn image_for(
        &self,
        name: &str,
        source: ImageSource<'_>,
        progress: &dyn Progress,
    ) -> Result<store::ImageRecord> {
        let found = self.image(name);
        match (source.pull, found) {
            (PullPolicy::Missing | PullPolicy::Never, Ok(rec)) => Ok(rec),
            (PullPolicy::Never, Err(e)) => Err(e),
            (PullPolicy::Missing, Err(_)) | (PullPolicy::Always, _) => {
                if source.pull == PullPolicy::Missing {
                    let shown = crate::images::parse_reference(name)
                        .map(|r| {
                            let mut s = r.familiar_string();
                            if r.tag().is_none() && r.digest().is_none() {
                                s.push_str(":latest");
                            }
                            s
                        })
                        .unwrap_or_else(|_| name.to_owned());
                    progress.line(&format!("Unable to find image '{shown}' locally"));
                }
                Ok(self.pull(name, source.platform, progress)?.image)
            }
        }
    }

    /// docker's `create`: a container in state `created` from `opts`; `progress` shows a
    /// pull when the image is missing.
    ///
    /// # Errors
    /// An invalid option, an unknown image or network, a taken name, a store failure;
    /// nothing of the container is left then.
    pub fn create(
        &self,
        opts: &CreateOptions,
        source: ImageSource<'_>,
        progress: &dyn Progress,
    ) -> Result<Record> {
        self.mark("cli: arguments parsed, engine ready");
        if opts.rm && !opts.restart.is_none() {
            return Err(Error::Invalid(
                "Conflicting options: --restart and --rm".into(),
            ));
        }
        let mut resolved = crate::nsmodes::resolve(self, opts)?;
        // The donors' mounts are planned with the `-v` list and saved with the
        // container's mounts; the record keeps the list as given (docker's `Binds`).
        let given_volumes = resolved.volume.len();
        let donated = self.volumes_from(&resolved)?;
        resolved.volume.extend(donated);
        let opts = &resolved;
        let image = self.image_for(&opts.image, source, progress)?;
        self.mark("create: image found");
        let store = self.store()?;
        let driver = self.driver(&store)?;
        let containers = Containers::new(&self.config.root);
        // Until the record is saved, the directory is ours even without one (see `sweep`).
        let _creating = containers.creating()?;
        let id = names::new_id()?;
        let dir = containers.dir(&id);
        let mut undo = Undo::new(self, &id);
        std::fs::create_dir_all(dir.join("rootfs")).map_err(|e| Error::io("creating", &dir, e))?;
        let name = self.reserve_name(&containers, opts, &id)?;
        undo.name = Some(name.clone());
        self.prepare_volumes(opts)?;
        self.mark("create: id, directory, name reserved");

        let config_bytes = store.blobs().read(&image.config_digest)?;
        let image_config: oci_spec::image::ImageConfiguration =
            serde_json::from_slice(&config_bytes)
                .map_err(|e| Error::json("the image config is not valid", e))?;
        let image_cfg = image_config.config().as_ref();
        let hostname = match (&opts.hostname, opts.uts.as_deref()) {
            (Some(h), _) => h.clone(),
            // The host's UTS namespace: its name, as docker shows it.
            (None, Some("host")) => rustix::system::uname()
                .nodename()
                .to_string_lossy()
                .into_owned(),
            (None, _) => id[..12].to_owned(),
        };
        let exposed = image_cfg
            .and_then(|c| c.exposed_ports().clone())
            .unwrap_or_default();
        let image_volumes: Vec<String> = image_cfg
            .and_then(|c| c.volumes().clone())
            .unwrap_or_default();
        // Volumes named or made for it, removed again if the create fails.
        let mut planned = self.plan_mounts(opts, &image_volumes)?;
        let spec_opts = planned.spec_options(opts);
        let net = net::settings(opts, &hostname, exposed);
        net::check(&net)?;
        // An unknown network is an error now, not after the rootfs exists.
        net::ensure_network(self, &net.mode)?;
        self.mark("create: image config read, network checked");

        self.ensure_layers(&store, driver.as_ref(), &image)?;
        // A `--rm` container's layer (as its records) is never made durable: it goes
        // when the container ends, or as a leftover after a crash.
        if opts.rm {
            driver.create_disposable(&id, image.top_chain_id())?;
        } else {
            driver.create_writable(&id, image.top_chain_id())?;
        }
        undo.writable = true;
        planned.copy_up(driver.as_ref(), &id)?;
        self.mark("create: writable layer");
        let cgroup_fs = cgroup::CgroupFs::detect()?;
        let runtime_spec = spec::build(&spec::Input {
            image: image_cfg,
            opts: &spec_opts,
            rootfs: &dir.join("rootfs"),
            hostname: &hostname,
            etc: &EtcFiles::in_dir(&dir),
            online_cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            host_network: net.mode == "host",
            cgroup_v2: cgroup_fs.layout() == cgroup::Layout::V2,
        })?;
        let spec_json = serde_json::to_vec_pretty(&runtime_spec)
            .map_err(|e| Error::json("encoding the runtime spec", e))?;
        let config_json = dir.join("config.json");
        if opts.rm {
            fsutil::write_atomic_unsynced(&config_json, &spec_json)?;
        } else {
            fsutil::write_atomic(&config_json, &spec_json)?;
        }
        self.mark("create: runtime spec built and written");

        let parent = opts
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
            image: opts.image.clone(),
            image_id: image.id.to_string(),
            path: args.first().cloned().unwrap_or_default(),
            args: args.iter().skip(1).cloned().collect(),
            driver: driver.name().to_owned(),
            cgroup_path: cgroup_path.to_string(),
            tty: opts.tty,
            open_stdin: opts.interactive,
            auto_remove: opts.rm,
            init: opts.init,
            network: net.mode.clone(),
            net,
            ports: Vec::new(),
            log_driver: opts.log_driver().to_owned(),
            log_opts: opts.log_opt.clone(),
            user: spec::user(image_cfg, opts),
            labels: labels(image_cfg, opts),
            options: {
                let mut given = resolved;
                given.volume.truncate(given_volumes);
                given
            },
            state: State::default(),
        };
        self.save_mounts(&dir, &planned, !record.auto_remove)?;
        containers.save(&record)?;
        planned.disarm();
        undo.disarm();
        self.mark("create: record saved");
        Ok(record)
    }

    /// Picks the container's name: the option (validated, reserved) or a random free one.
    fn reserve_name(
        &self,
        containers: &Containers,
        opts: &CreateOptions,
        id: &str,
    ) -> Result<String> {
        if let Some(name) = &opts.name {
            let name = name.strip_prefix('/').unwrap_or(name);
            if !names::valid_name(name) {
                invalid!(
                    "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                );
            }
            containers.reserve_name(name, id, !opts.rm)?;
            return Ok(name.to_owned());
        }
        for retry in 0..10 {
            let name = names::random_name(retry)?;
            if containers.reserve_name(&name, id, !opts.rm).is_ok() {
                return Ok(name);
            }
        }
        Err(Error::Conflict(
            "could not find a free container name".into(),
        ))
    }

    /// Creates missing host directories of `-v` bind mounts, as docker does, and refuses
    /// sources inside mydocker's own state.
    fn prepare_volumes(&self, opts: &CreateOptions) -> Result<()> {
        // Binds only: volume names and anonymous volumes are resolved by `plan_mounts`.
        for v in opts
            .volume
            .iter()
            .filter(|v| v.starts_with('/') && v.contains(':'))
        {
            let vol = Volume::parse(v)?;
            let source = clean_abs(&vol.source);
            if source.starts_with(&self.config.root) || source.starts_with(&self.config.run_root) {
                invalid!(
                    "invalid volume specification: '{v}': the source {} is inside mydocker's own state and is not allowed",
                    source.display()
                );
            }
            if !source.exists() {
                std::fs::create_dir_all(&source)
                    .map_err(|e| Error::io("creating the volume source", &source, e))?;
            }
        }
        Ok(())
    }

    /// Unpacks from the blob store the layers of `image` that `driver` does not have yet
    /// (an image pulled while another storage driver was in use).
    fn ensure_layers(
        &self,
        store: &store::Store,
        driver: &dyn store::driver::StorageDriver,
        image: &store::ImageRecord,
    ) -> Result<()> {
        let mut all = true;
        for l in &image.layers {
            all &= driver.has_layer(&l.chain_id)?;
        }
        if all {
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
}

/// Undoes a partial `create`.
struct Undo<'a> {
    engine: &'a Engine,
    id: String,
    name: Option<String>,
    writable: bool,
    armed: bool,
}

impl<'a> Undo<'a> {
    fn new(engine: &'a Engine, id: &str) -> Self {
        Undo {
            engine,
            id: id.to_owned(),
            name: None,
            writable: false,
            armed: true,
        }
    }

    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if self.writable
            && let Ok(store) = self.engine.store()
            && let Ok(driver) = self.engine.driver(&store)
        {
            let _ = driver.remove_writable(&self.id);
        }
        let containers = Containers::new(&self.engine.config.root);
        if let Some(name) = &self.name {
            containers.release_name(name, &self.id);
        }
        let _ = fsutil::remove_tree(&containers.dir(&self.id));
    }
}

/// The image's labels overlaid with the options' (docker's `Config.Labels`).
fn labels(
    image_cfg: Option<&oci_spec::image::Config>,
    opts: &CreateOptions,
) -> std::collections::BTreeMap<String, String> {
    let mut out: std::collections::BTreeMap<String, String> = image_cfg
        .and_then(|c| c.labels().clone())
        .unwrap_or_default()
        .into_iter()
        .collect();
    out.extend(crate::volumes::label_map(&opts.label));
    out
}
