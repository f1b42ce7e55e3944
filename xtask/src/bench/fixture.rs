//! The fixture registry (test-support's `fixture-registry` binary) as a child process: it
//! prints one image reference per line, then `REGISTRY=127.0.0.1:PORT`, and runs until
//! its stdin reaches EOF.

use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// A running fixture registry; stopped (registry and its directory removed) on drop.
pub(crate) struct FixtureRegistry {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    host: String,
    images: Vec<String>,
}

impl FixtureRegistry {
    /// Starts `bin` with `args` and waits until every image is pushed.
    pub(crate) fn start(bin: &Path, args: &[&str]) -> Result<FixtureRegistry> {
        eprintln!("xtask: $ {} {}", bin.display(), args.join(" "));
        let mut child = Command::new(bin)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut reg = FixtureRegistry {
            stdin: child.stdin.take(),
            child: None,
            host: String::new(),
            images: Vec::new(),
        };
        let stdout = child.stdout.take();
        reg.child = Some(child);
        let Some(stdout) = stdout else {
            bail!("no stdout from the fixture registry");
        };
        for line in BufReader::new(stdout).lines() {
            let line = line.context("reading the fixture registry's output")?;
            if let Some(host) = line.strip_prefix("REGISTRY=") {
                reg.host = host.trim().to_owned();
                return Ok(reg);
            }
            reg.images.push(line.trim().to_owned());
        }
        // Dropping `reg` stops the child.
        bail!("the fixture registry ended before printing REGISTRY=");
    }

    /// `127.0.0.1:PORT`.
    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    /// The printed reference of the image whose repository is `name`.
    pub(crate) fn image(&self, name: &str) -> Option<&str> {
        self.images
            .iter()
            .find(|r| {
                r.split_once('/')
                    .map(|(_, path)| path.split([':', '@']).next() == Some(name))
                    .unwrap_or(false)
            })
            .map(String::as_str)
    }

    /// Every printed reference.
    pub(crate) fn images(&self) -> &[String] {
        &self.images
    }

    /// Closes its stdin and waits (bounded) for it to stop its registry and remove its
    /// directory; kills it (our own child) if it does not.
    pub(crate) fn stop(&mut self) {
        drop(self.stdin.take());
        let Some(mut child) = self.child.take() else {
            return;
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        eprintln!("xtask: the fixture registry did not stop in 30 s; killing it");
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for FixtureRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}
