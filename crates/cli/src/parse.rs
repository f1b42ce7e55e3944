//! Parsers for docker's option values: memory sizes, CPU counts, volumes, tmpfs mounts,
//! environment files and user specs. Each returns an error message docker users recognise.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// Docker's `units.RAMInBytes`: a number with an optional binary unit suffix
/// (`b`, `k`, `m`, `g`, `t`, `p`, optionally followed by `b` or `ib`), case-insensitive.
pub(crate) fn ram_in_bytes(s: &str) -> Result<i64> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let split = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(split);
    let value: f64 = num
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite() && *v >= 0.0)
        .with_context(|| format!("invalid size: '{s}'"))?;
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b').filter(|u| !u.is_empty()))
        .unwrap_or(unit);
    let mult: f64 = match unit {
        "" | "b" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => bail!("invalid size: '{s}'"),
    };
    let bytes = value * mult;
    if bytes > i64::MAX as f64 {
        bail!("invalid size: '{s}' (too large)");
    }
    Ok(bytes as i64)
}

/// `--cpus 1.5` as CFS quota and period (docker uses a 100 ms period).
pub(crate) fn cpus_to_quota(s: &str, online_cpus: usize) -> Result<(i64, u64)> {
    const PERIOD: u64 = 100_000;
    let cpus: f64 = s
        .trim()
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .with_context(|| format!("invalid argument \"{s}\" for \"--cpus\" flag"))?;
    if cpus <= 0.0 {
        bail!("invalid argument \"{s}\" for \"--cpus\" flag: must be positive");
    }
    if cpus > online_cpus as f64 {
        bail!(
            "range of CPUs is from 0.01 to {online_cpus}.00, as there are only {online_cpus} CPUs available"
        );
    }
    let quota = (cpus * PERIOD as f64).round() as i64;
    if quota < 1000 {
        bail!("CPU cfs quota must be at least 1ms: --cpus {s} is too small");
    }
    Ok((quota, PERIOD))
}

/// One `-v/--volume` bind mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Volume {
    pub(crate) source: PathBuf,
    pub(crate) target: PathBuf,
    pub(crate) read_only: bool,
}

/// `HOST:CONTAINER[:OPTIONS]` with options `ro`, `rw` (others rejected). Both paths must be
/// absolute; named volumes are not supported yet and say so.
pub(crate) fn volume(spec: &str) -> Result<Volume> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, opts) = match parts.as_slice() {
        [s, t] => (*s, *t, ""),
        [s, t, o] => (*s, *t, *o),
        _ => bail!("invalid volume specification: '{spec}'"),
    };
    if source.is_empty() || target.is_empty() {
        bail!("invalid volume specification: '{spec}'");
    }
    if !source.starts_with('/') {
        bail!(
            "invalid volume specification: '{spec}': named volumes are not supported, use an absolute host path"
        );
    }
    if !target.starts_with('/') {
        bail!("invalid volume specification: '{spec}': mount path must be absolute");
    }
    let mut read_only = false;
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => read_only = true,
            "rw" => read_only = false,
            // Relabelling and propagation options are accepted and have no effect here.
            "z" | "Z" | "rprivate" | "private" => {}
            _ => bail!("invalid volume specification: '{spec}': unknown option '{o}'"),
        }
    }
    let target = clean_abs(Path::new(target));
    if target == Path::new("/") {
        bail!("invalid volume specification: '{spec}': destination can't be '/'");
    }
    Ok(Volume {
        source: PathBuf::from(source),
        target,
        read_only,
    })
}

/// `--tmpfs /path[:opts]`: the target and the mount options docker would pass.
pub(crate) fn tmpfs(spec: &str) -> Result<(PathBuf, Vec<String>)> {
    let (path, opts) = spec.split_once(':').unwrap_or((spec, ""));
    if !path.starts_with('/') {
        bail!("invalid tmpfs specification '{spec}': mount path must be absolute");
    }
    let mut options = vec!["nosuid".to_owned(), "nodev".to_owned(), "noexec".to_owned()];
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        let flip = match o {
            "exec" => Some("noexec"),
            "suid" => Some("nosuid"),
            "dev" => Some("nodev"),
            _ => None,
        };
        match flip {
            Some(neg) => options.retain(|x| x != neg),
            None => options.push(o.to_owned()),
        }
    }
    Ok((clean_abs(Path::new(path)), options))
}

/// Lexically normalised absolute path (`/a/./b/../c` -> `/a/c`); `..` never climbs above `/`.
pub(crate) fn clean_abs(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            std::path::Component::Normal(n) => out.push(n),
            std::path::Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// `-e NAME=value`, or `-e NAME` which takes the value from mydocker's own environment
/// (and is dropped when unset, as docker does).
pub(crate) fn env_arg(arg: &str) -> Result<Option<String>> {
    if arg.is_empty() || arg.starts_with('=') {
        bail!("invalid environment variable: '{arg}'");
    }
    if arg.contains('=') {
        return Ok(Some(arg.to_owned()));
    }
    Ok(std::env::var(arg).ok().map(|v| format!("{arg}={v}")))
}

/// Docker's `--env-file`: one variable per line, `#` comments and blank lines skipped,
/// `NAME` alone taken from the environment.
pub(crate) fn env_file(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("open {}: cannot read env file", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parsed =
            env_arg(line).with_context(|| format!("{}: line {}", path.display(), n + 1))?;
        out.extend(parsed);
    }
    Ok(out)
}

/// Merges `overrides` into `base` (both `NAME=value`): a later name replaces an earlier one
/// in place, new names are appended.
pub(crate) fn merge_env(base: &mut Vec<String>, overrides: impl IntoIterator<Item = String>) {
    for kv in overrides {
        let name = kv.split('=').next().unwrap_or("").to_owned();
        match base
            .iter_mut()
            .find(|e| e.split('=').next() == Some(name.as_str()))
        {
            Some(slot) => *slot = kv,
            None => base.push(kv),
        }
    }
}

/// `-u user[:group]` in any of docker's forms: names or numeric IDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UserSpec {
    pub(crate) user: String,
    pub(crate) group: Option<String>,
}

pub(crate) fn user_spec(s: &str) -> Result<UserSpec> {
    let (user, group) = match s.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (s, None),
    };
    if user.is_empty() || group.is_some_and(str::is_empty) {
        bail!("invalid user specification '{s}'");
    }
    Ok(UserSpec {
        user: user.to_owned(),
        group: group.map(str::to_owned),
    })
}

/// A user resolved against the image's /etc/passwd and /etc/group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResolvedUser {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) additional_gids: Vec<u32>,
    pub(crate) home: String,
}

/// Resolves `spec` with the image's passwd and group files (their contents; either may be
/// missing). Numeric IDs need no entry, as in docker; names must exist.
pub(crate) fn resolve_user(
    spec: &UserSpec,
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<ResolvedUser> {
    let passwd_entries: Vec<Vec<&str>> = passwd
        .unwrap_or("")
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 4)
        .collect();
    let group_entries: Vec<Vec<&str>> = group
        .unwrap_or("")
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 3)
        .collect();

    let by_name = passwd_entries.iter().find(|f| f[0] == spec.user);
    let numeric_uid = spec.user.parse::<u32>().ok();
    let entry = by_name.or_else(|| {
        numeric_uid.and_then(|uid| passwd_entries.iter().find(|f| f[2].parse() == Ok(uid)))
    });
    let (uid, mut gid, name, home) = match (entry, numeric_uid) {
        (Some(f), _) => (
            f[2].parse::<u32>()
                .with_context(|| format!("bad uid in /etc/passwd for {}", f[0]))?,
            f[3].parse::<u32>()
                .with_context(|| format!("bad gid in /etc/passwd for {}", f[0]))?,
            Some(f[0]),
            f.get(5).copied().unwrap_or("/").to_owned(),
        ),
        (None, Some(uid)) => (uid, 0, None, "/".to_owned()),
        (None, None) => bail!(
            "unable to find user {}: no matching entries in passwd file",
            spec.user
        ),
    };
    if let Some(g) = &spec.group {
        gid = match group_entries.iter().find(|f| f[0] == g.as_str()) {
            Some(f) => f[2]
                .parse()
                .with_context(|| format!("bad gid in /etc/group for {g}"))?,
            None => g.parse::<u32>().map_err(|_| {
                anyhow::anyhow!("unable to find group {g}: no matching entries in group file")
            })?,
        };
    }
    let mut additional_gids = Vec::new();
    if let Some(name) = name {
        for f in &group_entries {
            let members = f.get(3).copied().unwrap_or("");
            if members.split(',').any(|m| m == name)
                && let Ok(g) = f[2].parse::<u32>()
                && g != gid
                && !additional_gids.contains(&g)
            {
                additional_gids.push(g);
            }
        }
    }
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
        home,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes_follow_docker() {
        assert_eq!(ram_in_bytes("200m").unwrap(), 200 << 20);
        assert_eq!(ram_in_bytes("200M").unwrap(), 200 << 20);
        assert_eq!(ram_in_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(ram_in_bytes("1GiB").unwrap(), 1 << 30);
        assert_eq!(ram_in_bytes("32mb").unwrap(), 32 << 20);
        assert_eq!(ram_in_bytes("1024").unwrap(), 1024);
        assert_eq!(ram_in_bytes("1.5k").unwrap(), 1536);
        assert!(ram_in_bytes("abc").is_err());
        assert!(ram_in_bytes("12x").is_err());
        assert!(ram_in_bytes("-5m").is_err());
        assert!(ram_in_bytes("").is_err());
    }

    #[test]
    fn cpus_become_cfs_quota() {
        assert_eq!(cpus_to_quota("0.5", 2).unwrap(), (50_000, 100_000));
        assert_eq!(cpus_to_quota("2", 2).unwrap(), (200_000, 100_000));
        assert!(
            cpus_to_quota("3", 2)
                .unwrap_err()
                .to_string()
                .contains("only 2 CPUs")
        );
        assert!(cpus_to_quota("0", 2).is_err());
        assert!(cpus_to_quota("x", 2).is_err());
    }

    #[test]
    fn volumes() {
        assert_eq!(
            volume("/data:/srv/data:ro").unwrap(),
            Volume {
                source: "/data".into(),
                target: "/srv/data".into(),
                read_only: true
            }
        );
        assert!(!volume("/a:/b").unwrap().read_only);
        assert_eq!(volume("/a:/b/../c/./d").unwrap().target, Path::new("/c/d"));
        assert!(volume("named:/b").is_err());
        assert!(volume("/a:rel").is_err());
        assert!(volume("/a:/b:xx").is_err());
        assert!(volume("/a").is_err());
        assert!(volume("/a:/").is_err());
    }

    #[test]
    fn tmpfs_options() {
        let (p, o) = tmpfs("/run:size=64m,exec").unwrap();
        assert_eq!(p, Path::new("/run"));
        assert_eq!(o, ["nosuid", "nodev", "size=64m"]);
        assert!(tmpfs("run").is_err());
    }

    #[test]
    fn env_merging() {
        let mut base = vec!["PATH=/bin".to_owned(), "A=1".to_owned()];
        merge_env(&mut base, ["A=2".to_owned(), "B=3".to_owned()]);
        assert_eq!(base, ["PATH=/bin", "A=2", "B=3"]);
        assert!(env_arg("=x").is_err());
        assert_eq!(env_arg("X=").unwrap().as_deref(), Some("X="));
    }

    #[test]
    fn env_file_lines() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("env");
        std::fs::write(
            &f,
            "# comment\n\nA=1\n  B=two words\nMYDOCKER_SURELY_UNSET_VAR\n",
        )
        .unwrap();
        assert_eq!(env_file(&f).unwrap(), ["A=1", "B=two words"]);
    }

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nalice:x:1000:1000::/home/alice:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nwheel:x:10:alice\nalice:x:1000:\nstaff:x:50:bob,alice\n";

    #[test]
    fn users_resolve_like_docker() {
        let r = |s: &str| resolve_user(&user_spec(s).unwrap(), Some(PASSWD), Some(GROUP));
        let alice = r("alice").unwrap();
        assert_eq!((alice.uid, alice.gid), (1000, 1000));
        assert_eq!(alice.additional_gids, [10, 50]);
        assert_eq!(alice.home, "/home/alice");
        assert_eq!(r("1000").unwrap().uid, 1000);
        let anon = r("4242:4343").unwrap();
        assert_eq!((anon.uid, anon.gid), (4242, 4343));
        assert_eq!(r("alice:wheel").unwrap().gid, 10);
        assert_eq!(r("nobody").unwrap().uid, 65534);
        assert!(
            r("mallory")
                .unwrap_err()
                .to_string()
                .contains("unable to find user mallory")
        );
        assert!(r("alice:nogroup").is_err());
        assert!(user_spec(":").is_err());
        assert!(resolve_user(&user_spec("0").unwrap(), None, None).is_ok());
    }
}
