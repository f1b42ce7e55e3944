//! What the vCPUs of a guest were doing when the host ended it: a few samples of qemu's
//! `info registers -a` over the guest's QMP socket, saved beside its console, and a one-line
//! summary (each vCPU's instruction pointer, privilege level and halt state, and whether
//! the instruction pointer moved between samples). A guest whose kernel stalled tells this
//! way whether a vCPU sat halted (waiting for an interrupt that did not come) or kept
//! running kernel code. The guest boots its `vmlinux` through the PVH entry, which does no
//! KASLR, so an address can be looked up afterwards in the same kernel's `/proc/kallsyms`.

use super::json::Json;
use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// Runs the human monitor command `command` over the QMP socket `sock` and returns its
/// output.
pub(crate) fn human(sock: &Path, command: &str) -> Result<String> {
    let stream =
        UnixStream::connect(sock).with_context(|| format!("connecting to {}", sock.display()))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    // The greeting, then the capabilities handshake, then the command.
    reply(&mut reader).context("reading the QMP greeting")?;
    writer.write_all(b"{\"execute\": \"qmp_capabilities\"}\n")?;
    reply(&mut reader).context("negotiating QMP capabilities")?;
    let request = format!(
        "{{\"execute\": \"human-monitor-command\", \"arguments\": {{\"command-line\": {}}}}}\n",
        quote(command)
    );
    writer.write_all(request.as_bytes())?;
    let answer = reply(&mut reader).with_context(|| format!("running {command:?}"))?;
    answer
        .get("return")
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("{command:?}: no text in the reply"))
}

/// The next QMP message that is not an asynchronous event.
fn reply(reader: &mut impl BufRead) -> Result<Json> {
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            bail!("the QMP socket closed");
        }
        let msg = Json::parse(line.trim()).map_err(|e| anyhow::anyhow!("{e}: {line}"))?;
        if let Some(desc) = msg.get("error").get("desc").as_str() {
            bail!("{desc}");
        }
        if matches!(msg.get("event"), Json::Null) {
            return Ok(msg);
        }
    }
}

/// `s` as a JSON string.
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Takes `samples` dumps of every vCPU's registers, `gap` apart, writes them to `out` and
/// returns the summary. An error when the first dump cannot be had (qemu gone or hung).
pub(crate) fn capture_vcpus(
    sock: &Path,
    out: &Path,
    samples: usize,
    gap: Duration,
) -> Result<String> {
    let mut dumps = Vec::new();
    for i in 0..samples {
        if i > 0 {
            std::thread::sleep(gap);
        }
        match human(sock, "info registers -a") {
            Ok(d) => dumps.push(d),
            Err(e) if dumps.is_empty() => return Err(e),
            Err(_) => break,
        }
    }
    let text: Vec<String> = dumps
        .iter()
        .map(|d| format!("{SAMPLE_MARK}\n{d}"))
        .collect();
    std::fs::write(out, text.join("\n")).with_context(|| format!("writing {}", out.display()))?;
    Ok(summary(&dumps))
}

/// The line before each dump in the file [`capture_vcpus`] writes.
const SAMPLE_MARK: &str = "=== info registers -a ===";

/// The summary of a file [`capture_vcpus`] wrote; `None` without one.
pub(crate) fn summary_of_file(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let dumps: Vec<String> = text
        .split(SAMPLE_MARK)
        .filter(|d| !d.trim().is_empty())
        .map(str::to_owned)
        .collect();
    Some(summary(&dumps))
}

/// One vCPU in one dump: its instruction pointer, privilege level and halt flag.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Vcpu {
    rip: String,
    cpl: String,
    halted: bool,
}

/// The vCPUs of one `info registers -a` dump, in order.
fn vcpus(dump: &str) -> Vec<Vcpu> {
    let field = |line: &str, key: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .map(str::to_owned)
    };
    let mut out = Vec::new();
    for line in dump.lines() {
        if let Some(rip) = field(line, "RIP=") {
            out.push(Vcpu {
                rip,
                cpl: field(line, "CPL=").unwrap_or_default(),
                halted: field(line, "HLT=").as_deref() == Some("1"),
            });
        }
    }
    out
}

/// "CPU0 RIP=... CPL=0 halted, same in 3 samples; CPU1 ..." for a series of dumps.
fn summary(dumps: &[String]) -> String {
    let series: Vec<Vec<Vcpu>> = dumps.iter().map(|d| vcpus(d)).collect();
    let Some(first) = series.first().filter(|s| !s.is_empty()) else {
        return "no vCPU registers in the dump".to_owned();
    };
    first
        .iter()
        .enumerate()
        .map(|(n, cpu)| {
            let seen: Vec<&Vcpu> = series.iter().filter_map(|s| s.get(n)).collect();
            let moved = seen.iter().any(|c| c.rip != cpu.rip);
            format!(
                "CPU{n} RIP={} CPL={} {}, {} in {} samples",
                cpu.rip,
                cpu.cpl,
                if cpu.halted { "halted" } else { "running" },
                if moved { "RIP moved" } else { "same RIP" },
                seen.len()
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    // The shape of qemu 7's `info registers -a` (two vCPUs, most lines left out).
    const DUMP: &str = "
CPU#0
RAX=0000000000000000 RBX=ffffffff82a13940 RCX=0000000000000001 RDX=0000000000000000
RIP=ffffffff81b9e6fe RFL=00000246 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=1
ES =0000 0000000000000000 00000000 00000000

CPU#1
RAX=0000000000000001 RBX=ffff888003c3a000 RCX=0000000000000000 RDX=0000000000000000
RIP=ffffffff8113a2c4 RFL=00000202 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0
";

    #[test]
    fn vcpus_are_read_from_a_register_dump() {
        assert_eq!(
            vcpus(DUMP),
            vec![
                Vcpu {
                    rip: "ffffffff81b9e6fe".into(),
                    cpl: "0".into(),
                    halted: true
                },
                Vcpu {
                    rip: "ffffffff8113a2c4".into(),
                    cpl: "0".into(),
                    halted: false
                },
            ]
        );
    }

    #[test]
    fn the_summary_says_which_vcpu_halted_and_which_moved() {
        let later = DUMP.replace("ffffffff8113a2c4", "ffffffff8113a2d0");
        assert_eq!(
            summary(&[DUMP.to_owned(), later]),
            "CPU0 RIP=ffffffff81b9e6fe CPL=0 halted, same RIP in 2 samples; \
             CPU1 RIP=ffffffff8113a2c4 CPL=0 running, RIP moved in 2 samples"
        );
        assert_eq!(summary(&[]), "no vCPU registers in the dump");
    }

    #[test]
    fn a_saved_capture_is_summarised_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vcpus.txt");
        std::fs::write(
            &path,
            format!("{SAMPLE_MARK}\n{DUMP}\n{SAMPLE_MARK}\n{DUMP}"),
        )
        .unwrap();
        assert_eq!(
            summary_of_file(&path).unwrap(),
            summary(&[DUMP.to_owned(), DUMP.to_owned()])
        );
        assert!(summary_of_file(&dir.path().join("none")).is_none());
    }

    #[test]
    fn commands_are_quoted_as_json() {
        assert_eq!(quote("info \"x\"\\\n"), "\"info \\\"x\\\"\\\\\\u000a\"");
        let parsed = Json::parse(&quote("info registers -a")).unwrap();
        assert_eq!(parsed.as_str(), Some("info registers -a"));
    }
}
