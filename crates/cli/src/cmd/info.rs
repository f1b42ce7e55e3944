//! `info`: system-wide information in docker's layout.

use crate::ctx::Ctx;
use anyhow::Result;
use engine::Status;

pub(crate) fn run(ctx: &Ctx) -> Result<()> {
    let store = ctx.engine.store()?;
    let containers = ctx.engine.records()?;
    let count = |s: Status| containers.iter().filter(|c| c.state.status == s).count();
    let running = count(Status::Running);
    let paused = count(Status::Paused);
    println!("Server:");
    println!(" Containers: {}", containers.len());
    println!("  Running: {running}");
    println!("  Paused: {paused}");
    println!("  Stopped: {}", containers.len() - running - paused);
    println!(" Images: {}", store.images()?.len());
    println!(
        " Server Version: {} (daemonless)",
        env!("CARGO_PKG_VERSION")
    );
    match ctx.engine.driver(&store) {
        Ok(d) => println!(" Storage Driver: {}", d.name()),
        Err(e) => println!(" Storage Driver: none ({e})"),
    }
    for name in store::driver::DRIVER_NAMES {
        let status = match store::driver::by_name(&store, name).map(|d| d.supported()) {
            Ok(Ok(())) => "supported".to_owned(),
            Ok(Err(reason)) => format!("unsupported: {reason}"),
            Err(e) => format!("unsupported: {e}"),
        };
        println!("  {name}: {status}");
    }
    println!(" Cgroup Driver: cgroupfs");
    match cgroup::CgroupFs::detect() {
        Ok(fs) => {
            let layout = fs.layout();
            let version = match layout {
                cgroup::Layout::V2 => "2",
                _ => "1",
            };
            println!(" Cgroup Version: {version} ({layout})");
        }
        Err(e) => println!(" Cgroup Version: unknown ({e})"),
    }
    let uname = rustix::system::uname();
    println!(" Kernel Version: {}", uname.release().to_string_lossy());
    if let Some(os) = os_release() {
        println!(" Operating System: {os}");
    }
    println!(" OSType: linux");
    println!(" Architecture: {}", uname.machine().to_string_lossy());
    println!(
        " CPUs: {}",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    if let Some(mem) = total_memory() {
        println!(" Total Memory: {:.2}GiB", mem as f64 / (1u64 << 30) as f64);
    }
    println!(" Docker Root Dir: {}", ctx.root().display());
    println!(" Run Root: {}", ctx.engine.config().run_root.display());
    Ok(())
}

fn os_release() -> Option<String> {
    let text = std::fs::read_to_string("/etc/os-release").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_owned())
}

fn total_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}
