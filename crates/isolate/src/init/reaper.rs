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
    match sys::fork(false).map_err(|e| InitFailure::os(Stage::Reaper, "fork", &e))? {
        Forked::Child => {
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
            sys::close_channel_forever(ch);
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
            match rustix::process::waitpid(None, rustix::process::WaitOptions::NOHANG) {
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
