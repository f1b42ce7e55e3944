//! qemu from Debian's packages, unpacked into the cache with the runtime libraries the host
//! lacks, and one bounded VM run.

use super::debs;
use anyhow::{Context, Result, bail};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime};

const PACKAGES: &[&str] = &[
    "qemu-system-x86",
    "qemu-system-common",
    "qemu-system-data",
    "seabios",
];

#[derive(Debug, Clone)]
pub(crate) struct Qemu {
    pub(crate) bin: PathBuf,
    lib_path: String,
    firmware: Vec<PathBuf>,
}

impl Qemu {
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.env("LD_LIBRARY_PATH", &self.lib_path);
        for dir in &self.firmware {
            cmd.arg("-L").arg(dir);
        }
        cmd
    }
}

/// Unpacks qemu once per version into `cache/qemu/<version>/`, adding the library packages
/// that `ldd` says are missing until the binary resolves completely.
pub(crate) fn prepare(cache: &Path) -> Result<Qemu> {
    let main = debs::candidate(PACKAGES[0])?;
    let root = cache.join("qemu").join(main.key());
    let bin = root.join("usr/bin/qemu-system-x86_64");
    let lib_dirs = [
        root.join("usr/lib/x86_64-linux-gnu"),
        root.join("lib/x86_64-linux-gnu"),
    ];
    let lib_path = lib_dirs
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(":");
    let ready = root.join(".ready");
    // Also redone when a host library it relied on went away since.
    if !ready.is_file() || !missing_libs(&bin, &lib_path)?.is_empty() {
        let names: Vec<String> = PACKAGES.iter().map(|s| (*s).to_owned()).collect();
        debs::fetch_into(&debs::candidates(&names)?, &root, &[])?;
        // Libraries: follow the Depends of what we unpacked, taking only library packages
        // the host lacks, until ldd is satisfied (bounded: the closure is small).
        // Only the emulator's own package: qemu-system-common's libraries serve its helper
        // programs and display/audio modules (spice, gbm, alsa), which a headless run never loads.
        let mut seen: Vec<String> = PACKAGES.iter().map(|s| (*s).to_owned()).collect();
        let mut frontier: Vec<String> = vec![PACKAGES[0].to_owned()];
        for _round in 0..8 {
            if missing_libs(&bin, &lib_path)?.is_empty() {
                break;
            }
            let mut wanted = Vec::new();
            for groups in debs::depends_of(&frontier)? {
                for group in groups {
                    if group
                        .iter()
                        .any(|d| seen.contains(d) || debs::is_installed(d))
                    {
                        continue;
                    }
                    if let Some(lib) = group.iter().find(|d| d.starts_with("lib")) {
                        seen.push(lib.clone());
                        wanted.push(lib.clone());
                    }
                }
            }
            if wanted.is_empty() {
                break;
            }
            let pkgs = debs::candidates(&wanted)?;
            eprintln!("xtask: vm: qemu needs {}", wanted.join(" "));
            debs::fetch_into(&pkgs, &root, &[])?;
            frontier = wanted;
        }
        let missing = missing_libs(&bin, &lib_path)?;
        if !missing.is_empty() {
            bail!(
                "qemu in {} still misses libraries: {}",
                root.display(),
                missing.join(" ")
            );
        }
        fs::write(&ready, "")?;
    }
    let firmware = vec![root.join("usr/share/qemu"), root.join("usr/share/seabios")];
    Ok(Qemu {
        bin,
        lib_path,
        firmware,
    })
}

fn missing_libs(bin: &Path, lib_path: &str) -> Result<Vec<String>> {
    let out = Command::new("ldd")
        .arg(bin)
        .env("LD_LIBRARY_PATH", lib_path)
        .output()
        .context("running ldd")?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("not found"))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect())
}

/// Whether hardware virtualization can be used: KVM works here only with vmx or svm.
pub(crate) fn kvm_usable() -> bool {
    let flags = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let has_vt = flags
        .lines()
        .filter(|l| l.starts_with("flags"))
        .any(|l| l.split_whitespace().any(|f| f == "vmx" || f == "svm"));
    has_vt
        && fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
            .is_ok()
}

/// A 9p share: host directory, tag, read-only or not.
#[derive(Debug, Clone)]
pub(crate) struct Share {
    pub(crate) tag: String,
    pub(crate) host: PathBuf,
    pub(crate) readonly: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct VmSpec {
    pub(crate) kernel: PathBuf,
    pub(crate) initrd: PathBuf,
    pub(crate) cmdline: String,
    pub(crate) console_log: PathBuf,
    pub(crate) marker: PathBuf,
    pub(crate) qemu_log: PathBuf,
    pub(crate) disk: PathBuf,
    pub(crate) shares: Vec<Share>,
    pub(crate) memory_mb: u32,
    pub(crate) smp: u32,
    pub(crate) timeout: Duration,
    pub(crate) kvm: bool,
    pub(crate) watch: Watch,
    /// qemu's QMP socket, asked for the vCPUs' registers before a guest is ended; none
    /// when its path is too long for a Unix socket address.
    pub(crate) qmp: Option<PathBuf>,
    /// Where those registers go (see `qmp::capture_vcpus`).
    pub(crate) vcpus: PathBuf,
}

/// How the host tells a wedged guest from a slow one while it runs. Seen in CI: the guest
/// kernel reported an RCU stall (`rcu_preempt kthread starved ... ->cpu=1`) and then made no
/// progress (no test, timeout or watchdog of the guest ran again), which would have spent the
/// whole VM timeout. The cause is not established. The one stall whose vCPUs were captured
/// (`vcpus.txt`) had both of them running kernel code, looping int3 -> iret on a jump-label
/// site of `cpusets_enabled_key` in `___slab_alloc`: static-key patching is the lead.
#[derive(Debug, Clone)]
pub(crate) struct Watch {
    /// Directories the guest writes to as it makes progress (status, test logs; the 9p
    /// share is uncached, so each write shows on the host).
    pub(crate) progress: Vec<PathBuf>,
    /// Quiet time that makes a guest wedged once its kernel has reported a stall.
    pub(crate) after_stall: Duration,
    /// Quiet time that makes a guest wedged in any case: longer than the guest's own test
    /// timeout and watchdog, which would have written something by then.
    pub(crate) quiet: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum VmEnd {
    Exited(ExitStatus),
    TimedOut,
    /// Killed by the host: no progress for `quiet`; `stall` is the kernel's stall report
    /// if it printed one.
    Wedged {
        stall: Option<String>,
        quiet: Duration,
    },
}

impl Watch {
    /// The newest modification time of a file directly in one of the progress directories.
    fn last_progress(&self) -> Option<SystemTime> {
        self.progress
            .iter()
            .filter_map(|d| fs::read_dir(d).ok())
            .flatten()
            .filter_map(|e| {
                let meta = e.ok()?.metadata().ok()?;
                meta.is_file().then(|| meta.modified().ok())?
            })
            .max()
    }

    /// Whether a guest quiet for `quiet` is wedged, given the stall its kernel reported.
    fn wedged(&self, quiet: Duration, stall: Option<&str>) -> bool {
        quiet >= self.quiet || (stall.is_some() && quiet >= self.after_stall)
    }
}

pub(crate) fn args(spec: &VmSpec) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    let mut push = |s: &[&str]| a.extend(s.iter().map(|x| (*x).to_owned()));
    push(&[
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-no-reboot",
    ]);
    if spec.kvm {
        push(&["-machine", "pc,accel=kvm", "-cpu", "host"]);
    } else {
        // qemu64, not max: the same test binaries ran about 25% faster and booted 4 s
        // sooner (max adds 5-level paging, PCID and AVX, which cost under emulation).
        push(&[
            "-machine",
            "pc",
            "-accel",
            "tcg,thread=multi",
            "-cpu",
            "qemu64",
        ]);
    }
    let mem = spec.memory_mb.to_string();
    let smp = spec.smp.to_string();
    push(&["-m", &mem, "-smp", &smp, "-nic", "none"]);
    let console = format!("file:{}", spec.console_log.display());
    let marker = format!("file:{}", spec.marker.display());
    push(&["-serial", &console, "-serial", &marker]);
    if let Some(sock) = &spec.qmp {
        let qmp = format!("unix:{},server=on,wait=off", sock.display());
        push(&["-qmp", &qmp]);
    }
    let kernel = spec.kernel.to_string_lossy().into_owned();
    let initrd = spec.initrd.to_string_lossy().into_owned();
    push(&[
        "-kernel",
        &kernel,
        "-initrd",
        &initrd,
        "-append",
        &spec.cmdline,
    ]);
    let drive = format!(
        "file={},format=raw,if=virtio,cache=unsafe,discard=unmap",
        spec.disk.display()
    );
    push(&["-drive", &drive]);
    for s in &spec.shares {
        let fs = format!(
            "local,path={},mount_tag={},security_model=none,multidevs=remap{}",
            s.host.display().to_string().replace(',', ",,"),
            s.tag,
            if s.readonly { ",readonly=on" } else { "" }
        );
        push(&["-virtfs", &fs]);
    }
    a
}

/// Boots one VM and waits for it, killing it (by PID, it is our child) at the timeout.
pub(crate) fn boot(q: &Qemu, spec: &VmSpec) -> Result<(VmEnd, Duration)> {
    for f in [&spec.console_log, &spec.marker] {
        fs::write(f, "").with_context(|| format!("creating {}", f.display()))?;
    }
    for f in spec.qmp.iter().chain([&spec.vcpus]) {
        let _ = fs::remove_file(f);
    }
    let log = fs::File::create(&spec.qemu_log)?;
    let mut cmd = q.command();
    cmd.args(args(spec))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    let start = Instant::now();
    let booted = SystemTime::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", q.bin.display()))?;
    let mut stall: Option<String> = None;
    let mut checked = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok((VmEnd::Exited(status), start.elapsed()));
        }
        let end = if start.elapsed() >= spec.timeout {
            Some(VmEnd::TimedOut)
        } else if checked.elapsed() >= Duration::from_secs(5) {
            checked = Instant::now();
            if stall.is_none() {
                // The console is small (kernel warnings and a line per suite).
                stall = super::report::kernel_stall(&String::from_utf8_lossy(
                    &fs::read(&spec.console_log).unwrap_or_default(),
                ));
            }
            let last = spec.watch.last_progress().map_or(booted, |t| t.max(booted));
            let quiet = SystemTime::now().duration_since(last).unwrap_or_default();
            spec.watch
                .wedged(quiet, stall.as_deref())
                .then(|| VmEnd::Wedged {
                    stall: stall.clone(),
                    quiet,
                })
        } else {
            None
        };
        if let Some(end) = end {
            // What the vCPUs were doing: three samples a second apart.
            if let Some(sock) = &spec.qmp
                && let Err(e) =
                    super::qmp::capture_vcpus(sock, &spec.vcpus, 3, Duration::from_secs(1))
            {
                eprintln!("xtask: vm: no vCPU registers before ending the guest: {e:#}");
            }
            let _ = child.kill();
            let _ = child.wait();
            return Ok((end, start.elapsed()));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `qemu-system-x86_64 --version`, a cheap check that the unpacked binary runs.
pub(crate) fn version_line(q: &Qemu) -> Result<String> {
    let out = q.command().arg("--version").output()?;
    if !out.status.success() {
        bail!(
            "{} does not run: {}",
            q.bin.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quiet_guest_is_wedged_sooner_once_its_kernel_reported_a_stall() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        fs::create_dir_all(dir.join("tests")).unwrap();
        let w = Watch {
            progress: vec![dir.to_owned(), dir.join("tests")],
            after_stall: Duration::from_secs(180),
            quiet: Duration::from_secs(1080),
        };
        assert_eq!(w.last_progress(), None, "no file written yet");
        fs::write(dir.join("tests/a.log"), "test x ... ok\n").unwrap();
        let seen = w.last_progress().expect("a file in a progress directory");
        assert!(SystemTime::now().duration_since(seen).unwrap() < Duration::from_secs(60));
        let stall = Some("rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:");
        assert!(!w.wedged(Duration::from_secs(179), stall));
        assert!(w.wedged(Duration::from_secs(180), stall));
        assert!(!w.wedged(Duration::from_secs(1000), None));
        assert!(w.wedged(Duration::from_secs(1080), None));
    }

    #[test]
    fn command_line_has_no_network_and_both_serial_ports() {
        let spec = VmSpec {
            kernel: "/c/vmlinux".into(),
            initrd: "/c/base.cpio".into(),
            cmdline: "console=ttyS0".into(),
            console_log: "/c/v2/console.log".into(),
            marker: "/c/v2/marker".into(),
            qemu_log: "/c/v2/qemu.log".into(),
            disk: "/c/v2/scratch.img".into(),
            shares: vec![
                Share {
                    tag: "ws".into(),
                    host: "/w,x".into(),
                    readonly: true,
                },
                Share {
                    tag: "vmtest_out".into(),
                    host: "/c/v2/out".into(),
                    readonly: false,
                },
            ],
            memory_mb: 2048,
            smp: 2,
            timeout: Duration::from_secs(1),
            kvm: false,
            watch: Watch {
                progress: vec!["/c/v2/out".into()],
                after_stall: Duration::from_secs(180),
                quiet: Duration::from_secs(1080),
            },
            qmp: Some("/c/v2/qmp.sock".into()),
            vcpus: "/c/v2/vcpus.txt".into(),
        };
        let a = args(&spec).join(" ");
        assert!(a.contains("-nic none"), "{a}");
        assert!(a.contains("-serial file:/c/v2/console.log -serial file:/c/v2/marker"));
        assert!(
            a.contains("-qmp unix:/c/v2/qmp.sock,server=on,wait=off"),
            "{a}"
        );
        assert!(a.contains("-accel tcg,thread=multi -cpu qemu64"), "{a}");
        assert!(
            a.contains("path=/w,,x,mount_tag=ws,security_model=none,multidevs=remap,readonly=on")
        );
        assert!(a.ends_with("mount_tag=vmtest_out,security_model=none,multidevs=remap"));
        assert!(!a.contains("kvm"));
    }
}
