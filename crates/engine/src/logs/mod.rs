//! Container logs in docker's json-file format: one JSON object per line,
//! `{"log":"hello\n","stream":"stdout","time":"2026-11-28T14:00:00.123456789Z"}`, with
//! size-based rotation (`--log-opt max-size=10m --log-opt max-file=3`).
//! The engine writes them; `logs` reads them back through [`read_upto`] and [`follow`].

use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::error::{Error, Result, invalid};

/// Docker splits a line longer than this into several entries.
const MAX_ENTRY: usize = 16 * 1024;

/// A container's output stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// One line (or piece of an over-long line) of output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The text, with its newline.
    pub log: String,
    /// Where it was written.
    pub stream: Stream,
    /// RFC 3339 with nanoseconds.
    pub time: String,
}

/// Rotation settings from `--log-opt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogOpts {
    /// Rotate when the current file would exceed this many bytes; `None` = never.
    pub max_size: Option<u64>,
    /// How many files to keep in all, the current one included (docker's default is 1).
    pub max_file: u32,
}

impl Default for LogOpts {
    fn default() -> Self {
        LogOpts {
            max_size: None,
            max_file: 1,
        }
    }
}

impl LogOpts {
    /// Parses `--log-opt key=value` options (`max-size`, `max-file`).
    ///
    /// # Errors
    /// An unknown option or a bad value (docker's messages).
    pub fn parse(opts: &[String]) -> Result<Self> {
        let mut o = LogOpts::default();
        for kv in opts {
            let Some((k, v)) = kv.split_once('=') else {
                invalid!("invalid log opt '{kv}': expected key=value");
            };
            match k {
                "max-size" => {
                    let size = crate::options::ram_in_bytes(v)?;
                    o.max_size = (size > 0).then_some(size as u64);
                }
                "max-file" => match v.parse::<u32>().ok().filter(|n| *n >= 1) {
                    Some(n) => o.max_file = n,
                    None => invalid!("invalid value for max-file: {v}"),
                },
                _ => invalid!("unknown log opt '{k}' for json-file log driver"),
            }
        }
        if o.max_file > 1 && o.max_size.is_none() {
            invalid!("max-file can only be set together with max-size");
        }
        Ok(o)
    }

    /// Checks `--log-driver` and `--log-opt` before a container is created.
    ///
    /// # Errors
    /// An unsupported driver or a bad option.
    pub fn check(driver: &str, opts: &[String]) -> Result<()> {
        match driver {
            "json-file" | "" => LogOpts::parse(opts).map(|_| ()),
            "none" => Ok(()),
            other => invalid!("logging driver {other:?} is not supported: use json-file or none"),
        }
    }
}

/// Appends entries to `path`, rotating to `path.1`, `path.2`... as configured.
#[derive(Debug)]
pub struct LogWriter {
    path: PathBuf,
    file: File,
    /// Bytes in the current file, `out` included.
    size: u64,
    opts: LogOpts,
    pending: [Vec<u8>; 2],
    /// Encoded entries not written yet (one write per batch of output).
    out: Vec<u8>,
}

impl LogWriter {
    /// Opens (creating) the log at `path`.
    ///
    /// # Errors
    /// The file cannot be opened.
    pub fn open(path: &Path, opts: LogOpts) -> Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io("opening log file", path, e))?;
        let size = file
            .metadata()
            .map_err(|e| Error::io("reading log file", path, e))?
            .len();
        Ok(LogWriter {
            path: path.to_owned(),
            file,
            size,
            opts,
            pending: [Vec::new(), Vec::new()],
            out: Vec::new(),
        })
    }

    /// Feeds raw output of `stream`; complete lines (and over-long partial ones) are
    /// written.
    ///
    /// # Errors
    /// The log cannot be written.
    pub fn write(&mut self, stream: Stream, data: &[u8]) -> Result<()> {
        let idx = stream as usize;
        let mut pending = std::mem::take(&mut self.pending[idx]);
        pending.extend_from_slice(data);
        // The lines of one batch of output arrived together: one timestamp for them.
        let time = humantime::format_rfc3339_nanos(SystemTime::now()).to_string();
        let mut start = 0;
        let result = loop {
            let rest = &pending[start..];
            let cut = match rest.iter().position(|&b| b == b'\n') {
                Some(nl) if nl < MAX_ENTRY => nl + 1,
                _ if rest.len() >= MAX_ENTRY => MAX_ENTRY,
                _ => break Ok(()),
            };
            if let Err(e) = self.entry(stream, &rest[..cut], &time) {
                break Err(e);
            }
            start += cut;
        };
        pending.drain(..start);
        self.pending[idx] = pending;
        result.and_then(|()| self.flush_out())
    }

    /// Writes out what is left of a partial line, at the end of a stream.
    ///
    /// # Errors
    /// The log cannot be written.
    pub fn flush_partial(&mut self) -> Result<()> {
        let time = humantime::format_rfc3339_nanos(SystemTime::now()).to_string();
        for stream in [Stream::Stdout, Stream::Stderr] {
            let rest = std::mem::take(&mut self.pending[stream as usize]);
            if !rest.is_empty() {
                self.entry(stream, &rest, &time)?;
            }
        }
        self.flush_out()
    }

    /// Encodes one entry into the output batch, rotating first when it would not fit.
    fn entry(&mut self, stream: Stream, bytes: &[u8], time: &str) -> Result<()> {
        let entry = Entry {
            log: String::from_utf8_lossy(bytes).into_owned(),
            stream,
            time: time.to_owned(),
        };
        let start = self.out.len();
        serde_json::to_writer(&mut self.out, &entry)
            .map_err(|e| Error::json("encoding a log entry", e))?;
        self.out.push(b'\n');
        let len = (self.out.len() - start) as u64;
        if let Some(max) = self.opts.max_size
            && self.size > 0
            && self.size + len > max
        {
            let line = self.out.split_off(start);
            self.flush_out()?;
            self.rotate()?;
            self.out = line;
        }
        self.size += len;
        Ok(())
    }

    fn flush_out(&mut self) -> Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let r = self
            .file
            .write_all(&self.out)
            .map_err(|e| Error::io("writing log file", &self.path, e));
        self.out.clear();
        r
    }

    fn rotate(&mut self) -> Result<()> {
        let err = |e| Error::io("rotating log file", &self.path, e);
        let keep = self.opts.max_file;
        if keep <= 1 {
            self.file.set_len(0).map_err(err)?;
            self.file.seek(SeekFrom::Start(0)).map_err(err)?;
        } else {
            for n in (1..keep).rev() {
                let from = rotated(&self.path, n - 1);
                if from.exists() {
                    std::fs::rename(&from, rotated(&self.path, n)).map_err(err)?;
                }
            }
            self.file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(err)?;
        }
        self.size = 0;
        Ok(())
    }
}

/// `path` for generation 0, `path.N` for older ones.
fn rotated(path: &Path, n: u32) -> PathBuf {
    if n == 0 {
        path.to_owned()
    } else {
        let mut s = path.as_os_str().to_owned();
        s.push(format!(".{n}"));
        PathBuf::from(s)
    }
}

/// Which entries `logs` wants.
#[derive(Debug, Default, Clone)]
pub struct ReadOpts {
    /// Only the last N.
    pub tail: Option<usize>,
    /// Only those written at or after.
    pub since: Option<SystemTime>,
    /// Only those written at or before.
    pub until: Option<SystemTime>,
}

/// Parses docker's `--since`/`--until`: an RFC 3339 time, a Unix timestamp, or a duration
/// before `now` (`10m`, `1h30m`).
///
/// # Errors
/// None of these.
pub fn parse_time_arg(s: &str, now: SystemTime) -> Result<SystemTime> {
    if let Ok(t) = humantime::parse_rfc3339_weak(s) {
        return Ok(t);
    }
    if let Ok(secs) = s.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Ok(SystemTime::UNIX_EPOCH + Duration::from_secs_f64(secs));
    }
    if let Ok(d) = humantime::parse_duration(s) {
        return Ok(now - d);
    }
    invalid!("invalid time value '{s}': use RFC 3339, a Unix timestamp or a duration like 10m")
}

fn entry_time(e: &Entry) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(&e.time)
        .ok()
        .or_else(|| humantime::parse_rfc3339(&e.time).ok())
}

/// Every entry of the log (rotated files first), with the filters applied.
#[cfg(test)]
pub fn read_all(path: &Path, opts: &ReadOpts) -> Result<Vec<Entry>> {
    read_upto(path, opts, u64::MAX)
}

/// Reads the entries of the log (rotated files first), applying the filters, but only the
/// first `current_len` bytes of the current log file: what was there when
/// [`current_len`] was taken, so that a [`follow`] from that offset gives each later
/// entry once.
///
/// # Errors
/// The log cannot be read.
pub fn read_upto(path: &Path, opts: &ReadOpts, current_len: u64) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    let mut generation = 1;
    while rotated(path, generation).exists() {
        generation += 1;
    }
    for n in (0..generation).rev() {
        let p = rotated(path, n);
        let Ok(f) = File::open(&p) else { continue };
        let limit = if n == 0 { current_len } else { u64::MAX };
        for line in BufReader::new(std::io::Read::take(f, limit)).lines() {
            let line = line.map_err(|e| Error::io("reading log file", &p, e))?;
            if let Ok(e) = serde_json::from_str::<Entry>(&line) {
                entries.push(e);
            }
        }
    }
    let mut entries: Vec<Entry> = entries.into_iter().filter(|e| keep(e, opts)).collect();
    if let Some(n) = opts.tail {
        let skip = entries.len().saturating_sub(n);
        entries.drain(..skip);
    }
    Ok(entries)
}

fn keep(e: &Entry, opts: &ReadOpts) -> bool {
    if opts.since.is_none() && opts.until.is_none() {
        return true;
    }
    let Some(t) = entry_time(e) else { return true };
    opts.since.is_none_or(|s| t >= s) && opts.until.is_none_or(|u| t <= u)
}

/// Follows the current log file from `offset` bytes, giving new entries to `sink` until
/// `done()` says the container has stopped (checked between polls) and the file is
/// drained, or `sink` fails (its reader went away). Copes with rotation (the file
/// shrinking or being replaced).
///
/// # Errors
/// The log cannot be read; `sink`'s error.
pub fn follow(
    path: &Path,
    mut offset: u64,
    opts: &ReadOpts,
    done: &mut dyn FnMut() -> bool,
    sink: &mut dyn FnMut(&Entry) -> std::io::Result<()>,
) -> Result<()> {
    let err = |e| Error::io("following log file", path, e);
    let mut partial = String::new();
    loop {
        let finished = done();
        if let Ok(mut f) = File::open(path) {
            let len = f.metadata().map_err(err)?.len();
            if len < offset {
                offset = 0; // rotated or truncated: start over on the new file
                partial.clear();
            }
            f.seek(SeekFrom::Start(offset)).map_err(err)?;
            let mut reader = BufReader::new(f);
            let mut line = String::new();
            loop {
                line.clear();
                let n = reader.read_line(&mut line).map_err(err)?;
                if n == 0 {
                    break;
                }
                offset += n as u64;
                if !line.ends_with('\n') {
                    partial.push_str(&line);
                    continue;
                }
                let full = std::mem::take(&mut partial) + &line;
                if let Ok(e) = serde_json::from_str::<Entry>(&full)
                    && keep(&e, opts)
                {
                    sink(&e).map_err(|e| Error::os("writing the log", e))?;
                }
            }
        }
        if finished {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The size of the current log file, i.e. where `follow` starts after `read_upto`.
pub fn current_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// The json-file log of a container.
pub(crate) fn log_path(engine: &crate::config::Engine, id: &str) -> PathBuf {
    crate::containers::Containers::new(&engine.config.root)
        .dir(id)
        .join(format!("{id}-json.log"))
}

impl crate::config::Engine {
    /// Where container `id`'s json-file log is.
    pub fn log_path(&self, id: &str) -> PathBuf {
        log_path(self, id)
    }

    /// `logs`: gives the entries of container `name`'s log to `sink`; with
    /// `keep_following` (`-f`), goes on until the container stops. A failing `sink` (its reader went away) ends it
    /// quietly.
    ///
    /// # Errors
    /// No such container, a container without a log (`--log-driver none`), an unreadable
    /// log.
    pub fn logs(
        &self,
        name: &str,
        opts: &ReadOpts,
        keep_following: bool,
        sink: &mut dyn FnMut(&Entry) -> std::io::Result<()>,
    ) -> Result<()> {
        let rec = crate::recovery::lookup(self, name)?;
        if rec.log_driver == "none" {
            invalid!("configured logging driver does not support reading");
        }
        let path = self.log_path(&rec.id);
        // Where following starts: the end of what is replayed now. Only up to there: what
        // is appended meanwhile is for the follow below (or the next call).
        let offset = current_len(&path);
        let entries =
            read_upto(&path, opts, offset).map_err(|e| e.context("reading the container's log"))?;
        for e in &entries {
            if sink(e).is_err() {
                return Ok(());
            }
        }
        if !keep_following || !rec.is_active() || opts.until.is_some() {
            return Ok(());
        }
        let containers = crate::containers::Containers::new(&self.config.root);
        let mut done = || match containers.load(&rec.id) {
            Ok(r) => match crate::recovery::refresh(self, r) {
                Ok(Some(r)) => !r.is_active(),
                _ => true,
            },
            Err(_) => true,
        };
        let follow_opts = ReadOpts {
            tail: None,
            ..opts.clone()
        };
        match follow(&path, offset, &follow_opts, &mut done, sink) {
            Err(Error::Os { .. }) => Ok(()), // the sink failed: its reader went away
            r => r,
        }
    }
}

#[cfg(test)]
mod tests;
