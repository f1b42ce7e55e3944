//! The per-container monitor, and what happens when one dies.
//!
//! A detached container (`run -d`, `start`) is owned by a small monitor process: this
//! binary re-executed as `mydocker [global options] monitor <id>`. It starts a session of
//! its own (`setsid`: no controlling terminal, so the terminal's SIGHUP/SIGINT never reach
//! it), calls [`launch::start`] with pipes (or the pty of `-t`), copies the container's
//! output into `ROOT/containers/<id>/<id>-json.log` ([`LogWriter`]), waits for the init,
//! checks for an OOM kill and calls [`launch::finish`] (which releases the runtime
//! resources and removes `--rm` containers).
//!
//! The starting command ([`start_detached`]) reads the monitor's stdout and stderr through
//! one pipe until the monitor's handshake line says whether the container really started
//! (warnings printed before it are passed on); it never waits for the monitor, which the
//! kernel reparents when the starter exits.
//!
//! A foreground `run` (and `start -a`) is its own container's monitor: it records its own
//! PID as `monitor_pid`.
//!
//! # When a monitor dies
//!
//! A record says `running` while its monitor (or foreground `run`) lives. If the monitor
//! is gone (killed, host rebooted: its PID is gone or reused, told apart by the start time),
//! nobody can collect the container's output, exit code or `--rm` any more, so the next
//! command that looks at the container ([`refresh`]) ends it: it kills what is left in the
//! container's cgroup, records it as exited (137 when it had to kill the init, 255 when the
//! exit status is unknown, as docker reports containers lost in a crash), releases its
//! network attachments, cgroup and mount, and removes `--rm` containers.

use crate::cmd::run::start_failure_code;
use crate::container::{self, Containers, Record, Status};
use crate::ctx::Ctx;
use crate::launch::{self, StartIo};
use crate::logs::{LogOpts, LogWriter, Stream};
use anyhow::{Context, Result, anyhow};
use rustix::event::{PollFd, PollFlags};
use rustix::process::{Pid, PidfdFlags, Signal};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Prefix of the monitor's handshake line on its stdout.
const HANDSHAKE: &str = "\u{1}mydocker-monitor ";

/// How long the output copier may keep reading after the init exited (the PID namespace
/// ends every other process of the container, so this is a safety net only).
const DRAIN_GRACE: Duration = Duration::from_secs(3);

/// The json-file log of a container.
pub(crate) fn log_path(ctx: &Ctx, id: &str) -> PathBuf {
    Containers::new(&ctx.root)
        .dir(id)
        .join(format!("{id}-json.log"))
}

/// Checks `--log-driver` and `--log-opt` before a container is created.
pub(crate) fn check_log_flags(driver: &str, opts: &[String]) -> Result<()> {
    match driver {
        "json-file" | "" => LogOpts::parse(opts).map(|_| ()),
        "none" => Ok(()),
        other => Err(anyhow!(
            "logging driver {other:?} is not supported: use json-file or none"
        )),
    }
}

/// The container's log writer; `None` with `--log-driver none`.
pub(crate) fn open_log(ctx: &Ctx, rec: &Record) -> Result<Option<LogWriter>> {
    if rec.log_driver == "none" {
        return Ok(None);
    }
    let opts = LogOpts::parse(&rec.log_opts)?;
    Ok(Some(LogWriter::open(&log_path(ctx, &rec.id), opts)?))
}

/// What the monitor reports to the command that started it.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub(crate) enum Handshake {
    /// The container's command runs.
    Started,
    /// Another monitor already runs it (a concurrent `start`).
    AlreadyRunning,
    /// It could not start: docker's exit code (125/126/127) and the reason.
    Failed { code: u8, error: String },
}

/// The global options to give a re-executed `mydocker`, so it acts on the same state.
fn global_args(ctx: &Ctx) -> Vec<std::ffi::OsString> {
    use clap::ValueEnum;
    let mut a: Vec<std::ffi::OsString> = vec![
        "--root".into(),
        ctx.root.clone().into(),
        "--run-root".into(),
        ctx.run_root.clone().into(),
    ];
    if let Some(level) = ctx.log_level.to_possible_value() {
        a.push("--log-level".into());
        a.push(level.get_name().into());
    }
    let mut opt = |flag: &str, v: &Option<String>| {
        if let Some(v) = v {
            a.push(flag.into());
            a.push(v.into());
        }
    };
    opt("--storage-driver", &ctx.storage_driver);
    opt("--default-bridge", &ctx.net.default_bridge);
    opt("--default-subnet", &ctx.net.default_subnet);
    opt("--nft-table", &ctx.net.nft_table);
    opt("--bridge-prefix", &ctx.net.bridge_prefix);
    a
}

/// Starts the monitor of container `id` and waits until it says whether the container
/// runs. Lines the monitor prints before (warnings) go to our stderr.
pub(crate) fn start_detached(ctx: &Ctx, id: &str) -> Result<Handshake> {
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .context("creating the monitor's pipe")?;
    let mut cmd = std::process::Command::new("/proc/self/exe");
    {
        use std::os::unix::process::CommandExt;
        cmd.arg0("mydocker");
    }
    cmd.args(global_args(ctx))
        .arg("monitor")
        .arg(id)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::from(write.try_clone()?))
        .stderr(std::process::Stdio::from(write));
    let mut child = cmd.spawn().context("starting the container's monitor")?;
    drop(cmd); // our copies of the pipe's write end: EOF once the monitor closes its own
    let reader = BufReader::new(std::fs::File::from(read));
    for line in reader.lines() {
        let line = line.context("reading from the container's monitor")?;
        if let Some(msg) = line.strip_prefix(HANDSHAKE) {
            let h: Handshake = serde_json::from_str(msg)
                .with_context(|| format!("the monitor's handshake is not valid: {msg:?}"))?;
            if matches!(h, Handshake::Failed { .. }) {
                let _ = child.wait(); // it exits right after saying so
            } else {
                let _ = child.try_wait();
            }
            return Ok(h);
        }
        eprintln!("{line}");
    }
    let status = child.wait().ok();
    // The monitor died before saying anything: undo whatever its start left behind.
    let containers = Containers::new(&ctx.root);
    if let Ok(_lock) = containers.lock(id)
        && let Ok(mut rec) = containers.load(id)
    {
        if is_active(&rec) && !owner_alive(&rec) {
            let _ = recover_locked(ctx, &mut rec);
        } else if !is_active(&rec) {
            launch::release(ctx, &rec);
        }
    }
    Ok(Handshake::Failed {
        code: crate::cmd::run::EXIT_MYDOCKER,
        error: format!(
            "the container's monitor exited before the container started ({})",
            status.map_or_else(|| "unknown status".to_owned(), |s| s.to_string())
        ),
    })
}

fn say(h: &Handshake) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{HANDSHAKE}{}",
        serde_json::to_string(h).unwrap_or_default()
    );
    let _ = out.flush();
}

/// The monitor process: `mydocker monitor <id>`.
pub(crate) fn run(ctx: &Ctx, id: &str) -> Result<()> {
    // A session of our own: no controlling terminal. (Fails only for a group leader,
    // which a freshly spawned child is not.)
    let _ = rustix::process::setsid();
    // Handled (not ignored) so the container's init, which resets its signals, starts
    // with default dispositions anyway.
    let ignored = Arc::new(AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGHUP,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGQUIT,
    ] {
        let _ = signal_hook::flag::register(sig, Arc::clone(&ignored));
    }
    let me = std::process::id();
    let me_start = container::process_start(me).unwrap_or(0);
    let containers = Containers::new(&ctx.root);
    let lock = match containers.lock(id) {
        Ok(l) => l,
        Err(e) => {
            say(&Handshake::Failed {
                code: crate::cmd::run::EXIT_MYDOCKER,
                error: format!("No such container: {id} ({e:#})"),
            });
            return Ok(());
        }
    };
    let mut rec = match containers.load(id) {
        Ok(r) => r,
        Err(e) => {
            say(&Handshake::Failed {
                code: crate::cmd::run::EXIT_MYDOCKER,
                error: format!("{e:#}"),
            });
            return Ok(());
        }
    };
    if is_active(&rec) {
        if owner_alive(&rec) {
            say(&Handshake::AlreadyRunning);
            return Ok(());
        }
        recover_locked(ctx, &mut rec)?;
    }
    let log = match open_log(ctx, &rec) {
        Ok(l) => l,
        Err(e) => {
            say(&Handshake::Failed {
                code: crate::cmd::run::EXIT_MYDOCKER,
                error: format!("{e:#}"),
            });
            return Ok(());
        }
    };
    rec.state.monitor_pid = me;
    rec.state.monitor_start = me_start;
    let io = StartIo {
        // `-i` without an attached client: stdin stays open (and empty), as with docker.
        stdin: if rec.open_stdin {
            isolate::Stdio::Piped
        } else {
            isolate::Stdio::Null
        },
        stdout: isolate::Stdio::Piped,
        stderr: isolate::Stdio::Piped,
    };
    let mut started = match launch::start(ctx, &mut rec, io) {
        Ok(s) => s,
        Err(e) => {
            let code = start_failure_code(&e);
            crate::cmd::run::record_start_failure(ctx, &mut rec, &e, code);
            say(&Handshake::Failed {
                code,
                error: format!("{e:#}"),
            });
            return Ok(());
        }
    };
    drop(lock);
    say(&Handshake::Started);
    // Nobody reads our stdout/stderr any more.
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        let _ = rustix::stdio::dup2_stdout(&null);
        let _ = rustix::stdio::dup2_stderr(&null);
    }
    let mut sources: Vec<(OwnedFd, Stream)> = Vec::new();
    if let Some(master) = started.running.take_pty_master() {
        sources.push((master, Stream::Stdout));
    }
    if let Some(out) = started.running.stdout.take() {
        sources.push((out.into(), Stream::Stdout));
    }
    if let Some(err) = started.running.stderr.take() {
        sources.push((err.into(), Stream::Stderr));
    }
    let stdin_keep = started.running.stdin.take();
    let copier = Copier::start(sources, log, false)?;
    let code = started.running.wait().map_or(255, |s| s.code());
    let oom = code == 137 && started.cgroup.oom_killed().unwrap_or(false);
    drop(stdin_keep);
    copier.finish(DRAIN_GRACE);
    finish_owned(ctx, id, me, me_start, code, oom)
}

/// Records the end of a container this process owns (as monitor or foreground `run`),
/// unless someone else already did (the container was removed, or recovered).
pub(crate) fn finish_owned(
    ctx: &Ctx,
    id: &str,
    owner: u32,
    owner_start: u64,
    code: i32,
    oom: bool,
) -> Result<()> {
    let containers = Containers::new(&ctx.root);
    let Ok(_lock) = containers.lock(id) else {
        return Ok(()); // removed (`rm -f`) meanwhile
    };
    let Ok(mut rec) = containers.load(id) else {
        return Ok(());
    };
    if !is_active(&rec) || rec.state.monitor_pid != owner || rec.state.monitor_start != owner_start
    {
        return Ok(());
    }
    launch::finish(ctx, &mut rec, code, oom)
}

/// Copies a container's output into its log (and, for a foreground container, to our own
/// stdout/stderr) on a thread.
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
        tee: bool,
    ) -> Result<Self> {
        let (stop_r, stop_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("log-copier".into())
            .spawn(move || {
                copy_loop(sources, log, tee, &stop_r);
                let _ = tx.send(());
            })?;
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
    tee: bool,
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
                    // Our own output is gone (`run ... | head -1`): close the stream so
                    // the container's writes fail, as they would on the closed pipe.
                    if tee && !tee_out(*stream, &buf[..n]) {
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

/// Writes to our own stdout or stderr; false once that fails (a closed pipe: the
/// container goes on, its output still goes to the log).
fn tee_out(stream: Stream, data: &[u8]) -> bool {
    match stream {
        Stream::Stdout => {
            let mut o = std::io::stdout().lock();
            o.write_all(data).and_then(|()| o.flush()).is_ok()
        }
        Stream::Stderr => {
            let mut e = std::io::stderr().lock();
            e.write_all(data).and_then(|()| e.flush()).is_ok()
        }
    }
}

/// Whether a record says the container has processes (running, paused, restarting).
pub(crate) fn is_active(rec: &Record) -> bool {
    matches!(
        rec.state.status,
        Status::Running | Status::Paused | Status::Restarting
    )
}

/// Whether the process owning an active container (its monitor, or the foreground `run`)
/// still lives.
pub(crate) fn owner_alive(rec: &Record) -> bool {
    if rec.state.monitor_pid != 0 {
        container::is_alive(rec.state.monitor_pid, rec.state.monitor_start)
    } else {
        container::is_alive(rec.state.pid, rec.state.pid_start)
    }
}

/// The record with a true status: an active container whose monitor died is ended and
/// released now (see the module docs). `None` when that removed it (`--rm`).
pub(crate) fn refresh(ctx: &Ctx, rec: Record) -> Result<Option<Record>> {
    if !is_active(&rec) && rec.state.monitor_pid != 0 && !owner_alive(&rec) {
        return start_died(ctx, rec);
    }
    if !is_active(&rec) || owner_alive(&rec) {
        return Ok(Some(rec));
    }
    let containers = Containers::new(&ctx.root);
    let Ok(_lock) = containers.lock(&rec.id) else {
        return Ok(None);
    };
    let Ok(mut rec) = containers.load(&rec.id) else {
        return Ok(None);
    };
    if !is_active(&rec) || owner_alive(&rec) {
        return Ok(Some(rec));
    }
    recover_locked(ctx, &mut rec)?;
    if rec.auto_remove {
        return Ok(None);
    }
    Ok(Some(rec))
}

/// A container whose start was under way (its owner is recorded before anything is set
/// up) when the starting process died: release what it had set up (the init, if it got
/// that far, dies with its channel), and leave the container as it was before the start.
fn start_died(ctx: &Ctx, rec: Record) -> Result<Option<Record>> {
    let containers = Containers::new(&ctx.root);
    let Ok(_lock) = containers.lock(&rec.id) else {
        return Ok(None);
    };
    let Ok(mut rec) = containers.load(&rec.id) else {
        return Ok(None);
    };
    if is_active(&rec) || rec.state.monitor_pid == 0 || owner_alive(&rec) {
        return Ok(Some(rec));
    }
    ctx.debug(format_args!(
        "the process starting container {} (pid {}) died",
        &rec.id[..12],
        rec.state.monitor_pid
    ));
    launch::release(ctx, &rec);
    rec.state.error = format!(
        "the process starting the container (pid {}) died",
        rec.state.monitor_pid
    );
    rec.state.monitor_pid = 0;
    rec.state.monitor_start = 0;
    if rec.auto_remove {
        launch::remove(ctx, &rec)?;
        return Ok(None);
    }
    containers.save(&rec)?;
    Ok(Some(rec))
}

/// What a `create`, `start` or `rm` killed half-way left behind without anyone to finish
/// it: directories without a record (their names, writable layers and mounts go too), and
/// the rootfs mount of `created` containers (`run` keeps it between create and start; a
/// start mounts it again). Best effort: whatever fails is tried again next time.
fn collect_leftovers(ctx: &Ctx, records: &[Record]) {
    let containers = Containers::new(&ctx.root);
    let store = ctx.store().ok();
    let unmount = |id: &str, driver: &str| {
        if let Some(store) = &store
            && let Ok(d) = store::driver::by_name(store, driver)
        {
            let _ = d.unmount(id);
        }
    };
    for rec in records {
        if rec.state.status == Status::Created
            && rec.state.monitor_pid == 0
            && let Ok(Some(_lock)) =
                store::FileLock::try_exclusive(&containers.dir(&rec.id).join("lock"))
            && containers
                .load(&rec.id)
                .is_ok_and(|r| r.state.status == Status::Created && r.state.monitor_pid == 0)
        {
            unmount(&rec.id, &rec.driver);
        }
    }
    let Ok(Some((_creating, orphans))) = containers.orphans() else {
        return;
    };
    for id in orphans {
        let Ok(Some(_lock)) = store::FileLock::try_exclusive(&containers.dir(&id).join("lock"))
        else {
            continue;
        };
        if containers.dir(&id).join("container.json").exists() {
            continue;
        }
        ctx.debug(format_args!(
            "removing the remains of container {}",
            &id[..12]
        ));
        if let Some(store) = &store {
            for name in store::driver::DRIVER_NAMES {
                if let Ok(d) = store::driver::by_name(store, name) {
                    let _ = d.unmount(&id);
                    let _ = d.remove_writable(&id);
                }
            }
        }
        containers.release_names_of(&id);
        let _ = std::fs::remove_dir_all(containers.dir(&id));
    }
}

/// Finds a container by name, ID or unique ID prefix, with a true status.
pub(crate) fn lookup(ctx: &Ctx, name: &str) -> Result<Record> {
    let rec = Containers::new(&ctx.root).resolve(name)?;
    refresh(ctx, rec)?.ok_or_else(|| anyhow!("No such container: {name}"))
}

/// Every container, with true statuses (dead monitors detected and cleaned up).
pub(crate) fn sweep(ctx: &Ctx) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    for rec in Containers::new(&ctx.root).list()? {
        match refresh(ctx, rec) {
            Ok(Some(r)) => out.push(r),
            Ok(None) => {}
            Err(e) => ctx.warn(format_args!("{e:#}")),
        }
    }
    collect_leftovers(ctx, &out);
    Ok(out)
}

/// Ends an active container whose monitor is gone (the caller holds its lock).
fn recover_locked(ctx: &Ctx, rec: &mut Record) -> Result<()> {
    let (pid, start) = (rec.state.pid, rec.state.pid_start);
    let init_alive = container::is_alive(pid, start);
    ctx.debug(format_args!(
        "the monitor of container {} is gone; init alive: {init_alive}",
        &rec.id[..12]
    ));
    if let Ok(cg) = launch::cgroup_of(rec) {
        let _ = cg.kill_all();
    }
    if init_alive && !wait_exit(pid, start, Some(Duration::from_secs(5))) {
        let _ = signal_process(pid, start, Signal::KILL);
        wait_exit(pid, start, Some(Duration::from_secs(5)));
    }
    let (code, what) = if init_alive {
        (137, "its processes were killed")
    } else {
        (255, "its exit status is unknown")
    };
    rec.state.error = format!(
        "the container's monitor (pid {}) died; {what}",
        rec.state.monitor_pid
    );
    launch::finish(ctx, rec, code, false)?;
    if !matches!(rec.net.mode.as_str(), "none" | "host" | "") {
        // Endpoints of containers whose record is gone altogether.
        let containers = Containers::new(&ctx.root);
        if let Ok(nets) = ctx.networks()
            && let Err(e) = nets.recover(|cid| containers.dir(cid).join("container.json").exists())
        {
            ctx.warn(format_args!("recovering network endpoints: {e}"));
        }
    }
    Ok(())
}

/// Sends `sig` to `pid` if it is still the process that started at `start` (through a
/// pidfd, so a recycled PID is never hit). Errors when it is gone.
pub(crate) fn signal_process(pid: u32, start: u64, sig: Signal) -> Result<()> {
    let p = Pid::from_raw(pid as i32).ok_or_else(|| anyhow!("no process"))?;
    let fd = rustix::process::pidfd_open(p, PidfdFlags::empty())
        .map_err(|e| anyhow!("process {pid} is gone: {e}"))?;
    if !container::is_alive(pid, start) {
        return Err(anyhow!("process {pid} is gone"));
    }
    rustix::process::pidfd_send_signal(&fd, sig)
        .with_context(|| format!("sending signal {} to {pid}", sig.as_raw()))
}

/// Waits until `pid` (started at `start`) has exited, for `limit` at most (`None`:
/// forever); true when it is gone.
pub(crate) fn wait_exit(pid: u32, start: u64, limit: Option<Duration>) -> bool {
    let Some(p) = Pid::from_raw(pid as i32) else {
        return true;
    };
    let Ok(fd) = rustix::process::pidfd_open(p, PidfdFlags::empty()) else {
        return true;
    };
    if !container::is_alive(pid, start) {
        return true;
    }
    let deadline = limit.map(|l| Instant::now() + l);
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left == Some(Duration::ZERO) {
            return !container::is_alive(pid, start);
        }
        let ts = left.map(|l| rustix::event::Timespec {
            tv_sec: l.as_secs() as i64,
            tv_nsec: i64::from(l.subsec_nanos()),
        });
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        match rustix::event::poll(&mut fds, ts.as_ref()) {
            Ok(n) if n > 0 => return true,
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(_) => return !container::is_alive(pid, start),
        }
    }
}

/// Waits until an active container has ended and its owner recorded it (or, if the owner
/// died, until it was recovered): `limit` at most, `None` for ever. Returns the final
/// record, `None` when it was removed meanwhile.
pub(crate) fn wait_finished(
    ctx: &Ctx,
    id: &str,
    limit: Option<Duration>,
) -> Result<Option<Record>> {
    let containers = Containers::new(&ctx.root);
    let deadline = limit.map(|l| Instant::now() + l);
    loop {
        let Ok(rec) = containers.load(id) else {
            return Ok(None);
        };
        if !is_active(&rec) {
            return Ok(Some(rec));
        }
        if !owner_alive(&rec) {
            let refreshed = refresh(ctx, rec)?;
            if refreshed.as_ref().is_none_or(|r| !is_active(r)) {
                return Ok(refreshed);
            }
            // A new owner took over (restarted meanwhile).
            continue;
        }
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left == Some(Duration::ZERO) {
            return Err(anyhow!(
                "timed out waiting for container {} to stop",
                &id[..12.min(id.len())]
            ));
        }
        // The owner exits right after recording the end: wait for that (bounded slices,
        // so a record changed by someone else is seen too).
        let slice = left.map_or(Duration::from_millis(500), |l| {
            l.min(Duration::from_millis(500))
        });
        let (pid, start) = if rec.state.monitor_pid != 0 {
            (rec.state.monitor_pid, rec.state.monitor_start)
        } else {
            (rec.state.pid, rec.state.pid_start)
        };
        if wait_exit(pid, start, Some(slice)) {
            // Gone: the record is final now (or recovery is needed), loop to see.
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Copies our own stdin into the pipe of a container's stdin (`-i` without `-t`) on a
/// thread, so the container never holds our descriptor (a terminal or a file of the
/// user's). EOF on our stdin closes the pipe; so does [`StdinPump::stop`].
#[derive(Debug)]
pub(crate) struct StdinPump {
    thread: Option<JoinHandle<()>>,
    stop: Option<OwnedFd>,
}

impl StdinPump {
    /// Starts copying our stdin into `pipe`.
    pub(crate) fn start(pipe: std::fs::File) -> Result<Self> {
        let input = rustix::stdio::stdin().try_clone_to_owned()?;
        let (stop_r, stop_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
        let thread = std::thread::Builder::new()
            .name("stdin-pump".into())
            .spawn(move || pump(&input, OwnedFd::from(pipe), &stop_r))?;
        Ok(StdinPump {
            thread: Some(thread),
            stop: Some(stop_w),
        })
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
fn ready_or_stop(fd: &OwnedFd, events: PollFlags, stop: &OwnedFd) -> bool {
    loop {
        let mut fds = [PollFd::new(fd, events), PollFd::new(stop, PollFlags::IN)];
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

/// The copy source for a pipe or pty, as raw output of `stream`.
pub(crate) fn source(fd: impl Into<OwnedFd>, stream: Stream) -> (OwnedFd, Stream) {
    (fd.into(), stream)
}
