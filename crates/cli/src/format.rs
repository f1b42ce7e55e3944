//! Output formatting shared by the commands: docker's tables, sizes and durations,
//! inspect documents and `--format` templates.

use anyhow::Result;
use serde_json::Value;
use std::fmt::Write as _;
use std::time::Duration;

/// A table laid out like docker's CLI (Go's tabwriter with minwidth 10, padding 3): every
/// column but the last is padded to the widest cell plus 3 spaces, and at least 10.
#[derive(Debug, Default)]
pub(crate) struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(header: &[&str]) -> Self {
        Table {
            rows: vec![header.iter().map(|s| (*s).to_owned()).collect()],
        }
    }

    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub(crate) fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut widths = vec![0usize; columns];
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    let width = (widths[i] + 3).max(10);
                    let _ = write!(line, "{cell:<width$}");
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Docker's `units.HumanSize`: decimal units, three significant digits (`4.26MB`, `999B`).
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    format!("{}{}", three_significant(v), UNITS[unit])
}

/// Go's `%.3g` for values in [0, 1000): at most three significant digits, no trailing zeros.
fn three_significant(v: f64) -> String {
    let decimals = if v < 10.0 {
        2
    } else if v < 100.0 {
        1
    } else {
        0
    };
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// Docker's `units.HumanDuration` ("About an hour", "3 days", "2 weeks").
pub(crate) fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 1 {
        return "Less than a second".into();
    }
    if secs == 1 {
        return "1 second".into();
    }
    if secs < 60 {
        return format!("{secs} seconds");
    }
    let minutes = secs / 60;
    if minutes == 1 {
        return "About a minute".into();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let hours = (d.as_secs_f64() / 3600.0 + 0.5) as u64;
    if hours == 1 {
        return "About an hour".into();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", secs / 3600 / 24 / 365)
}

/// "3 days ago" relative to now, for a Unix timestamp in seconds; "N/A" when unknown.
pub(crate) fn ago(unix_seconds: Option<i64>) -> String {
    let Some(t) = unix_seconds else {
        return "N/A".into();
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let secs = now.saturating_sub(t).max(0) as u64;
    format!("{} ago", human_duration(Duration::from_secs(secs)))
}

/// Prints inspect documents as docker does: a JSON array, or one formatted line each.
pub(crate) fn print_inspect(docs: &[Value], format: Option<&str>) -> Result<()> {
    match format {
        Some(f) => {
            let t = crate::template::compile(f)?;
            for d in docs {
                println!("{}", t.render(d)?);
            }
        }
        None => println!("{}", serde_json::to_string_pretty(docs)?),
    }
    Ok(())
}

/// Prints rows with a user `--format`: `json`, `table ...` (with headers, aligned), or a
/// template per line. `\t` and `\n` in the format are tab and newline, as in docker.
pub(crate) fn print_formatted(
    format: &str,
    rows: &[Value],
    headers: &[(&str, &str)],
) -> Result<()> {
    let format = format.trim();
    if format == "json" {
        for r in rows {
            println!("{}", crate::template::go_json(r));
        }
        return Ok(());
    }
    let (table, body) = match format.strip_prefix("table") {
        Some(rest) => (true, rest.trim()),
        None => (false, format),
    };
    let body = body.replace("\\t", "\t").replace("\\n", "\n");
    let template = crate::template::compile(&body)?;
    if !table {
        for r in rows {
            println!("{}", template.render(r)?);
        }
        return Ok(());
    }
    let titles = Value::Object(
        headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
            .collect(),
    );
    let header = template.render(&titles)?;
    let mut t = Table::new(&header.split('\t').collect::<Vec<_>>());
    for r in rows {
        let line = template.render(r)?;
        t.row(line.split('\t').map(str::to_owned).collect());
    }
    print!("{}", t.render());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_docker() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(1234), "1.23kB");
        assert_eq!(human_size(4_261_646), "4.26MB");
        assert_eq!(human_size(12_345_678), "12.3MB");
        assert_eq!(human_size(123_456_789), "123MB");
        assert_eq!(human_size(1_500_000_000), "1.5GB");
    }

    #[test]
    fn durations_match_docker() {
        let s = Duration::from_secs;
        assert_eq!(
            human_duration(Duration::from_millis(300)),
            "Less than a second"
        );
        assert_eq!(human_duration(s(1)), "1 second");
        assert_eq!(human_duration(s(45)), "45 seconds");
        assert_eq!(human_duration(s(90)), "About a minute");
        assert_eq!(human_duration(s(10 * 60)), "10 minutes");
        assert_eq!(human_duration(s(3600 + 60)), "About an hour");
        assert_eq!(human_duration(s(5 * 3600)), "5 hours");
        assert_eq!(human_duration(s(3 * 86400)), "3 days");
        assert_eq!(human_duration(s(21 * 86400)), "3 weeks");
        assert_eq!(human_duration(s(90 * 86400)), "3 months");
        assert_eq!(human_duration(s(800 * 86400)), "2 years");
    }

    #[test]
    fn table_pads_like_tabwriter() {
        let mut t = Table::new(&["REPOSITORY", "TAG", "SIZE"]);
        t.row(vec!["busybox".into(), "latest".into(), "4.26MB".into()]);
        assert_eq!(
            t.render(),
            "REPOSITORY   TAG       SIZE\nbusybox      latest    4.26MB\n"
        );
    }
}
