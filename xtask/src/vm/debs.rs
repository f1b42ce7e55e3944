//! Debian packages fetched with `apt-get download` and unpacked with `dpkg -x` into the
//! cache, never installed on the host (installing Debian's qemu-system-x86 would remove the
//! newer qemu-utils this machine has; the guest kernel has no business in /boot).

use anyhow::{Context, Result, bail};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// A package at the version apt would install.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Pkg {
    pub(crate) name: String,
    pub(crate) version: String,
}

impl Pkg {
    /// A directory-name-safe `name_version`.
    pub(crate) fn key(&self) -> String {
        format!("{}_{}", self.name, self.version)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._+-".contains(c) {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    }
}

static APT_UPDATED: AtomicBool = AtomicBool::new(false);

/// Answers of `apt-cache` (over a second each here: this apt keeps no binary cache), kept in
/// a file and trusted while the package lists they came from are unchanged.
static MEMO: Mutex<Option<Memo>> = Mutex::new(None);

#[derive(Debug)]
struct Memo {
    path: PathBuf,
    lists: String,
    answers: BTreeMap<String, String>,
}

/// Remembers apt answers in `path` from now on (for this process and the next runs).
pub(crate) fn use_memo(path: &Path) {
    let lists = lists_fingerprint();
    let mut answers = BTreeMap::new();
    if let Ok(text) = fs::read_to_string(path) {
        let mut lines = text.lines();
        if lines.next() == Some(lists.as_str()) {
            for l in lines {
                if let Some((q, a)) = l.split_once('\t') {
                    answers.insert(q.to_owned(), a.to_owned());
                }
            }
        }
    }
    if let Ok(mut m) = MEMO.lock() {
        *m = Some(Memo {
            path: path.to_owned(),
            lists,
            answers,
        });
    }
}

/// Names, sizes and times of apt's package lists: what apt-cache answers from.
fn lists_fingerprint() -> String {
    let mut entries: Vec<String> = fs::read_dir("/var/lib/apt/lists")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let m = e.metadata().ok()?;
                    Some(format!("{:?} {} {}", e.file_name(), m.len(), m.mtime()))
                })
                .collect()
        })
        .unwrap_or_default();
    entries.sort();
    let mut h = super::Fnv::new();
    for e in &entries {
        h.put(e.as_bytes());
    }
    format!("apt-lists {:016x}", h.finish())
}

fn memo_get(question: &str) -> Option<String> {
    MEMO.lock()
        .ok()
        .and_then(|m| m.as_ref().and_then(|m| m.answers.get(question).cloned()))
}

fn memo_put(answers: &[(String, String)]) {
    let Ok(mut guard) = MEMO.lock() else { return };
    let Some(m) = guard.as_mut() else { return };
    // After an `apt-get update` the lists differ: start over with the new fingerprint.
    let now = lists_fingerprint();
    if now != m.lists {
        m.lists = now;
        m.answers.clear();
    }
    m.answers.extend(answers.iter().cloned());
    let mut text = format!("{}\n", m.lists);
    for (q, a) in &m.answers {
        text.push_str(&format!("{q}\t{a}\n"));
    }
    // A memo that cannot be written only costs time next run.
    let _ = fs::write(&m.path, text);
}

/// Splits `apt-cache` output for several packages into (package, section) pairs: a section
/// starts at a line without indentation (`name` or `name:`).
fn sections(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if !line.is_empty() && !line.starts_with(char::is_whitespace) {
            out.push((line.trim_end_matches(':').to_owned(), String::new()));
        } else if let Some((_, body)) = out.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    out
}

fn apt_update_once() -> Result<()> {
    if !APT_UPDATED.swap(true, Ordering::SeqCst) {
        crate::run_cmd(Command::new("apt-get").args(["update", "-q"]))?;
    }
    Ok(())
}

fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("running {:?}", cmd.get_program()))?;
    if !out.status.success() {
        bail!(
            "{:?} {:?} failed: {}",
            cmd.get_program(),
            cmd.get_args().collect::<Vec<_>>(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The version apt would install of `name` (runs `apt-get update` once if apt knows none).
pub(crate) fn candidate(name: &str) -> Result<Pkg> {
    let mut v = candidates(&[name.to_owned()])?;
    v.pop().context("no candidate")
}

/// The versions apt would install, asking apt once for all those not remembered.
pub(crate) fn candidates(names: &[String]) -> Result<Vec<Pkg>> {
    let question = |n: &str| format!("candidate {n}");
    let unknown: Vec<&String> = names
        .iter()
        .filter(|n| memo_get(&question(n)).is_none())
        .collect();
    if !unknown.is_empty() {
        let mut found = Vec::new();
        for attempt in 0..2 {
            let text = output(Command::new("apt-cache").arg("policy").args(&unknown))?;
            found = sections(&text)
                .into_iter()
                .filter_map(|(n, body)| Some((question(&n), parse_candidate(&body)?)))
                .collect();
            if found.len() == unknown.len() {
                break;
            }
            if attempt == 0 {
                apt_update_once()?;
            }
        }
        memo_put(&found);
    }
    names
        .iter()
        .map(|n| {
            let version = memo_get(&question(n))
                .with_context(|| format!("apt knows no installable version of {n}"))?;
            Ok(Pkg {
                name: n.clone(),
                version,
            })
        })
        .collect()
}

fn parse_candidate(policy: &str) -> Option<String> {
    policy
        .lines()
        .find_map(|l| l.trim().strip_prefix("Candidate:"))
        .map(str::trim)
        .filter(|v| !v.is_empty() && *v != "(none)")
        .map(str::to_owned)
}

/// Hard dependencies of `name`: one group per `A | B | C` alternative, real packages only.
pub(crate) fn depends(name: &str) -> Result<Vec<Vec<String>>> {
    Ok(depends_of(&[name.to_owned()])?.pop().unwrap_or_default())
}

/// [`depends`] of several packages, asking apt once for all those not remembered.
pub(crate) fn depends_of(names: &[String]) -> Result<Vec<Vec<Vec<String>>>> {
    // Memo form: groups split by `,`, alternatives by `|`.
    let question = |n: &str| format!("depends {n}");
    let unknown: Vec<&String> = names
        .iter()
        .filter(|n| memo_get(&question(n)).is_none())
        .collect();
    if !unknown.is_empty() {
        let ask = || output(Command::new("apt-cache").arg("depends").args(&unknown));
        // apt-cache fails on a name it does not know: maybe the lists are missing or old.
        let text = match ask() {
            Ok(text) => text,
            Err(_) => {
                apt_update_once()?;
                ask()?
            }
        };
        let found: Vec<(String, String)> = sections(&text)
            .into_iter()
            .map(|(n, body)| {
                let flat = parse_depends(&body)
                    .iter()
                    .map(|g| g.join("|"))
                    .collect::<Vec<_>>()
                    .join(",");
                (question(&n), flat)
            })
            .collect();
        memo_put(&found);
    }
    names
        .iter()
        .map(|n| {
            let flat = memo_get(&question(n))
                .with_context(|| format!("apt-cache depends knows no {n}"))?;
            Ok(flat
                .split(',')
                .filter(|g| !g.is_empty())
                .map(|g| g.split('|').map(str::to_owned).collect())
                .collect())
        })
        .collect()
}

/// Parses `apt-cache depends`: a `|Depends:` line opens an alternative group that the next
/// `Depends:` line closes; virtual packages show as `<name>` and are left out.
pub(crate) fn parse_depends(text: &str) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut group: Vec<String> = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        let (alt, rest) = if let Some(r) = l.strip_prefix("|Depends:") {
            (true, r)
        } else if let Some(r) = l.strip_prefix("Depends:") {
            (false, r)
        } else if l.starts_with("PreDepends:") || l.starts_with("|PreDepends:") {
            (l.starts_with('|'), l.split_once(':').map_or("", |x| x.1))
        } else {
            continue;
        };
        let dep = rest.trim();
        if !dep.starts_with('<') {
            group.push(dep.to_owned());
        }
        if !alt {
            if !group.is_empty() && !out.contains(&group) {
                out.push(std::mem::take(&mut group));
            }
            group.clear();
        }
    }
    out
}

pub(crate) fn is_installed(name: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", name])
        .output()
        .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).ends_with(" installed"))
        .unwrap_or(false)
}

/// Downloads `pkgs` and unpacks each into `root`, skipping those already unpacked there
/// (recorded in `root/.pkgs`). With `only` non-empty, unpacks just the members matching
/// those GNU tar patterns (`*` does not cross `/`; a directory brings its content).
pub(crate) fn fetch_into(pkgs: &[Pkg], root: &Path, only: &[&str]) -> Result<()> {
    fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
    let record = root.join(".pkgs");
    let done: BTreeSet<String> = fs::read_to_string(&record)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect();
    // What was unpacked, and how: a change of `only` unpacks again.
    let entry = |p: &Pkg| {
        if only.is_empty() {
            p.key()
        } else {
            format!("{} only={}", p.key(), only.join(","))
        }
    };
    let todo: Vec<&Pkg> = pkgs.iter().filter(|p| !done.contains(&entry(p))).collect();
    if todo.is_empty() {
        return Ok(());
    }
    let dl = root.join(".download");
    let _ = fs::remove_dir_all(&dl);
    fs::create_dir_all(&dl)?;
    let specs: Vec<String> = todo
        .iter()
        .map(|p| format!("{}={}", p.name, p.version))
        .collect();
    let download = |specs: &[String]| {
        crate::run_cmd(
            Command::new("apt-get")
                // Root downloading into a directory the _apt user cannot write is fine here.
                .args(["download", "-q", "-o", "APT::Sandbox::User=root"])
                .args(specs)
                .current_dir(&dl),
        )
    };
    if download(&specs).is_err() {
        // Stale package lists name files the mirror no longer has: refresh once and retry.
        apt_update_once()?;
        download(&specs).context("apt-get download")?;
    }
    let mut debs: Vec<PathBuf> = fs::read_dir(&dl)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    debs.sort();
    if debs.len() != todo.len() {
        bail!(
            "apt-get download of {} packages left {} .deb files in {}",
            todo.len(),
            debs.len(),
            dl.display()
        );
    }
    for deb in &debs {
        if only.is_empty() {
            crate::run_cmd(Command::new("dpkg").arg("-x").arg(deb).arg(root))?;
        } else {
            extract_some(deb, root, only)?;
        }
    }
    let mut all = done;
    all.extend(todo.iter().map(|p| entry(p)));
    let text: String = all.iter().map(|k| format!("{k}\n")).collect();
    fs::write(&record, text)?;
    fs::remove_dir_all(&dl)?;
    Ok(())
}

/// `dpkg-deb --fsys-tarfile DEB | tar -x` of the members matching `patterns`.
fn extract_some(deb: &Path, root: &Path, patterns: &[&str]) -> Result<()> {
    eprintln!(
        "xtask: $ dpkg-deb --fsys-tarfile {} | tar -x {}",
        deb.display(),
        patterns.join(" ")
    );
    let mut lister = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(deb)
        .stdout(Stdio::piped())
        .spawn()
        .context("running dpkg-deb")?;
    let tar_in = lister.stdout.take().context("dpkg-deb stdout")?;
    let tar = Command::new("tar")
        .args(["-x", "-C"])
        .arg(root)
        .args(["--wildcards", "--no-wildcards-match-slash"])
        .args(patterns)
        .stdin(tar_in)
        .status()
        .context("running tar")?;
    let dpkg = lister.wait()?;
    if !tar.success() || !dpkg.success() {
        bail!(
            "unpacking {} failed: dpkg-deb {dpkg}, tar {tar}",
            deb.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidate_is_read_from_apt_cache_policy() {
        let text = "qemu-system-x86:\n  Installed: (none)\n  Candidate: 1:7.2+dfsg-7+deb12u18+b3\n  Version table:\n";
        assert_eq!(
            parse_candidate(text).as_deref(),
            Some("1:7.2+dfsg-7+deb12u18+b3")
        );
        assert_eq!(
            parse_candidate("x:\n  Installed: (none)\n  Candidate: (none)\n"),
            None
        );
        assert_eq!(parse_candidate(""), None);
    }

    #[test]
    fn depends_groups_alternatives_and_skips_virtuals() {
        let text = "qemu-system-x86\n  Depends: libaio1\n  |Depends: libfoo1\n  Depends: libbar1\n  Depends: <virt>\n  PreDepends: dpkg\n  Breaks: <qemu-kvm>\n  Recommends: qemu-utils\n  Depends: libaio1\n";
        assert_eq!(
            parse_depends(text),
            [vec!["libaio1"], vec!["libfoo1", "libbar1"], vec!["dpkg"]]
        );
    }

    #[test]
    fn output_for_several_packages_is_split() {
        let policy = "libfdt1:\n  Installed: (none)\n  Candidate: 1.6.1-4+b1\nseabios:\n  Installed: (none)\n  Candidate: 1.16.2-1\n";
        let s = sections(policy);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].0, "libfdt1");
        assert_eq!(parse_candidate(&s[1].1).as_deref(), Some("1.16.2-1"));
        let deps =
            "libfdt1\n  Depends: libc6\nlibslirp0\n  Depends: libc6\n  Depends: libglib2.0-0\n";
        let s = sections(deps);
        assert_eq!(s[1].0, "libslirp0");
        assert_eq!(
            parse_depends(&s[1].1),
            [vec!["libc6"], vec!["libglib2.0-0"]]
        );
    }

    #[test]
    fn key_is_path_safe() {
        let p = Pkg {
            name: "qemu-system-x86".into(),
            version: "1:7.2+dfsg-7".into(),
        };
        assert_eq!(p.key(), "qemu-system-x86_1-7.2+dfsg-7");
    }
}
