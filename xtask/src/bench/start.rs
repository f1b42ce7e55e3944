//! Where the time of `mydocker run --rm busybox true` goes: the phase table that
//! `--log-level debug` prints (each phase's end, measured on the host's monotonic clock
//! by the engine and by the container's init), as medians over the runs, without and
//! with the default bridge network. The ratios to crun, runc and podman are the `run`
//! section's.

use super::{Env, quiet};
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;

pub(crate) fn run(env: &mut Env) -> Result<String> {
    let runs = env.runs(20);
    let env = &*env;
    let root = env.md_root();
    quiet(env.md(&root).args(["pull", "-q", &env.busybox]))?;
    let mut out = String::new();
    for (title, extra) in [
        ("--network none", &["--network", "none"][..]),
        ("default bridge network", &[][..]),
    ] {
        let mut samples: Vec<Vec<(String, f64)>> = Vec::new();
        for _ in 0..runs {
            let mut args = vec!["--rm"];
            args.extend_from_slice(extra);
            args.extend_from_slice(&[&env.busybox, "true"]);
            let mut c = env.md(&root);
            c.args(["--log-level", "debug", "run"])
                .args(["--cgroup-parent", &format!("{}-md", env.cgroup_parent)])
                .args(&args);
            let o = c.output().context("running mydocker")?;
            if !o.status.success() {
                bail!(
                    "mydocker run failed: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
            }
            samples.push(parse(&String::from_utf8_lossy(&o.stderr)));
        }
        out.push_str(&phase_table(
            &format!("start phases of `mydocker run --rm {title} busybox true` (median of {runs} runs, ms)"),
            &samples,
        ));
    }
    Ok(out)
}

/// The `DEBU:  AT  TOOK  NAME` lines of the phase table.
fn parse(stderr: &str) -> Vec<(String, f64)> {
    stderr
        .lines()
        .filter_map(|l| {
            let mut words = l.strip_prefix("DEBU:")?.split_whitespace();
            let _at: f64 = words.next()?.parse().ok()?;
            let took: f64 = words.next()?.parse().ok()?;
            let name = words.collect::<Vec<_>>().join(" ");
            Some((name, took))
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// One row per phase (in the order of the first sample), with the median of its
/// durations, and the median of the sums.
fn phase_table(title: &str, samples: &[Vec<(String, f64)>]) -> String {
    let mut order: Vec<String> = Vec::new();
    let mut by_name: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for s in samples {
        for (name, took) in s {
            if !order.contains(name) {
                order.push(name.clone());
            }
            by_name.entry(name.clone()).or_default().push(*took);
        }
    }
    let mut out = format!("\n### {title}\n\n| phase | median ms |\n|---|---:|\n");
    for name in &order {
        let m = median(by_name.get(name).cloned().unwrap_or_default());
        out.push_str(&format!("| {name} | {m:.2} |\n"));
    }
    let total = median(
        samples
            .iter()
            .map(|s| s.iter().map(|(_, t)| t).sum())
            .collect(),
    );
    out.push_str(&format!(
        "| **engine total** (engine created to removal; process start and exit excluded) | {total:.2} |\n"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_lines_are_parsed_and_summarised() {
        let err = "DEBU:     at ms   took ms  phase\nDEBU:      0.18      0.18  cli: ready\nDEBU: other line\nDEBU:      1.00      0.82  create: image found\n";
        let p = parse(err);
        assert_eq!(
            p,
            [
                ("cli: ready".to_owned(), 0.18),
                ("create: image found".to_owned(), 0.82)
            ]
        );
        let t = phase_table("t", &[p.clone(), vec![("cli: ready".into(), 0.5)]]);
        assert!(t.contains("| cli: ready | 0.34 |"), "{t}");
        assert!(t.contains("| create: image found | 0.82 |"), "{t}");
        assert!(t.contains("| 0.75 |"), "{t}");
    }
}
