//! `images`, `rmi`, `image inspect`, `image prune`, `system df`.

use crate::args::{HistoryArgs, ImagesArgs, InspectArgs, PruneArgs, RmiArgs};
use crate::ctx::Ctx;
use crate::format::{Table, ago, human_size};
use anyhow::Result;
use engine::images::{created_unix, familiar_reference, familiar_repo};
use store::{ImageRecord, RemoveReport};

pub(crate) fn images(ctx: &Ctx, args: &ImagesArgs) -> Result<()> {
    let mut entries = ctx.engine.images()?;
    if !args.all {
        let hidden = ctx.engine.intermediate_images()?;
        entries.retain(|e| e.repository.is_some() || !hidden.contains(&e.image.id));
    }
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
        println!("Deleted Images:");
        print_report(&report);
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

/// `history IMAGE`: docker's table of the image's steps, newest first.
pub(crate) fn history(ctx: &Ctx, args: &HistoryArgs) -> Result<()> {
    let entries = ctx.engine.history(&args.image)?;
    let id_of = |e: &engine::images::HistoryEntry| match &e.id {
        Some(id) if args.no_trunc => id.to_string(),
        Some(id) => id.digest().chars().take(12).collect(),
        None => "<missing>".to_owned(),
    };
    if args.quiet {
        for e in &entries {
            println!("{}", id_of(e));
        }
        return Ok(());
    }
    let mut table = Table::new(&["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]);
    for e in &entries {
        let created_unix = e
            .created
            .as_deref()
            .and_then(|c| humantime::parse_rfc3339_weak(c).ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs() as i64);
        let created = if args.human {
            ago(created_unix)
        } else {
            e.created.clone().unwrap_or_default()
        };
        let by = e.created_by.replace(['\t', '\n'], " ");
        let by = if args.no_trunc || by.chars().count() <= 45 {
            by
        } else {
            format!("{}…", by.chars().take(44).collect::<String>())
        };
        let size = if args.human {
            human_size(e.size)
        } else {
            e.size.to_string()
        };
        table.row(vec![id_of(e), created, by, size, e.comment.clone()]);
    }
    print!("{}", table.render());
    Ok(())
}
