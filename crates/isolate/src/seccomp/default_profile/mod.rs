//! Docker's default seccomp profile, as data.
//!
//! This is the table of moby's `profiles/seccomp/default_linux.go` (the source of docker's
//! `default.json`), brought to the state of moby 28 (2025): `io_uring_*` removed from the
//! allow list (moby#46762) and the syscalls of kernels 6.5 to 6.13 added (moby#47341,
//! moby#50077). It is written in docker's own profile shape (names, action, args, and
//! `includes`/`excludes` filters on capabilities, architectures and kernel version) and goes
//! through the same resolver as a user's `--security-opt seccomp=profile.json`, so the two
//! paths cannot drift apart.

mod always_allowed;

use super::docker::{DockerArchMap, DockerArg, DockerFilter, DockerProfile, DockerSyscall};
use always_allowed::ALWAYS_ALLOWED;

/// `SCMP_ACT_ALLOW` or `SCMP_ACT_ERRNO` with an errno: the only two actions the default uses.
#[derive(Clone, Copy)]
enum Act {
    Allow,
    Errno(u32),
}

/// One `syscalls[]` entry of the profile.
struct Rule {
    names: &'static [&'static str],
    action: Act,
    /// `(index, value, value_two, op)` conditions, all of which must hold.
    args: &'static [(usize, u64, u64, &'static str)],
    includes: Filter,
    excludes: Filter,
}

/// The `includes`/`excludes` filters: every listed capability present (`includes`) or any
/// present (`excludes`), the host architecture in the list, the kernel at least this version.
#[derive(Clone, Copy)]
struct Filter {
    caps: &'static [&'static str],
    arches: &'static [&'static str],
    min_kernel: Option<&'static str>,
}

const NONE: Filter = Filter {
    caps: &[],
    arches: &[],
    min_kernel: None,
};

const fn caps(caps: &'static [&'static str]) -> Filter {
    Filter {
        caps,
        arches: &[],
        min_kernel: None,
    }
}

const fn arches(arches: &'static [&'static str]) -> Filter {
    Filter {
        caps: &[],
        arches,
        min_kernel: None,
    }
}

const fn allow(names: &'static [&'static str], includes: Filter) -> Rule {
    Rule {
        names,
        action: Act::Allow,
        args: &[],
        includes,
        excludes: NONE,
    }
}

const EQ: &str = "SCMP_CMP_EQ";
const NE: &str = "SCMP_CMP_NE";
const MASKED_EQ: &str = "SCMP_CMP_MASKED_EQ";

/// `AF_VSOCK`.
const AF_VSOCK: u64 = 40;
/// `CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET |
/// CLONE_NEWCGROUP`: the namespace flags that `clone` may only use with `CAP_SYS_ADMIN`.
const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;
/// `ENOSYS`.
const ENOSYS: u32 = 38;
/// `EPERM`.
const EPERM: u32 = 1;

/// The whole profile, in docker's order.
const RULES: &[Rule] = &[
    allow(ALWAYS_ALLOWED, NONE),
    allow(
        &["process_vm_readv", "process_vm_writev", "ptrace"],
        Filter {
            caps: &[],
            arches: &[],
            min_kernel: Some("4.8"),
        },
    ),
    Rule {
        names: &["socket"],
        action: Act::Allow,
        args: &[(0, AF_VSOCK, 0, NE)],
        includes: NONE,
        excludes: NONE,
    },
    // personality(2): the query (0xffffffff), PER_LINUX, PER_LINUX32, and both with
    // UNAME26. Anything else (ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC...) is denied.
    Rule {
        names: &["personality"],
        action: Act::Allow,
        args: &[(0, 0x0, 0, EQ)],
        includes: NONE,
        excludes: NONE,
    },
    Rule {
        names: &["personality"],
        action: Act::Allow,
        args: &[(0, 0x0008, 0, EQ)],
        includes: NONE,
        excludes: NONE,
    },
    Rule {
        names: &["personality"],
        action: Act::Allow,
        args: &[(0, 0x20000, 0, EQ)],
        includes: NONE,
        excludes: NONE,
    },
    Rule {
        names: &["personality"],
        action: Act::Allow,
        args: &[(0, 0x20008, 0, EQ)],
        includes: NONE,
        excludes: NONE,
    },
    Rule {
        names: &["personality"],
        action: Act::Allow,
        args: &[(0, 0xffff_ffff, 0, EQ)],
        includes: NONE,
        excludes: NONE,
    },
    allow(&["sync_file_range2", "swapcontext"], arches(&["ppc64le"])),
    allow(
        &[
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "sync_file_range2",
            "breakpoint",
            "cacheflush",
            "set_tls",
        ],
        arches(&["arm", "arm64"]),
    ),
    allow(&["arch_prctl"], arches(&["amd64", "x32"])),
    allow(&["modify_ldt"], arches(&["amd64", "x32", "x86"])),
    allow(
        &[
            "s390_pci_mmio_read",
            "s390_pci_mmio_write",
            "s390_runtime_instr",
        ],
        arches(&["s390", "s390x"]),
    ),
    allow(
        &["riscv_flush_icache", "riscv_hwprobe"],
        arches(&["riscv64"]),
    ),
    allow(&["open_by_handle_at"], caps(&["CAP_DAC_READ_SEARCH"])),
    allow(
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
        caps(&["CAP_SYS_ADMIN"]),
    ),
    // Without CAP_SYS_ADMIN, clone(2) is allowed only without namespace flags (flags are the
    // first argument, the second on s390).
    Rule {
        names: &["clone"],
        action: Act::Allow,
        args: &[(0, CLONE_NAMESPACE_FLAGS, 0, MASKED_EQ)],
        includes: NONE,
        excludes: Filter {
            caps: &["CAP_SYS_ADMIN"],
            arches: &["s390", "s390x"],
            min_kernel: None,
        },
    },
    Rule {
        names: &["clone"],
        action: Act::Allow,
        args: &[(1, CLONE_NAMESPACE_FLAGS, 0, MASKED_EQ)],
        includes: arches(&["s390", "s390x"]),
        excludes: caps(&["CAP_SYS_ADMIN"]),
    },
    // clone3(2) passes its flags in memory, out of a filter's reach: without CAP_SYS_ADMIN it
    // reports ENOSYS so that libc falls back to clone(2), whose flags are checked above.
    Rule {
        names: &["clone3"],
        action: Act::Errno(ENOSYS),
        args: &[],
        includes: NONE,
        excludes: caps(&["CAP_SYS_ADMIN"]),
    },
    allow(&["reboot"], caps(&["CAP_SYS_BOOT"])),
    allow(&["chroot"], caps(&["CAP_SYS_CHROOT"])),
    allow(
        &["delete_module", "init_module", "finit_module"],
        caps(&["CAP_SYS_MODULE"]),
    ),
    allow(&["acct"], caps(&["CAP_SYS_PACCT"])),
    allow(
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
        caps(&["CAP_SYS_PTRACE"]),
    ),
    allow(&["iopl", "ioperm"], caps(&["CAP_SYS_RAWIO"])),
    allow(
        &["settimeofday", "stime", "clock_settime", "clock_settime64"],
        caps(&["CAP_SYS_TIME"]),
    ),
    allow(&["vhangup"], caps(&["CAP_SYS_TTY_CONFIG"])),
    allow(
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
        caps(&["CAP_SYS_NICE"]),
    ),
    allow(&["syslog"], caps(&["CAP_SYSLOG"])),
    allow(&["bpf"], caps(&["CAP_BPF"])),
    allow(&["perf_event_open"], caps(&["CAP_PERFMON"])),
];

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn filter(f: Filter) -> DockerFilter {
    DockerFilter {
        caps: strings(f.caps),
        arches: strings(f.arches),
        min_kernel: f.min_kernel.map(str::to_owned),
    }
}

/// Docker's default profile in docker's own format, before resolution.
pub(super) fn profile() -> DockerProfile {
    let syscalls = RULES
        .iter()
        .map(|rule| {
            let (action, errno_ret) = match rule.action {
                Act::Allow => ("SCMP_ACT_ALLOW", None),
                Act::Errno(errno) => ("SCMP_ACT_ERRNO", Some(errno)),
            };
            DockerSyscall {
                name: None,
                names: strings(rule.names),
                action: action.to_owned(),
                errno_ret,
                args: rule
                    .args
                    .iter()
                    .map(|&(index, value, value_two, op)| DockerArg {
                        index,
                        value,
                        value_two,
                        op: op.to_owned(),
                    })
                    .collect(),
                includes: filter(rule.includes),
                excludes: filter(rule.excludes),
            }
        })
        .collect();
    DockerProfile {
        default_action: "SCMP_ACT_ERRNO".to_owned(),
        default_errno_ret: Some(EPERM),
        architectures: Vec::new(),
        arch_map: vec![
            DockerArchMap {
                architecture: "SCMP_ARCH_X86_64".to_owned(),
                sub_architectures: strings(&["SCMP_ARCH_X86", "SCMP_ARCH_X32"]),
            },
            DockerArchMap {
                architecture: "SCMP_ARCH_AARCH64".to_owned(),
                sub_architectures: strings(&["SCMP_ARCH_ARM"]),
            },
        ],
        syscalls,
        flags: Vec::new(),
        listener_path: None,
        listener_metadata: None,
    }
}
