//! Test harness shared by mydocker's integration tests (and `cargo xtask demo`/`bench`):
//! a real `docker-registry` on 127.0.0.1, fixture images built in code from Debian's
//! `busybox-static` and pushed with mydocker's own registry client, a builder for more
//! images (including hostile ones), a Docker-Hub-like token endpoint, and a fake HTTP
//! server for misbehaving-registry tests.
//!
//! ```no_run
//! use test_support::{Fixtures, Registry};
//!
//! // One registry per test process, fixtures pushed once.
//! let registry = Registry::shared();
//! let busybox = &Fixtures::shared().busybox;
//! let client = registry.client()?;
//! let resolved = client.resolve(&busybox.reference, &registry::Platform::host())?;
//! assert_eq!(resolved.digest, busybox.digest);
//! # Ok::<(), test_support::Error>(())
//! ```
//!
//! Registries stop, and their directories disappear, when dropped or when the test
//! process ends, even by a crash: see [`Registry`].

mod big;
mod error;
mod fixtures;
mod http;
mod image;
mod server;
mod token;

pub use big::{BIG_SEED, BigImage, BigLayer, big_image};
pub use error::Error;
pub use fixtures::{
    BUSYBOX, Expect, Fixture, Fixtures, GROUP, PASSWD, add_busybox_rootfs, busybox_image,
    busybox_tar, multilayer_expectations, multilayer_image,
};
pub use http::{FakeServer, HttpRequest, HttpResponse, percent_decode};
pub use image::{
    FIXED_CREATED, FIXED_MTIME, Flavour, Image, ImageBuilder, Index, IndexBuilder, Layer,
    LayerBuilder, Meta,
};
pub use server::{
    REGISTRY_BIN, Registry, RegistryAuth, RegistryOptions, TokenAuth, test_client_config,
};
pub use token::{TokenRequest, TokenServer, TokenServerOptions};

/// A static executable that tests mount read-only into containers (`-v PROBE:/probe:ro`)
/// to try what a process in a default container could do to the host: see
/// `probe/container_probe.rs` for its modes and output.
pub const PROBE: &str = concat!(env!("OUT_DIR"), "/container-probe");
