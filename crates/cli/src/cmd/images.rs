//! `images`, `rmi`, `image inspect`, `image prune`, `system df`.

use crate::args::{HistoryArgs, ImagesArgs, InspectArgs, PruneArgs, RmiArgs};
use crate::ctx::Ctx;
use crate::format::{Table, ago, human_size};
use anyhow::Result;
use engine::images::{created_unix, familiar_reference, familiar_repo};
use store::{ImageRecord, RemoveReport};

/// Docker's column titles of the `images --format` fields.
const IMAGE_HEADERS: [(&str, &str); 11] = [
    ("ID", "IMAGE ID"),
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("Containers", "CONTAINERS"),
    ("SharedSize", "SHARED SIZE"),
    ("UniqueSize", "UNIQUE SIZE"),
    ("VirtualSize", "SIZE"),
];

/// Docker's `CreatedAt`: `2024-01-02 03:04:05 +0000 UTC`.
fn created_at(unix: Option<i64>) -> String {
    let Some(t) = unix.and_then(|s| u64::try_from(s).ok()) else {
        return String::new();
    };
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t);
    let s = humantime::format_rfc3339_seconds(t).to_string();
    format!(
        "{} +0000 UTC",
        s.trim_end_matches('Z').replacen('T', " ", 1)
    )
}

pub(crate) fn images(ctx: &Ctx, args: &ImagesArgs) -> Result<()> {
    let mut specs = args.filter.clone();
    if let Some(r) = &args.repository {
        specs.push(format!("reference={r}"));
    }
    let filter = ctx.engine.image_filter(&specs)?;
    let mut rows = ctx.engine.list_images(&filter)?;
    // A build's intermediate images (untagged steps) only with -a, as docker.
    if !args.all {
        let hidden = ctx.engine.intermediate_images()?;
        rows.retain(|r| r.entry.repository.is_some() || !hidden.contains(&r.entry.image.id));
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
        for r in &rows {
            let id = id_of(&r.entry.image);
            if seen.insert(id.clone()) {
                println!("{id}");
            }
        }
        return Ok(());
    }
    let none = || "<none>".to_owned();
    if let Some(format) = &args.format {
        let docs: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                let e = &r.entry;
                let labels: Vec<String> =
                    r.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                serde_json::json!({
                    "ID": id_of(&e.image),
                    "Repository": e.repository.as_deref().map(familiar_repo).unwrap_or_else(none),
                    "Tag": e.tag.clone().unwrap_or_else(none),
                    "Digest": e.repo_digest.as_ref().map(ToString::to_string).unwrap_or_else(none),
                    "CreatedSince": ago(created_unix(&e.image)),
                    "CreatedAt": created_at(created_unix(&e.image)),
                    "Size": human_size(r.size),
                    "VirtualSize": human_size(r.size),
                    "SharedSize": "N/A",
                    "UniqueSize": "N/A",
                    "Containers": "N/A",
                    "Labels": labels.join(","),
                    crate::template::LABELS: r.labels,
                })
            })
            .collect();
        return crate::format::print_formatted(format, &docs, &IMAGE_HEADERS);
    }
    let mut header = vec!["REPOSITORY", "TAG"];
    if args.digests {
        header.push("DIGEST");
    }
    header.extend(["IMAGE ID", "CREATED", "SIZE"]);
    let mut table = Table::new(&header);
    for r in &rows {
        let e = &r.entry;
        let mut row = vec![
            e.repository
                .as_deref()
                .map(familiar_repo)
                .unwrap_or_else(none),
            e.tag.clone().unwrap_or_else(none),
        ];
        if args.digests {
            row.push(
                e.repo_digest
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_else(none),
            );
        }
        row.push(id_of(&e.image));
        row.push(ago(created_unix(&e.image)));
        row.push(human_size(r.size));
        table.row(row);
    }
    print!("{}", table.render());
    Ok(())
}

const HISTORY_HEADERS: [(&str, &str); 6] = [
    ("ID", "IMAGE"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedBy", "CREATED BY"),
    ("Size", "SIZE"),
    ("Comment", "COMMENT"),
];

pub(crate) fn history(ctx: &Ctx, args: &HistoryArgs) -> Result<()> {
    let entries = ctx.engine.history(&args.image)?;
    let id = |h: &engine::imagelist::HistoryEntry| match &h.id {
        Some(id) if args.no_trunc => id.clone(),
        Some(id) => id
            .strip_prefix("sha256:")
            .unwrap_or(id)
            .chars()
            .take(12)
            .collect(),
        None => "<missing>".to_owned(),
    };
    if args.quiet {
        for h in &entries {
            println!("{}", id(h));
        }
        return Ok(());
    }
    let rows: Vec<serde_json::Value> = entries
        .iter()
        .map(|h| {
            let by = h.created_by.replace('\t', " ");
            let by = if args.no_trunc {
                by
            } else {
                crate::cmd::ps::ellipsis(&by, 45)
            };
            serde_json::json!({
                "ID": id(h),
                "CreatedSince": if args.human { ago(h.created) } else { h.created_at.clone() },
                "CreatedAt": h.created_at,
                "CreatedBy": by,
                "Size": if args.human { human_size(h.size) } else { h.size.to_string() },
                "Comment": h.comment,
            })
        })
        .collect();
    let format = args
        .format
        .as_deref()
        .unwrap_or("table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}");
    crate::format::print_formatted(format, &rows, &HISTORY_HEADERS)
}

fn print_report(report: &RemoveReport) {
    for u in &report.untagged {
        println!("Untagged: {}", familiar_reference(u));
    }
    for d in &report.deleted {
        println!("Deleted: {d}");
    }
}

pub(crate) fn rmi(ctx: &Ctx, args: &RmiArgs) -> Result<()> {
    let mut failed = false;
    for name in &args.images {
        match ctx.engine.remove_image(name, args.force, !args.no_prune) {
            engine::Removal::Done(report) => print_report(&report),
            engine::Removal::NotFound => {
                eprintln!("Error: No such image: {name}");
                failed = true;
            }
            engine::Removal::Failed(e) => {
                eprintln!("Error: {e}");
                failed = true;
            }
        }
    }
    if failed {
        return Err(crate::cmd::Reported.into());
    }
    Ok(())
}

/// `tag SOURCE TARGET`: TARGET (a name, `:latest` when it has no tag) now names SOURCE.
pub(crate) fn tag(ctx: &Ctx, args: &crate::args::TagArgs) -> Result<()> {
    Ok(ctx.engine.tag_image(&args.source, &args.target)?)
}

pub(crate) fn prune(ctx: &Ctx, args: &PruneArgs) -> Result<()> {
    let report = ctx.engine.prune_images(args.all)?;
    if !report.untagged.is_empty() || !report.deleted.is_empty() {
        // `image prune` lists in lower case (`rmi` capitalises), as docker does.
        println!("Deleted Images:");
        for u in &report.untagged {
            println!("untagged: {}", familiar_reference(u));
        }
        for d in &report.deleted {
            println!("deleted: {d}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", human_size(report.gc.reclaimed));
    Ok(())
}

pub(crate) fn inspect(ctx: &Ctx, args: &InspectArgs) -> Result<()> {
    let mut docs = Vec::new();
    let mut missing = false;
    for name in &args.names {
        match ctx.engine.image_document(name) {
            Ok(doc) => docs.push(doc),
            Err(e) => {
                eprintln!("Error: {e}");
                missing = true;
            }
        }
    }
    crate::format::print_inspect(&docs, args.format.as_deref())?;
    if missing {
        return Err(crate::cmd::Reported.into());
    }
    Ok(())
}

pub(crate) fn df(ctx: &Ctx) -> Result<()> {
    let usage = ctx.engine.image_usage()?;
    let all = ctx.engine.records()?;
    let running = all
        .iter()
        .filter(|c| c.state.status == engine::Status::Running)
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
