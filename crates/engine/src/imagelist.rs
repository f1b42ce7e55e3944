//! `images --filter` and `history`: which images a listing shows (docker's `reference`,
//! `dangling`, `label`, `before` and `since` filters), their uncompressed sizes, and an
//! image's history with the size of each layer.

use std::collections::BTreeMap;

use serde_json::Value;
use store::{ImageEntry, ImageRecord};

use crate::config::Engine;
use crate::error::{Error, Result, invalid};
use crate::images::{created_unix, familiar_repo, find_image};

/// A parsed `images --filter` set: every key applies; values of `reference` are
/// alternatives, every `label` must match.
#[derive(Debug, Default, Clone)]
pub struct ImageFilter {
    reference: Vec<String>,
    dangling: Option<bool>,
    label: Vec<String>,
    /// Created strictly before this (unix seconds).
    before: Option<i64>,
    /// Created strictly after this (unix seconds).
    since: Option<i64>,
}

/// One row of an image listing.
#[derive(Debug, Clone)]
pub struct ImageRow {
    /// Repository, tag, digest and the image.
    pub entry: ImageEntry,
    /// The uncompressed size of its layers (docker's SIZE).
    pub size: u64,
    /// The image's labels.
    pub labels: BTreeMap<String, String>,
}

/// One line of `history`, newest first.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    /// The image ID for the top line, `None` (docker's `<missing>`) below it.
    pub id: Option<String>,
    /// Creation time (unix seconds), when recorded.
    pub created: Option<i64>,
    /// RFC 3339 creation time, as recorded.
    pub created_at: String,
    /// The instruction that made it.
    pub created_by: String,
    /// Uncompressed bytes of its layer (0 for an empty layer).
    pub size: u64,
    /// `commit -m` and such.
    pub comment: String,
}

/// Go's `path.Match` for references: `*` and `?` never match `/`, `[...]` classes.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    fn class(p: &[char], c: char) -> Option<(bool, usize)> {
        // p starts after '['; returns (matched, length including ']').
        let mut i = 0;
        let negate = p.first() == Some(&'^');
        if negate {
            i += 1;
        }
        let mut matched = false;
        let mut first = true;
        while i < p.len() {
            if p[i] == ']' && !first {
                return Some((matched != negate, i + 1));
            }
            first = false;
            let lo = p[i];
            if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
                if lo <= c && c <= p[i + 2] {
                    matched = true;
                }
                i += 3;
            } else {
                if lo == c {
                    matched = true;
                }
                i += 1;
            }
        }
        None
    }
    fn go(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len())
                .take_while(|&i| i == 0 || n[i - 1] != '/')
                .any(|i| go(&p[1..], &n[i..])),
            Some('?') => n.first().is_some_and(|c| *c != '/') && go(&p[1..], &n[1..]),
            Some('[') => match n.first() {
                Some(&c) if c != '/' => match class(&p[1..], c) {
                    Some((true, len)) => go(&p[1 + len..], &n[1..]),
                    _ => false,
                },
                _ => false,
            },
            Some('\\') if p.len() > 1 => n.first() == Some(&p[1]) && go(&p[2..], &n[1..]),
            Some(c) => n.first() == Some(c) && go(&p[1..], &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

/// Docker's `reference=` filter: a pattern without a tag matches the repository, one
/// with a tag matches `repository:tag` (familiar names: `busybox`, not
/// `docker.io/library/busybox`).
fn reference_matches(pattern: &str, e: &ImageEntry) -> bool {
    let Some(repo) = &e.repository else {
        return false;
    };
    let familiar = familiar_repo(repo);
    let has_tag = pattern
        .rsplit_once(':')
        .is_some_and(|(_, t)| !t.contains('/'));
    let repos = [familiar.as_str(), repo.as_str()];
    if has_tag {
        let Some(tag) = &e.tag else { return false };
        repos
            .iter()
            .any(|r| glob_match(pattern, &format!("{r}:{tag}")))
    } else {
        repos.iter().any(|r| glob_match(pattern, r))
    }
}

impl Engine {
    /// Parses `images --filter` values; `before=`/`since=` name images that must exist.
    ///
    /// # Errors
    /// docker's `invalid filter 'KEY'`, a bad `dangling` value, no such image.
    pub fn image_filter(&self, specs: &[String]) -> Result<ImageFilter> {
        let mut f = ImageFilter::default();
        for s in specs {
            let Some((k, v)) = s.split_once('=') else {
                invalid!("bad format of filter (expected name=value)");
            };
            match k.trim().to_ascii_lowercase().as_str() {
                "reference" => f.reference.push(v.to_owned()),
                "dangling" => {
                    f.dangling = Some(match v.to_ascii_lowercase().as_str() {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => invalid!("invalid filter 'dangling={v}'"),
                    });
                }
                "label" => f.label.push(v.to_owned()),
                key @ ("before" | "since") => {
                    let img = self.image(v)?;
                    let t = created_unix(&img).unwrap_or(0);
                    if key == "before" {
                        f.before = Some(t);
                    } else {
                        f.since = Some(t);
                    }
                }
                other => invalid!("invalid filter '{other}'"),
            }
        }
        Ok(f)
    }

    /// The images a listing shows, newest first, with their uncompressed sizes.
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn list_images(&self, filter: &ImageFilter) -> Result<Vec<ImageRow>> {
        let store = self.store()?;
        let driver = self.driver(&store).ok();
        let mut out = Vec::new();
        for entry in self.images()? {
            let f = filter;
            let dangling = entry.repository.is_none();
            if f.dangling.is_some_and(|d| d != dangling) {
                continue;
            }
            if !f.reference.is_empty() && !f.reference.iter().any(|p| reference_matches(p, &entry))
            {
                continue;
            }
            let created = created_unix(&entry.image).unwrap_or(0);
            if f.before.is_some_and(|b| created >= b) || f.since.is_some_and(|s| created <= s) {
                continue;
            }
            let labels = image_labels(&store, &entry.image);
            if !f
                .label
                .iter()
                .all(|l| crate::volumes::label_matches(&labels, l))
            {
                continue;
            }
            let size = layer_sizes(driver.as_deref(), &entry.image).iter().sum();
            out.push(ImageRow {
                entry,
                size,
                labels,
            });
        }
        Ok(out)
    }

    /// `history IMAGE`: the config's history, newest first, each line that made a layer
    /// with that layer's uncompressed size.
    ///
    /// # Errors
    /// No such image, an unreadable config.
    pub fn history(&self, name: &str) -> Result<Vec<HistoryEntry>> {
        let store = self.store()?;
        let rec = find_image(&store, name)?;
        let driver = self.driver(&store).ok();
        let config: Value = serde_json::from_slice(&store.blobs().read(&rec.config_digest)?)
            .map_err(|e| Error::json("image config is not valid JSON", e))?;
        let sizes = layer_sizes(driver.as_deref(), &rec);
        let mut layers = sizes.into_iter();
        let mut out = Vec::new();
        let str_of = |h: &Value, k: &str| h.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let history = config
            .get("history")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for h in &history {
            let empty = h
                .get("empty_layer")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let created_at = str_of(h, "created");
            out.push(HistoryEntry {
                id: None,
                created: humantime::parse_rfc3339_weak(&created_at)
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .and_then(|d| i64::try_from(d.as_secs()).ok()),
                created_at,
                created_by: str_of(h, "created_by"),
                size: if empty { 0 } else { layers.next().unwrap_or(0) },
                comment: str_of(h, "comment"),
            });
        }
        // Layers the history does not describe (images made without one).
        for size in layers {
            out.push(HistoryEntry {
                id: None,
                created: created_unix(&rec),
                created_at: rec.created.clone().unwrap_or_default(),
                created_by: String::new(),
                size,
                comment: String::new(),
            });
        }
        out.reverse();
        // The image, then the images of the steps before it (a build's records).
        let mut id = Some(rec.id.clone());
        for entry in &mut out {
            let Some(current) = id.take() else { break };
            id = crate::build::cache::parent_of(&self.config.root, &current);
            entry.id = Some(current.to_string());
        }
        Ok(out)
    }
}

/// The labels of an image's config.
fn image_labels(store: &store::Store, rec: &ImageRecord) -> BTreeMap<String, String> {
    store
        .blobs()
        .read(&rec.config_digest)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v.pointer("/config/Labels").cloned())
        .and_then(|l| serde_json::from_value(l).ok())
        .unwrap_or_default()
}

/// Each layer's uncompressed size: the tar size the driver recorded when it unpacked it,
/// else the blob's size.
fn layer_sizes(driver: Option<&dyn store::driver::StorageDriver>, rec: &ImageRecord) -> Vec<u64> {
    rec.layers
        .iter()
        .map(|l| {
            driver
                .and_then(|d| d.layer_info(&l.chain_id).ok())
                .filter(|i| i.diff_id == l.diff_id && i.tar_size > 0)
                .map_or(l.size, |i| i.tar_size)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs_follow_go_path_match() {
        assert!(glob_match("busy*", "busybox"));
        assert!(glob_match("busybox:*", "busybox:latest"));
        assert!(!glob_match("*", "library/busybox"));
        assert!(glob_match("*/busybox", "library/busybox"));
        assert!(glob_match("b?sybox", "busybox"));
        assert!(glob_match("[a-c]usybox", "busybox"));
        assert!(!glob_match("[^a-c]usybox", "busybox"));
        assert!(!glob_match("busy", "busybox"));
    }
}
