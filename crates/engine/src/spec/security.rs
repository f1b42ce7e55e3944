//! Capabilities, seccomp, `no_new_privileges` and device rules.

use crate::error::{Error, Result, invalid};
use crate::options::CreateOptions;

/// The security settings of `--cap-add`, `--cap-drop`, `--privileged` and
/// `--security-opt` (`seccomp=unconfined|PROFILE.json`, `no-new-privileges[=true|false]`).
#[derive(Debug)]
pub struct Security {
    /// The capability sets.
    pub capabilities: oci_spec::runtime::LinuxCapabilities,
    /// The seccomp profile (`None`: unconfined).
    pub seccomp: Option<oci_spec::runtime::LinuxSeccomp>,
    /// `no_new_privileges`.
    pub no_new_privileges: bool,
}

/// Resolves the security options.
///
/// # Errors
/// An unknown capability or option, an unreadable or invalid seccomp profile.
pub fn security(opts: &CreateOptions) -> Result<Security> {
    let capabilities = isolate::caps::resolve(&opts.cap_add, &opts.cap_drop, opts.privileged)?;
    let mut seccomp_opt: Option<String> = None;
    let mut no_new_privileges = false;
    for opt in &opts.security_opt {
        let (key, value) = opt
            .split_once(['=', ':'])
            .map_or((opt.as_str(), None), |(k, v)| (k, Some(v)));
        match (key, value) {
            ("seccomp", Some(v)) => seccomp_opt = Some(v.to_owned()),
            ("no-new-privileges", None | Some("true")) => no_new_privileges = true,
            ("no-new-privileges", Some("false")) => no_new_privileges = false,
            ("label" | "apparmor", _) => {}
            _ => invalid!("invalid --security-opt: {opt:?}"),
        }
    }
    let Some(arch) = isolate::seccomp::Arch::native() else {
        invalid!("seccomp profiles are not available on this architecture");
    };
    let seccomp = match seccomp_opt.as_deref() {
        Some("unconfined") => None,
        // A privileged container runs without seccomp unless a profile is given.
        None if opts.privileged => None,
        None => Some(isolate::seccomp::docker_default(arch, &capabilities)),
        Some(path) => {
            let bytes = std::fs::read(path)
                .map_err(|e| Error::os(format!("opening seccomp profile ({path}) failed"), e))?;
            isolate::seccomp::from_docker_json(&bytes, arch, &capabilities)
                .map_err(|e| Error::Invalid(format!("decoding seccomp profile {path}: {e}")))?
        }
    };
    Ok(Security {
        capabilities,
        seccomp,
        no_new_privileges,
    })
}

/// Docker's default device cgroup rules: deny everything, allow `mknod` of any device,
/// and read/write/mknod of the harmless ones (null, zero, full, random, urandom, tty,
/// console, pts, ptmx, tun). Privileged containers may use every device.
pub fn device_rules(privileged: bool) -> Vec<oci_spec::runtime::LinuxDeviceCgroup> {
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
