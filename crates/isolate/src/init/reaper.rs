//! `--init`: a tiny reaping init as PID 1 (what docker does with tini).
//!
//! The init forks: the child becomes the user's command (in its own process group, the
//! terminal's foreground group when there is one); PID 1 stays our binary, forwards
//! every signal it receives to the child, reaps every zombie reparented to it, and exits
//! with the child's status (128+N when the child was killed by signal N).

use std::convert::Infallible;

use super::Abort;
use super::process::Command;
use crate::channel::InitChannel;
use crate::error::{InitFailure, Stage};
use crate::sys::{self, Forked};

pub(super) fn run(
    ch: &InitChannel,
    command: &Command,
    terminal: bool,
) -> Result<Infallible, Abort> {
    // Signals are still blocked here (since the start of init): nothing sent to PID 1 is
    // lost between the fork and the loop below.
    // The child waits on this pipe until PID 1 has closed every descriptor above 2
    // (EOF), so that nothing of ours is visible in /proc/1/fd once the command runs.
    let (sync_r, sync_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| InitFailure::os(Stage::Reaper, "pipe", &e.into()))?;
    match sys::fork(false).map_err(|e| InitFailure::os(Stage::Reaper, "fork", &e))? {
        Forked::Child => {
            drop(sync_w);
            let mut byte = [0u8; 1];
            while let Err(rustix::io::Errno::INTR) = rustix::io::read(&sync_r, &mut byte) {}
            drop(sync_r);
            let _ = rustix::process::setpgid(None, None);
            if terminal {
                // SIGTTOU is blocked, so a background group may take the terminal.
                let _ =
                    rustix::termios::tcsetpgrp(rustix::stdio::stdin(), rustix::process::getpgrp());
            }
            sys::reset_signals();
            Err(Abort::Exec(command.exec()))
        }
        Forked::Parent(child) => {
            // The child reports its own exec outcome; our copy of the channel must close
            // so that the runtime sees EOF once the command has started.
            // Nor may PID 1 keep any other descriptor (the root directory...) that the
            // container could reach through /proc/1/fd.
            sys::close_channel_forever(ch);
            sys::close_all_forever();
            reap(child)
        }
    }
}

fn reap(child: i32) -> ! {
    loop {
        let sig = match sys::wait_any_signal() {
            Ok(s) => s,
            Err(_) => continue,
        };
        if sig != libc::SIGCHLD {
            let _ = sys::kill(child, sig);
            continue;
        }
        // Reap everything that is dead; stop when the main child is among them.
        loop {
            match rustix::process::wait(rustix::process::WaitOptions::NOHANG) {
                Ok(Some((pid, status))) => {
                    if pid.as_raw_nonzero().get() == child {
                        let code = if let Some(c) = status.exit_status() {
                            c
                        } else if let Some(s) = status.terminating_signal() {
                            128 + s
                        } else {
                            continue;
                        };
                        sys::exit_now(code);
                    }
                }
                Ok(None) => break,
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => break,
            }
        }
    }
}
