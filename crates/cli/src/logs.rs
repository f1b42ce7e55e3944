//! Container logs in docker's json-file format: one JSON object per line,
//! `{"log":"hello\n","stream":"stdout","time":"2026-11-28T14:00:00.123456789Z"}`, with
//! size-based rotation (`--log-opt max-size=10m --log-opt max-file=3`).

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Docker splits a line longer than this into several entries.
const MAX_ENTRY: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub(crate) log: String,
    pub(crate) stream: Stream,
    pub(crate) time: String,
}

/// Rotation settings from `--log-opt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LogOpts {
    /// Rotate when the current file would exceed this many bytes; `None` = never.
    pub(crate) max_size: Option<u64>,
    /// How many files to keep in all, the current one included (docker's default is 1).
    pub(crate) max_file: u32,
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
    pub(crate) fn parse(opts: &[String]) -> Result<Self> {
        let mut o = LogOpts::default();
        for kv in opts {
            let Some((k, v)) = kv.split_once('=') else {
                bail!("invalid log opt '{kv}': expected key=value");
            };
            match k {
                "max-size" => {
                    let size = crate::parse::ram_in_bytes(v)?;
                    o.max_size = (size > 0).then_some(size as u64);
                }
                "max-file" => {
                    o.max_file = v
                        .parse()
                        .ok()
                        .filter(|n: &u32| *n >= 1)
                        .with_context(|| format!("invalid value for max-file: {v}"))?;
                }
                _ => bail!("unknown log opt '{k}' for json-file log driver"),
            }
        }
        if o.max_file > 1 && o.max_size.is_none() {
            bail!("max-file can only be set together with max-size");
        }
        Ok(o)
    }
}

/// Appends entries to `path`, rotating to `path.1`, `path.2`... as configured.
#[derive(Debug)]
pub(crate) struct LogWriter {
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
    pub(crate) fn open(path: &Path, opts: LogOpts) -> Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening log file {}", path.display()))?;
        let size = file.metadata()?.len();
        Ok(LogWriter {
            path: path.to_owned(),
            file,
            size,
            opts,
            pending: [Vec::new(), Vec::new()],
            out: Vec::new(),
        })
    }

    /// Feeds raw output of `stream`; complete lines (and over-long partial ones) are written.
    pub(crate) fn write(&mut self, stream: Stream, data: &[u8]) -> Result<()> {
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
    pub(crate) fn flush_partial(&mut self) -> Result<()> {
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
        serde_json::to_writer(&mut self.out, &entry)?;
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
            .with_context(|| format!("writing log file {}", self.path.display()));
        self.out.clear();
        r
    }

    fn rotate(&mut self) -> Result<()> {
        let keep = self.opts.max_file;
        if keep <= 1 {
            self.file.set_len(0)?;
            self.file.seek(SeekFrom::Start(0))?;
        } else {
            for n in (1..keep).rev() {
                let from = rotated(&self.path, n - 1);
                if from.exists() {
                    std::fs::rename(&from, rotated(&self.path, n))?;
                }
            }
            self.file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
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

/// What `mydocker logs` asked for.
#[derive(Debug, Default, Clone)]
pub(crate) struct ReadOpts {
    pub(crate) tail: Option<usize>,
    pub(crate) since: Option<SystemTime>,
    pub(crate) until: Option<SystemTime>,
    pub(crate) timestamps: bool,
}

/// Parses docker's `--since`/`--until`: an RFC 3339 time, a Unix timestamp, or a duration
/// relative to now (`10m`, `1h30m`).
pub(crate) fn parse_time_arg(s: &str) -> Result<SystemTime> {
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
        return Ok(SystemTime::now() - d);
    }
    bail!("invalid time value '{s}': use RFC 3339, a Unix timestamp or a duration like 10m")
}

fn entry_time(e: &Entry) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(&e.time)
        .ok()
        .or_else(|| humantime::parse_rfc3339(&e.time).ok())
}

/// Every entry of the log (rotated files first), with the filters applied.
#[cfg(test)]
pub(crate) fn read_all(path: &Path, opts: &ReadOpts) -> Result<Vec<Entry>> {
    read_upto(path, opts, u64::MAX)
}

/// Reads the entries of the log (rotated files first), applying the filters, but only the
/// first `current_len` bytes of the current log file: what
/// was there when [`current_len`] was taken, so that a [`follow`] from that offset prints
/// each later entry once.
pub(crate) fn read_upto(path: &Path, opts: &ReadOpts, current_len: u64) -> Result<Vec<Entry>> {
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
            let line = line?;
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

/// Writes one entry the way `docker logs` prints it.
pub(crate) fn print(
    e: &Entry,
    opts: &ReadOpts,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<()> {
    let w: &mut dyn Write = match e.stream {
        Stream::Stdout => out,
        Stream::Stderr => err,
    };
    if opts.timestamps {
        write!(w, "{} ", e.time)?;
    }
    w.write_all(e.log.as_bytes())
}

/// Follows the current log file from `offset` bytes, printing new entries until `done()`
/// says the container has stopped (checked between polls) and the file is drained. Copes
/// with rotation (the file shrinking or being replaced).
pub(crate) fn follow(
    path: &Path,
    mut offset: u64,
    opts: &ReadOpts,
    done: &mut dyn FnMut() -> bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    let mut partial = String::new();
    loop {
        let finished = done();
        if let Ok(mut f) = File::open(path) {
            let len = f.metadata()?.len();
            if len < offset {
                offset = 0; // rotated or truncated: start over on the new file
                partial.clear();
            }
            f.seek(SeekFrom::Start(offset))?;
            let mut reader = BufReader::new(f);
            let mut line = String::new();
            loop {
                line.clear();
                let n = reader.read_line(&mut line)?;
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
                    print(&e, opts, out, err)?;
                }
            }
            out.flush()?;
            err.flush()?;
        }
        if finished {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The size of the current log file, i.e. where `follow` starts after `read_all`.
pub(crate) fn current_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(p: &Path) -> Vec<Entry> {
        read_all(p, &ReadOpts::default()).unwrap()
    }

    #[test]
    fn lines_become_entries() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        let mut w = LogWriter::open(&p, LogOpts::default()).unwrap();
        w.write(Stream::Stdout, b"hel").unwrap();
        w.write(Stream::Stderr, b"oops\n").unwrap();
        w.write(Stream::Stdout, b"lo\nwor").unwrap();
        w.write(Stream::Stdout, b"ld").unwrap();
        w.flush_partial().unwrap();
        let e = lines(&p);
        let got: Vec<(&str, Stream)> = e.iter().map(|e| (e.log.as_str(), e.stream)).collect();
        assert_eq!(
            got,
            [
                ("oops\n", Stream::Stderr),
                ("hello\n", Stream::Stdout),
                ("world", Stream::Stdout)
            ]
        );
        let raw = std::fs::read_to_string(&p).unwrap();
        let first: serde_json::Value = serde_json::from_str(raw.lines().next().unwrap()).unwrap();
        assert_eq!(first["stream"], "stderr");
        assert!(first["time"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn long_lines_are_split_like_docker() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        let mut w = LogWriter::open(&p, LogOpts::default()).unwrap();
        w.write(Stream::Stdout, &vec![b'x'; MAX_ENTRY + 10])
            .unwrap();
        w.flush_partial().unwrap();
        let e = lines(&p);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].log.len(), MAX_ENTRY);
        assert_eq!(e[1].log.len(), 10);
    }

    #[test]
    fn rotation_keeps_max_file_generations() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        let opts = LogOpts::parse(&["max-size=1k".into(), "max-file=3".into()]).unwrap();
        let mut w = LogWriter::open(&p, opts).unwrap();
        for i in 0..200 {
            w.write(Stream::Stdout, format!("line {i:04}\n").as_bytes())
                .unwrap();
        }
        assert!(std::fs::metadata(&p).unwrap().len() <= 1024);
        assert!(rotated(&p, 2).exists());
        assert!(!rotated(&p, 3).exists());
        let e = lines(&p);
        // The newest entries survive, in order, ending with the last one written.
        assert_eq!(e.last().unwrap().log, "line 0199\n");
        let nums: Vec<u32> = e.iter().map(|e| e.log[5..9].parse().unwrap()).collect();
        assert!(nums.windows(2).all(|w| w[1] == w[0] + 1), "{nums:?}");
        assert!(nums.len() < 200);
    }

    #[test]
    fn max_file_one_truncates() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        let opts = LogOpts::parse(&["max-size=200".into()]).unwrap();
        let mut w = LogWriter::open(&p, opts).unwrap();
        for i in 0..50 {
            w.write(Stream::Stdout, format!("{i}\n").as_bytes())
                .unwrap();
        }
        assert!(std::fs::metadata(&p).unwrap().len() <= 200);
        assert_eq!(lines(&p).last().unwrap().log, "49\n");
    }

    #[test]
    fn tail_and_timestamps() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        let mut w = LogWriter::open(&p, LogOpts::default()).unwrap();
        w.write(Stream::Stdout, b"a\nb\nc\n").unwrap();
        let opts = ReadOpts {
            tail: Some(2),
            timestamps: true,
            ..Default::default()
        };
        let e = read_all(&p, &opts).unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        for e in &e {
            print(e, &opts, &mut out, &mut err).unwrap();
        }
        let out = String::from_utf8(out).unwrap();
        let printed: Vec<&str> = out.lines().map(|l| l.split_once(' ').unwrap().1).collect();
        assert_eq!(printed, ["b", "c"]);
        assert!(out.starts_with("20"));
    }

    #[test]
    fn read_upto_leaves_later_entries_to_follow() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        let mut w = LogWriter::open(&p, LogOpts::default()).unwrap();
        w.write(Stream::Stdout, b"before\n").unwrap();
        let offset = current_len(&p);
        w.write(Stream::Stderr, b"after\n").unwrap();
        let e = read_upto(&p, &ReadOpts::default(), offset).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].log, "before\n");
        let (mut out, mut err) = (Vec::new(), Vec::new());
        follow(
            &p,
            offset,
            &ReadOpts::default(),
            &mut || true,
            &mut out,
            &mut err,
        )
        .unwrap();
        assert_eq!((out, err), (Vec::new(), b"after\n".to_vec()));
    }

    #[test]
    fn since_filters_old_entries() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        std::fs::write(
            &p,
            "{\"log\":\"old\\n\",\"stream\":\"stdout\",\"time\":\"2020-01-01T00:00:00.000000000Z\"}\n\
             {\"log\":\"new\\n\",\"stream\":\"stdout\",\"time\":\"2030-01-01T00:00:00.000000000Z\"}\n",
        )
        .unwrap();
        let opts = ReadOpts {
            since: Some(parse_time_arg("2025-01-01T00:00:00Z").unwrap()),
            ..Default::default()
        };
        let e = read_all(&p, &opts).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].log, "new\n");
        assert!(parse_time_arg("10m").unwrap() < SystemTime::now());
        assert!(parse_time_arg("yesterday-ish").is_err());
    }

    #[test]
    fn follow_sees_appended_lines_until_done() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        let mut w = LogWriter::open(&p, LogOpts::default()).unwrap();
        w.write(Stream::Stdout, b"first\n").unwrap();
        let start = current_len(&p);
        w.write(Stream::Stdout, b"second\n").unwrap();
        let mut polls = 0;
        let mut done = || {
            polls += 1;
            if polls == 2 {
                w.write(Stream::Stdout, b"third\n").unwrap();
            }
            polls >= 3
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        follow(
            &p,
            start,
            &ReadOpts::default(),
            &mut done,
            &mut out,
            &mut err,
        )
        .unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "second\nthird\n");
    }
}
