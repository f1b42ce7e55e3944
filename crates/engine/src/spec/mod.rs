//! From an image config and [`CreateOptions`] to an OCI runtime spec (`config.json`
//! shape), as docker builds it: entrypoint/cmd rules, environment, working directory,
//! mounts, namespaces, resources, rlimits, capabilities, seccomp and device rules.
//! Docker's fixed defaults (mounts, masked paths, namespaces) come from `isolate::spec`.
//!
//! User names are resolved by the container's init against the container's own
//! /etc/passwd and /etc/group when it starts (as runc does): the spec carries root, and
//! [`user_request`] gives the name to resolve.

mod mounts;
mod resources;
mod security;

use std::path::{Path, PathBuf};

use oci_spec::image::Config as ImageConfig;
use oci_spec::runtime::Spec;

use crate::error::{Error, Result, invalid};
use crate::options::{CreateOptions, clean_abs, merge_env};

pub use mounts::{EtcFiles, mounts, namespaces};
pub use resources::{resources, rlimits};
pub use security::{
    Security, device_cgroup_rule, device_paths, device_rules, host_devices, security, user_devices,
};

/// Docker's default PATH when the image sets none.
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The command line of the container's process: entrypoint and cmd combined by docker's
/// rules. An explicit `--entrypoint` (even empty) discards the image's Cmd.
///
/// # Errors
/// `no command specified` when both are empty.
pub fn command_line(image: Option<&ImageConfig>, opts: &CreateOptions) -> Result<Vec<String>> {
    let image_entrypoint = image
        .and_then(|c| c.entrypoint().clone())
        .unwrap_or_default();
    let image_cmd = image.and_then(|c| c.cmd().clone()).unwrap_or_default();
    let (entrypoint, cmd) = match &opts.entrypoint {
        Some(e) if e.is_empty() => (Vec::new(), opts.command.clone()),
        Some(e) => (vec![e.clone()], opts.command.clone()),
        None if !opts.command.is_empty() => (image_entrypoint, opts.command.clone()),
        None => (image_entrypoint, image_cmd),
    };
    let args: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if args.is_empty() {
        invalid!("no command specified");
    }
    Ok(args)
}

/// The container's environment: docker's defaults, then the image's, then the options'
/// (later ones win). HOME comes from the user's passwd entry at start when nobody set it.
pub fn environment(
    image: Option<&ImageConfig>,
    opts: &CreateOptions,
    hostname: &str,
) -> Vec<String> {
    let mut env = vec![DEFAULT_PATH.to_owned(), format!("HOSTNAME={hostname}")];
    if opts.tty {
        env.push("TERM=xterm".to_owned());
    }
    merge_env(
        &mut env,
        image.and_then(|c| c.env().clone()).unwrap_or_default(),
    );
    merge_env(&mut env, opts.env.iter().cloned());
    env
}

/// The working directory: `-w`, else the image's, else `/`. Must be absolute.
///
/// # Errors
/// A relative path.
pub fn workdir(image: Option<&ImageConfig>, opts: &CreateOptions) -> Result<PathBuf> {
    let wd = opts
        .workdir
        .clone()
        .or_else(|| image.and_then(|c| c.working_dir().clone()))
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".to_owned());
    if !wd.starts_with('/') {
        invalid!("the working directory '{wd}' is invalid, it needs to be an absolute path");
    }
    Ok(clean_abs(Path::new(&wd)))
}

/// The user in effect, `name|uid[:group|gid]`: `-u`, else the image's `User`, else root.
pub fn user(image: Option<&ImageConfig>, opts: &CreateOptions) -> String {
    opts.user
        .clone()
        .or_else(|| image.and_then(|c| c.user().clone()))
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "0".to_owned())
}

/// The user as the init resolves it inside the container at start.
///
/// # Errors
/// An empty user or group (`invalid user specification`).
pub fn user_request(user: &str) -> Result<isolate::UserRequest> {
    isolate::UserRequest::parse(user).map_err(|e| Error::Invalid(e.to_string()))
}

/// Everything the spec builder needs that is not in the options.
#[derive(Debug)]
pub struct Input<'a> {
    /// The image's config.
    pub image: Option<&'a ImageConfig>,
    /// What the container is created with.
    pub opts: &'a CreateOptions,
    /// Where the rootfs will be (the mount point of the driver's mounts).
    pub rootfs: &'a Path,
    /// The container's hostname.
    pub hostname: &'a str,
    /// The container's own /etc files.
    pub etc: &'a EtcFiles,
    /// CPUs online (`--cpus` is checked against them).
    pub online_cpus: usize,
    /// `--network host`.
    pub host_network: bool,
    /// A cgroup namespace is made on cgroup v2 only (docker's default).
    pub cgroup_v2: bool,
}

/// Builds the runtime spec: docker's defaults (from `isolate::spec`), the image config
/// and the options, with capabilities, seccomp and device rules as docker sets them.
///
/// # Errors
/// An invalid option (docker's message).
pub fn build(input: &Input<'_>) -> Result<Spec> {
    let opts = input.opts;
    let args = command_line(input.image, opts)?;
    let mut spec = isolate::spec::docker_spec(input.rootfs, &args);
    // With the host's UTS namespace, the host's names stay as they are.
    if opts.uts.as_deref() != Some("host") {
        spec.set_hostname(Some(input.hostname.to_owned()));
        spec.set_domainname(opts.domainname.clone());
    }
    if let Some(root) = spec.root_mut() {
        root.set_readonly(Some(opts.read_only));
    }
    let security = security(opts)?;
    user_request(&user(input.image, opts))?;
    if let Some(process) = spec.process_mut() {
        process.set_terminal(Some(opts.tty));
        process.set_env(Some(environment(input.image, opts, input.hostname)));
        process.set_cwd(workdir(input.image, opts)?);
        process.set_user(oci_spec::runtime::User::default());
        process.set_rlimits(Some(rlimits(opts)?));
        process.set_capabilities(Some(security.capabilities.clone()));
        process.set_no_new_privileges(Some(security.no_new_privileges));
        if let Some(adj) = opts.oom_score_adj {
            if !(-1000..=1000).contains(&adj) {
                invalid!("Invalid value {adj}, range for oom score adj is [-1000, 1000]");
            }
            process.set_oom_score_adj(Some(adj));
        }
    }
    spec.set_mounts(Some(mounts(opts, input.etc)?));
    if let Some(linux) = spec.linux_mut() {
        linux.set_namespaces(Some(namespaces(input.host_network, input.cgroup_v2)));
    }
    crate::nsmodes::shape_spec(&mut spec, opts);
    if let Some(linux) = spec.linux_mut() {
        let mut resources = resources(opts, input.online_cpus)?;
        let mut rules = device_rules(opts.privileged);
        let mut nodes = Vec::new();
        for d in &opts.device {
            for (node, rule) in user_devices(d)? {
                nodes.push(node);
                rules.push(rule);
            }
        }
        for r in &opts.device_cgroup_rule {
            rules.push(device_cgroup_rule(r)?);
        }
        resources.set_devices(Some(rules));
        linux.set_resources(Some(resources));
        linux.set_seccomp(security.seccomp);
        if opts.privileged {
            linux.set_masked_paths(None);
            linux.set_readonly_paths(None);
            // Every host device, as docker gives a privileged container.
            linux.set_devices(Some(host_devices(Path::new("/dev"))));
        }
        if !nodes.is_empty() {
            let mut devices = linux.devices().clone().unwrap_or_default();
            devices.retain(|d| !nodes.iter().any(|n| n.path() == d.path()));
            devices.extend(nodes);
            linux.set_devices(Some(devices));
        }
        if !opts.sysctl.is_empty() {
            let mut map = std::collections::HashMap::new();
            for s in &opts.sysctl {
                let (k, v) = crate::options::sysctl(s, input.host_network)?;
                map.insert(k, v);
            }
            linux.set_sysctl(Some(map));
        }
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::image::ConfigBuilder;

    pub(super) fn image(entrypoint: &[&str], cmd: &[&str]) -> ImageConfig {
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

    fn cmd(command: &[&str], entrypoint: Option<&str>) -> CreateOptions {
        CreateOptions {
            image: "busybox".into(),
            command: command.iter().map(|s| s.to_string()).collect(),
            entrypoint: entrypoint.map(str::to_owned),
            ..Default::default()
        }
    }

    #[test]
    fn entrypoint_and_cmd_follow_docker() {
        let img = image(&["/entry", "-x"], &["default"]);
        let cl = |c: &[&str], e: Option<&str>| command_line(Some(&img), &cmd(c, e)).unwrap();
        assert_eq!(cl(&[], None), ["/entry", "-x", "default"]);
        assert_eq!(cl(&["mine", "-a"], None), ["/entry", "-x", "mine", "-a"]);
        assert_eq!(cl(&[], Some("/other")), ["/other"]);
        assert_eq!(cl(&["x"], Some("/other")), ["/other", "x"]);
        assert_eq!(cl(&["sh"], Some("")), ["sh"]);
        let bare = image(&[], &[]);
        let err = command_line(Some(&bare), &cmd(&[], None)).unwrap_err();
        assert_eq!(err.to_string(), "no command specified");
    }

    #[test]
    fn env_layers_defaults_image_and_options() {
        let img = image(&[], &["sh"]);
        let opts = CreateOptions {
            tty: true,
            env: vec!["A=flag".into(), "B=2".into()],
            ..Default::default()
        };
        assert_eq!(
            environment(Some(&img), &opts, "abc"),
            ["PATH=/bin", "HOSTNAME=abc", "TERM=xterm", "A=flag", "B=2"]
        );
    }

    #[test]
    fn workdir_and_user_precedence() {
        let img = image(&[], &["sh"]);
        let with = |w: Option<&str>, u: Option<&str>| CreateOptions {
            workdir: w.map(str::to_owned),
            user: u.map(str::to_owned),
            ..Default::default()
        };
        assert_eq!(
            workdir(Some(&img), &with(None, None)).unwrap(),
            Path::new("/srv")
        );
        assert_eq!(
            workdir(Some(&img), &with(Some("/tmp/../x"), None)).unwrap(),
            Path::new("/x")
        );
        assert!(workdir(Some(&img), &with(Some("rel"), None)).is_err());
        assert_eq!(user(Some(&img), &with(None, None)), "alice");
        assert_eq!(user(None, &with(None, None)), "0");
        let r = user_request(&user(None, &with(None, Some("7:8")))).unwrap();
        assert_eq!((r.user.as_str(), r.group.as_deref()), ("7", Some("8")));
        assert!(user_request(":").is_err());
        assert!(user_request("a:").is_err());
    }
}
