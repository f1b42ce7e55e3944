//! mydocker's container lifecycle as a library: what `docker run`, `ps`, `stop`, `exec`,
//! `commit`, `pull`... do, without a command line and without printing.
//!
//! - [`Engine`] is the handle: an [`EngineConfig`] (where the state lives, how registries
//!   and networks are reached) and a [`Reporter`] that receives warnings;
//! - containers: [`Engine::create`] (from typed [`CreateOptions`], kept in the
//!   container's [`Record`]), [`Engine::run_attached`] and [`Engine::start_detached`]
//!   (both owned by one [`supervisor`](crate::supervisor) that copies the container's
//!   streams, forwards signals, notices OOM kills and records the end), `stop`, `kill`,
//!   `pause`, `rename`, `remove`, `exec`, `commit`, `export`, `top`, `usage`; the
//!   container's state machine is [`record::Status`];
//! - images: [`Engine::pull`] (progress reported through [`progress::Progress`]),
//!   `images`, `tag_image`, `remove_image`, `push`, `save`, `load`, `import`;
//! - logs: [`logs`], docker's json-file format.
//!
//! The binary must hand its helper modes to the engine first thing in `main`: the
//! container's init and the monitor of a detached container run as this binary.
//!
//! ```no_run
//! use std::sync::Arc;
//! use engine::{CreateOptions, Engine, EngineConfig, ImageSource, NetworkSettings, Silent};
//!
//! # fn main() -> Result<(), engine::Error> {
//! engine::helper_main(); // returns unless invoked as `init` or `monitor`
//! let engine = Engine::new(
//!     EngineConfig {
//!         root: "/var/lib/mydocker".into(),
//!         run_root: "/run/mydocker".into(),
//!         storage_driver: None,
//!         insecure_registries: Vec::new(),
//!         docker_config: None,
//!         network: NetworkSettings::default(),
//!         debug: false,
//!     },
//!     Arc::new(Silent),
//! )?;
//! let opts = CreateOptions {
//!     image: "busybox".into(),
//!     command: vec!["sleep".into(), "60".into()],
//!     detach: true,
//!     ..Default::default()
//! };
//! let rec = engine.create(&opts, ImageSource::default(), &engine::NoProgress)?;
//! engine.start_detached(&rec.id)?;
//! engine.stop(&rec.id, Some(1), None)?;
//! engine.remove(&rec.id, false)?;
//! # Ok(()) }
//! ```

pub mod archive;
pub mod attach;
pub mod build;
pub mod changes;
pub mod commit;
pub mod config;
pub mod containers;
pub mod control;
pub mod cp;
pub mod create;
pub mod diff;
pub mod error;
pub mod exec;
pub mod health;
pub mod imagelist;
pub mod images;
pub mod inspect;
mod lifecycle;
pub mod logs;
pub mod monitor;
pub mod names;
mod net;
mod nsmodes;
pub mod options;
pub mod progress;
mod pull;
pub mod record;
mod recovery;
pub mod restart;
pub mod spec;
mod stdio;
pub mod supervisor;
pub mod top;
pub mod trace;
pub mod update;
mod usermounts;
pub mod volumes;

pub use archive::Loaded;
pub use build::{BuildEvent, BuildOptions, BuildReporter, Built};
pub use commit::{CommitOptions, ImportOptions};
pub use config::{Engine, EngineConfig, NetworkSettings, Reporter, Silent};
pub use control::parse_signal;
pub use create::{ImageSource, PullPolicy};
pub use error::{Error, Result, ResultExt};
pub use exec::ExecOptions;
pub use health::{HealthConfig, HealthStatus};
pub use images::Removal;
pub use inspect::container_document;
pub use monitor::{Detached, helper_main};
pub use options::CreateOptions;
pub use progress::{LayerStatus, NoProgress, Progress};
pub use pull::Pulled;
pub use record::{Record, Status};
pub use restart::RestartPolicy;
pub use supervisor::{Attach, Exit};
pub use top::{ProcessInfo, Usage};
pub use update::Update;
