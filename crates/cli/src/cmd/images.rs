//! `images`, `rmi`, `image inspect`, `image prune`, `system df`.

use crate::cli::{ImagesArgs, InspectArgs, PruneArgs, RmiArgs};
use crate::container::Containers;
use crate::ctx::Ctx;
use crate::format::{Table, ago, human_size};
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use store::{Digest, ImageRecord, RemoveOptions, RemoveReport};

/// `docker.io/library/busybox` -> `busybox`; other registries are kept.
pub(crate) fn familiar_repo(repo: &str) -> String {
    registry::Reference::parse(repo)
        .map(|r| r.familiar())
        .unwrap_or_else(|_| repo.to_owned())
}

/// Turns what the user typed (`busybox`, `busybox:1`, `localhost:5000/x@sha256:..`, an ID
/// or ID prefix) into the store's reference form (`docker.io/library/busybox:latest`).
pub(crate) fn store_reference(name: &str) -> String {
    let hexish = name.strip_prefix("sha256:").unwrap_or(name);
    if !hexish.is_empty() && hexish.bytes().all(|b| b.is_ascii_hexdigit()) && hexish.len() >= 3 {
        // Could be an ID prefix; the store tries IDs before names for hex input.
        return name.to_owned();
    }
    match registry::Reference::parse(name) {
        Ok(r) => match (r.tag(), r.digest()) {
            (_, Some(d)) => format!("{}@{d}", r.name()),
            (Some(t), None) => format!("{}:{t}", r.name()),
            (None, None) => format!("{}:latest", r.name()),
        },
        Err(_) => name.to_owned(),
    }
}

/// Looks an image up by any of the names docker accepts.
pub(crate) fn find_image(store: &store::Store, name: &str) -> Result<ImageRecord> {
    let reference = store_reference(name);
    match store.image(&reference) {
        Ok(rec) => Ok(rec),
        Err(e) if e.kind() == store::ErrorKind::NotFound && reference != name => store
            .image(name)
            .map_err(|_| anyhow::anyhow!("No such image: {name}")),
        Err(e) if e.kind() == store::ErrorKind::NotFound => bail!("No such image: {name}"),
        Err(e) => Err(e.into()),
    }
}

fn created_unix(rec: &ImageRecord) -> Option<i64> {
    let t = humantime::parse_rfc3339_weak(rec.created.as_deref()?).ok()?;
    t.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs() as i64)
}

pub(crate) fn images(ctx: &Ctx, args: &ImagesArgs) -> Result<()> {
    let store = ctx.store()?;
    let mut entries = store.list()?;
    entries.sort_by(|a, b| {
        created_unix(&b.image)
            .cmp(&created_unix(&a.image))
            .then_with(|| a.repository.cmp(&b.repository))
            .then_with(|| a.tag.cmp(&b.tag))
    });
    if let Some(filter) = &args.repository {
        let (repo, tag) = match filter.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
            Some((r, t)) => (r, Some(t)),
            None => (filter.as_str(), None),
        };
        let wanted_repo = registry::Reference::parse(repo)
            .map(|r| r.name())
            .unwrap_or_else(|_| repo.to_owned());
        entries.retain(|e| {
            e.repository.as_deref() == Some(wanted_repo.as_str())
                && tag.is_none_or(|t| e.tag.as_deref() == Some(t))
        });
    }
    let id_of = |rec: &ImageRecord| {
        if args.no_trunc {
            rec.id.to_string()
        } else {
            rec.short_id().to_owned()
        }
    };
    if args.quiet {
        let mut seen = std::collections::HashSet::new();
        for e in &entries {
            let id = id_of(&e.image);
            if seen.insert(id.clone()) {
                println!("{id}");
            }
        }
        return Ok(());
    }
    let mut header = vec!["REPOSITORY", "TAG"];
    if args.digests {
        header.push("DIGEST");
    }
    header.extend(["IMAGE ID", "CREATED", "SIZE"]);
    let mut table = Table::new(&header);
    for e in &entries {
        let mut row = vec![
            e.repository
                .as_deref()
                .map(familiar_repo)
                .unwrap_or_else(|| "<none>".into()),
            e.tag.clone().unwrap_or_else(|| "<none>".into()),
        ];
        if args.digests {
            row.push(
                e.repo_digest
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_else(|| "<none>".into()),
            );
        }
        row.push(id_of(&e.image));
        row.push(ago(created_unix(&e.image)));
        row.push(human_size(e.image.size));
        table.row(row);
    }
    print!("{}", table.render());
    Ok(())
}

fn print_report(report: &RemoveReport) {
    for u in &report.untagged {
        let shown = match u.split_once('@') {
            Some((repo, d)) => format!("{}@{d}", familiar_repo(repo)),
            None => match u.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
                Some((repo, t)) => format!("{}:{t}", familiar_repo(repo)),
                None => u.clone(),
            },
        };
        println!("Untagged: {shown}");
    }
    for d in &report.deleted {
        println!("Deleted: {d}");
    }
}

pub(crate) fn rmi(ctx: &Ctx, args: &RmiArgs) -> Result<()> {
    let store = ctx.store()?;
    let containers = Containers::new(&ctx.root);
    let in_use = |id: &Digest| containers.user_of(id.as_ref());
    let opts = RemoveOptions {
        force: args.force,
        in_use: &in_use,
    };
    let drivers = store::driver::all(&store)?;
    let mut failed = None;
    for name in &args.images {
        let reference = store_reference(name);
        let result = store
            .remove_image(&reference, &opts, &drivers)
            .or_else(|e| match e.kind() {
                store::ErrorKind::NotFound if reference != *name => {
                    store.remove_image(name, &opts, &drivers)
                }
                _ => Err(e),
            });
        match result {
            Ok(report) => print_report(&report),
            Err(e) if e.kind() == store::ErrorKind::NotFound => {
                eprintln!("Error: No such image: {name}");
                failed = Some(());
            }
            Err(e) => {
                eprintln!("Error: {e}");
                failed = Some(());
            }
        }
    }
    if failed.is_some() {
        return Err(crate::cmd::Reported.into());
    }
    Ok(())
}

/// `tag SOURCE TARGET`: TARGET (a name, `:latest` when it has no tag) now names SOURCE.
pub(crate) fn tag(ctx: &Ctx, args: &crate::cli::TagArgs) -> Result<()> {
    let target = registry::Reference::parse(&args.target)?;
    if target.digest().is_some() {
        bail!("refusing to create a tag with a digest reference");
    }
    let store = ctx.store()?;
    let source = find_image(&store, &args.source)?;
    let repo_tag = format!("{}:{}", target.name(), target.tag().unwrap_or("latest"));
    store.tag(source.id.as_ref(), &repo_tag)?;
    Ok(())
}

pub(crate) fn prune(ctx: &Ctx, args: &PruneArgs) -> Result<()> {
    let store = ctx.store()?;
    let containers = Containers::new(&ctx.root);
    let in_use = |id: &Digest| containers.user_of(id.as_ref());
    let report = store.prune(
        args.all,
        &RemoveOptions {
            force: false,
            in_use: &in_use,
        },
        &store::driver::all(&store)?,
    )?;
    if !report.untagged.is_empty() || !report.deleted.is_empty() {
        println!("Deleted Images:");
        print_report(&report);
        println!();
    }
    println!("Total reclaimed space: {}", human_size(report.gc.reclaimed));
    Ok(())
}

/// Docker's image inspect document for one image.
pub(crate) fn inspect_json(store: &store::Store, rec: &ImageRecord, driver: &str) -> Result<Value> {
    let config: Value = serde_json::from_slice(&store.blobs().read(&rec.config_digest)?)
        .context("image config is not valid JSON")?;
    let familiar = |r: &String| match r.split_once('@') {
        Some((repo, d)) => format!("{}@{d}", familiar_repo(repo)),
        None => match r.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
            Some((repo, t)) => format!("{}:{t}", familiar_repo(repo)),
            None => r.clone(),
        },
    };
    Ok(json!({
        "Id": rec.id.to_string(),
        "RepoTags": rec.repo_tags.iter().map(familiar).collect::<Vec<_>>(),
        "RepoDigests": rec.repo_digests.iter().map(familiar).collect::<Vec<_>>(),
        "Parent": "",
        "Comment": config.pointer("/history/0/comment").cloned().unwrap_or(json!("")),
        "Created": config.get("created").cloned().unwrap_or(Value::Null),
        "Author": config.get("author").cloned().unwrap_or(json!("")),
        "Config": config.get("config").cloned().unwrap_or(Value::Null),
        "Architecture": config.get("architecture").cloned().unwrap_or(Value::Null),
        "Variant": config.get("variant").cloned().unwrap_or(Value::Null),
        "Os": config.get("os").cloned().unwrap_or(Value::Null),
        "Size": rec.size,
        "GraphDriver": {"Name": driver, "Data": null},
        "RootFS": {
            "Type": "layers",
            "Layers": rec.layers.iter().map(|l| l.diff_id.to_string()).collect::<Vec<_>>(),
        },
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
        "Descriptor": {
            "mediaType": rec.manifest_media_type,
            "digest": rec.manifest_digest.to_string(),
        },
    }))
}

/// Prints inspect documents as docker does: a JSON array, or one formatted line each.
pub(crate) fn print_inspect(docs: &[Value], format: Option<&str>) -> Result<()> {
    match format {
        Some(f) => {
            for d in docs {
                println!("{}", crate::template::render(f, d)?);
            }
        }
        None => println!("{}", serde_json::to_string_pretty(docs)?),
    }
    Ok(())
}

pub(crate) fn inspect(ctx: &Ctx, args: &InspectArgs) -> Result<()> {
    let store = ctx.store()?;
    let mut docs = Vec::new();
    let mut missing = false;
    for name in &args.names {
        match find_image(&store, name) {
            Ok(rec) => docs.push(inspect_json(&store, &rec, &ctx.driver_name())?),
            Err(e) => {
                eprintln!("Error: {e}");
                missing = true;
            }
        }
    }
    print_inspect(&docs, args.format.as_deref())?;
    if missing {
        return Err(crate::cmd::Reported.into());
    }
    Ok(())
}

pub(crate) fn df(ctx: &Ctx) -> Result<()> {
    let store = ctx.store()?;
    let containers = Containers::new(&ctx.root);
    let in_use = |id: &Digest| containers.user_of(id.as_ref());
    let usage = store.disk_usage(&in_use)?;
    let all = containers.list()?;
    let running = all
        .iter()
        .filter(|c| c.state.status == crate::container::Status::Running)
        .count();
    let mut t = Table::new(&["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]);
    let pct = |part: u64, total: u64| (part * 100).checked_div(total).unwrap_or(0);
    t.row(vec![
        "Images".into(),
        usage.images.to_string(),
        usage.active_images.to_string(),
        human_size(usage.total()),
        format!(
            "{} ({}%)",
            human_size(usage.reclaimable),
            pct(usage.reclaimable, usage.total())
        ),
    ]);
    t.row(vec![
        "Containers".into(),
        all.len().to_string(),
        running.to_string(),
        "0B".into(),
        "0B (0%)".into(),
    ]);
    print!("{}", t.render());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_normalised_like_docker() {
        assert_eq!(
            store_reference("busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            store_reference("busybox:1.36"),
            "docker.io/library/busybox:1.36"
        );
        assert_eq!(
            store_reference("127.0.0.1:5000/fixtures/busybox"),
            "127.0.0.1:5000/fixtures/busybox:latest"
        );
        assert_eq!(store_reference("abc123"), "abc123");
        assert_eq!(familiar_repo("docker.io/library/busybox"), "busybox");
        assert_eq!(familiar_repo("docker.io/arm64v8/ubuntu"), "arm64v8/ubuntu");
        assert_eq!(familiar_repo("127.0.0.1:5000/a/b"), "127.0.0.1:5000/a/b");
    }
}
