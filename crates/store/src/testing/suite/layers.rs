//! Checks of committed layers: staging, committing, removal, hostile tars, concurrency.

use std::io::{self, Read};

use oci_spec::image::Digest;

use super::{Ctx, Fail, ensure};
use crate::error::{Error, ErrorKind};
use crate::testing::{
    LayerTar, assert_fixture_semantics, diff_id, find_escapes, fixture_layers, hostile_layers,
    snapshot,
};

/// A reader that must not be read: a present layer is not unpacked again.
struct Unread;

impl Read for Unread {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::Error::other("a present layer's stream was read"))
    }
}

/// Layers staged then committed base first have the chain IDs of the spec and complete
/// records; a present layer is not read again; nothing stays in staging.
pub(super) fn stage_commit_apply(ctx: &mut Ctx) -> Result<(), Fail> {
    let layers = fixture_layers();
    let diff_ids: Vec<Digest> = layers.iter().map(|l| diff_id(l)).collect();
    let chains = crate::chain_ids(&diff_ids)?;
    let d = ctx.driver.clone();
    for (i, l) in layers.iter().enumerate() {
        let parent = i.checked_sub(1).map(|p| &chains[p]);
        let staged = d.stage_layer(parent, &diff_ids[i], &mut &l[..])?;
        ensure(staged.chain_id() == &chains[i], || {
            format!("staged as {}, want {}", staged.chain_id(), chains[i])
        })?;
        ensure(!staged.is_present(), || {
            "a new layer was found present".into()
        })?;
        ensure(!d.has_layer(&chains[i])?, || {
            "a staged layer is visible".into()
        })?;
        let info = d.commit_layer(staged)?;
        ensure(info.chain_id == chains[i], || {
            "chain ID of the commit".into()
        })?;
        ensure(info.diff_id == diff_ids[i], || {
            "diff ID of the commit".into()
        })?;
        ensure(info.parent.as_ref() == parent, || {
            "parent of the commit".into()
        })?;
        ensure(info.tar_size == l.len() as u64, || {
            format!("tar size {} of a {}-byte tar", info.tar_size, l.len())
        })?;
        ensure(d.has_layer(&chains[i])?, || {
            "committed layer missing".into()
        })?;
        ensure(d.layer_info(&chains[i])? == info, || {
            "layer_info differs".into()
        })?;
    }
    let again = d.stage_layer(None, &diff_ids[0], &mut Unread)?;
    ensure(again.is_present() && again.tar_size() == 0, || {
        "a present layer was staged again".into()
    })?;
    drop(again);
    let info = d.apply_layer(Some(&chains[0]), &diff_ids[1], &mut Unread)?;
    ensure(info.chain_id == chains[1], || {
        "apply of a present layer".into()
    })?;
    let left = ctx.staging_left();
    ensure(left.is_empty(), || format!("staging left behind: {left:?}"))
}

/// Committing before the parent fails with NotFound and leaves nothing; a tar that does
/// not hash to its diff ID is refused.
pub(super) fn commit_order_and_digests(ctx: &mut Ctx) -> Result<(), Fail> {
    let layers = fixture_layers();
    let d = ctx.driver.clone();
    let parent = diff_id(&layers[0]);
    let s = d.stage_layer(Some(&parent), &diff_id(&layers[1]), &mut &layers[1][..])?;
    let chain = s.chain_id().clone();
    match d.commit_layer(s) {
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(Fail::Failed(format!("commit without parent: {e}"))),
        Ok(_) => return Err(Fail::Failed("committed without its parent".into())),
    }
    ensure(!d.has_layer(&chain)?, || "orphan layer committed".into())?;
    match d.apply_layer(None, &diff_id(b"something else"), &mut &layers[0][..]) {
        Err(Error::DigestMismatch { .. }) => {}
        other => return Err(Fail::Failed(format!("wrong diff ID: {other:?}"))),
    }
    let left = ctx.staging_left();
    ensure(left.is_empty(), || format!("staging left behind: {left:?}"))
}

/// A removed layer is gone (twice is fine) and can be applied again.
pub(super) fn remove_layer(ctx: &mut Ctx) -> Result<(), Fail> {
    let layers = fixture_layers();
    let top = ctx.apply(&layers)?.ok_or("no top layer")?;
    let d = ctx.driver.clone();
    d.remove_layer(&top)?;
    ensure(!d.has_layer(&top)?, || "removed layer still present".into())?;
    match d.layer_info(&top) {
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        other => {
            return Err(Fail::Failed(format!(
                "layer_info of a removed layer: {other:?}"
            )));
        }
    }
    d.remove_layer(&top)?;
    ensure(ctx.apply(&layers)? == Some(top.clone()), || {
        "re-applied layer has another chain ID".into()
    })?;
    ensure(d.has_layer(&top)?, || "re-applied layer missing".into())
}

/// Every layer of the hostile corpus is refused naming its entry, with nothing written
/// outside the layer, no layer committed and nothing left in staging.
pub(super) fn hostile_tars_refused(ctx: &mut Ctx) -> Result<(), Fail> {
    let sentinel = ctx.dir.join("sentinel");
    std::fs::create_dir(&sentinel)?;
    std::fs::write(sentinel.join("keep"), b"keep")?;
    let before = snapshot(&sentinel)?;
    let d = ctx.driver.clone();
    for case in hostile_layers(&sentinel) {
        let (hostile, lowers) = case.layers.split_last().ok_or("empty case")?;
        let parent = super::apply_all(&*d, lowers)?;
        let did = diff_id(hostile);
        let chain = crate::chain_id(parent.as_ref(), &did)?;
        let what = case.name;
        match d.apply_layer(parent.as_ref(), &did, &mut &hostile[..]) {
            Err(Error::Unpack { entry, reason }) => {
                ensure(entry.contains(case.entry), || {
                    format!("{what}: entry {entry:?}, want {:?}", case.entry)
                })?;
                ensure((case.reason)(&reason), || {
                    format!("{what}: reason {reason:?}")
                })?;
            }
            Err(e) => return Err(Fail::Failed(format!("{what}: unexpected error {e}"))),
            Ok(_) => return Err(Fail::Failed(format!("{what}: accepted"))),
        }
        ensure(!d.has_layer(&chain)?, || format!("{what}: layer committed"))?;
        let left = ctx.staging_left();
        ensure(left.is_empty(), || {
            format!("{what}: staging left: {left:?}")
        })?;
        ensure(snapshot(&sentinel)? == before, || {
            format!("{what}: sentinel changed")
        })?;
        let mut escapes = Vec::new();
        find_escapes(&ctx.dir, &mut escapes);
        ensure(escapes.is_empty(), || {
            format!("{what}: written outside: {escapes:?}")
        })?;
    }
    Ok(())
}

/// Layers staged at once on several threads (top first, so parents are late) commit base
/// first into the right image; two threads applying one layer both succeed.
pub(super) fn concurrent_staging(ctx: &mut Ctx) -> Result<(), Fail> {
    let layers = fixture_layers();
    let diff_ids: Vec<Digest> = layers.iter().map(|l| diff_id(l)).collect();
    let chains = crate::chain_ids(&diff_ids)?;
    let d = ctx.driver.clone();
    let staged = std::thread::scope(|s| {
        let handles: Vec<_> = (0..layers.len())
            .rev()
            .map(|i| {
                let (d, l, did) = (d.clone(), &layers[i], &diff_ids[i]);
                let parent = i.checked_sub(1).map(|p| chains[p].clone());
                s.spawn(move || d.stage_layer(parent.as_ref(), did, &mut &l[..]))
            })
            .collect();
        let mut v = Vec::new();
        for h in handles {
            v.push(
                h.join()
                    .map_err(|_| Fail::Failed("staging thread panicked".into()))??,
            );
        }
        v.reverse();
        Ok::<_, Fail>(v)
    })?;
    for (s, chain) in staged.into_iter().zip(&chains) {
        ensure(s.chain_id() == chain, || "staged out of order".into())?;
        d.commit_layer(s)?;
    }
    let extra = LayerTar::new().file("race", b"race", 0o644).finish();
    let top = chains.last().cloned();
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (d, extra, top) = (d.clone(), &extra, top.clone());
                s.spawn(move || d.apply_layer(top.as_ref(), &diff_id(extra), &mut &extra[..]))
            })
            .collect();
        handles.into_iter().map(|h| h.join()).collect()
    });
    for r in results {
        let r = r.map_err(|_| Fail::Failed("applying thread panicked".into()))?;
        r?;
    }
    let (_, root) = ctx.host_rootfs(chains.last())?;
    assert_fixture_semantics(&root);
    Ok(())
}
