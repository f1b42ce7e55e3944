//! `network create/ls/inspect/rm/connect/disconnect/prune`.

use crate::args::{
    NetworkConnectArgs, NetworkCreateArgs, NetworkDisconnectArgs, NetworkInspectArgs,
    NetworkLsArgs, NetworkRmArgs,
};
use crate::ctx::Ctx;
use crate::format::Table;
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;

/// The predefined networks that are not bridges: they have no record in the network
/// state, so their IDs are derived from their names (stable across runs).
const SPECIAL: [(&str, &str); 2] = [("host", "host"), ("none", "null")];

fn special_id(name: &str) -> String {
    store::sha256_of(format!("mydocker-network-{name}").as_bytes())
        .digest()
        .to_owned()
}

pub(crate) fn create(ctx: &Ctx, args: &NetworkCreateArgs) -> Result<()> {
    if args.driver != "bridge" {
        bail!(
            "plugin \"{}\" not found: only the bridge driver is supported",
            args.driver
        );
    }
    if SPECIAL.iter().any(|(n, _)| *n == args.name) {
        bail!(
            "{} is a pre-defined network and cannot be created",
            args.name
        );
    }
    let mut labels = BTreeMap::new();
    for l in &args.label {
        let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
        labels.insert(k.to_owned(), v.to_owned());
    }
    let opts = network::CreateOptions {
        subnet: args
            .subnet
            .as_deref()
            .map(str::parse)
            .transpose()
            .context("invalid --subnet")?,
        gateway: args
            .gateway
            .as_deref()
            .map(network::parse_ipv4)
            .transpose()?,
        internal: args.internal,
        labels,
    };
    let info = ctx.engine.networks()?.create(&args.name, &opts)?;
    println!("{}", info.id);
    Ok(())
}

pub(crate) fn ls(ctx: &Ctx, args: &NetworkLsArgs) -> Result<()> {
    let nets = ctx.engine.networks()?;
    nets.ensure_default()?;
    let mut rows: Vec<(String, String, String)> = nets
        .list()?
        .into_iter()
        .map(|n| (n.id, n.name, n.driver))
        .collect();
    for (name, driver) in SPECIAL {
        rows.push((special_id(name), name.to_owned(), driver.to_owned()));
    }
    rows.sort_by(|a, b| a.1.cmp(&b.1));
    let id = |full: &str| {
        if args.no_trunc {
            full.to_owned()
        } else {
            full[..full.len().min(12)].to_owned()
        }
    };
    if args.quiet {
        for (i, _, _) in &rows {
            println!("{}", id(i));
        }
        return Ok(());
    }
    let mut t = Table::new(&["NETWORK ID", "NAME", "DRIVER", "SCOPE"]);
    for (i, name, driver) in rows {
        t.row(vec![id(&i), name, driver, "local".into()]);
    }
    print!("{}", t.render());
    Ok(())
}

pub(crate) fn inspect(ctx: &Ctx, args: &NetworkInspectArgs) -> Result<()> {
    let nets = ctx.engine.networks()?;
    let mut docs = Vec::new();
    let mut missing = false;
    for name in &args.names {
        if name == "bridge" {
            nets.ensure_default()?;
        }
        match nets.inspect(name) {
            Ok(info) => docs.push(serde_json::to_value(&info)?),
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

pub(crate) fn rm(ctx: &Ctx, args: &NetworkRmArgs) -> Result<()> {
    let nets = ctx.engine.networks()?;
    let mut failed = false;
    for name in &args.names {
        if SPECIAL.iter().any(|(n, _)| n == name) {
            eprintln!("Error: {name} is a pre-defined network and cannot be removed");
            failed = true;
            continue;
        }
        match nets.remove(name) {
            Ok(()) => println!("{name}"),
            Err(e) => {
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

pub(crate) fn prune(ctx: &Ctx) -> Result<()> {
    let removed = ctx.engine.networks()?.prune()?;
    if !removed.is_empty() {
        println!("Deleted Networks:");
        for n in removed {
            println!("{n}");
        }
    }
    Ok(())
}

pub(crate) fn connect(ctx: &Ctx, args: &NetworkConnectArgs) -> Result<()> {
    Ok(ctx.engine.connect(
        &args.container,
        &args.network,
        args.ip.as_deref(),
        &args.alias,
    )?)
}

pub(crate) fn disconnect(ctx: &Ctx, args: &NetworkDisconnectArgs) -> Result<()> {
    Ok(ctx
        .engine
        .disconnect(&args.container, &args.network, args.force)?)
}
