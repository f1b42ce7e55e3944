//! `info` and `version`: system-wide information in docker's layout, or through
//! `--format` (a Go template over docker's field names, or `json`).

use crate::ctx::Ctx;
use anyhow::Result;
use engine::Status;
use serde_json::{Value, json};

/// Renders `data` with a user `--format`: `json`, or a template.
fn print_format(format: &str, data: &Value) -> Result<()> {
    let format = format.trim();
    if format == "json" {
        println!("{}", crate::template::go_json(data));
    } else {
        let body = format.replace("\\t", "\t").replace("\\n", "\n");
        println!("{}", crate::template::compile(&body)?.render(data)?);
    }
    Ok(())
}

/// Docker's (Go's) name of the machine architecture.
fn go_arch(machine: &str) -> &str {
    match machine {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "i686" | "i386" => "386",
        "armv7l" => "arm",
        other => other,
    }
}

/// docker's `info` document (its field names), with mydocker's own as extras.
fn info_document(ctx: &Ctx) -> Result<Value> {
    let store = ctx.engine.store()?;
    let containers = ctx.engine.records()?;
    let count = |s: Status| containers.iter().filter(|c| c.state.status == s).count();
    let running = count(Status::Running);
    let paused = count(Status::Paused);
    let driver = match ctx.engine.driver(&store) {
        Ok(d) => d.name().to_owned(),
        Err(e) => format!("none ({e})"),
    };
    let mut driver_status = Vec::new();
    for name in store::driver::DRIVER_NAMES {
        let status = match store::driver::by_name(&store, name).map(|d| d.supported()) {
            Ok(Ok(())) => "supported".to_owned(),
            Ok(Err(reason)) => format!("unsupported: {reason}"),
            Err(e) => format!("unsupported: {e}"),
        };
        driver_status.push(json!([name, status]));
    }
    let (cgroup_version, cgroup_layout) = match cgroup::CgroupFs::detect() {
        Ok(fs) => {
            let layout = fs.layout();
            let version = if layout == cgroup::Layout::V2 {
                "2"
            } else {
                "1"
            };
            (version.to_owned(), layout.to_string())
        }
        Err(e) => ("unknown".to_owned(), e.to_string()),
    };
    let uname = rustix::system::uname();
    Ok(json!({
        "Containers": containers.len(),
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": containers.len() - running - paused,
        "Images": store.images()?.len(),
        "Driver": driver,
        "DriverStatus": driver_status,
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": cgroup_version,
        "CgroupLayout": cgroup_layout,
        "KernelVersion": uname.release().to_string_lossy(),
        "OperatingSystem": os_release().unwrap_or_default(),
        "OSType": "linux",
        "Architecture": uname.machine().to_string_lossy(),
        "NCPU": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "MemTotal": total_memory().unwrap_or(0),
        "Name": uname.nodename().to_string_lossy(),
        "DockerRootDir": ctx.root().display().to_string(),
        "RunRoot": ctx.engine.config().run_root.display().to_string(),
        "ServerVersion": format!("{} (daemonless)", env!("CARGO_PKG_VERSION")),
    }))
}

pub(crate) fn run(ctx: &Ctx, format: Option<&str>) -> Result<()> {
    let d = info_document(ctx)?;
    if let Some(f) = format {
        return print_format(f, &d);
    }
    let s = |k: &str| match &d[k] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    println!("Server:");
    println!(" Containers: {}", s("Containers"));
    println!("  Running: {}", s("ContainersRunning"));
    println!("  Paused: {}", s("ContainersPaused"));
    println!("  Stopped: {}", s("ContainersStopped"));
    println!(" Images: {}", s("Images"));
    println!(" Server Version: {}", s("ServerVersion"));
    println!(" Storage Driver: {}", s("Driver"));
    for pair in d["DriverStatus"].as_array().into_iter().flatten() {
        println!(
            "  {}: {}",
            pair[0].as_str().unwrap_or(""),
            pair[1].as_str().unwrap_or("")
        );
    }
    println!(" Cgroup Driver: cgroupfs");
    println!(
        " Cgroup Version: {} ({})",
        s("CgroupVersion"),
        s("CgroupLayout")
    );
    println!(" Kernel Version: {}", s("KernelVersion"));
    if !s("OperatingSystem").is_empty() {
        println!(" Operating System: {}", s("OperatingSystem"));
    }
    println!(" OSType: linux");
    println!(" Architecture: {}", s("Architecture"));
    println!(" CPUs: {}", s("NCPU"));
    if let Some(mem) = d["MemTotal"].as_u64().filter(|m| *m > 0) {
        println!(" Total Memory: {:.2}GiB", mem as f64 / (1u64 << 30) as f64);
    }
    println!(" Name: {}", s("Name"));
    println!(" Docker Root Dir: {}", s("DockerRootDir"));
    println!(" Run Root: {}", s("RunRoot"));
    Ok(())
}

/// `version`: docker's Client and Server sections. mydocker has no daemon: the server
/// is the same binary, working on the root directory directly.
pub(crate) fn version(ctx: &Ctx, format: Option<&str>) -> Result<()> {
    let uname = rustix::system::uname();
    let arch = go_arch(&uname.machine().to_string_lossy()).to_owned();
    let v = env!("CARGO_PKG_VERSION");
    let d = json!({
        "Client": {
            "Platform": {"Name": "mydocker"},
            "Version": v,
            "Os": "linux",
            "Arch": arch,
            "Context": "default",
        },
        "Server": {
            "Platform": {"Name": "mydocker (daemonless)"},
            "Components": [{"Name": "Engine", "Version": v, "Details": {
                "Os": "linux", "Arch": arch,
                "KernelVersion": uname.release().to_string_lossy(),
                "Root": ctx.root().display().to_string(),
            }}],
            "Version": v,
            "Os": "linux",
            "Arch": arch,
            "KernelVersion": uname.release().to_string_lossy(),
        },
    });
    if let Some(f) = format {
        return print_format(f, &d);
    }
    println!("Client:");
    println!(" Version:           {v}");
    println!(" OS/Arch:           linux/{arch}");
    println!(" Context:           default");
    println!();
    println!("Server: mydocker (daemonless)");
    println!(" Engine:");
    println!("  Version:          {v}");
    println!("  OS/Arch:          linux/{arch}");
    println!("  Kernel Version:   {}", uname.release().to_string_lossy());
    println!("  Root:             {}", ctx.root().display());
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
