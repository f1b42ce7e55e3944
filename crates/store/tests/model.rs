//! Property test: random sequences of layer operations (add, overwrite, delete, opaque,
//! hard link, symlink) applied to a simple in-memory model of OCI layer semantics, compared
//! with what each driver produces; the mounting drivers are also compared with the copy
//! driver in full (modes, owners, hard links).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use common::{apply_all, drivers, fixture, rootfs};
use proptest::prelude::*;
use store::testing::{Kind, LayerTar, assert_same_tree, snapshot};

#[derive(Debug, Clone)]
enum Op {
    File(String, u8),
    Dir(String),
    Symlink(String, String),
    Delete(String),
    Opaque(String),
    Hardlink(String, String),
    /// A whiteout emitted whatever the model holds (possibly for nothing).
    RawWhiteout(String),
    /// An opaque marker without a directory entry.
    RawOpaque(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum MNode {
    Dir,
    File(Vec<u8>),
    Symlink(String),
}

fn path_strategy() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(vec!["a", "b", "c"]), 1..=3)
        .prop_map(|v| v.join("/"))
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (path_strategy(), any::<u8>()).prop_map(|(p, c)| Op::File(p, c)),
        1 => path_strategy().prop_map(Op::Dir),
        1 => (path_strategy(), prop::sample::select(vec!["a", "../b", "/etc/c", "a/b"])).prop_map(|(p, t)| Op::Symlink(p, t.to_owned())),
        2 => path_strategy().prop_map(Op::Delete),
        1 => path_strategy().prop_map(Op::Opaque),
        1 => (path_strategy(), path_strategy()).prop_map(|(p, t)| Op::Hardlink(p, t)),
        1 => path_strategy().prop_map(Op::RawWhiteout),
        1 => path_strategy().prop_map(Op::RawOpaque),
    ]
}

fn ancestors(p: &str) -> Vec<String> {
    let parts: Vec<&str> = p.split('/').collect();
    (1..parts.len()).map(|i| parts[..i].join("/")).collect()
}

fn remove_subtree(model: &mut BTreeMap<String, MNode>, p: &str) {
    let prefix = format!("{p}/");
    model.retain(|k, _| k != p && !k.starts_with(&prefix));
}

/// Turns intents into one valid layer tar, updating the model with OCI semantics.
fn build_layer(model: &mut BTreeMap<String, MNode>, ops: &[Op]) -> Vec<u8> {
    let mut t = LayerTar::new();
    let mut added: BTreeSet<String> = BTreeSet::new();
    let mut marks: Vec<String> = Vec::new();
    let mut files_added: BTreeSet<String> = BTreeSet::new();
    let parents = |t: &mut LayerTar,
                   model: &mut BTreeMap<String, MNode>,
                   added: &mut BTreeSet<String>,
                   marks: &mut Vec<String>,
                   p: &str| {
        for a in ancestors(p) {
            match model.get(&a) {
                Some(MNode::Dir) => {}
                Some(_) => {
                    // A file or symlink in the way is replaced by a directory entry.
                    t.dir(&a, 0o755);
                    model.insert(a.clone(), MNode::Dir);
                    added.insert(a.clone());
                    marks.push(a.clone());
                }
                None => {
                    model.insert(a.clone(), MNode::Dir);
                }
            }
        }
    };
    for op in ops {
        match op {
            Op::File(p, c) => {
                parents(&mut t, model, &mut added, &mut marks, p);
                let content = vec![*c; usize::from(*c % 7)];
                t.file(p, &content, 0o644);
                remove_subtree(model, p);
                model.insert(p.clone(), MNode::File(content));
                added.insert(p.clone());
                marks.push(p.clone());
                files_added.insert(p.clone());
            }
            Op::Dir(p) => {
                parents(&mut t, model, &mut added, &mut marks, p);
                t.dir(p, 0o755);
                if model.get(p) != Some(&MNode::Dir) {
                    remove_subtree(model, p);
                    model.insert(p.clone(), MNode::Dir);
                }
                added.insert(p.clone());
                marks.push(p.clone());
                files_added.remove(p);
            }
            Op::Symlink(p, target) => {
                parents(&mut t, model, &mut added, &mut marks, p);
                t.symlink(p, target);
                remove_subtree(model, p);
                model.insert(p.clone(), MNode::Symlink(target.clone()));
                added.insert(p.clone());
                marks.push(p.clone());
                files_added.remove(p);
            }
            Op::Delete(p) => {
                if model.contains_key(p)
                    && !added.contains(p)
                    && !marks.iter().any(|m| m.starts_with(&format!("{p}/")))
                {
                    t.whiteout(p);
                    remove_subtree(model, p);
                    marks.push(p.clone());
                }
            }
            Op::Opaque(d) => {
                parents(&mut t, model, &mut added, &mut marks, d);
                t.dir(d, 0o755);
                if model.get(d) != Some(&MNode::Dir) {
                    remove_subtree(model, d);
                    model.insert(d.clone(), MNode::Dir);
                }
                added.insert(d.clone());
                marks.push(d.clone());
                files_added.remove(d);
                t.opaque(d);
                let prefix = format!("{d}/");
                let doomed: Vec<String> = model
                    .keys()
                    .filter(|k| k.starts_with(&prefix))
                    .filter(|k| {
                        !added.contains(*k)
                            && !marks.iter().any(|m| m.starts_with(&format!("{k}/")))
                    })
                    .cloned()
                    .collect();
                for k in doomed {
                    model.remove(&k);
                }
            }
            Op::RawWhiteout(p) => {
                parents(&mut t, model, &mut added, &mut marks, p);
                t.whiteout(p);
                if !added.contains(p) && !marks.iter().any(|m| m.starts_with(&format!("{p}/"))) {
                    remove_subtree(model, p);
                }
                marks.push(p.clone());
            }
            Op::RawOpaque(d) => {
                // Only where the directory is a directory in the merged view, or absent.
                if model.get(d).is_some_and(|n| *n != MNode::Dir) {
                    continue;
                }
                parents(&mut t, model, &mut added, &mut marks, d);
                t.opaque(d);
                model.insert(d.clone(), MNode::Dir);
                let prefix = format!("{d}/");
                let doomed: Vec<String> = model
                    .keys()
                    .filter(|k| k.starts_with(&prefix))
                    .filter(|k| {
                        !added.contains(*k)
                            && !marks.iter().any(|m| m.starts_with(&format!("{k}/")))
                    })
                    .cloned()
                    .collect();
                for k in doomed {
                    model.remove(&k);
                }
                marks.push(prefix);
            }
            Op::Hardlink(p, target) => {
                if p == target
                    || !files_added.contains(target)
                    || target.starts_with(&format!("{p}/"))
                    || p.starts_with(&format!("{target}/"))
                {
                    continue;
                }
                let Some(MNode::File(content)) = model.get(target).cloned() else {
                    continue;
                };
                parents(&mut t, model, &mut added, &mut marks, p);
                t.hardlink(p, target);
                remove_subtree(model, p);
                model.insert(p.clone(), MNode::File(content));
                added.insert(p.clone());
                marks.push(p.clone());
                files_added.insert(p.clone());
            }
        }
    }
    t.finish()
}

fn model_of_tree(root: &std::path::Path) -> BTreeMap<String, MNode> {
    snapshot(root)
        .unwrap()
        .into_iter()
        .map(|(p, n): (PathBuf, _)| {
            let node = match n.kind {
                Kind::Dir => MNode::Dir,
                Kind::File(_) => MNode::File(std::fs::read(root.join(&p)).unwrap()),
                Kind::Symlink(t) => MNode::Symlink(t.to_string_lossy().into_owned()),
                other => panic!("unexpected {other:?} at {}", p.display()),
            };
            (p.to_string_lossy().into_owned(), node)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(24),
        ..ProptestConfig::default()
    })]

    #[test]
    fn drivers_match_the_model(layers in prop::collection::vec(prop::collection::vec(op_strategy(), 1..7), 1..5)) {
        let mut model = BTreeMap::new();
        let tars: Vec<Vec<u8>> = layers.iter().map(|ops| build_layer(&mut model, ops)).collect();
        let f = fixture();
        let mut copy_root = None;
        let mut guards = Vec::new();
        for d in drivers(&f.store, "model") {
            let top = apply_all(&*d, &tars).unwrap();
            let (g, root) = rootfs(&d, top.as_ref());
            let got = model_of_tree(&root);
            prop_assert_eq!(&got, &model, "driver {}", d.name());
            if d.name() == "copy" {
                copy_root = Some(root.clone());
            }
            guards.push((g, root));
        }
        let copy_root = copy_root.unwrap();
        for (_, root) in &guards {
            assert_same_tree(root, &copy_root);
        }
    }
}
