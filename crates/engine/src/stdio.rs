//! Moving a container's standard streams: the [`Copier`] of its output into its log (and
//! to the caller's descriptors for an attached container), and the [`StdinPump`] of the
//! caller's input into its stdin pipe. The container only ever holds pipes (or its own
//! pty): never a descriptor of the caller's.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags};
use rustix::fs::{Mode, OFlags};

use crate::error::{Error, Result};
use crate::logs::{LogWriter, Stream};

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| Error::os("pipe", e))
}

/// Where the copier also writes a container's output (an attached container).
#[derive(Debug)]
pub(crate) struct Tee {
    pub(crate) stdout: File,
    pub(crate) stderr: File,
}

/// Copies a container's output into its log (and to a [`Tee`]) on a thread.
#[derive(Debug)]
pub(crate) struct Copier {
    thread: Option<JoinHandle<()>>,
    done: std::sync::mpsc::Receiver<()>,
    stop: Option<OwnedFd>,
}

impl Copier {
    /// Starts copying from `sources` until each reaches its end.
    pub(crate) fn start(
        sources: Vec<(OwnedFd, Stream)>,
        log: Option<LogWriter>,
        tee: Option<Tee>,
    ) -> Result<Self> {
        let (stop_r, stop_w) = pipe()?;
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("log-copier".into())
            .spawn(move || {
                copy_loop(sources, log, tee, &stop_r);
                let _ = tx.send(());
            })
            .map_err(|e| Error::os("starting the output copier", e))?;
        Ok(Copier {
            thread: Some(thread),
            done: rx,
            stop: Some(stop_w),
        })
    }

    /// Waits until every source ended, or `grace` at most, then stops.
    pub(crate) fn finish(mut self, grace: Duration) {
        let _ = self.done.recv_timeout(grace);
        self.stop_now();
    }

    fn stop_now(&mut self) {
        drop(self.stop.take()); // the thread sees the stop pipe's EOF
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Copier {
    fn drop(&mut self) {
        self.stop_now();
    }
}

fn copy_loop(
    mut sources: Vec<(OwnedFd, Stream)>,
    mut log: Option<LogWriter>,
    mut tee: Option<Tee>,
    stop: &OwnedFd,
) {
    let mut buf = vec![0u8; 32 * 1024];
    while !sources.is_empty() {
        let mut fds: Vec<PollFd<'_>> = sources
            .iter()
            .map(|(fd, _)| PollFd::new(fd, PollFlags::IN))
            .collect();
        fds.push(PollFd::new(stop, PollFlags::IN));
        match rustix::event::poll(&mut fds, None) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => break,
        }
        let ready: Vec<bool> = fds.iter().map(|f| !f.revents().is_empty()).collect();
        drop(fds);
        let stopping = ready[sources.len()];
        let mut closed = Vec::new();
        for (i, (fd, stream)) in sources.iter().enumerate() {
            if !ready[i] {
                continue;
            }
            match rustix::io::read(fd, &mut buf) {
                Ok(0) | Err(rustix::io::Errno::IO) => closed.push(i),
                Ok(n) => {
                    if let Some(log) = &mut log {
                        let _ = log.write(*stream, &buf[..n]);
                    }
                    // The caller's output is gone (`run ... | head -1`): close the stream
                    // so the container's writes fail, as they would on the closed pipe.
                    if let Some(t) = &mut tee
                        && !tee_out(t, *stream, &buf[..n])
                    {
                        closed.push(i);
                    }
                }
                Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => {}
                Err(_) => closed.push(i),
            }
        }
        for i in closed.into_iter().rev() {
            sources.remove(i);
        }
        if stopping {
            break;
        }
    }
    if let Some(log) = &mut log {
        let _ = log.flush_partial();
    }
}

/// Writes to the caller's stdout or stderr; false once that fails.
fn tee_out(tee: &mut Tee, stream: Stream, data: &[u8]) -> bool {
    let out = match stream {
        Stream::Stdout => &mut tee.stdout,
        Stream::Stderr => &mut tee.stderr,
    };
    out.write_all(data).and_then(|()| out.flush()).is_ok()
}

/// Copies the caller's input into the pipe of a container's stdin (`-i` without `-t`) on
/// a thread, so the container never holds the caller's descriptor (a terminal or a file of
/// the user's). EOF on the input closes the pipe; so does [`StdinPump::stop`].
#[derive(Debug)]
pub(crate) struct StdinPump {
    thread: Option<JoinHandle<()>>,
    stop: Option<OwnedFd>,
}

impl StdinPump {
    /// Starts copying `input` into `pipe`.
    pub(crate) fn start(input: OwnedFd, pipe: File) -> Result<Self> {
        let (stop_r, stop_w) = self::pipe()?;
        let thread = std::thread::Builder::new()
            .name("stdin-pump".into())
            .spawn(move || pump(&input, OwnedFd::from(pipe), &stop_r))
            .map_err(|e| Error::os("starting the input pump", e))?;
        Ok(StdinPump {
            thread: Some(thread),
            stop: Some(stop_w),
        })
    }

    /// Whether the copy ended (EOF on the input, or the pipe closed).
    fn finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Stops copying (the container ended) and closes the pipe.
    pub(crate) fn stop(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for StdinPump {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// Waits until `fd` is ready for `events` or `stop` is closed; false when stopping.
fn ready_or_stop(fd: impl AsFd, events: PollFlags, stop: &OwnedFd) -> bool {
    loop {
        let mut fds = [PollFd::new(&fd, events), PollFd::new(stop, PollFlags::IN)];
        match rustix::event::poll(&mut fds, None) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return false,
        }
        return fds[1].revents().is_empty();
    }
}

fn pump(input: &OwnedFd, pipe: OwnedFd, stop: &OwnedFd) {
    let mut buf = vec![0u8; 32 * 1024];
    // Writes wait in poll, so a container that never reads cannot block the stop.
    let _ = rustix::fs::fcntl_setfl(&pipe, rustix::fs::OFlags::NONBLOCK);
    while ready_or_stop(input, PollFlags::IN, stop) {
        let n = match rustix::io::read(input, &mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => continue,
            Err(_) => return,
        };
        let mut data = &buf[..n];
        while !data.is_empty() {
            if !ready_or_stop(&pipe, PollFlags::OUT, stop) {
                return;
            }
            match rustix::io::write(&pipe, data) {
                Ok(k) => data = &data[k..],
                Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => {}
                // The container closed its stdin.
                Err(_) => return,
            }
        }
    }
}

/// The name of the socket through which `attach` feeds a detached `-i` container's
/// input, in the container's directory.
pub(crate) const INPUT_SOCKET: &str = "attach.sock";

/// A path to `name` in `dir` short enough for a socket address whatever `dir`'s length
/// (through `/proc/self/fd`); valid while `dir_fd` is open.
fn short_path(dir_fd: &OwnedFd, name: &str) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}/{name}", dir_fd.as_raw_fd()))
}

fn open_dir(dir: &Path) -> Result<OwnedFd> {
    rustix::fs::open(
        dir,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io("opening", dir, e.into()))
}

/// Serves `attach` clients of a detached container started with `-i`: what each client
/// sends through the socket [`INPUT_SOCKET`] in the container's directory is copied into
/// the container's input (its stdin pipe or its pty). A client's EOF ends its own copy
/// only: the container's stdin stays open, as docker's for a container not attached at
/// its start. Stopping (the container ended) closes the input and removes the socket.
#[derive(Debug)]
pub(crate) struct InputServer {
    thread: Option<JoinHandle<()>>,
    stop: Option<OwnedFd>,
    socket: PathBuf,
}

impl InputServer {
    /// Listens in container directory `dir` and copies into `input`.
    pub(crate) fn start(dir: &Path, input: OwnedFd) -> Result<Self> {
        let dir_fd = open_dir(dir)?;
        let socket = dir.join(INPUT_SOCKET);
        let at = short_path(&dir_fd, INPUT_SOCKET);
        // One left by a monitor that was killed.
        let _ = std::fs::remove_file(&socket);
        let listener =
            UnixListener::bind(&at).map_err(|e| Error::io("listening on", &socket, e))?;
        // Only root (the owner) may type into the container.
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::io("restricting", &socket, e))?;
        let (stop_r, stop_w) = pipe()?;
        let thread = std::thread::Builder::new()
            .name("attach-input".into())
            .spawn(move || serve(&listener, &input, &stop_r))
            .map_err(|e| Error::os("starting the attach input server", e))?;
        Ok(InputServer {
            thread: Some(thread),
            stop: Some(stop_w),
            socket,
        })
    }

    fn stop_now(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
            let _ = std::fs::remove_file(&self.socket);
        }
    }
}

impl Drop for InputServer {
    fn drop(&mut self) {
        self.stop_now();
    }
}

fn serve(listener: &UnixListener, input: &OwnedFd, stop: &OwnedFd) {
    let mut pumps: Vec<StdinPump> = Vec::new();
    while ready_or_stop(listener.as_fd(), PollFlags::IN, stop) {
        let Ok((conn, _)) = listener.accept() else {
            continue;
        };
        pumps.retain(|p| !p.finished());
        // Each client's copy writes into its own duplicate: its EOF closes only that.
        let Ok(copy) = input.try_clone() else {
            continue;
        };
        if let Ok(p) = StdinPump::start(OwnedFd::from(conn), File::from(copy)) {
            pumps.push(p);
        }
    }
    // Dropping the pumps stops them.
}

/// Connects to the input of the detached `-i` container whose directory is `dir`.
pub(crate) fn connect_input(dir: &Path) -> std::io::Result<UnixStream> {
    let dir_fd = open_dir(dir).map_err(|_| std::io::Error::from(std::io::ErrorKind::NotFound))?;
    UnixStream::connect(short_path(&dir_fd, INPUT_SOCKET))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn the_pump_copies_until_eof_and_the_copier_tees_and_logs() {
        let (in_r, in_w) = pipe().unwrap();
        let (c_r, c_w) = pipe().unwrap();
        let pump = StdinPump::start(in_r, File::from(c_w)).unwrap();
        File::from(in_w).write_all(b"hello\n").unwrap(); // then EOF: the pump closes
        let mut got = String::new();
        File::from(c_r).read_to_string(&mut got).unwrap();
        assert_eq!(got, "hello\n");
        pump.stop();

        let dir = tempfile::tempdir().unwrap();
        let log = LogWriter::open(&dir.path().join("log"), Default::default()).unwrap();
        let (src_r, src_w) = pipe().unwrap();
        let (out_r, out_w) = pipe().unwrap();
        let tee = Tee {
            stdout: File::from(out_w),
            stderr: File::options().write(true).open("/dev/null").unwrap(),
        };
        let copier = Copier::start(vec![(src_r, Stream::Stdout)], Some(log), Some(tee)).unwrap();
        File::from(src_w).write_all(b"out\n").unwrap();
        copier.finish(Duration::from_secs(10));
        let mut teed = String::new();
        File::from(out_r).read_to_string(&mut teed).unwrap();
        assert_eq!(teed, "out\n");
        let logged = std::fs::read_to_string(dir.path().join("log")).unwrap();
        assert!(logged.contains("\"log\":\"out\\n\""), "{logged}");
    }
}
