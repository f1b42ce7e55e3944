//! `mydocker-runc`: runc's command line over mydocker's `isolate` and `cgroup` crates.
//!
//! The library holds the commands as functions on a [`StateRoot`] (the `--root`
//! directory); the `mydocker-runc` binary parses runc's flags and calls them.
//!
//! ```no_run
//! use oci_runtime::{CreateOptions, StateRoot, create, ops};
//!
//! # fn main() -> Result<(), oci_runtime::Error> {
//! let root = StateRoot::new("/run/mydocker-runc");
//! let opts = CreateOptions {
//!     id: "c1".into(),
//!     bundle: "/tmp/bundle".into(),
//!     ..CreateOptions::default()
//! };
//! let _warnings = create::create(&root, &opts)?;
//! ops::start(&root, "c1")?;
//! println!("{:?}", ops::state(&root, "c1")?.status);
//! # Ok(()) }
//! ```

pub mod bundle;
pub mod cgroups;
pub mod console;
pub mod create;
mod error;
pub mod exec;
mod hooks;
pub mod ops;
pub mod signals;
pub mod state;
mod sys;

pub use create::CreateOptions;
pub use error::{Error, Result};
pub use state::{StateRoot, Status};
