//! From an image config and `run` flags to an OCI runtime spec (`config.json` shape), as
//! docker builds it: entrypoint/cmd rules, environment, working directory, user, mounts,
//! namespaces, resources, rlimits, capabilities, seccomp and device rules. Docker's fixed
//! defaults (mounts, masked paths, namespaces) come from `isolate::spec`.

use crate::cli::RunArgs;
use crate::parse::{self, ResolvedUser, Volume};
use anyhow::{Context, Result, bail};
use oci_spec::image::Config as ImageConfig;
use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxMemoryBuilder, LinuxNamespace, LinuxNamespaceType, LinuxPidsBuilder,
    LinuxResources, LinuxResourcesBuilder, Mount, PosixRlimit, PosixRlimitBuilder, PosixRlimitType,
    Spec,
};
use std::path::{Path, PathBuf};

/// Docker's default PATH when the image sets none.
pub(crate) const DEFAULT_PATH: &str =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Docker refuses memory limits below this.
const MIN_MEMORY: i64 = 6 * 1024 * 1024;

/// The command line of the container's process: entrypoint and cmd combined by docker's
/// rules. An explicit `--entrypoint` (even empty) discards the image's Cmd.
pub(crate) fn command_line(image: Option<&ImageConfig>, run: &RunArgs) -> Result<Vec<String>> {
    let image_entrypoint = image
        .and_then(|c| c.entrypoint().clone())
        .unwrap_or_default();
    let image_cmd = image.and_then(|c| c.cmd().clone()).unwrap_or_default();
    let (entrypoint, cmd) = match &run.entrypoint {
        Some(e) if e.is_empty() => (Vec::new(), run.command.clone()),
        Some(e) => (vec![e.clone()], run.command.clone()),
        None if !run.command.is_empty() => (image_entrypoint, run.command.clone()),
        None => (image_entrypoint, image_cmd),
    };
    let args: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if args.is_empty() {
        bail!("no command specified");
    }
    Ok(args)
}

/// The container's environment: docker's defaults, then the image's, then `-e`/`--env-file`
/// (later ones win), and HOME from the user's passwd entry when nobody set it.
pub(crate) fn environment(
    image: Option<&ImageConfig>,
    run: &RunArgs,
    hostname: &str,
    home: &str,
) -> Result<Vec<String>> {
    let mut env = vec![DEFAULT_PATH.to_owned(), format!("HOSTNAME={hostname}")];
    if run.tty {
        env.push("TERM=xterm".to_owned());
    }
    parse::merge_env(
        &mut env,
        image.and_then(|c| c.env().clone()).unwrap_or_default(),
    );
    let mut user_env = Vec::new();
    for f in &run.env_file {
        user_env.extend(parse::env_file(f)?);
    }
    for e in &run.env {
        user_env.extend(parse::env_arg(e)?);
    }
    parse::merge_env(&mut env, user_env);
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={home}"));
    }
    Ok(env)
}

/// The working directory: `-w`, else the image's, else `/`. Must be absolute.
pub(crate) fn workdir(image: Option<&ImageConfig>, run: &RunArgs) -> Result<PathBuf> {
    let wd = run
        .workdir
        .clone()
        .or_else(|| image.and_then(|c| c.working_dir().clone()))
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".to_owned());
    if !wd.starts_with('/') {
        bail!("the working directory '{wd}' is invalid, it needs to be an absolute path");
    }
    Ok(parse::clean_abs(Path::new(&wd)))
}

/// The user spec in effect: `-u`, else the image's `User`, else root.
pub(crate) fn user(image: Option<&ImageConfig>, run: &RunArgs) -> Result<parse::UserSpec> {
    let u = run
        .user
        .clone()
        .or_else(|| image.and_then(|c| c.user().clone()))
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "0".to_owned());
    parse::user_spec(&u)
}

/// cgroup resources from `--cpus`, `--cpu-shares`, `--cpuset-*`, `-m`, `--memory-swap`,
/// `--pids-limit`.
pub(crate) fn resources(run: &RunArgs, online_cpus: usize) -> Result<LinuxResources> {
    let mut res = LinuxResourcesBuilder::default();
    let mut cpu = LinuxCpuBuilder::default();
    let mut any_cpu = false;
    if let Some(c) = &run.cpus {
        let (quota, period) = parse::cpus_to_quota(c, online_cpus)?;
        cpu = cpu.quota(quota).period(period);
        any_cpu = true;
    }
    if let Some(s) = run.cpu_shares {
        if s != 0 && s < 2 {
            bail!("invalid --cpu-shares {s}: minimum is 2");
        }
        if s != 0 {
            cpu = cpu.shares(s);
            any_cpu = true;
        }
    }
    if let Some(c) = &run.cpuset_cpus {
        cpu = cpu.cpus(c.clone());
        any_cpu = true;
    }
    if let Some(m) = &run.cpuset_mems {
        cpu = cpu.mems(m.clone());
        any_cpu = true;
    }
    if any_cpu {
        res = res.cpu(cpu.build()?);
    }

    let limit = run
        .memory
        .as_deref()
        .map(parse::ram_in_bytes)
        .transpose()?
        .filter(|m| *m > 0);
    if let Some(m) = limit
        && m < MIN_MEMORY
    {
        bail!("Minimum memory limit allowed is 6MB");
    }
    let swap = match run.memory_swap.as_deref() {
        None => None,
        Some("-1") => Some(-1),
        Some(s) => {
            let total = parse::ram_in_bytes(s)?;
            match limit {
                None => bail!(
                    "You should always set the Memory limit when using Memoryswap limit, see usage"
                ),
                Some(m) if total < m => {
                    bail!("Minimum memoryswap limit should be larger than memory limit, see usage")
                }
                Some(_) => Some(total),
            }
        }
    };
    if limit.is_some() || swap.is_some() {
        let mut mem = LinuxMemoryBuilder::default();
        if let Some(m) = limit {
            mem = mem.limit(m);
        }
        if let Some(s) = swap {
            mem = mem.swap(s);
        }
        res = res.memory(mem.build()?);
    }
    if let Some(p) = run.pids_limit {
        let limit = if p <= 0 { -1 } else { p };
        res = res.pids(LinuxPidsBuilder::default().limit(limit).build()?);
    }
    Ok(res.build()?)
}

/// Docker's default rlimits, lowered to what this host can set (so they never warn), plus
/// `--ulimit NAME=SOFT[:HARD]`. The runtime clamps explicit values above what the host
/// allows (with a warning) instead of failing.
pub(crate) fn rlimits(run: &RunArgs) -> Result<Vec<PosixRlimit>> {
    let mut limits = isolate::spec::host_default_rlimits();
    for u in &run.ulimit {
        let (name, values) = u
            .split_once('=')
            .with_context(|| format!("invalid ulimit argument: {u}"))?;
        let (soft, hard) = match values.split_once(':') {
            Some((s, h)) => (s, h),
            None => (values, values),
        };
        let num = |v: &str| -> Result<u64> {
            if v == "-1" || v == "unlimited" {
                return Ok(u64::MAX);
            }
            v.parse()
                .with_context(|| format!("invalid ulimit argument: {u}"))
        };
        let (soft, hard) = (num(soft)?, num(hard)?);
        if soft > hard {
            bail!("ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}");
        }
        let typ = rlimit_type(name).with_context(|| format!("invalid ulimit type: {name}"))?;
        limits.retain(|l| l.typ() != typ);
        limits.push(rlimit(typ, soft, hard)?);
    }
    Ok(limits)
}

fn rlimit(typ: PosixRlimitType, soft: u64, hard: u64) -> Result<PosixRlimit> {
    Ok(PosixRlimitBuilder::default()
        .typ(typ)
        .soft(soft)
        .hard(hard)
        .build()?)
}

fn rlimit_type(name: &str) -> Option<PosixRlimitType> {
    use PosixRlimitType::*;
    Some(match name {
        "core" => RlimitCore,
        "cpu" => RlimitCpu,
        "data" => RlimitData,
        "fsize" => RlimitFsize,
        "locks" => RlimitLocks,
        "memlock" => RlimitMemlock,
        "msgqueue" => RlimitMsgqueue,
        "nice" => RlimitNice,
        "nofile" => RlimitNofile,
        "nproc" => RlimitNproc,
        "rss" => RlimitRss,
        "rtprio" => RlimitRtprio,
        "rttime" => RlimitRttime,
        "sigpending" => RlimitSigpending,
        "stack" => RlimitStack,
        "as" => RlimitAs,
        _ => return None,
    })
}

/// Files of the container that are bind-mounted over the image's own.
#[derive(Debug, Clone)]
pub(crate) struct EtcFiles {
    pub(crate) hostname: PathBuf,
    pub(crate) hosts: PathBuf,
    pub(crate) resolv_conf: PathBuf,
}

/// Docker's default mounts, then /etc files, volumes and tmpfs mounts (a later mount on the
/// same destination replaces an earlier one, as docker does for user mounts).
pub(crate) fn mounts(run: &RunArgs, etc: &EtcFiles, privileged: bool) -> Result<Vec<Mount>> {
    let mut mounts = isolate::spec::docker_mounts();
    if privileged {
        // A privileged container gets /sys read-write.
        for m in &mut mounts {
            if m.destination() == Path::new("/sys")
                && let Some(opts) = m.options().clone()
            {
                m.set_options(Some(opts.into_iter().filter(|o| o != "ro").collect()));
            }
        }
    }
    use isolate::spec::bind_mount;
    let mut user: Vec<Mount> = vec![
        bind_mount(&etc.resolv_conf, "/etc/resolv.conf", false),
        bind_mount(&etc.hostname, "/etc/hostname", false),
        bind_mount(&etc.hosts, "/etc/hosts", false),
    ];
    for v in &run.volume {
        let Volume {
            source,
            target,
            read_only,
        } = parse::volume(v)?;
        user.retain(|m| m.destination() != &target);
        user.push(bind_mount(&source, &target, read_only));
    }
    for t in &run.tmpfs {
        let (target, options) = parse::tmpfs(t)?;
        user.retain(|m| m.destination() != &target);
        let mut m = isolate::spec::tmpfs_mount(&target, &[]);
        m.set_options(Some(options));
        user.push(m);
    }
    // User mounts over a default destination replace it.
    mounts.retain(|m| !user.iter().any(|u| u.destination() == m.destination()));
    mounts.extend(user);
    Ok(mounts)
}

/// The namespaces of a container: docker's set, without a network namespace for
/// `--network host`, and with a cgroup namespace only on cgroup v2 (docker's default
/// `--cgroupns` is `private` on v2 and `host` on v1).
pub(crate) fn namespaces(host_network: bool, cgroup_v2: bool) -> Vec<LinuxNamespace> {
    let mut ns: Vec<LinuxNamespace> = isolate::spec::docker_namespaces();
    ns.retain(|n| n.typ() != LinuxNamespaceType::Network || !host_network);
    if cgroup_v2 && !ns.iter().any(|n| n.typ() == LinuxNamespaceType::Cgroup) {
        let mut cg = LinuxNamespace::default();
        cg.set_typ(LinuxNamespaceType::Cgroup);
        ns.push(cg);
    }
    ns
}

/// Everything the spec builder needs that is not in the flags.
#[derive(Debug)]
pub(crate) struct Input<'a> {
    pub(crate) image: Option<&'a ImageConfig>,
    pub(crate) run: &'a RunArgs,
    pub(crate) rootfs: &'a Path,
    pub(crate) hostname: &'a str,
    pub(crate) user: &'a ResolvedUser,
    pub(crate) etc: &'a EtcFiles,
    pub(crate) online_cpus: usize,
    pub(crate) host_network: bool,
    pub(crate) cgroup_v2: bool,
}

/// Builds the runtime spec: docker's defaults (from `isolate::spec`), the image config
/// and the flags, with capabilities, seccomp and device rules as docker sets them.
pub(crate) fn build(input: &Input<'_>) -> Result<Spec> {
    let run = input.run;
    let args = command_line(input.image, run)?;
    let mut spec = isolate::spec::docker_spec(input.rootfs, &args);
    spec.set_hostname(Some(input.hostname.to_owned()));
    if let Some(root) = spec.root_mut() {
        root.set_readonly(Some(run.read_only));
    }
    let security = security(run)?;
    if let Some(process) = spec.process_mut() {
        process.set_terminal(Some(run.tty));
        process.set_env(Some(environment(
            input.image,
            run,
            input.hostname,
            &input.user.home,
        )?));
        process.set_cwd(workdir(input.image, run)?);
        let mut user = oci_spec::runtime::User::default();
        user.set_uid(input.user.uid);
        user.set_gid(input.user.gid);
        user.set_additional_gids(
            (!input.user.additional_gids.is_empty()).then(|| input.user.additional_gids.clone()),
        );
        process.set_user(user);
        process.set_rlimits(Some(rlimits(run)?));
        process.set_capabilities(Some(security.capabilities.clone()));
        process.set_no_new_privileges(Some(security.no_new_privileges));
    }
    spec.set_mounts(Some(mounts(run, input.etc, run.privileged)?));
    if let Some(linux) = spec.linux_mut() {
        linux.set_namespaces(Some(namespaces(input.host_network, input.cgroup_v2)));
        let mut resources = resources(run, input.online_cpus)?;
        resources.set_devices(Some(device_rules(run.privileged)));
        linux.set_resources(Some(resources));
        linux.set_seccomp(security.seccomp);
        if run.privileged {
            linux.set_masked_paths(None);
            linux.set_readonly_paths(None);
        }
    }
    Ok(spec)
}

/// The security settings of `--cap-add`, `--cap-drop`, `--privileged` and
/// `--security-opt` (`seccomp=unconfined|PROFILE.json`, `no-new-privileges[=true|false]`).
#[derive(Debug)]
pub(crate) struct Security {
    pub(crate) capabilities: oci_spec::runtime::LinuxCapabilities,
    pub(crate) seccomp: Option<oci_spec::runtime::LinuxSeccomp>,
    pub(crate) no_new_privileges: bool,
}

pub(crate) fn security(run: &RunArgs) -> Result<Security> {
    let capabilities = isolate::caps::resolve(&run.cap_add, &run.cap_drop, run.privileged)?;
    let mut seccomp_opt: Option<String> = None;
    let mut no_new_privileges = false;
    for opt in &run.security_opt {
        let (key, value) = opt
            .split_once(['=', ':'])
            .map_or((opt.as_str(), None), |(k, v)| (k, Some(v)));
        match (key, value) {
            ("seccomp", Some(v)) => seccomp_opt = Some(v.to_owned()),
            ("no-new-privileges", None | Some("true")) => no_new_privileges = true,
            ("no-new-privileges", Some("false")) => no_new_privileges = false,
            ("label" | "apparmor", _) => {}
            _ => bail!("invalid --security-opt: {opt:?}"),
        }
    }
    let arch = isolate::seccomp::Arch::native()
        .context("seccomp profiles are not available on this architecture")?;
    let seccomp = match seccomp_opt.as_deref() {
        Some("unconfined") => None,
        // A privileged container runs without seccomp unless a profile is given.
        None if run.privileged => None,
        None => Some(isolate::seccomp::docker_default(arch, &capabilities)),
        Some(path) => {
            let bytes = std::fs::read(path)
                .with_context(|| format!("opening seccomp profile ({path}) failed"))?;
            isolate::seccomp::from_docker_json(&bytes, arch, &capabilities)
                .with_context(|| format!("decoding seccomp profile {path}"))?
        }
    };
    Ok(Security {
        capabilities,
        seccomp,
        no_new_privileges,
    })
}

/// Docker's default device cgroup rules: deny everything, allow `mknod` of any device, and
/// read/write/mknod of the harmless ones (null, zero, full, random, urandom, tty, console,
/// pts, ptmx, tun). Privileged containers may use every device.
pub(crate) fn device_rules(privileged: bool) -> Vec<oci_spec::runtime::LinuxDeviceCgroup> {
    use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};
    let rule = |allow: bool,
                typ: Option<LinuxDeviceType>,
                major: Option<i64>,
                minor: Option<i64>,
                access: &str| {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(allow);
        r.set_typ(typ);
        r.set_major(major);
        r.set_minor(minor);
        r.set_access(Some(access.to_owned()));
        r
    };
    if privileged {
        return vec![rule(true, Some(LinuxDeviceType::A), None, None, "rwm")];
    }
    let c = Some(LinuxDeviceType::C);
    vec![
        rule(false, Some(LinuxDeviceType::A), None, None, "rwm"),
        rule(true, c, None, None, "m"),
        rule(true, Some(LinuxDeviceType::B), None, None, "m"),
        rule(true, c, Some(1), Some(3), "rwm"),
        rule(true, c, Some(1), Some(5), "rwm"),
        rule(true, c, Some(1), Some(7), "rwm"),
        rule(true, c, Some(1), Some(8), "rwm"),
        rule(true, c, Some(1), Some(9), "rwm"),
        rule(true, c, Some(5), Some(0), "rwm"),
        rule(true, c, Some(5), Some(1), "rwm"),
        rule(true, c, Some(5), Some(2), "rwm"),
        rule(true, c, Some(136), None, "rwm"),
        rule(true, c, Some(10), Some(200), "rwm"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use oci_spec::image::ConfigBuilder;

    fn run_args(args: &[&str]) -> RunArgs {
        #[derive(Parser)]
        #[command(disable_help_flag = true)]
        struct P {
            #[command(flatten)]
            run: RunArgs,
        }
        let mut v = vec!["run"];
        v.extend_from_slice(args);
        P::try_parse_from(v).unwrap().run
    }

    fn image(entrypoint: &[&str], cmd: &[&str]) -> ImageConfig {
        let mut b = ConfigBuilder::default();
        if !entrypoint.is_empty() {
            b = b.entrypoint(entrypoint.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        }
        if !cmd.is_empty() {
            b = b.cmd(cmd.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        }
        b.env(vec!["PATH=/bin".to_owned(), "A=image".to_owned()])
            .working_dir("/srv")
            .user("alice")
            .build()
            .unwrap()
    }

    #[test]
    fn entrypoint_and_cmd_follow_docker() {
        let img = image(&["/entry", "-x"], &["default"]);
        let cl = |args: &[&str]| command_line(Some(&img), &run_args(args)).unwrap();
        assert_eq!(cl(&["busybox"]), ["/entry", "-x", "default"]);
        assert_eq!(
            cl(&["busybox", "mine", "-a"]),
            ["/entry", "-x", "mine", "-a"]
        );
        assert_eq!(cl(&["--entrypoint", "/other", "busybox"]), ["/other"]);
        assert_eq!(
            cl(&["--entrypoint", "/other", "busybox", "x"]),
            ["/other", "x"]
        );
        assert_eq!(cl(&["--entrypoint", "", "busybox", "sh"]), ["sh"]);
        let bare = image(&[], &[]);
        let err = command_line(Some(&bare), &run_args(&["busybox"])).unwrap_err();
        assert_eq!(err.to_string(), "no command specified");
    }

    #[test]
    fn env_layers_defaults_image_and_flags() {
        let img = image(&[], &["sh"]);
        let run = run_args(&["-t", "-e", "A=flag", "-e", "B=2", "busybox"]);
        let env = environment(Some(&img), &run, "abc", "/root").unwrap();
        assert_eq!(
            env,
            [
                "PATH=/bin",
                "HOSTNAME=abc",
                "TERM=xterm",
                "A=flag",
                "B=2",
                "HOME=/root"
            ]
        );
    }

    #[test]
    fn workdir_and_user_precedence() {
        let img = image(&[], &["sh"]);
        assert_eq!(
            workdir(Some(&img), &run_args(&["b"])).unwrap(),
            Path::new("/srv")
        );
        assert_eq!(
            workdir(Some(&img), &run_args(&["-w", "/tmp/../x", "b"])).unwrap(),
            Path::new("/x")
        );
        assert!(workdir(Some(&img), &run_args(&["-w", "rel", "b"])).is_err());
        assert_eq!(user(Some(&img), &run_args(&["b"])).unwrap().user, "alice");
        assert_eq!(
            user(None, &run_args(&["-u", "7:8", "b"]))
                .unwrap()
                .group
                .as_deref(),
            Some("8")
        );
        assert_eq!(user(None, &run_args(&["b"])).unwrap().user, "0");
    }

    #[test]
    fn resources_from_flags() {
        let r = resources(
            &run_args(&[
                "--cpus",
                "0.5",
                "-m",
                "200m",
                "--pids-limit",
                "1000",
                "--cpuset-cpus",
                "0",
                "b",
            ]),
            2,
        )
        .unwrap();
        let cpu = r.cpu().as_ref().unwrap();
        assert_eq!((cpu.quota(), cpu.period()), (Some(50_000), Some(100_000)));
        assert_eq!(cpu.cpus().as_deref(), Some("0"));
        assert_eq!(r.memory().as_ref().unwrap().limit(), Some(200 << 20));
        assert_eq!(r.memory().as_ref().unwrap().swap(), None);
        assert_eq!(r.pids().as_ref().unwrap().limit(), 1000);
        let unlimited = resources(&run_args(&["--pids-limit", "-1", "b"]), 2).unwrap();
        assert_eq!(unlimited.pids().as_ref().unwrap().limit(), -1);
        assert!(resources(&run_args(&["-m", "1m", "b"]), 2).is_err());
        assert!(resources(&run_args(&["-m", "64m", "--memory-swap", "32m", "b"]), 2).is_err());
        assert!(resources(&run_args(&["--memory-swap", "32m", "b"]), 2).is_err());
        let swap = resources(&run_args(&["-m", "64m", "--memory-swap", "-1", "b"]), 2).unwrap();
        assert_eq!(swap.memory().as_ref().unwrap().swap(), Some(-1));
        assert!(resources(&run_args(&["b"]), 2).unwrap().cpu().is_none());
    }

    #[test]
    fn ulimits() {
        let l = rlimits(&run_args(&[
            "--ulimit",
            "nofile=100:200",
            "--ulimit",
            "nproc=50",
            "b",
        ]))
        .unwrap();
        assert_eq!(l.len(), 2);
        let nofile = l
            .iter()
            .find(|l| l.typ() == PosixRlimitType::RlimitNofile)
            .unwrap();
        assert_eq!((nofile.soft(), nofile.hard()), (100, 200));
        assert!(rlimits(&run_args(&["--ulimit", "nofile=3:2", "b"])).is_err());
        assert!(rlimits(&run_args(&["--ulimit", "bogus=1", "b"])).is_err());
    }

    #[test]
    fn mounts_include_etc_files_volumes_and_tmpfs() {
        let etc = EtcFiles {
            hostname: "/c/hostname".into(),
            hosts: "/c/hosts".into(),
            resolv_conf: "/c/resolv.conf".into(),
        };
        let run = run_args(&["-v", "/data:/data:ro", "--tmpfs", "/dev/shm:size=1m", "b"]);
        let m = mounts(&run, &etc, false).unwrap();
        let dest: Vec<&Path> = m.iter().map(|m| m.destination().as_path()).collect();
        for d in [
            "/proc",
            "/dev",
            "/sys",
            "/etc/hosts",
            "/etc/resolv.conf",
            "/data",
        ] {
            assert!(dest.contains(&Path::new(d)), "{d} in {dest:?}");
        }
        assert_eq!(
            dest.iter().filter(|d| **d == Path::new("/dev/shm")).count(),
            1
        );
        let data = m
            .iter()
            .find(|m| m.destination() == Path::new("/data"))
            .unwrap();
        assert!(data.options().as_ref().unwrap().contains(&"ro".to_owned()));
    }

    #[test]
    fn namespaces_per_network_and_cgroup_mode() {
        let has = |ns: &[LinuxNamespace], t| ns.iter().any(|n| n.typ() == t);
        let v1 = namespaces(false, false);
        assert!(has(&v1, LinuxNamespaceType::Network) && !has(&v1, LinuxNamespaceType::Cgroup));
        let host = namespaces(true, true);
        assert!(!has(&host, LinuxNamespaceType::Network) && has(&host, LinuxNamespaceType::Cgroup));
        assert!(has(&host, LinuxNamespaceType::Pid) && has(&host, LinuxNamespaceType::Mount));
    }
}
