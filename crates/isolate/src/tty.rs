//! Parent side of `-t`: raw mode on the host terminal and the proxy between it and the
//! container's pty master.

use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::thread::JoinHandle;

use rustix::event::{PollFd, PollFlags};
use rustix::termios::{OptionalActions, Termios};

/// Puts a terminal in raw mode and restores its previous mode when dropped (also when
/// the caller returns early with an error).
#[derive(Debug)]
pub struct RawModeGuard {
    fd: OwnedFd,
    saved: Termios,
}

impl RawModeGuard {
    /// Switch `fd` to raw mode; `Ok(None)` when it is not a terminal.
    pub fn enter(fd: impl AsFd) -> io::Result<Option<Self>> {
        if !rustix::termios::isatty(&fd) {
            return Ok(None);
        }
        let fd = fd.as_fd().try_clone_to_owned()?;
        let saved = rustix::termios::tcgetattr(&fd)?;
        let mut raw = saved.clone();
        raw.make_raw();
        rustix::termios::tcsetattr(&fd, OptionalActions::Now, &raw)?;
        Ok(Some(Self { fd, saved }))
    }
}

impl Drop for RawModeGuard {
    fn drop(&mut self) {
        let _ = rustix::termios::tcsetattr(&self.fd, OptionalActions::Now, &self.saved);
    }
}

/// Copy the window size of terminal `from` to `to`.
pub(crate) fn copy_window_size(from: impl AsFd, to: impl AsFd) -> io::Result<()> {
    let ws = rustix::termios::tcgetwinsize(from)?;
    rustix::termios::tcsetwinsize(to, ws)?;
    Ok(())
}

/// Proxies between the host's terminal and the container's pty master on a thread:
/// input to the master, the master's output to the host's output, the window size now
/// and on every SIGWINCH. The host terminal is in raw mode while the proxy lives.
///
/// The copying ends by itself when the container's side of the pty is closed (its
/// processes exited); [`PtyProxy::wait`] waits for that, dropping the proxy stops it.
#[derive(Debug)]
pub struct PtyProxy {
    stop: Option<UnixStream>,
    thread: Option<JoinHandle<io::Result<()>>>,
    winch: Option<signal_hook::SigId>,
    _raw: Option<RawModeGuard>,
}

impl PtyProxy {
    /// Proxy between this process's stdin/stdout and `master`.
    pub fn start(master: OwnedFd) -> io::Result<Self> {
        let input = rustix::stdio::stdin().try_clone_to_owned()?;
        let output = rustix::stdio::stdout().try_clone_to_owned()?;
        Self::start_with(master, input, output)
    }

    /// Proxy between `input`/`output` and `master`. When `input` is a terminal it is put
    /// in raw mode; the window size is taken from whichever of `input`/`output` is a
    /// terminal.
    pub fn start_with(master: OwnedFd, input: OwnedFd, output: OwnedFd) -> io::Result<Self> {
        let raw = RawModeGuard::enter(&input)?;
        let size_from = if rustix::termios::isatty(&input) {
            Some(input.try_clone()?)
        } else if rustix::termios::isatty(&output) {
            Some(output.try_clone()?)
        } else {
            None
        };
        let (winch_r, winch_w) = UnixStream::pair()?;
        winch_w.set_nonblocking(true)?;
        winch_r.set_nonblocking(true)?;
        let winch = if size_from.is_some() {
            Some(signal_hook::low_level::pipe::register(
                libc::SIGWINCH,
                winch_w,
            )?)
        } else {
            None
        };
        if let Some(from) = &size_from {
            copy_window_size(from, &master)?;
        }
        let (stop_r, stop_w) = UnixStream::pair()?;
        let thread = std::thread::Builder::new()
            .name("pty-proxy".into())
            .spawn(move || {
                copy_loop(
                    &master,
                    &input,
                    &output,
                    size_from.as_ref(),
                    &winch_r,
                    &stop_r,
                )
            })?;
        Ok(Self {
            stop: Some(stop_w),
            thread: Some(thread),
            winch,
            _raw: raw,
        })
    }

    /// Wait until the container's side of the pty is closed and everything it wrote was
    /// copied.
    pub fn wait(mut self) -> io::Result<()> {
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| io::Error::other("pty proxy thread panicked"))?,
            None => Ok(()),
        }
    }
}

impl Drop for PtyProxy {
    fn drop(&mut self) {
        if let Some(id) = self.winch.take() {
            signal_hook::low_level::unregister(id);
        }
        if let Some(t) = self.thread.take() {
            drop(self.stop.take());
            let _ = t.join();
        }
        // `_raw` restores the terminal after this.
    }
}

fn copy_loop(
    master: &OwnedFd,
    input: &OwnedFd,
    output: &OwnedFd,
    size_from: Option<&OwnedFd>,
    winch: &UnixStream,
    stop: &UnixStream,
) -> io::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    let mut input_open = true;
    let mut out = std::fs::File::from(output.try_clone()?);
    loop {
        let in_fd: BorrowedFd<'_> = input.as_fd();
        let mut fds = vec![
            PollFd::new(master, PollFlags::IN),
            PollFd::new(winch, PollFlags::IN),
            PollFd::new(stop, PollFlags::IN),
        ];
        if input_open {
            fds.push(PollFd::from_borrowed_fd(in_fd, PollFlags::IN));
        }
        match rustix::event::poll(&mut fds, None) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
        let master_ev = fds[0].revents();
        let winch_ev = fds[1].revents();
        let stop_ev = fds[2].revents();
        let in_ev = if input_open {
            fds[3].revents()
        } else {
            PollFlags::empty()
        };
        drop(fds);

        if master_ev.intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR) {
            match rustix::io::read(master, &mut buf) {
                Ok(0) | Err(rustix::io::Errno::IO) => return Ok(()),
                Ok(n) => {
                    out.write_all(&buf[..n])?;
                    out.flush()?;
                }
                Err(rustix::io::Errno::INTR) | Err(rustix::io::Errno::AGAIN) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if !stop_ev.is_empty() {
            return Ok(());
        }
        if !winch_ev.is_empty() {
            let mut sink = [0u8; 64];
            while matches!(rustix::io::read(winch, &mut sink), Ok(n) if n > 0) {}
            if let Some(from) = size_from {
                let _ = copy_window_size(from, master);
            }
        }
        if in_ev.contains(PollFlags::IN) {
            match rustix::io::read(input, &mut buf) {
                Ok(0) => input_open = false,
                Ok(n) => write_all_fd(master, &buf[..n])?,
                Err(rustix::io::Errno::INTR) | Err(rustix::io::Errno::AGAIN) => {}
                Err(_) => input_open = false,
            }
        } else if in_ev.intersects(PollFlags::HUP | PollFlags::ERR | PollFlags::NVAL) {
            input_open = false;
        }
    }
}

fn write_all_fd(fd: &OwnedFd, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match rustix::io::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
