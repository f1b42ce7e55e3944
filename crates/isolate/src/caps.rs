//! Linux capabilities as docker gives them to containers: the default set, `--cap-add`,
//! `--cap-drop` and `--privileged`, and applying a set to the container's init.
//!
//! Sets are the OCI runtime spec's [`LinuxCapabilities`]. Like docker 20.10 and later,
//! [`resolve`] fills the bounding, effective and permitted sets and leaves the inheritable and
//! ambient sets empty, so a non-root user in the container ends up with no capabilities after
//! `execve` while root keeps the bounding set.
//!
//! ```no_run
//! use isolate::caps;
//!
//! # fn main() -> Result<(), caps::Error> {
//! // docker run --cap-add NET_ADMIN --cap-drop chown ...
//! let set = caps::resolve(&["NET_ADMIN"], &["chown"], false)?;
//! // In the container's init, after setuid/setgid (see `apply`):
//! caps::apply(&set)?;
//! # Ok(())
//! # }
//! ```

use std::collections::HashSet;
use std::io;

use oci_spec::runtime::{Capability, LinuxCapabilities};
use rustix::thread::{self as thread, CapabilitySet, CapabilitySets};

/// Docker's default capabilities (moby `oci/caps/defaults.go`).
pub const DOCKER_DEFAULT: [Capability; 14] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fsetid,
    Capability::Fowner,
    Capability::Mknod,
    Capability::NetRaw,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setfcap,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::SysChroot,
    Capability::Kill,
    Capability::AuditWrite,
];

/// Every capability the OCI types name, with its kernel number (linux/capability.h).
const NUMBERS: [(Capability, u32); 41] = [
    (Capability::Chown, 0),
    (Capability::DacOverride, 1),
    (Capability::DacReadSearch, 2),
    (Capability::Fowner, 3),
    (Capability::Fsetid, 4),
    (Capability::Kill, 5),
    (Capability::Setgid, 6),
    (Capability::Setuid, 7),
    (Capability::Setpcap, 8),
    (Capability::LinuxImmutable, 9),
    (Capability::NetBindService, 10),
    (Capability::NetBroadcast, 11),
    (Capability::NetAdmin, 12),
    (Capability::NetRaw, 13),
    (Capability::IpcLock, 14),
    (Capability::IpcOwner, 15),
    (Capability::SysModule, 16),
    (Capability::SysRawio, 17),
    (Capability::SysChroot, 18),
    (Capability::SysPtrace, 19),
    (Capability::SysPacct, 20),
    (Capability::SysAdmin, 21),
    (Capability::SysBoot, 22),
    (Capability::SysNice, 23),
    (Capability::SysResource, 24),
    (Capability::SysTime, 25),
    (Capability::SysTtyConfig, 26),
    (Capability::Mknod, 27),
    (Capability::Lease, 28),
    (Capability::AuditWrite, 29),
    (Capability::AuditControl, 30),
    (Capability::Setfcap, 31),
    (Capability::MacOverride, 32),
    (Capability::MacAdmin, 33),
    (Capability::Syslog, 34),
    (Capability::WakeAlarm, 35),
    (Capability::BlockSuspend, 36),
    (Capability::AuditRead, 37),
    (Capability::Perfmon, 38),
    (Capability::Bpf, 39),
    (Capability::CheckpointRestore, 40),
];

/// Where the kernel says which capability is its last.
const CAP_LAST_CAP: &str = "/proc/sys/kernel/cap_last_cap";

/// Errors from resolving and applying capabilities.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A `--cap-add`/`--cap-drop` name that is no capability.
    #[error("unknown capability: {0:?}")]
    Unknown(String),
    /// The kernel's capability state could not be read.
    #[error("reading the thread's capabilities")]
    Get(#[source] io::Error),
    /// `PR_CAPBSET_DROP` failed (it needs `CAP_SETPCAP`).
    #[error("dropping {cap} from the bounding set")]
    DropBounding {
        /// The capability, as `CAP_NAME`.
        cap: String,
        /// What the kernel said.
        #[source]
        source: io::Error,
    },
    /// `capset` failed, typically because the permitted set may only shrink: after a
    /// `setuid` away from root without [`keep_caps_across_setuid`] it is empty.
    #[error("setting the effective, permitted and inheritable capabilities")]
    Set(#[source] io::Error),
    /// `PR_CAP_AMBIENT_CLEAR_ALL` failed.
    #[error("clearing the ambient capabilities")]
    ClearAmbient(#[source] io::Error),
    /// `PR_CAP_AMBIENT_RAISE` failed (the capability must be permitted and inheritable).
    #[error("raising {cap} in the ambient set")]
    RaiseAmbient {
        /// The capability, as `CAP_NAME`.
        cap: String,
        /// What the kernel said.
        #[source]
        source: io::Error,
    },
    /// `PR_SET_KEEPCAPS` failed.
    #[error("setting the keep-capabilities flag")]
    KeepCaps(#[source] io::Error),
}

impl Error {
    /// Whether the error is about the input (an unknown name) rather than the kernel.
    pub fn is_invalid_input(&self) -> bool {
        matches!(self, Error::Unknown(_))
    }
}

/// The kernel number of `cap`.
pub fn number(cap: Capability) -> u32 {
    NUMBERS
        .iter()
        .find(|(known, _)| *known == cap)
        .map_or(u32::MAX, |&(_, n)| n)
}

/// The capability with kernel number `n`, if the OCI types name it.
pub fn from_number(n: u32) -> Option<Capability> {
    NUMBERS.iter().find(|&&(_, k)| k == n).map(|&(cap, _)| cap)
}

/// The bit mask of `caps`, as `/proc/<pid>/status` shows it (`CapEff:` and the like).
pub fn mask<'a>(caps: impl IntoIterator<Item = &'a Capability>) -> u64 {
    caps.into_iter()
        .fold(0, |mask, &cap| mask | (1u64 << number(cap)))
}

/// Parses a capability name as docker accepts it: with or without `CAP_`, any case
/// (`net_admin`, `CAP_NET_ADMIN`, `Cap_Net_Admin`).
///
/// # Errors
///
/// [`Error::Unknown`] for anything else, including `ALL` (which only [`resolve`] understands).
pub fn parse_name(name: &str) -> Result<Capability, Error> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    // The OCI type parses SCREAMING_SNAKE_CASE names without the prefix.
    bare.parse::<Capability>()
        .map_err(|_| Error::Unknown(name.to_owned()))
}

/// `CAP_NAME` of capability number `n`.
fn display_name(n: u32) -> String {
    match from_number(n) {
        Some(cap) => format!("CAP_{cap}"),
        None => format!("capability {n}"),
    }
}

/// Docker's default set, in the shape [`resolve`] returns.
pub fn docker_default() -> LinuxCapabilities {
    from_set(DOCKER_DEFAULT.iter().copied().collect())
}

/// A container's capabilities as docker 20.10+ sets them: `set` in the bounding, effective and
/// permitted sets, nothing inheritable or ambient.
pub fn from_set(set: HashSet<Capability>) -> LinuxCapabilities {
    let mut caps = LinuxCapabilities::default();
    caps.set_bounding(Some(set.clone()));
    caps.set_effective(Some(set.clone()));
    caps.set_permitted(Some(set));
    caps.set_inheritable(Some(HashSet::new()));
    caps.set_ambient(Some(HashSet::new()));
    caps
}

/// The number of the kernel's last capability: `/proc/sys/kernel/cap_last_cap`, or asked of
/// the kernel directly when `/proc` cannot be read.
pub fn last_cap() -> Result<u32, Error> {
    match std::fs::read_to_string(CAP_LAST_CAP) {
        Ok(text) => match text.trim().parse() {
            Ok(n) => Ok(n),
            Err(_) => probe_last_cap(),
        },
        Err(_) => probe_last_cap(),
    }
}

/// Finds the last capability with `PR_CAPBSET_READ`, which fails with `EINVAL` past it.
fn probe_last_cap() -> Result<u32, Error> {
    let mut last = None;
    for n in 0..64 {
        match thread::capability_is_in_bounding_set(bit(n)) {
            Ok(_) => last = Some(n),
            Err(rustix::io::Errno::INVAL) => break,
            Err(errno) => return Err(Error::Get(errno.into())),
        }
    }
    last.ok_or_else(|| Error::Get(io::Error::from(io::ErrorKind::Unsupported)))
}

/// All capabilities that both the running kernel and the OCI types know: what
/// `--privileged` (or `--cap-add ALL`) gives.
pub fn kernel_capabilities() -> Result<HashSet<Capability>, Error> {
    let last = last_cap()?;
    Ok(NUMBERS
        .iter()
        .filter(|&&(_, n)| n <= last)
        .map(|&(cap, _)| cap)
        .collect())
}

/// The kernel's capabilities that this process's bounding set still holds: what
/// `--privileged` and `--cap-add ALL` give, as podman does (a caller whose bounding set
/// lacks one, such as root in a container without `CAP_SYS_RESOURCE`, could not pass it
/// on; docker and runc fail with "unable to apply caps" there).
///
/// # Errors
/// [`Error::Get`] when the kernel's last capability cannot be found or the bounding set
/// cannot be read.
pub fn held_capabilities() -> Result<HashSet<Capability>, Error> {
    let last = last_cap()?;
    let mut out = HashSet::new();
    for &(cap, n) in NUMBERS.iter().filter(|&&(_, n)| n <= last) {
        if thread::capability_is_in_bounding_set(bit(n)).map_err(|e| Error::Get(e.into()))? {
            out.insert(cap);
        }
    }
    Ok(out)
}

/// A `--cap-add`/`--cap-drop` entry.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Name {
    All,
    Cap(Capability),
}

fn normalize<S: AsRef<str>>(names: &[S]) -> Result<Vec<Name>, Error> {
    names
        .iter()
        .map(|name| {
            let name = name.as_ref();
            if name.eq_ignore_ascii_case("ALL") || name.eq_ignore_ascii_case("CAP_ALL") {
                Ok(Name::All)
            } else {
                parse_name(name).map(Name::Cap)
            }
        })
        .collect()
}

/// Resolves `--cap-add`, `--cap-drop` and `--privileged` the way docker does (moby
/// `oci/caps.TweakCapabilities`):
///
/// - `--privileged`: every capability of the running kernel this process still holds
///   ([`held_capabilities`]);
/// - `--cap-add ALL`: every capability except those dropped;
/// - `--cap-drop ALL`: only those added;
/// - otherwise the default set minus the dropped ones plus the added ones.
///
/// # Errors
///
/// [`Error::Unknown`] for a name that is not a capability, [`Error::Get`] if the kernel's
/// capabilities cannot be listed when they are needed.
pub fn resolve<S: AsRef<str>>(
    cap_add: &[S],
    cap_drop: &[S],
    privileged: bool,
) -> Result<LinuxCapabilities, Error> {
    let adds = normalize(cap_add)?;
    let drops = normalize(cap_drop)?;
    let needs_all = privileged || adds.contains(&Name::All);
    let all = if needs_all {
        held_capabilities()?
    } else {
        HashSet::new()
    };
    Ok(from_set(tweak(&adds, &drops, privileged, &all)))
}

/// The set docker ends up with; `all` is what the kernel supports.
fn tweak(
    adds: &[Name],
    drops: &[Name],
    privileged: bool,
    all: &HashSet<Capability>,
) -> HashSet<Capability> {
    let named = |names: &[Name]| -> HashSet<Capability> {
        names
            .iter()
            .filter_map(|name| match name {
                Name::Cap(cap) => Some(*cap),
                Name::All => None,
            })
            .collect()
    };
    if privileged {
        return all.clone();
    }
    if adds.contains(&Name::All) {
        let dropped = named(drops);
        return all.difference(&dropped).copied().collect();
    }
    if drops.contains(&Name::All) {
        return named(adds);
    }
    let dropped = named(drops);
    DOCKER_DEFAULT
        .iter()
        .copied()
        .filter(|cap| !dropped.contains(cap))
        .chain(named(adds))
        .collect()
}

/// Sets `PR_SET_KEEPCAPS` so that the permitted set survives the switch away from uid 0.
///
/// Call it before `setresuid` when the container's user is not root; [`apply`] then restores
/// the effective set and clears the flag again (it is also cleared by `execve`).
///
/// # Errors
///
/// [`Error::KeepCaps`] if the kernel refuses (it does when `SECBIT_KEEP_CAPS_LOCKED` is set).
pub fn keep_caps_across_setuid() -> Result<(), Error> {
    thread::set_keep_capabilities(true).map_err(|e| Error::KeepCaps(e.into()))
}

/// Gives the calling thread exactly the capabilities in `caps`.
///
/// In order: drops from the bounding set every capability the kernel has that `caps.bounding`
/// lacks; sets the effective, permitted and inheritable sets (`capset`); clears the ambient
/// set and raises the ambient capabilities listed; clears `PR_SET_KEEPCAPS`. Unset sets count
/// as empty, as in runc.
///
/// # When to call it
///
/// In the container's init (and in the process `exec` starts), after `setgroups`, `setresgid`
/// and `setresuid`, as the last step before `execve` (apart from installing a seccomp filter
/// under `no-new-privileges`):
///
/// 1. (no `no-new-privileges`) [`crate::seccomp::install`], which needs `CAP_SYS_ADMIN`;
/// 2. [`keep_caps_across_setuid`] if the target uid is not 0;
/// 3. `setgroups`, `setresgid`, `setresuid`;
/// 4. `apply`;
/// 5. (`no-new-privileges`) `prctl(PR_SET_NO_NEW_PRIVS)`, then [`crate::seccomp::install`];
/// 6. `execve`.
///
/// The switch away from uid 0 empties the effective set (and, without the keep-caps flag, the
/// permitted set too) and always empties the ambient set; that is why `apply` comes after it.
/// `apply` works from whatever the permitted set still holds: if `CAP_SETPCAP` is permitted but
/// no longer effective it raises the effective set first, to be allowed to drop from the
/// bounding set.
///
/// Capabilities are per thread: call it from the single-threaded init.
///
/// # Errors
///
/// [`Error::Set`] if `caps` asks for more than the thread has (for instance after `setresuid`
/// without [`keep_caps_across_setuid`]), the other variants when the kernel refuses a step.
pub fn apply(caps: &LinuxCapabilities) -> Result<(), Error> {
    let wanted = |set: &Option<HashSet<Capability>>| {
        CapabilitySet::from_bits_retain(set.as_ref().map_or(0, mask))
    };
    let bounding = wanted(caps.bounding());
    let ambient = wanted(caps.ambient());
    let target = CapabilitySets {
        effective: wanted(caps.effective()),
        permitted: wanted(caps.permitted()),
        inheritable: wanted(caps.inheritable()),
    };

    let current = thread::capabilities(None).map_err(|e| Error::Get(e.into()))?;
    if current.permitted.contains(CapabilitySet::SETPCAP)
        && !current.effective.contains(CapabilitySet::SETPCAP)
    {
        let raised = CapabilitySets {
            effective: current.permitted,
            ..current
        };
        thread::set_capabilities(None, raised).map_err(|e| Error::Set(e.into()))?;
    }

    for n in 0..=probe_last_cap()? {
        if bounding.contains(bit(n)) {
            continue;
        }
        // Dropping needs CAP_SETPCAP even for a capability already gone: ask first.
        let present =
            thread::capability_is_in_bounding_set(bit(n)).map_err(|e| Error::Get(e.into()))?;
        if present {
            thread::remove_capability_from_bounding_set(bit(n)).map_err(|e| {
                Error::DropBounding {
                    cap: display_name(n),
                    source: e.into(),
                }
            })?;
        }
    }

    thread::set_capabilities(None, target).map_err(|e| Error::Set(e.into()))?;

    thread::clear_ambient_capability_set().map_err(|e| Error::ClearAmbient(e.into()))?;
    for n in 0..64 {
        if ambient.contains(bit(n)) {
            thread::configure_capability_in_ambient_set(bit(n), true).map_err(|e| {
                Error::RaiseAmbient {
                    cap: display_name(n),
                    source: e.into(),
                }
            })?;
        }
    }

    thread::set_keep_capabilities(false).map_err(|e| Error::KeepCaps(e.into()))
}

/// The single-capability set for number `n` (below 64).
fn bit(n: u32) -> CapabilitySet {
    CapabilitySet::from_bits_retain(1u64 << n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(caps: &[Capability]) -> HashSet<Capability> {
        caps.iter().copied().collect()
    }

    fn names(list: &[&str]) -> Vec<Name> {
        normalize(list).unwrap()
    }

    #[test]
    fn numbers_cover_every_oci_capability_once() {
        let mut seen = HashSet::new();
        for (cap, n) in NUMBERS {
            assert!(seen.insert(n), "number {n} twice");
            assert_eq!(from_number(n), Some(cap));
            assert_eq!(number(cap), n);
        }
        assert_eq!(seen.len(), 41);
        assert_eq!(from_number(41), None);
    }

    #[test]
    fn docker_default_mask_is_dockers() {
        // The CapBnd/CapEff that `docker run` shows in /proc/self/status.
        assert_eq!(mask(&DOCKER_DEFAULT), 0x0000_0000_a804_25fb);
    }

    #[test]
    fn parse_names_like_docker() {
        for (input, want) in [
            ("NET_ADMIN", Capability::NetAdmin),
            ("net_admin", Capability::NetAdmin),
            ("CAP_NET_ADMIN", Capability::NetAdmin),
            ("cap_sys_admin", Capability::SysAdmin),
            ("Cap_Chown", Capability::Chown),
            ("CAP_CHECKPOINT_RESTORE", Capability::CheckpointRestore),
            ("audit_write", Capability::AuditWrite),
        ] {
            assert_eq!(parse_name(input).unwrap(), want, "{input}");
        }
        for bad in [
            "",
            "CAP_",
            "NET ADMIN",
            "CAP_CAP_CHOWN",
            "all",
            "FOO",
            "cap_sys_admin2",
        ] {
            let err = parse_name(bad).unwrap_err();
            assert!(err.is_invalid_input(), "{bad}: {err}");
        }
    }

    #[test]
    fn tweak_table() {
        let all = set(&[
            Capability::Chown,
            Capability::NetAdmin,
            Capability::SysAdmin,
            Capability::Kill,
        ]);
        let default: HashSet<_> = DOCKER_DEFAULT.iter().copied().collect();
        let with = |extra: &[Capability]| -> HashSet<Capability> {
            default.iter().chain(extra).copied().collect()
        };
        let without = |gone: &[Capability]| -> HashSet<Capability> {
            default
                .iter()
                .filter(|c| !gone.contains(c))
                .copied()
                .collect()
        };
        type Case<'a> = (&'a [&'a str], &'a [&'a str], bool, HashSet<Capability>);
        let cases: Vec<Case> = vec![
            (&[], &[], false, default.clone()),
            (&["NET_ADMIN"], &[], false, with(&[Capability::NetAdmin])),
            (
                &["cap_sys_admin", "net_admin"],
                &[],
                false,
                with(&[Capability::SysAdmin, Capability::NetAdmin]),
            ),
            (
                &[],
                &["chown", "CAP_KILL"],
                false,
                without(&[Capability::Chown, Capability::Kill]),
            ),
            // Adding one already present changes nothing; dropping one absent neither.
            (&["CHOWN"], &["SYS_ADMIN"], false, default.clone()),
            // Drop wins over the default, add wins over drop of the same name.
            (&["CHOWN"], &["CHOWN"], false, default.clone()),
            (&["ALL"], &[], false, all.clone()),
            (
                &["all"],
                &["NET_ADMIN", "chown"],
                false,
                set(&[Capability::SysAdmin, Capability::Kill]),
            ),
            (&[], &["ALL"], false, HashSet::new()),
            (
                &["NET_RAW", "SYS_ADMIN"],
                &["ALL"],
                false,
                set(&[Capability::NetRaw, Capability::SysAdmin]),
            ),
            (&[], &[], true, all.clone()),
            (&["NET_ADMIN"], &["ALL"], true, all.clone()),
        ];
        for (adds, drops, privileged, want) in cases {
            let got = tweak(&names(adds), &names(drops), privileged, &all);
            assert_eq!(
                got, want,
                "add {adds:?} drop {drops:?} privileged {privileged}"
            );
        }
    }

    #[test]
    fn resolve_rejects_unknown_names() {
        let err = resolve(&["NET_ADMIN", "CAP_FLY"], &[], false).unwrap_err();
        assert!(
            matches!(&err, Error::Unknown(name) if name == "CAP_FLY"),
            "{err}"
        );
        assert!(resolve::<&str>(&[], &["nope"], false).is_err());
    }

    #[test]
    fn resolved_sets_have_dockers_shape() {
        let caps = resolve(&["NET_ADMIN"], &["MKNOD"], false).unwrap();
        let mut want: HashSet<_> = DOCKER_DEFAULT.iter().copied().collect();
        want.remove(&Capability::Mknod);
        want.insert(Capability::NetAdmin);
        assert_eq!(caps.bounding().as_ref(), Some(&want));
        assert_eq!(caps.effective().as_ref(), Some(&want));
        assert_eq!(caps.permitted().as_ref(), Some(&want));
        assert_eq!(caps.inheritable().as_ref(), Some(&HashSet::new()));
        assert_eq!(caps.ambient().as_ref(), Some(&HashSet::new()));
    }

    #[test]
    fn privileged_is_what_the_kernel_has_and_we_hold() {
        let last = std::fs::read_to_string(CAP_LAST_CAP)
            .unwrap()
            .trim()
            .parse::<u32>()
            .unwrap();
        assert_eq!(last_cap().unwrap(), last);
        assert_eq!(probe_last_cap().unwrap(), last);
        let caps = resolve::<&str>(&[], &[], true).unwrap();
        let bounding = caps.bounding().clone().unwrap();
        let held = NUMBERS
            .iter()
            .filter(|(_, n)| *n <= last)
            .filter(|(_, n)| thread::capability_is_in_bounding_set(bit(*n)).unwrap())
            .count();
        assert_eq!(bounding.len(), held);
        assert_eq!(bounding, held_capabilities().unwrap());
        assert!(
            held_capabilities()
                .unwrap()
                .is_subset(&kernel_capabilities().unwrap())
        );
    }
}
