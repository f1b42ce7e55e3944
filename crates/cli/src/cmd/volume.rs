//! `volume create/ls/inspect/rm/prune`, in docker's output shapes.

use crate::args::{
    VolumeCommand, VolumeCreateArgs, VolumeInspectArgs, VolumeLsArgs, VolumePruneArgs, VolumeRmArgs,
};
use crate::cmd::each;
use crate::ctx::Ctx;
use crate::format::{Table, human_size};
use anyhow::{Result, bail};
use serde_json::{Value, json};

pub(crate) fn volume(ctx: &Ctx, command: VolumeCommand) -> Result<()> {
    match command {
        VolumeCommand::Create(a) => create(ctx, &a),
        VolumeCommand::Ls(a) => ls(ctx, &a),
        VolumeCommand::Inspect(a) => inspect(ctx, &a),
        VolumeCommand::Rm(a) => rm(ctx, &a),
        VolumeCommand::Prune(a) => prune(ctx, &a),
    }
}

fn create(ctx: &Ctx, args: &VolumeCreateArgs) -> Result<()> {
    if args.driver != "local" {
        bail!("create: plugin \"{}\" not found", args.driver);
    }
    let name = match (&args.name_flag, &args.name) {
        (Some(a), Some(b)) if a != b => {
            bail!("conflicting options: either specify --name or provide positional arg, not both")
        }
        (Some(n), _) | (None, Some(n)) => Some(n.as_str()),
        (None, None) => None,
    };
    let labels = engine::volumes::label_map(&args.label);
    let mut options = std::collections::BTreeMap::new();
    for o in &args.opt {
        let Some((k, v)) = o.split_once('=') else {
            bail!("invalid argument \"{o}\" for \"-o, --opt\" flag: expected KEY=VALUE");
        };
        options.insert(k.to_owned(), v.to_owned());
    }
    let v = ctx.engine.volume_create(name, labels, options)?;
    println!("{}", v.name);
    Ok(())
}

/// `volume ls --filter`: keys all apply, values of one key are alternatives (labels: all).
fn matches(filters: &[(String, String)], info: &engine::volumes::VolumeInfo) -> bool {
    let v = &info.volume;
    let keys: std::collections::BTreeSet<&str> = filters.iter().map(|(k, _)| k.as_str()).collect();
    keys.into_iter().all(|key| {
        let mut values = filters.iter().filter(|(k, _)| k == key).map(|(_, v)| v);
        let one = |want: &String| match key {
            "name" => v.name.contains(want.as_str()),
            "driver" => v.driver == *want,
            "dangling" => matches!(want.as_str(), "true" | "1") == info.containers.is_empty(),
            "label" => engine::volumes::label_matches(&v.labels, want),
            _ => false,
        };
        if key == "label" {
            values.all(one)
        } else {
            values.any(one)
        }
    })
}

fn parse_filters(specs: &[String], allowed: &[&str]) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for s in specs {
        let Some((k, v)) = s.split_once('=') else {
            bail!("bad format of filter (expected name=value)");
        };
        let k = k.trim().to_lowercase();
        if !allowed.contains(&k.as_str()) {
            bail!("invalid filter '{k}'");
        }
        if k == "dangling" && !matches!(v, "true" | "false" | "1" | "0") {
            bail!("invalid filter 'dangling={v}'");
        }
        out.push((k, v.to_owned()));
    }
    Ok(out)
}

const HEADERS: [(&str, &str); 8] = [
    ("Name", "VOLUME NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("Mountpoint", "MOUNTPOINT"),
    ("Labels", "LABELS"),
    ("Links", "LINKS"),
    ("Size", "SIZE"),
    ("CreatedAt", "CREATED AT"),
];

fn ls(ctx: &Ctx, args: &VolumeLsArgs) -> Result<()> {
    let filters = parse_filters(&args.filter, &["name", "driver", "dangling", "label"])?;
    let vols: Vec<_> = ctx
        .engine
        .volumes()?
        .into_iter()
        .filter(|i| matches(&filters, i))
        .collect();
    if args.quiet {
        for i in &vols {
            println!("{}", i.volume.name);
        }
        return Ok(());
    }
    if let Some(f) = &args.format {
        let rows: Vec<Value> = vols
            .iter()
            .map(|i| {
                let v = &i.volume;
                let labels: Vec<String> =
                    v.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                json!({
                    "Name": v.name,
                    "Driver": v.driver,
                    "Scope": "local",
                    "Mountpoint": v.mountpoint,
                    "Labels": labels.join(","),
                    crate::template::LABELS: v.labels,
                    "Links": "N/A",
                    "Size": "N/A",
                    "CreatedAt": v.created,
                })
            })
            .collect();
        return crate::format::print_formatted(f, &rows, &HEADERS);
    }
    let mut t = Table::new(&["DRIVER", "VOLUME NAME"]);
    for i in &vols {
        t.row(vec![i.volume.driver.clone(), i.volume.name.clone()]);
    }
    print!("{}", t.render());
    Ok(())
}

fn inspect(ctx: &Ctx, args: &VolumeInspectArgs) -> Result<()> {
    let mut docs = Vec::new();
    let mut failed = false;
    for n in &args.volumes {
        match ctx.engine.volume(n) {
            Ok(v) => docs.push(v.document()),
            Err(e) => {
                eprintln!("Error: {e}");
                failed = true;
            }
        }
    }
    if !docs.is_empty() || args.format.is_none() {
        crate::format::print_inspect(&docs, args.format.as_deref())?;
    }
    if failed {
        return Err(crate::cmd::Reported.into());
    }
    Ok(())
}

fn rm(ctx: &Ctx, args: &VolumeRmArgs) -> Result<()> {
    each(&args.volumes, |n| {
        Ok(ctx.engine.volume_remove(n, args.force)?)
    })
}

fn prune(ctx: &Ctx, args: &VolumePruneArgs) -> Result<()> {
    let filters = parse_filters(&args.filter, &["label", "all"])?;
    let all = args.all || filters.iter().any(|(k, v)| k == "all" && v == "true");
    let labels: Vec<String> = filters
        .into_iter()
        .filter(|(k, _)| k == "label")
        .map(|(_, v)| v)
        .collect();
    let pruned = ctx.engine.prune_volumes(all, &labels)?;
    if !pruned.deleted.is_empty() {
        println!("Deleted Volumes:");
        for n in &pruned.deleted {
            println!("{n}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", human_size(pruned.reclaimed));
    Ok(())
}
