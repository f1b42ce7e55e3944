//! `build`: the engine's build with docker's classic builder output (`Step 2/6 : RUN
//! ...`, ` ---> Running in ...`, ` ---> Using cache`, `Successfully built ...`), or only
//! the image ID with `-q` (the output is then printed on stderr if the build fails).
//! Ctrl-C stops the build and removes what its running step made.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use engine::{BuildEvent, BuildOptions, BuildReporter};

use crate::args::BuildArgs;
use crate::cmd::Status;
use crate::ctx::Ctx;
use crate::progress::Progress;

/// Prints a build's events as docker's classic builder does (into a buffer with `-q`).
struct Printer {
    quiet: bool,
    buffer: Mutex<Vec<u8>>,
}

impl Printer {
    fn write(&self, bytes: &[u8]) {
        if self.quiet {
            self.buffer
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend_from_slice(bytes);
        } else {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(bytes);
            let _ = out.flush();
        }
    }
}

impl BuildReporter for Printer {
    fn event(&self, event: BuildEvent<'_>) {
        let line = match event {
            BuildEvent::Output(bytes) => return self.write(bytes),
            BuildEvent::Warning(w) => format!("{w}\n"),
            BuildEvent::Step {
                number,
                total,
                instruction,
            } => format!("Step {number}/{total} : {instruction}\n"),
            BuildEvent::Triggers(n) => {
                format!(
                    "# Executing {n} build trigger{}\n",
                    if n == 1 { "" } else { "s" }
                )
            }
            BuildEvent::UsingCache => " ---> Using cache\n".to_owned(),
            BuildEvent::RunningIn(id) => format!(" ---> Running in {id}\n"),
            BuildEvent::RemovedContainer(id) => format!("Removing intermediate container {id}\n"),
            BuildEvent::Image(id) => format!(" ---> {id}\n"),
            _ => return,
        };
        self.write(line.as_bytes());
    }
}

/// `NAME=VALUE`, or `NAME` alone: from the environment (skipped when unset) for build
/// arguments, empty for labels.
fn pairs(items: &[String], from_env: bool) -> Vec<(String, String)> {
    items
        .iter()
        .filter_map(|item| match item.split_once('=') {
            Some((k, v)) => Some((k.to_owned(), v.to_owned())),
            None if from_env => std::env::var(item).ok().map(|v| (item.clone(), v)),
            None => Some((item.clone(), String::new())),
        })
        .collect()
}

fn read_stdin() -> Result<String> {
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        bail!("the Dockerfile is read from stdin, but stdin is a terminal");
    }
    let mut bytes = Vec::new();
    stdin
        .read_to_end(&mut bytes)
        .context("reading the Dockerfile from stdin")?;
    let tar = bytes.len() > 262 && &bytes[257..262] == b"ustar";
    if tar || bytes.starts_with(&[0x1f, 0x8b]) {
        bail!(
            "a build context as a tar archive on stdin is not supported: extract it and pass its directory"
        );
    }
    String::from_utf8(bytes).context("the Dockerfile is not UTF-8 text")
}

/// The context directory, the Dockerfile's text and its path.
fn sources(args: &BuildArgs) -> Result<(Option<PathBuf>, String, Option<PathBuf>)> {
    if args.context.contains("://") || args.context.starts_with("git@") {
        bail!(
            "unable to prepare context: remote contexts ({}) are not supported: clone or download it and build from the directory",
            args.context
        );
    }
    if args.context == "-" {
        if args.file.as_deref().is_some_and(|f| f != "-") {
            bail!("a Dockerfile from -f needs a context directory, not \"-\"");
        }
        return Ok((None, read_stdin()?, None));
    }
    let dir = std::path::absolute(&args.context)?;
    if !dir.is_dir() {
        bail!(
            "unable to prepare context: path {:?} not found",
            args.context
        );
    }
    let path = match args.file.as_deref() {
        Some("-") => return Ok((Some(dir), read_stdin()?, None)),
        Some(f) => std::path::absolute(f)?,
        None => {
            let upper = dir.join("Dockerfile");
            let lower = dir.join("dockerfile");
            if !upper.exists() && lower.exists() {
                lower
            } else {
                upper
            }
        }
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        anyhow::anyhow!(
            "unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {}: {e}",
            path.display()
        )
    })?;
    Ok((Some(dir), text, Some(path)))
}

/// Sets `flag` on SIGINT, SIGTERM and SIGHUP while the build runs.
struct Interrupts(Vec<signal_hook::SigId>);

impl Interrupts {
    fn catch(flag: &Arc<AtomicBool>) -> Result<Self> {
        let mut ids = Vec::new();
        for sig in [
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGHUP,
        ] {
            ids.push(signal_hook::flag::register(sig, flag.clone()).context("catching signals")?);
        }
        Ok(Interrupts(ids))
    }
}

impl Drop for Interrupts {
    fn drop(&mut self) {
        for id in self.0.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

pub(crate) fn build(ctx: &Ctx, args: &BuildArgs) -> Result<()> {
    let (context, dockerfile, dockerfile_path) = sources(args)?;
    let cancel = Arc::new(AtomicBool::new(false));
    let _interrupts = Interrupts::catch(&cancel)?;
    let network = match args.network.as_str() {
        "default" | "bridge" => None,
        n => Some(n.to_owned()),
    };
    let opts = BuildOptions {
        context,
        dockerfile,
        dockerfile_path,
        tags: args.tag.clone(),
        build_args: pairs(&args.build_arg, true),
        target: args.target.clone(),
        no_cache: args.no_cache,
        pull: args.pull,
        labels: pairs(&args.label, false),
        platform: args.platform.clone(),
        network,
        cgroup_parent: args.cgroup_parent.clone(),
        cancel: Some(cancel),
    };
    let printer = Printer {
        quiet: args.quiet,
        buffer: Mutex::new(Vec::new()),
    };
    let progress = Progress::new(args.quiet);
    let built = match ctx.engine.build(&opts, &printer, &progress) {
        Ok(b) => b,
        Err(e) => {
            if args.quiet {
                let buf = printer.buffer.lock().unwrap_or_else(|p| p.into_inner());
                let _ = std::io::stderr().write_all(&buf);
            }
            // docker prints a failed step's message as it is and exits with its status.
            if let engine::Error::StepFailed { .. } = e.root() {
                let _ = std::io::stdout().flush();
                eprintln!("{}", e.root());
                return Err(Status(e.exit_code()).into());
            }
            return Err(e.into());
        }
    };
    if let Some(file) = &args.iidfile {
        std::fs::write(Path::new(file), built.image.id.to_string())
            .with_context(|| format!("writing the image ID to {file}"))?;
    }
    if args.quiet {
        println!("{}", built.image.id);
        return Ok(());
    }
    println!("Successfully built {}", built.image.short_id());
    for t in &built.tags {
        println!("Successfully tagged {t}");
    }
    Ok(())
}
