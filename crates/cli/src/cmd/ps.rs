//! `ps` (`container ls`) and `port`: docker's container table and port mappings.

use crate::args::{PortArgs, PsArgs};
use crate::ctx::Ctx;
use crate::format::{Table, human_duration};
use anyhow::{Result, bail};
use engine::record::{PortBinding, Record, Status};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime};

/// Parses one of the records' RFC 3339 times.
pub(crate) fn parse_time(s: &str) -> Option<SystemTime> {
    if s.is_empty() {
        return None;
    }
    humantime::parse_rfc3339_weak(s)
        .ok()
        .or_else(|| humantime::parse_rfc3339(s).ok())
}

fn since(s: &str) -> Duration {
    parse_time(s)
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .unwrap_or_default()
}

/// Docker's STATUS column: `Up 3 minutes`, `Up 2 seconds (Paused)`, `Exited (0) 2 seconds
/// ago`, `Created`.
pub(crate) fn status_text(rec: &Record) -> String {
    let s = &rec.state;
    match s.status {
        Status::Created => "Created".into(),
        Status::Running => match &s.health {
            Some(h) => format!(
                "Up {} ({})",
                human_duration(since(&s.started_at)),
                match h.status {
                    engine::HealthStatus::Starting => "health: starting",
                    other => other.as_str(),
                }
            ),
            None => format!("Up {}", human_duration(since(&s.started_at))),
        },
        Status::Paused => format!("Up {} (Paused)", human_duration(since(&s.started_at))),
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            s.exit_code,
            human_duration(since(&s.finished_at))
        ),
        Status::Removing => "Removal In Progress".into(),
        Status::Exited if s.finished_at.is_empty() => format!("Exited ({})", s.exit_code),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            s.exit_code,
            human_duration(since(&s.finished_at))
        ),
        Status::Dead => "Dead".into(),
    }
}

/// The command as docker's `ps` shows it: arguments with spaces in single quotes.
pub(crate) fn command_text(rec: &Record) -> String {
    let mut parts = vec![rec.path.clone()];
    for a in &rec.args {
        if a.contains(' ') {
            parts.push(format!("'{a}'"));
        } else {
            parts.push(a.clone());
        }
    }
    parts.join(" ")
}

/// Docker's `Ellipsis`: at most `max` characters, the last one `…` when cut.
pub(crate) fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Go's `strconv.Quote` for the printable strings a command line holds.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Normalises an exposed-port spec (`80`, `80/tcp`) to `80/tcp`.
fn port_key(spec: &str) -> Option<(u16, String)> {
    let (port, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    Some((port.parse().ok()?, proto.to_lowercase()))
}

/// Docker's PORTS column: published ports (`0.0.0.0:8080->80/tcp`, consecutive ones
/// grouped as ranges) and exposed ones that are not published (`443/tcp`).
pub(crate) fn ports_text(rec: &Record) -> String {
    if !rec.is_active() {
        return String::new();
    }
    let mut published: Vec<&PortBinding> = rec.ports.iter().collect();
    published.sort_by(|a, b| {
        (&a.host_ip, &a.protocol, a.container_port, a.host_port).cmp(&(
            &b.host_ip,
            &b.protocol,
            b.container_port,
            b.host_port,
        ))
    });
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < published.len() {
        let first = published[i];
        let mut j = i;
        while j + 1 < published.len() {
            let (cur, next) = (published[j], published[j + 1]);
            if next.host_ip == cur.host_ip
                && next.protocol == cur.protocol
                && u32::from(next.container_port) == u32::from(cur.container_port) + 1
                && u32::from(next.host_port) == u32::from(cur.host_port) + 1
            {
                j += 1;
            } else {
                break;
            }
        }
        let last = published[j];
        if i == j {
            out.push(format!(
                "{}:{}->{}/{}",
                first.host_ip, first.host_port, first.container_port, first.protocol
            ));
        } else {
            out.push(format!(
                "{}:{}-{}->{}-{}/{}",
                first.host_ip,
                first.host_port,
                last.host_port,
                first.container_port,
                last.container_port,
                first.protocol
            ));
        }
        i = j + 1;
    }
    let mut exposed: Vec<(u16, String)> = rec
        .net
        .expose
        .iter()
        .filter_map(|e| port_key(e))
        .filter(|(p, proto)| {
            !rec.ports
                .iter()
                .any(|b| b.container_port == *p && &b.protocol == proto)
        })
        .collect();
    exposed.sort();
    exposed.dedup();
    out.extend(exposed.into_iter().map(|(p, proto)| format!("{p}/{proto}")));
    out.join(", ")
}

fn created_at(rec: &Record) -> String {
    match parse_time(&rec.created) {
        Some(t) => {
            let s = humantime::format_rfc3339_seconds(t).to_string();
            format!(
                "{} +0000 UTC",
                s.trim_end_matches('Z').replacen('T', " ", 1)
            )
        }
        None => rec.created.clone(),
    }
}

/// One row of `ps` as the fields docker's `--format` knows.
fn row(rec: &Record, mounts: &[engine::volumes::MountPoint], trunc: bool) -> Value {
    let command = command_text(rec);
    let labels: Vec<String> = rec.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mount_names: Vec<String> = mounts
        .iter()
        .map(|m| match &m.name {
            Some(n) if trunc && n.len() > 15 => ellipsis(n, 15),
            Some(n) => n.clone(),
            None => m.source.display().to_string(),
        })
        .collect();
    let local_volumes = mounts.iter().filter(|m| m.typ == "volume").count();
    json!({
        "ID": if trunc { rec.id[..12].to_owned() } else { rec.id.clone() },
        "Image": rec.image,
        "Command": go_quote(&if trunc { ellipsis(&command, 20) } else { command }),
        "CreatedAt": created_at(rec),
        "RunningFor": format!("{} ago", human_duration(since(&rec.created))),
        "Ports": ports_text(rec),
        "Status": status_text(rec),
        "State": rec.state.status.as_str(),
        "Names": rec.name,
        "Labels": labels.join(","),
        crate::template::LABELS: rec.labels,
        "Mounts": mount_names.join(","),
        "Networks": rec.network,
        "Size": "0B",
        "LocalVolumes": local_volumes.to_string(),
    })
}

/// A parsed `-f key=value` set: values of one key are alternatives, keys all apply.
#[derive(Debug, Default)]
struct Filters(Vec<(String, String)>);

impl Filters {
    fn parse(specs: &[String]) -> Result<Self> {
        let mut f = Vec::new();
        for s in specs {
            let Some((k, v)) = s.split_once('=') else {
                bail!("bad format of filter (expected name=value)");
            };
            let k = k.trim().to_lowercase();
            if !matches!(
                k.as_str(),
                "status"
                    | "name"
                    | "id"
                    | "exited"
                    | "ancestor"
                    | "network"
                    | "label"
                    | "volume"
                    | "health"
            ) {
                bail!("invalid filter '{k}'");
            }
            if k == "status"
                && !matches!(
                    v,
                    "created"
                        | "restarting"
                        | "running"
                        | "removing"
                        | "paused"
                        | "exited"
                        | "dead"
                )
            {
                bail!("invalid filter 'status={v}'");
            }
            if k == "health" && !matches!(v, "starting" | "healthy" | "unhealthy" | "none") {
                bail!("Unrecognised filter value for health: {v}");
            }
            f.push((k, v.to_owned()));
        }
        Ok(Filters(f))
    }

    fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    fn matches(&self, rec: &Record, mounts: &[engine::volumes::MountPoint]) -> bool {
        let keys: std::collections::BTreeSet<&str> =
            self.0.iter().map(|(k, _)| k.as_str()).collect();
        keys.into_iter().all(|key| {
            let mut values = self.0.iter().filter(|(k, _)| k == key);
            let one = |(_, v): &(String, String)| match key {
                "status" => rec.state.status.as_str() == v,
                "name" => rec.name.contains(v.trim_start_matches('/')),
                "id" => rec.id.starts_with(v.as_str()),
                "exited" => {
                    rec.state.status == Status::Exited
                        && v.parse::<i32>() == Ok(rec.state.exit_code)
                }
                "ancestor" => {
                    rec.image == *v
                        || rec.image_id == *v
                        || rec
                            .image_id
                            .strip_prefix("sha256:")
                            .is_some_and(|h| h.starts_with(v.trim_start_matches("sha256:")))
                }
                "network" => rec.network == *v,
                "health" => {
                    rec.state
                        .health
                        .as_ref()
                        .map_or("none", |h| h.status.as_str())
                        == v
                }
                "label" => engine::volumes::label_matches(&rec.labels, v),
                "volume" => mounts.iter().any(|m| {
                    m.name.as_deref() == Some(v.as_str())
                        || m.destination == std::path::Path::new(v)
                        || (m.typ == "bind" && m.source == std::path::Path::new(v))
                }),
                _ => false,
            };
            // Docker: values of one key are alternatives, but every label must match.
            if key == "label" {
                values.all(one)
            } else {
                values.any(one)
            }
        })
    }
}

/// Docker's column titles of the `--format` fields, for `table` formats.
const HEADERS: [(&str, &str); 14] = [
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("Status", "STATUS"),
    ("State", "STATE"),
    ("Names", "NAMES"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
    ("Size", "SIZE"),
    ("LocalVolumes", "LOCAL VOLUMES"),
];

pub(crate) fn ps(ctx: &Ctx, args: &PsArgs) -> Result<()> {
    let filters = Filters::parse(&args.filter)?;
    let mut last = args.last.filter(|n| *n >= 0).map(|n| n as usize);
    if args.latest {
        last = Some(1);
    }
    let all = args.all || last.is_some() || filters.has("status");
    let mut recs: Vec<(Record, Vec<engine::volumes::MountPoint>)> = ctx
        .engine
        .containers()?
        .into_iter()
        .filter(|r| all || r.is_active())
        .map(|r| {
            let m = ctx.engine.container_mounts(&r.id);
            (r, m)
        })
        .filter(|(r, m)| filters.matches(r, m))
        .collect();
    if let Some(n) = last {
        recs.truncate(n);
    }
    if args.quiet {
        for (r, _) in &recs {
            println!("{}", if args.no_trunc { &r.id } else { &r.id[..12] });
        }
        return Ok(());
    }
    let rows: Vec<Value> = recs
        .iter()
        .map(|(r, m)| row(r, m, !args.no_trunc))
        .collect();
    if let Some(f) = &args.format {
        return crate::format::print_formatted(f, &rows, &HEADERS);
    }
    let mut t = Table::new(&[
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ]);
    for r in &rows {
        let cell = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
        t.row(vec![
            cell("ID"),
            cell("Image"),
            cell("Command"),
            cell("RunningFor"),
            cell("Status"),
            cell("Ports"),
            cell("Names"),
        ]);
    }
    print!("{}", t.render());
    Ok(())
}

pub(crate) fn port(ctx: &Ctx, args: &PortArgs) -> Result<()> {
    let rec = ctx.engine.container(&args.container)?;
    let mut ports: Vec<&PortBinding> = if rec.is_active() {
        rec.ports.iter().collect()
    } else {
        Vec::new()
    };
    ports.sort_by(|a, b| {
        (a.container_port, &a.protocol, &a.host_ip, a.host_port).cmp(&(
            b.container_port,
            &b.protocol,
            &b.host_ip,
            b.host_port,
        ))
    });
    if let Some(want) = &args.port {
        let Some((p, proto)) = port_key(want) else {
            bail!("Invalid port: {want}");
        };
        let hits: Vec<_> = ports
            .iter()
            .filter(|b| b.container_port == p && b.protocol == proto)
            .collect();
        if hits.is_empty() {
            bail!(
                "No public port '{p}/{proto}' published for {}",
                args.container
            );
        }
        for b in hits {
            println!("{}:{}", b.host_ip, b.host_port);
        }
        return Ok(());
    }
    for b in ports {
        println!(
            "{}/{} -> {}:{}",
            b.container_port, b.protocol, b.host_ip, b.host_port
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec() -> Record {
        serde_json::from_value(json!({
            "id": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "name": "web",
            "created": "2026-01-01T00:00:00Z",
            "image": "busybox",
            "image_id": "sha256:aa",
            "path": "sh",
            "args": ["-c", "echo hello world; sleep 100"],
            "driver": "overlay",
            "cgroup_path": "/mydocker/x",
            "tty": false,
            "open_stdin": false,
            "auto_remove": false,
            "network": "bridge",
            "net": {"mode": "bridge", "hostname": "h", "expose": ["443/tcp", "80"]},
            "ports": [
                {"host_ip": "0.0.0.0", "host_port": 8080, "container_port": 80, "protocol": "tcp"},
                {"host_ip": "127.0.0.1", "host_port": 9001, "container_port": 91, "protocol": "tcp"},
                {"host_ip": "127.0.0.1", "host_port": 9000, "container_port": 90, "protocol": "tcp"}
            ],
            "state": {"status": "running", "started_at": "2026-01-01T00:00:00Z"}
        }))
        .unwrap()
    }

    #[test]
    fn command_is_quoted_and_truncated_like_docker() {
        let r = rec();
        assert_eq!(command_text(&r), "sh -c 'echo hello world; sleep 100'");
        assert_eq!(
            go_quote(&ellipsis(&command_text(&r), 20)),
            "\"sh -c 'echo hello w…\""
        );
        assert_eq!(ellipsis("short", 20), "short");
        assert_eq!(go_quote("a\"b"), "\"a\\\"b\"");
    }

    #[test]
    fn ports_are_grouped_and_exposed_ones_listed() {
        let r = rec();
        assert_eq!(
            ports_text(&r),
            "0.0.0.0:8080->80/tcp, 127.0.0.1:9000-9001->90-91/tcp, 443/tcp"
        );
        let mut stopped = r.clone();
        stopped.state.status = Status::Exited;
        assert_eq!(ports_text(&stopped), "");
    }

    #[test]
    fn status_texts() {
        let mut r = rec();
        r.state.started_at = humantime::format_rfc3339_nanos(SystemTime::now()).to_string();
        assert_eq!(status_text(&r), "Up Less than a second");
        r.state.status = Status::Paused;
        assert_eq!(status_text(&r), "Up Less than a second (Paused)");
        r.state.status = Status::Exited;
        r.state.exit_code = 137;
        r.state.finished_at =
            humantime::format_rfc3339_nanos(SystemTime::now() - Duration::from_secs(180))
                .to_string();
        assert_eq!(status_text(&r), "Exited (137) 3 minutes ago");
        r.state.status = Status::Created;
        assert_eq!(status_text(&r), "Created");
    }

    #[test]
    fn filters() {
        let r = rec();
        let f = |s: &[&str]| {
            Filters::parse(&s.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap()
                .matches(&r, &[])
        };
        assert!(f(&["status=running"]));
        assert!(!f(&["status=exited"]));
        assert!(f(&["status=exited", "status=running"]));
        assert!(f(&["name=we", "id=0123"]));
        assert!(!f(&["name=db"]));
        assert!(f(&["ancestor=busybox"]));
        assert!(Filters::parse(&["bogus=1".to_string()]).is_err());
        assert!(Filters::parse(&["status=sleeping".to_string()]).is_err());
    }

    #[test]
    fn created_at_is_docker_style() {
        assert_eq!(created_at(&rec()), "2026-01-01 00:00:00 +0000 UTC");
    }
}
