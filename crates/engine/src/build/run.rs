//! A RUN step: a container of the current image, created and run as `run` would (same
//! isolation, the default bridge network unless `--network`), its output sent to the
//! reporter as it comes, then its changes committed as a layer (without the mount points
//! its init made) and the container removed, whatever happened. A cancelled build kills
//! the container.

use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use store::archive::BuiltLayer;
use store::{Digest, Store};

use super::cache::{Claim, Held};
use super::tarfilter::MountPointFilter;
use super::{BuildEvent, BuildReporter};
use crate::config::Engine;
use crate::create::{ImageSource, PullPolicy};
use crate::error::{Error, Result, ResultExt};
use crate::options::CreateOptions;
use crate::supervisor::Attach;

/// What a RUN step runs.
#[derive(Debug)]
pub(crate) struct RunStep<'a> {
    /// The image it runs in.
    pub(crate) image: &'a Digest,
    /// The image's top layer (the parent of the new one).
    pub(crate) top: Option<&'a Digest>,
    /// The command line (`/bin/sh -c ...` for the shell form).
    pub(crate) argv: Vec<String>,
    /// Build arguments given to it as environment variables.
    pub(crate) env: Vec<String>,
    /// `--network`.
    pub(crate) network: Option<String>,
    /// `--cgroup-parent`.
    pub(crate) cgroup_parent: Option<String>,
}

/// The container of a step, removed when dropped.
struct StepContainer<'a> {
    engine: &'a Engine,
    id: String,
    claim: Option<Claim>,
}

impl Drop for StepContainer<'_> {
    fn drop(&mut self) {
        if self.engine.remove(&self.id, true).is_ok()
            && let Some(c) = self.claim.take()
        {
            c.release();
        }
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| Error::os("pipe", e))
}

/// Runs the step; returns the new layer. A command that fails is an error with docker's
/// message (`The command '...' returned a non-zero code: N`).
pub(crate) fn run(
    engine: &Engine,
    store: &Store,
    step: &RunStep<'_>,
    reporter: &dyn BuildReporter,
    cancel: &AtomicBool,
) -> Result<BuiltLayer> {
    let opts = CreateOptions {
        image: step.image.to_string(),
        command: step.argv.clone(),
        entrypoint: Some(String::new()),
        env: step.env.clone(),
        network: step.network.clone(),
        cgroup_parent: step.cgroup_parent.clone(),
        log_driver: "none".to_owned(),
        ..CreateOptions::default()
    };
    let source = ImageSource {
        pull: PullPolicy::Never,
        platform: None,
    };
    let rec = engine.create(&opts, source, &crate::progress::NoProgress)?;
    let mut container = StepContainer {
        engine,
        id: rec.id.clone(),
        claim: None,
    };
    container.claim = Some(Claim::new(
        &engine.config.root,
        &format!("run-{}", &rec.id[..24]),
        &Held::Container { id: rec.id.clone() },
    )?);
    reporter.event(BuildEvent::RunningIn(&rec.id[..12]));
    let code = attached(engine, &rec.id, reporter, cancel)?;
    if cancel.load(Ordering::SeqCst) {
        return Err(super::cancelled());
    }
    if code != 0 {
        return Err(Error::StepFailed {
            command: step.argv.join(" "),
            code,
        });
    }
    let driver = engine.driver_named(store, &rec.driver)?;
    let layer = store::archive::build_layer(store, &*driver, step.top, &mut |w| {
        let mut filtered = MountPointFilter::new(w);
        driver.changes(&rec.id, &mut filtered)
    })
    .ctx("committing the changes of the step")?;
    drop(container);
    reporter.event(BuildEvent::RemovedContainer(&rec.id[..12]));
    Ok(layer)
}

/// Runs container `id` with its output copied to the reporter; returns its exit code (a
/// start failure is docker's 126 or 127 with the reason printed as output).
fn attached(
    engine: &Engine,
    id: &str,
    reporter: &dyn BuildReporter,
    cancel: &AtomicBool,
) -> Result<i32> {
    let (out_r, out_w) = pipe()?;
    let err_w = out_w
        .try_clone()
        .map_err(|e| Error::os("duplicating a pipe", e))?;
    let null = File::open("/dev/null").map_err(|e| Error::io("opening", "/dev/null", e))?;
    let attach = Attach {
        stdin: OwnedFd::from(null),
        stdout: out_w,
        stderr: err_w,
        forward_signals: false,
    };
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let copier = s.spawn(|| {
            let mut r = File::from(out_r);
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match r.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => reporter.event(BuildEvent::Output(&buf[..n])),
                }
            }
        });
        let killer = s.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                if cancel.load(Ordering::SeqCst) {
                    let _ = engine.kill(id, rustix::process::Signal::KILL);
                    return;
                }
                // Woken at once when the step ends (a signal handler cannot wake it).
                std::thread::park_timeout(Duration::from_millis(50));
            }
        });
        let result = engine.run_attached(id, attach);
        done.store(true, Ordering::SeqCst);
        killer.thread().unpark();
        let _ = killer.join();
        let _ = copier.join();
        match result {
            Ok(exit) => Ok(exit.code),
            Err(e) if matches!(e.exit_code(), 126 | 127) => {
                let line = format!("{e}\n");
                reporter.event(BuildEvent::Output(line.as_bytes()));
                Ok(i32::from(e.exit_code()))
            }
            Err(e) => Err(e),
        }
    })
}
