//! The COPY and ADD steps: their sources matched, their cache key (the hash of the files
//! copied, or the `--from` image's ID, with the destination and flags), and on a miss the
//! copy into a new layer.

use sha2::{Digest as _, Sha256};

use super::builder::{Builder, StageRun};
use super::copy::{Match, Source};
use super::fsops::Scratch;
use super::ignore::has_wildcards;
use super::parser::Instruction;
use crate::error::{Error, Result};

/// A COPY or ADD after substitution.
#[derive(Debug)]
pub(super) struct Args<'a> {
    pub(super) srcs: &'a [String],
    /// The destination in the image (absolute, a trailing `/` kept).
    pub(super) dest: &'a str,
    pub(super) chown: Option<&'a str>,
    pub(super) chmod: Option<u32>,
    pub(super) from: Option<&'a str>,
    /// The flags as they enter the cache key.
    pub(super) flags: &'a str,
}

/// Every match of every source; docker's errors for none and for several into a
/// destination that is not a directory.
fn all_matches(source: &Source<'_>, a: &Args<'_>, keyword: &str) -> Result<Vec<Match>> {
    let mut matches = Vec::new();
    for s in a.srcs {
        let m = source.matches(s, keyword)?;
        if m.is_empty() && has_wildcards(s) {
            return Err(Error::Build(format!(
                "{keyword} failed: no source files were specified"
            )));
        }
        matches.extend(m);
    }
    if (matches.len() > 1 || a.srcs.len() > 1) && !a.dest.ends_with('/') {
        return Err(Error::Build(format!(
            "When using {keyword} with more than one source file, the destination must be a directory and end with a /"
        )));
    }
    Ok(matches)
}

/// Runs a COPY or ADD step.
pub(super) fn copy(
    b: &mut Builder<'_>,
    run: &mut StageRun,
    ins: &Instruction,
    stage: usize,
    a: Args<'_>,
) -> Result<()> {
    let kw = ins.keyword.as_str();
    let extract = kw == "ADD";
    let Some(from) = a.from else {
        let source = Source::Context(b.context());
        let matches = all_matches(&source, &a, kw)?;
        let mut h = Sha256::new();
        for m in &matches {
            h.update(m.path.as_bytes());
            h.update([0]);
            h.update(b.context().tree_hash(&m.path)?.as_bytes());
        }
        let kind = match matches.as_slice() {
            [m] if m.is_dir => "dir",
            [_] => "file",
            _ => "multi",
        };
        let created_by = format!(
            "/bin/sh -c #(nop) {kw} {kind}:{} in {} ",
            hex::encode(h.finalize()),
            a.dest
        );
        let key = format!("{created_by}\0{}", a.flags);
        if let Some(hit) = b.cached(&run.state, &key) {
            run.state = hit;
            return Ok(());
        }
        let layer = b.copy_into(run, source, &matches, &a, extract)?;
        let (next, _) = run
            .state
            .commit(&b.store, &*b.driver, Some(&layer), &created_by)?;
        return b.done(run, &key, next);
    };
    let (image, top) = b.source_image(from, stage)?;
    let created_by = format!(
        "/bin/sh -c #(nop) {kw} --from={from} {} in {} ",
        a.srcs.join(" "),
        a.dest
    );
    let image = image.map_or_else(|| "scratch".to_owned(), |d| d.to_string());
    let key = format!("{created_by}\0{image}\0{}", a.flags);
    if let Some(hit) = b.cached(&run.state, &key) {
        run.state = hit;
        return Ok(());
    }
    let layer = {
        let from_fs = Scratch::mount(b.engine, &b.driver, top.as_ref())?;
        let source = Source::Rootfs(from_fs.rootfs());
        let matches = all_matches(&source, &a, kw)?;
        b.copy_into(run, source, &matches, &a, extract)?
    };
    let (next, _) = run
        .state
        .commit(&b.store, &*b.driver, Some(&layer), &created_by)?;
    b.done(run, &key, next)
}
