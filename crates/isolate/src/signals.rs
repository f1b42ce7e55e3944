//! Forwarding the signals a foreground `mydocker run` receives to the container.

use std::io;
use std::os::fd::OwnedFd;
use std::thread::JoinHandle;

use rustix::process::{Pid, PidfdFlags, Signal};
use signal_hook::iterator::{Handle, Signals};

/// While alive, forwards SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 received
/// by this process to the container's PID 1 (docker's `--sig-proxy`).
///
/// The target is held as a pidfd, so a signal can never reach a recycled pid after the
/// container was reaped. (SIGWINCH is the [`PtyProxy`](crate::PtyProxy)'s.) Dropping the
/// forwarder stops it; the signals stay caught (and ignored) afterwards, as
/// `signal-hook` cannot restore default dispositions.
#[derive(Debug)]
pub struct SignalForwarder {
    handle: Handle,
    thread: Option<JoinHandle<()>>,
}

impl SignalForwarder {
    /// The forwarded signals.
    pub const SIGNALS: [i32; 6] = [
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
    ];

    /// Start forwarding to `pid`.
    pub fn start(pid: i32) -> io::Result<Self> {
        let pid = Pid::from_raw(pid).ok_or(io::ErrorKind::InvalidInput)?;
        let pidfd: OwnedFd = rustix::process::pidfd_open(pid, PidfdFlags::empty())?;
        let mut signals = Signals::new(Self::SIGNALS)?;
        let handle = signals.handle();
        let thread = std::thread::Builder::new()
            .name("signal-forwarder".into())
            .spawn(move || {
                for sig in signals.forever() {
                    if let Some(s) = Signal::from_named_raw(sig) {
                        // The container may already be gone: nothing to do then.
                        let _ = rustix::process::pidfd_send_signal(&pidfd, s);
                    }
                }
            })?;
        Ok(Self {
            handle,
            thread: Some(thread),
        })
    }
}

impl Drop for SignalForwarder {
    fn drop(&mut self) {
        self.handle.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
