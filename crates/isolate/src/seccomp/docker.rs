//! Docker's seccomp profile format (`--security-opt seccomp=profile.json`) and its resolution
//! into an OCI [`LinuxSeccomp`] for one architecture and one capability set.
//!
//! Docker's format is the OCI one plus a few fields that docker resolves before handing the
//! profile to the runtime: `name` (singular, deprecated), `archMap` (sub-architectures per
//! host architecture), `comment`, and per-rule `includes`/`excludes` filters on capabilities,
//! host architectures and a minimum kernel version. The rules of that resolution follow
//! moby's `profiles/seccomp/seccomp_linux.go`:
//!
//! - a rule is dropped when the host architecture is in `excludes.arches`, when *any* of
//!   `excludes.caps` is in the bounding set, or when the kernel is at least
//!   `excludes.minKernel`;
//! - it is dropped when `includes.arches` is set and lacks the host architecture, when *any*
//!   of `includes.caps` is missing from the bounding set, or when the kernel is older than
//!   `includes.minKernel`.
//!
//! Architecture names in the filters are libseccomp's (`amd64`, `arm64`, `x86`, `x32`...);
//! only the host's own name is matched, as docker does.

use std::collections::HashSet;

use oci_spec::runtime::{
    Arch as OciArch, Capability, LinuxCapabilities, LinuxSeccomp, LinuxSeccompAction,
    LinuxSeccompArgBuilder, LinuxSeccompFilterFlag, LinuxSeccompOperator, LinuxSyscall,
};
use serde::{Deserialize, Deserializer, Serialize};

use super::{Arch, Error};

/// A kernel version `major.minor`, as used by `minKernel`.
pub(super) type KernelVersion = (u32, u32);

/// The top level of a docker seccomp profile.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DockerProfile {
    #[serde(default)]
    pub(super) default_action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) default_errno_ret: Option<u32>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub(super) architectures: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub(super) arch_map: Vec<DockerArchMap>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub(super) syscalls: Vec<DockerSyscall>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub(super) flags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) listener_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) listener_metadata: Option<String>,
}

/// One `archMap` entry: a host architecture and the sub-architectures it can run.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DockerArchMap {
    pub(super) architecture: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub(super) sub_architectures: Vec<String>,
}

/// One `syscalls[]` rule.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DockerSyscall {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) name: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub(super) names: Vec<String>,
    pub(super) action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) errno_ret: Option<u32>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub(super) args: Vec<DockerArg>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub(super) includes: DockerFilter,
    #[serde(default, deserialize_with = "null_as_default")]
    pub(super) excludes: DockerFilter,
}

/// A condition on one syscall argument.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DockerArg {
    pub(super) index: usize,
    pub(super) value: u64,
    #[serde(default)]
    pub(super) value_two: u64,
    pub(super) op: String,
}

/// An `includes` or `excludes` filter.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DockerFilter {
    #[serde(default, deserialize_with = "null_as_default")]
    pub(super) caps: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub(super) arches: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) min_kernel: Option<String>,
}

/// Docker writes `null` for empty lists and filters; treat it as the empty value.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Parses a docker-format profile.
pub(super) fn parse(bytes: &[u8]) -> Result<DockerProfile, Error> {
    serde_json::from_slice(bytes).map_err(Error::Json)
}

/// The kernel version of the running system, from `uname -r`.
pub(super) fn running_kernel() -> Option<KernelVersion> {
    let uname = rustix::system::uname();
    let release = uname.release().to_str().ok()?;
    parse_kernel_version(release)
}

/// Parses the leading `major.minor` of a kernel release such as `6.1.0-18-amd64`.
pub(super) fn parse_kernel_version(text: &str) -> Option<KernelVersion> {
    let mut parts = text.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().unwrap_or("0");
    let minor = if minor.is_empty() {
        0
    } else {
        minor.parse().ok()?
    };
    Some((major, minor))
}

/// Resolves `profile` for `arch`, the container's bounding set `bounding` and the running
/// kernel `kernel` (`None` when unknown: `minKernel` filters then count as satisfied).
///
/// Returns `None` for a profile with neither a default action nor rules, which docker treats
/// as "no seccomp".
pub(super) fn resolve(
    profile: &DockerProfile,
    arch: Arch,
    bounding: &HashSet<Capability>,
    kernel: Option<KernelVersion>,
) -> Result<Option<LinuxSeccomp>, Error> {
    if profile.default_action.is_empty() && profile.syscalls.is_empty() {
        return Ok(None);
    }
    if !profile.architectures.is_empty() && !profile.arch_map.is_empty() {
        return Err(Error::ArchitecturesAndArchMap);
    }

    let mut architectures = Vec::new();
    for name in &profile.architectures {
        architectures.push(parse_arch(name)?);
    }
    for entry in &profile.arch_map {
        if parse_arch(&entry.architecture)? == arch.oci() {
            architectures.push(arch.oci());
            for sub in &entry.sub_architectures {
                architectures.push(parse_arch(sub)?);
            }
        }
    }

    let mut syscalls = Vec::new();
    for rule in &profile.syscalls {
        if !rule_applies(rule, arch, bounding, kernel)? {
            continue;
        }
        let names = match (&rule.name, rule.names.is_empty()) {
            (Some(name), false) => {
                return Err(Error::NameAndNames { name: name.clone() });
            }
            (Some(name), true) => vec![name.clone()],
            (None, _) => rule.names.clone(),
        };
        let mut syscall = LinuxSyscall::default();
        syscall.set_names(names);
        syscall.set_action(parse_action(&rule.action)?);
        syscall.set_errno_ret(rule.errno_ret);
        if !rule.args.is_empty() {
            let mut args = Vec::with_capacity(rule.args.len());
            for arg in &rule.args {
                let oci = LinuxSeccompArgBuilder::default()
                    .index(arg.index)
                    .value(arg.value)
                    .value_two(arg.value_two)
                    .op(parse_op(&arg.op)?)
                    .build()
                    .map_err(Error::Spec)?;
                args.push(oci);
            }
            syscall.set_args(Some(args));
        }
        syscalls.push(syscall);
    }

    let mut flags = Vec::new();
    for flag in &profile.flags {
        flags.push(parse_flag(flag)?);
    }

    let mut seccomp = LinuxSeccomp::default();
    seccomp.set_default_action(parse_action(&profile.default_action)?);
    seccomp.set_default_errno_ret(profile.default_errno_ret);
    seccomp.set_architectures((!architectures.is_empty()).then_some(architectures));
    seccomp.set_flags((!flags.is_empty()).then_some(flags));
    seccomp.set_listener_path(profile.listener_path.as_ref().map(Into::into));
    seccomp.set_listener_metadata(profile.listener_metadata.clone());
    seccomp.set_syscalls(Some(syscalls));
    Ok(Some(seccomp))
}

/// Applies a rule's `includes` and `excludes` filters.
fn rule_applies(
    rule: &DockerSyscall,
    arch: Arch,
    bounding: &HashSet<Capability>,
    kernel: Option<KernelVersion>,
) -> Result<bool, Error> {
    let host = arch.docker_name();
    let has_cap =
        |name: &String| crate::caps::parse_name(name).is_ok_and(|cap| bounding.contains(&cap));

    let ex = &rule.excludes;
    if ex.arches.iter().any(|a| a == host) || ex.caps.iter().any(has_cap) {
        return Ok(false);
    }
    if let Some(min) = &ex.min_kernel {
        let min = parse_min_kernel(min)?;
        if kernel.is_some_and(|running| running >= min) {
            return Ok(false);
        }
    }

    let inc = &rule.includes;
    if !inc.arches.is_empty() && !inc.arches.iter().any(|a| a == host) {
        return Ok(false);
    }
    if !inc.caps.iter().all(has_cap) {
        return Ok(false);
    }
    if let Some(min) = &inc.min_kernel {
        let min = parse_min_kernel(min)?;
        if kernel.is_some_and(|running| running < min) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Parses a `minKernel` value: `major.minor`, as moby requires.
fn parse_min_kernel(text: &str) -> Result<KernelVersion, Error> {
    let invalid = || Error::InvalidKernelVersion(text.to_owned());
    let (major, minor) = text.split_once('.').ok_or_else(invalid)?;
    Ok((
        major.parse().map_err(|_| invalid())?,
        minor.parse().map_err(|_| invalid())?,
    ))
}

fn parse_action(text: &str) -> Result<LinuxSeccompAction, Error> {
    use LinuxSeccompAction::*;
    Ok(match text {
        "SCMP_ACT_KILL" => ScmpActKill,
        "SCMP_ACT_KILL_THREAD" => ScmpActKillThread,
        "SCMP_ACT_KILL_PROCESS" => ScmpActKillProcess,
        "SCMP_ACT_TRAP" => ScmpActTrap,
        "SCMP_ACT_ERRNO" => ScmpActErrno,
        "SCMP_ACT_NOTIFY" => ScmpActNotify,
        "SCMP_ACT_TRACE" => ScmpActTrace,
        "SCMP_ACT_LOG" => ScmpActLog,
        "SCMP_ACT_ALLOW" => ScmpActAllow,
        other => return Err(Error::UnknownAction(other.to_owned())),
    })
}

fn parse_op(text: &str) -> Result<LinuxSeccompOperator, Error> {
    use LinuxSeccompOperator::*;
    Ok(match text {
        "SCMP_CMP_NE" => ScmpCmpNe,
        "SCMP_CMP_LT" => ScmpCmpLt,
        "SCMP_CMP_LE" => ScmpCmpLe,
        "SCMP_CMP_EQ" => ScmpCmpEq,
        "SCMP_CMP_GE" => ScmpCmpGe,
        "SCMP_CMP_GT" => ScmpCmpGt,
        "SCMP_CMP_MASKED_EQ" => ScmpCmpMaskedEq,
        other => return Err(Error::UnknownOperator(other.to_owned())),
    })
}

fn parse_flag(text: &str) -> Result<LinuxSeccompFilterFlag, Error> {
    use LinuxSeccompFilterFlag::*;
    Ok(match text {
        "SECCOMP_FILTER_FLAG_LOG" => SeccompFilterFlagLog,
        "SECCOMP_FILTER_FLAG_TSYNC" => SeccompFilterFlagTsync,
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => SeccompFilterFlagSpecAllow,
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" => SeccompFilterFlagWaitKillableRecv,
        other => return Err(Error::UnknownFlag(other.to_owned())),
    })
}

/// Parses a libseccomp architecture name (`SCMP_ARCH_X86_64`...).
fn parse_arch(text: &str) -> Result<OciArch, Error> {
    use OciArch::*;
    Ok(match text {
        "SCMP_ARCH_NATIVE" => ScmpArchNative,
        "SCMP_ARCH_X86" => ScmpArchX86,
        "SCMP_ARCH_X86_64" => ScmpArchX86_64,
        "SCMP_ARCH_X32" => ScmpArchX32,
        "SCMP_ARCH_ARM" => ScmpArchArm,
        "SCMP_ARCH_AARCH64" => ScmpArchAarch64,
        "SCMP_ARCH_MIPS" => ScmpArchMips,
        "SCMP_ARCH_MIPS64" => ScmpArchMips64,
        "SCMP_ARCH_MIPS64N32" => ScmpArchMips64n32,
        "SCMP_ARCH_MIPSEL" => ScmpArchMipsel,
        "SCMP_ARCH_MIPSEL64" => ScmpArchMipsel64,
        "SCMP_ARCH_MIPSEL64N32" => ScmpArchMipsel64n32,
        "SCMP_ARCH_PPC" => ScmpArchPpc,
        "SCMP_ARCH_PPC64" => ScmpArchPpc64,
        "SCMP_ARCH_PPC64LE" => ScmpArchPpc64le,
        "SCMP_ARCH_S390" => ScmpArchS390,
        "SCMP_ARCH_S390X" => ScmpArchS390x,
        "SCMP_ARCH_PARISC" => ScmpArchParisc,
        "SCMP_ARCH_PARISC64" => ScmpArchParisc64,
        "SCMP_ARCH_RISCV64" => ScmpArchRiscv64,
        "SCMP_ARCH_LOONGARCH64" => ScmpArchLoongarch64,
        "SCMP_ARCH_M68K" => ScmpArchM68k,
        "SCMP_ARCH_SH" => ScmpArchSh,
        "SCMP_ARCH_SHEB" => ScmpArchSheb,
        other => return Err(Error::UnknownArch(other.to_owned())),
    })
}

/// The bounding set of `caps` (empty when unset), which is what docker's filters look at.
pub(super) fn bounding_set(caps: &LinuxCapabilities) -> HashSet<Capability> {
    caps.bounding().clone().unwrap_or_default()
}
