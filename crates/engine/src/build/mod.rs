//! `build`: images from a Dockerfile, as docker's classic builder makes them, with a
//! layer cache.
//!
//! - [`parser`]: the Dockerfile's lines (directives, continuations, flags, JSON forms);
//!   [`words`]: variable substitution and quotes; [`stages`]: stages, `--target` and the
//!   stages the target needs (the others are skipped).
//! - [`context`]: the context directory, walked once with `.dockerignore` ([`ignore`])
//!   applied; file contents are hashed for the cache keys of COPY and ADD.
//! - Each RUN, COPY and ADD makes one layer ([`run`]: a container of the current image,
//!   run and committed; [`copy`]: files written into a temporary writable layer,
//!   [`fsops::Scratch`]); the other instructions change the config only. Every step's
//!   result is an image (docker's intermediate images, hidden by `images`), whose history
//!   entry reads as docker's (`/bin/sh -c #(nop)  ENV ...`, `empty_layer`).
//! - [`cache`]: a step whose parent image and instruction (and copied files) are
//!   unchanged reuses the image it made before, so a build without changes makes nothing
//!   new and yields the same image ID.
//!
//! Progress goes to a [`BuildReporter`] as [`BuildEvent`]s (the CLI prints them as
//! docker's classic builder does); a failing step or a cancelled build (see
//! [`BuildOptions::cancel`]) leaves no container, mount, cgroup or temporary layer.
//!
//! ```no_run
//! use engine::build::{BuildEvent, BuildOptions, BuildReporter};
//! # fn demo(engine: &engine::Engine) -> engine::Result<()> {
//! struct Quiet;
//! impl BuildReporter for Quiet {
//!     fn event(&self, _e: BuildEvent<'_>) {}
//! }
//! let opts = BuildOptions {
//!     context: Some("/src/app".into()),
//!     dockerfile: "FROM busybox\nCOPY . /app\nCMD [\"/app/run\"]\n".into(),
//!     tags: vec!["app:latest".into()],
//!     ..BuildOptions::default()
//! };
//! let built = engine.build(&opts, &Quiet, &engine::NoProgress)?;
//! assert_eq!(built.tags, ["app:latest"]);
//! # Ok(()) }
//! ```

mod archive;
mod builder;
pub mod cache;
mod context;
mod copy;
mod copystep;
mod dispatch;
mod fsops;
mod ignore;
mod image;
mod parser;
mod run;
mod stages;
mod tarfilter;
mod words;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::config::Engine;
use crate::error::{Error, Result};
use crate::progress::Progress;

/// What to build.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The context directory (`None`: no context, for a Dockerfile read from stdin).
    pub context: Option<PathBuf>,
    /// The Dockerfile's text.
    pub dockerfile: String,
    /// Where the Dockerfile is (`-f`), for a `<Dockerfile>.dockerignore` beside it, which
    /// is used instead of the context's `.dockerignore`.
    pub dockerfile_path: Option<PathBuf>,
    /// `-t NAME[:TAG]`.
    pub tags: Vec<String>,
    /// `--build-arg NAME=VALUE`, values resolved by the caller.
    pub build_args: Vec<(String, String)>,
    /// `--target STAGE`.
    pub target: Option<String>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--pull`: pull base images even when present.
    pub pull: bool,
    /// `--label NAME=VALUE`, added to the image.
    pub labels: Vec<(String, String)>,
    /// `--platform` (base images are pulled for it).
    pub platform: Option<String>,
    /// `--network` of RUN steps (`bridge` when `None`).
    pub network: Option<String>,
    /// `--cgroup-parent` of RUN steps.
    pub cgroup_parent: Option<String>,
    /// Set (by a signal handler, say) to stop the build: the running step's container is
    /// killed and everything made for the step removed.
    pub cancel: Option<Arc<AtomicBool>>,
}

/// What the build reports, in order, as docker's classic builder prints it.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum BuildEvent<'a> {
    /// A warning (`[Warning] One or more build-args [X] were not consumed`).
    Warning(&'a str),
    /// `Step 2/6 : RUN make` (the instruction as written).
    Step {
        /// Its number, from 1.
        number: usize,
        /// How many steps the build has.
        total: usize,
        /// The instruction.
        instruction: &'a str,
    },
    /// `# Executing 2 build triggers` (the base image's ONBUILD instructions).
    Triggers(usize),
    /// ` ---> Using cache`.
    UsingCache,
    /// ` ---> Running in <container>` (12 hex digits).
    RunningIn(&'a str),
    /// Output of the running step's command.
    Output(&'a [u8]),
    /// `Removing intermediate container <container>`.
    RemovedContainer(&'a str),
    /// ` ---> <image>` (12 hex digits): the image after a step (or the base image).
    Image(&'a str),
}

/// Receives a build's events.
pub trait BuildReporter: Sync {
    /// One event.
    fn event(&self, event: BuildEvent<'_>);
}

/// What a build made.
#[derive(Debug, Clone)]
pub struct Built {
    /// The image.
    pub image: store::ImageRecord,
    /// The names it was tagged with, in docker's familiar form (`app:latest`).
    pub tags: Vec<String>,
}

/// The error of a cancelled build.
pub(crate) fn cancelled() -> Error {
    Error::Build("the build was cancelled".to_owned())
}

impl Engine {
    /// Builds the image `opts` describes; reports steps to `reporter` and the pulls of
    /// base images to `progress`.
    ///
    /// # Errors
    /// A Dockerfile error (docker's message, with the line), a failing step (`The command
    /// '...' returned a non-zero code: N`), a missing base image, a cancelled build.
    /// Nothing is tagged then, and nothing made for the failing step is left.
    pub fn build(
        &self,
        opts: &BuildOptions,
        reporter: &dyn BuildReporter,
        progress: &dyn Progress,
    ) -> Result<Built> {
        builder::build(self, opts, reporter, progress)
    }
}
