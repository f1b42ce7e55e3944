//! `attach` to a container started detached: its output as it is written (from the
//! json-file log the monitor keeps, from its current end), until the container ends or
//! the caller detaches, and then its exit code; with `-i`, a connection to its input
//! (served by its monitor).

use std::os::unix::net::UnixStream;

use crate::config::Engine;
use crate::error::{Error, Result, invalid};
use crate::logs::{Entry, ReadOpts, current_len, follow};
use crate::record::Status;

/// How an attach ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attached {
    /// The container ended with this exit code.
    Exited(i32),
    /// The caller detached; the container goes on.
    Detached,
}

impl Engine {
    /// Follows the output of running container `name`, giving each entry to `sink`;
    /// `tick` is called between polls with the container's ID and returns `true` to
    /// detach (it can also forward signals).
    ///
    /// # Errors
    /// No such container, a stopped or paused one (docker's messages), a container
    /// without a log (`--log-driver none`), an unreadable log.
    pub fn attach_output(
        &self,
        name: &str,
        tick: &mut dyn FnMut(&str) -> bool,
        sink: &mut dyn FnMut(&Entry) -> std::io::Result<()>,
    ) -> Result<Attached> {
        let rec = crate::recovery::lookup(self, name)?;
        match rec.state.status {
            Status::Running => {}
            Status::Paused => {
                return Err(Error::State(
                    "You cannot attach to a paused container, unpause it first".into(),
                ));
            }
            _ => {
                return Err(Error::State(
                    "You cannot attach to a stopped container, start it first".into(),
                ));
            }
        }
        if rec.log_driver == "none" {
            invalid!("configured logging driver does not support reading");
        }
        let path = self.log_path(&rec.id);
        let containers = crate::containers::Containers::new(&self.config.root);
        let mut detached = false;
        let mut done = || {
            if tick(&rec.id) {
                detached = true;
                return true;
            }
            match containers.load(&rec.id) {
                Ok(r) => match crate::recovery::refresh(self, r) {
                    Ok(Some(r)) => !r.is_active(),
                    _ => true,
                },
                Err(_) => true,
            }
        };
        match follow(
            &path,
            current_len(&path),
            &ReadOpts::default(),
            &mut done,
            sink,
        ) {
            // The sink failed: its reader went away, as a detach.
            Err(Error::Os { .. }) => return Ok(Attached::Detached),
            r => r?,
        }
        if detached {
            return Ok(Attached::Detached);
        }
        Ok(Attached::Exited(self.wait(&rec.id)?))
    }
}

impl Engine {
    /// A connection to the input of running container `name` (started detached with
    /// `-i`): what is written to it reaches the container's stdin (or its terminal with
    /// `-t`); shutting it down ends this attacher's input only. `None` for a container
    /// without `-i` (docker then attaches no input).
    ///
    /// # Errors
    /// No such container, or its input cannot be reached (it is not running under a
    /// monitor, as a foreground `run` whose caller holds its input).
    pub fn attach_input(&self, name: &str) -> Result<Option<UnixStream>> {
        let rec = crate::recovery::lookup(self, name)?;
        // A stopped one: `attach_output` says so in docker's words.
        if !rec.open_stdin || rec.state.status != Status::Running {
            return Ok(None);
        }
        let dir = crate::containers::Containers::new(&self.config.root).dir(&rec.id);
        crate::stdio::connect_input(&dir).map(Some).map_err(|e| {
            Error::State(format!(
                "cannot attach to the input of container {name}: {e}"
            ))
        })
    }
}
