//! Compilation of an OCI [`LinuxSeccomp`] into one classic-BPF seccomp program.
//!
//! Layout of the program:
//!
//! ```text
//! load seccomp_data.arch
//! for each covered ABI: if arch == AUDIT_ARCH_<abi> jump to its section
//! return KILL_PROCESS                       (an ABI the profile does not cover)
//! section for each ABI:
//!   [if nr > highest syscall the profile names: return ERRNO(ENOSYS)]   (runc's -ENOSYS patch)
//!   group for the most restrictive action:
//!     syscalls with argument conditions (seccompiler code)
//!     syscalls matched on their number alone (one comparison each)
//!     (no match: on to the next group)
//!   group for the next action ...
//!   return <default action>
//! ```
//!
//! The conditional part of a group is the output of a [`SeccompFilter`] whose match action is
//! the group's action and whose mismatch action is a sentinel; the sentinel returns are
//! rewritten into jumps to the end of that part. Classic BPF has only forward, relative jumps,
//! so the parts stay valid when concatenated. Syscalls without conditions (most of a profile)
//! are emitted directly as one comparison each, four times shorter than seccompiler's
//! per-syscall chain: docker's default is about 900 instructions for x86_64 with its 32-bit
//! section, well under the kernel's 4096.

use std::collections::BTreeMap;

use oci_spec::runtime::{
    Arch as OciArch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag,
    LinuxSeccompOperator, LinuxSyscall,
};
use seccompiler::{
    SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
    TargetArch, sock_filter,
};

use super::syscalls::Abi;
use super::{Arch, Error, Result, Unsupported};

// Classic BPF opcodes (linux/bpf_common.h): BPF_LD | BPF_W | BPF_ABS is 0x00 | 0x00 | 0x20.
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JMP_JA: u16 = 0x05;
const BPF_JMP_JEQ_K: u16 = 0x05 | 0x10;
const BPF_JMP_JGT_K: u16 = 0x05 | 0x20;
const BPF_RET_K: u16 = 0x06;

/// Offsets in `struct seccomp_data`.
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;

/// The kernel's limit on a classic BPF program (`BPF_MAXINSNS`).
const MAX_INSTRUCTIONS: usize = 4096;

const ENOSYS: u16 = 38;
const EPERM: u16 = 1;

// seccomp(2) filter flags.
const FLAG_TSYNC: u32 = 1;
const FLAG_LOG: u32 = 2;
const FLAG_SPEC_ALLOW: u32 = 4;

/// A compiled seccomp filter, ready for [`super::install`].
///
/// It is plain data: compile it once (in the parent, before creating the container) and pass
/// it to the container's init as bytes with [`BpfProgram::to_bytes`] and
/// [`BpfProgram::from_bytes`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BpfProgram {
    instructions: Vec<sock_filter>,
    flags: u32,
}

impl BpfProgram {
    /// Number of BPF instructions.
    pub fn len(&self) -> usize {
        self.instructions.len()
    }

    /// Whether the program has no instructions (never true for a compiled program).
    pub fn is_empty(&self) -> bool {
        self.instructions.is_empty()
    }

    /// The `seccomp(2)` filter flags the profile asked for (`SECCOMP_FILTER_FLAG_*`).
    pub fn filter_flags(&self) -> u32 {
        self.flags
    }

    pub(super) fn instructions(&self) -> &[sock_filter] {
        &self.instructions
    }

    /// Serializes the program: the filter flags as a little-endian `u32`, then each
    /// instruction as `code: u16 LE, jt: u8, jf: u8, k: u32 LE`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(4 + 8 * self.instructions.len());
        bytes.extend_from_slice(&self.flags.to_le_bytes());
        for insn in &self.instructions {
            bytes.extend_from_slice(&insn.code.to_le_bytes());
            bytes.push(insn.jt);
            bytes.push(insn.jf);
            bytes.extend_from_slice(&insn.k.to_le_bytes());
        }
        bytes
    }

    /// Reads a program written by [`BpfProgram::to_bytes`].
    ///
    /// # Errors
    ///
    /// [`Error::BadProgram`] if the bytes cannot be such a program. The kernel verifies the
    /// instructions themselves when the program is installed.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (flags, code) = bytes
            .split_first_chunk::<4>()
            .ok_or(Error::BadProgram("shorter than its header"))?;
        let flags = u32::from_le_bytes(*flags);
        if flags & !(FLAG_TSYNC | FLAG_LOG | FLAG_SPEC_ALLOW) != 0 {
            return Err(Error::BadProgram("unknown filter flags"));
        }
        if code.is_empty() || code.len() % 8 != 0 {
            return Err(Error::BadProgram("not a whole number of instructions"));
        }
        if code.len() / 8 > MAX_INSTRUCTIONS {
            return Err(Error::BadProgram("more than 4096 instructions"));
        }
        let instructions: Vec<sock_filter> = code
            .chunks_exact(8)
            .map(|c| sock_filter {
                code: u16::from_le_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect();
        if instructions
            .last()
            .is_none_or(|last| last.code != BPF_RET_K)
        {
            return Err(Error::BadProgram("does not end with a return"));
        }
        Ok(BpfProgram {
            instructions,
            flags,
        })
    }
}

/// A seccomp action with its data, as the kernel sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    KillProcess,
    KillThread,
    Trap,
    Errno(u16),
    Trace(u16),
    Log,
    Allow,
}

impl Action {
    fn from_oci(action: LinuxSeccompAction, errno_ret: Option<u32>) -> Result<Self> {
        // runc's defaults: EPERM when no errno is given, for ERRNO and TRACE alike. The kernel
        // keeps the low 16 bits (SECCOMP_RET_DATA).
        let data = errno_ret.map_or(EPERM, |errno| (errno & 0xffff) as u16);
        Ok(match action {
            LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
                Action::KillThread
            }
            LinuxSeccompAction::ScmpActKillProcess => Action::KillProcess,
            LinuxSeccompAction::ScmpActTrap => Action::Trap,
            LinuxSeccompAction::ScmpActErrno => Action::Errno(data),
            LinuxSeccompAction::ScmpActTrace => Action::Trace(data),
            LinuxSeccompAction::ScmpActLog => Action::Log,
            LinuxSeccompAction::ScmpActAllow => Action::Allow,
            LinuxSeccompAction::ScmpActNotify => {
                return Err(Error::Unsupported(Unsupported::NotifyAction));
            }
        })
    }

    /// The filter's return value.
    fn ret(self) -> u32 {
        match self {
            Action::KillProcess => libc::SECCOMP_RET_KILL_PROCESS,
            Action::KillThread => libc::SECCOMP_RET_KILL_THREAD,
            Action::Trap => libc::SECCOMP_RET_TRAP,
            Action::Errno(errno) => libc::SECCOMP_RET_ERRNO | u32::from(errno),
            Action::Trace(data) => libc::SECCOMP_RET_TRACE | u32::from(data),
            Action::Log => libc::SECCOMP_RET_LOG,
            Action::Allow => libc::SECCOMP_RET_ALLOW,
        }
    }

    /// The kernel's precedence between filter results: lower wins.
    fn precedence(self) -> i32 {
        (self.ret() & libc::SECCOMP_RET_ACTION_FULL) as i32
    }

    fn backend(self) -> SeccompAction {
        match self {
            Action::KillProcess => SeccompAction::KillProcess,
            Action::KillThread => SeccompAction::KillThread,
            Action::Trap => SeccompAction::Trap,
            Action::Errno(errno) => SeccompAction::Errno(u32::from(errno)),
            Action::Trace(data) => SeccompAction::Trace(u32::from(data)),
            Action::Log => SeccompAction::Log,
            Action::Allow => SeccompAction::Allow,
        }
    }

    /// Whether runc's `-ENOSYS` stub applies under this default action: only for denying
    /// defaults (TRACE counts as allowing: a tracer handles unknown syscalls itself).
    fn wants_enosys_stub(self) -> bool {
        !matches!(
            self,
            Action::Allow | Action::Log | Action::Trace(_) | Action::Errno(ENOSYS)
        )
    }
}

/// Rules for one syscall in one group: `None` matches on the number alone.
type SyscallRules = Option<Vec<SeccompRule>>;

/// The syscalls that get one action.
struct Group {
    action: Action,
    syscalls: BTreeMap<u32, SyscallRules>,
}

impl Group {
    fn add(&mut self, nr: u32, rules: &SyscallRules) {
        match rules {
            None => {
                self.syscalls.insert(nr, None);
            }
            // Every rule of the entry was impossible: it can never match.
            Some(list) if list.is_empty() => {}
            Some(list) => {
                // An entry that is already unconditional stays so: extra conditions add nothing.
                if let Some(existing) = self.syscalls.entry(nr).or_insert_with(|| Some(Vec::new()))
                {
                    existing.extend(list.iter().cloned());
                }
            }
        }
    }
}

/// Compiles `profile` into a seccomp program for `arch`.
///
/// See the [module docs](super) for the semantics, which follow runc's use of libseccomp.
///
/// # Errors
///
/// [`Error::Unsupported`] for `SCMP_ACT_NOTIFY` and seccomp agents, [`Error::ArchNotCovered`]
/// when the profile's architectures leave out `arch`, [`Error::ArgIndex`] for an argument
/// index above 5, [`Error::TooLarge`] past 4096 instructions.
pub fn compile(profile: &LinuxSeccomp, arch: Arch) -> Result<BpfProgram> {
    if profile.listener_path().is_some() {
        return Err(Error::Unsupported(Unsupported::ListenerPath));
    }
    let flags = filter_flags(profile.flags().as_deref().unwrap_or_default())?;
    let default = Action::from_oci(profile.default_action(), profile.default_errno_ret())?;
    let syscalls = profile.syscalls().as_deref().unwrap_or_default();

    let abis = covered_abis(profile, arch)?;
    let mut sections = Vec::with_capacity(abis.len());
    for &abi in &abis {
        sections.push(compile_section(syscalls, default, abi)?);
    }

    // Dispatch on the architecture, then the sections.
    let header_len = 1 + 2 * abis.len() + 1;
    let mut instructions =
        Vec::with_capacity(header_len + sections.iter().map(Vec::len).sum::<usize>());
    instructions.push(stmt(BPF_LD_W_ABS, DATA_ARCH));
    let mut section_start = header_len;
    for (abi, section) in abis.iter().zip(&sections) {
        instructions.push(jump(BPF_JMP_JEQ_K, abi.audit_arch(), 0, 1));
        let after_ja = instructions.len() + 1;
        instructions.push(stmt(BPF_JMP_JA, offset(section_start - after_ja)?));
        section_start += section.len();
    }
    instructions.push(stmt(BPF_RET_K, libc::SECCOMP_RET_KILL_PROCESS));
    for section in sections {
        instructions.extend(section);
    }

    if instructions.len() > MAX_INSTRUCTIONS {
        return Err(Error::TooLarge(instructions.len()));
    }
    Ok(BpfProgram {
        instructions,
        flags,
    })
}

/// The ABIs the program covers: the architecture's own, plus 32-bit x86 on x86_64 when the
/// profile lists it (libseccomp covers only the native one when the list is empty).
fn covered_abis(profile: &LinuxSeccomp, arch: Arch) -> Result<Vec<Abi>> {
    let native = match arch {
        Arch::X86_64 => Abi::X86_64,
        Arch::Aarch64 => Abi::Aarch64,
    };
    let listed = profile.architectures().as_deref().unwrap_or_default();
    if listed.is_empty() {
        return Ok(vec![native]);
    }
    if !listed
        .iter()
        .any(|a| *a == arch.oci() || *a == OciArch::ScmpArchNative)
    {
        return Err(Error::ArchNotCovered(arch));
    }
    let mut abis = vec![native];
    if arch == Arch::X86_64 && listed.contains(&OciArch::ScmpArchX86) {
        abis.push(Abi::X86);
    }
    Ok(abis)
}

fn filter_flags(flags: &[LinuxSeccompFilterFlag]) -> Result<u32> {
    let mut bits = 0;
    for flag in flags {
        bits |= match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => FLAG_SPEC_ALLOW,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                return Err(Error::Unsupported(Unsupported::Flag(*flag)));
            }
        };
    }
    Ok(bits)
}

/// The code of one ABI's section; it ends with a return on every path.
fn compile_section(
    syscalls: &[LinuxSyscall],
    default: Action,
    abi: Abi,
) -> Result<Vec<sock_filter>> {
    let mut groups: Vec<Group> = Vec::new();
    let mut highest: Option<u32> = None;

    for syscall in syscalls {
        let action = Action::from_oci(syscall.action(), syscall.errno_ret())?;
        let numbers: Vec<u32> = syscall
            .names()
            .iter()
            .filter_map(|name| abi.syscall_number(name))
            .collect();
        // Like runc, the -ENOSYS threshold counts every syscall the profile names.
        highest = numbers.iter().copied().chain(highest).max();
        // libseccomp refuses rules that repeat the default action; runc skips them.
        if action == default || numbers.is_empty() {
            continue;
        }
        let rules = rules_for(syscall, abi)?;
        let group = match groups.iter().position(|g| g.action == action) {
            Some(index) => &mut groups[index],
            None => {
                groups.push(Group {
                    action,
                    syscalls: BTreeMap::new(),
                });
                let last = groups.len() - 1;
                &mut groups[last]
            }
        };
        for nr in numbers {
            group.add(nr, &rules);
        }
    }
    // The most restrictive action first, as the kernel ranks actions; ties keep profile order.
    groups.sort_by_key(|g| g.action.precedence());

    let mut code = Vec::new();
    if let (true, Some(highest)) = (default.wants_enosys_stub(), highest) {
        code.push(stmt(BPF_LD_W_ABS, DATA_NR));
        code.push(jump(BPF_JMP_JGT_K, highest, 0, 1));
        code.push(stmt(BPF_RET_K, Action::Errno(ENOSYS).ret()));
    }
    for group in groups {
        if group.syscalls.is_empty() {
            continue;
        }
        code.extend(compile_group(group, abi)?);
    }
    code.push(stmt(BPF_RET_K, default.ret()));
    Ok(code)
}

/// One group's code, where "no rule matched" falls through past its end: first the syscalls
/// with argument conditions (seccompiler), then those matched on their number alone.
fn compile_group(group: Group, abi: Abi) -> Result<Vec<sock_filter>> {
    let mut unconditional = Vec::new();
    let mut conditional = BTreeMap::new();
    for (nr, rules) in group.syscalls {
        match rules {
            None => unconditional.push(nr),
            Some(rules) => {
                conditional.insert(i64::from(nr), rules);
            }
        }
    }
    let mut code = Vec::new();
    if !conditional.is_empty() {
        code.extend(conditional_code(conditional, group.action, abi)?);
    }
    if !unconditional.is_empty() {
        code.extend(unconditional_code(&unconditional, group.action.ret()));
    }
    Ok(code)
}

/// Syscalls with argument conditions, through seccompiler.
fn conditional_code(
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    action: Action,
    abi: Abi,
) -> Result<Vec<sock_filter>> {
    // Any action other than the match action marks "no match"; it is rewritten below.
    let sentinel = if action == Action::Trap {
        SeccompAction::Log
    } else {
        SeccompAction::Trap
    };
    let sentinel_ret = u32::from(sentinel.clone());
    let target = match abi {
        Abi::X86_64 | Abi::X86 => TargetArch::x86_64,
        Abi::Aarch64 => TargetArch::aarch64,
    };
    let filter =
        SeccompFilter::new(rules, sentinel, action.backend(), target).map_err(Error::Backend)?;
    let program: seccompiler::BpfProgram = filter.try_into().map_err(Error::Backend)?;

    // seccompiler starts with its own single-architecture check (load arch, compare, kill);
    // the dispatch at the top of the program replaces it.
    let body = match program.as_slice() {
        [load, check, kill, body @ ..]
            if load.code == BPF_LD_W_ABS
                && load.k == DATA_ARCH
                && check.code == BPF_JMP_JEQ_K
                && kill.code == BPF_RET_K =>
        {
            body
        }
        _ => return Err(Error::BadProgram("unexpected seccompiler output")),
    };
    let len = body.len();
    Ok(body
        .iter()
        .enumerate()
        .map(|(index, insn)| {
            if insn.code == BPF_RET_K && insn.k == sentinel_ret {
                // Jump to the first instruction after this code.
                stmt(BPF_JMP_JA, (len - index - 1) as u32)
            } else {
                insn.clone()
            }
        })
        .collect())
}

/// At most this many comparisons share one return, so that every conditional jump to it
/// fits in the 8-bit jump offset.
const CHUNK: usize = 250;

/// Syscalls matched on their number alone: one comparison each, jumping to a shared return.
///
/// ```text
/// load nr
/// jeq nr1 -> ret        (per chunk of up to 250 numbers)
/// jeq nr2 -> ret
/// ...
/// ja +1                 (no match: on to what follows)
/// ret <action>
/// ```
///
/// This is also the shape the kernel's constant-action cache understands, so allowed syscalls
/// skip the filter entirely after the first evaluation.
fn unconditional_code(numbers: &[u32], ret: u32) -> Vec<sock_filter> {
    let mut code = Vec::with_capacity(1 + numbers.len() + 2 * numbers.len().div_ceil(CHUNK));
    code.push(stmt(BPF_LD_W_ABS, DATA_NR));
    for chunk in numbers.chunks(CHUNK) {
        let count = chunk.len();
        for (index, &nr) in chunk.iter().enumerate() {
            // Skip the remaining comparisons and the `ja` to land on the return.
            code.push(jump(BPF_JMP_JEQ_K, nr, (count - index) as u8, 0));
        }
        code.push(stmt(BPF_JMP_JA, 1));
        code.push(stmt(BPF_RET_K, ret));
    }
    code
}

/// The rules of one profile entry for `abi`.
///
/// `None` when the entry has no conditions. Otherwise each rule is a conjunction of
/// conditions; as in runc, when several conditions test the same argument, each condition
/// becomes its own rule (alternatives). Conditions that can never hold (a masked comparison
/// against bits outside the mask) make their rule disappear.
fn rules_for(syscall: &LinuxSyscall, abi: Abi) -> Result<SyscallRules> {
    let args = syscall.args().as_deref().unwrap_or_default();
    if args.is_empty() {
        return Ok(None);
    }
    let width = if abi.is_64bit() {
        SeccompCmpArgLen::Qword
    } else {
        SeccompCmpArgLen::Dword
    };
    let significant = if abi.is_64bit() {
        u64::MAX
    } else {
        u64::from(u32::MAX)
    };

    let mut per_index = [0usize; 6];
    let mut conditions = Vec::with_capacity(args.len());
    for arg in args {
        let index = arg.index();
        let Some(count) = per_index.get_mut(index) else {
            return Err(Error::ArgIndex {
                syscall: syscall.names().join(","),
                index,
            });
        };
        *count += 1;
        let value_two = arg.value_two().unwrap_or(0);
        let (op, value) = match arg.op() {
            LinuxSeccompOperator::ScmpCmpNe => (SeccompCmpOp::Ne, arg.value()),
            LinuxSeccompOperator::ScmpCmpLt => (SeccompCmpOp::Lt, arg.value()),
            LinuxSeccompOperator::ScmpCmpLe => (SeccompCmpOp::Le, arg.value()),
            LinuxSeccompOperator::ScmpCmpEq => (SeccompCmpOp::Eq, arg.value()),
            LinuxSeccompOperator::ScmpCmpGe => (SeccompCmpOp::Ge, arg.value()),
            LinuxSeccompOperator::ScmpCmpGt => (SeccompCmpOp::Gt, arg.value()),
            LinuxSeccompOperator::ScmpCmpMaskedEq => {
                // (arg & value) == value_two
                let mask = arg.value();
                if value_two & !mask & significant != 0 {
                    conditions.push(None);
                    continue;
                }
                (SeccompCmpOp::MaskedEq(mask), value_two)
            }
        };
        // The index is at most 5 here, so seccompiler accepts it.
        let condition =
            SeccompCondition::new(index as u8, width.clone(), op, value).map_err(Error::Backend)?;
        conditions.push(Some(condition));
    }

    let alternatives = per_index.iter().any(|&count| count > 1);
    let mut rules = Vec::new();
    if alternatives {
        for condition in conditions.into_iter().flatten() {
            rules.push(SeccompRule::new(vec![condition]).map_err(Error::Backend)?);
        }
    } else if conditions.iter().all(Option::is_some) {
        let all = conditions.into_iter().flatten().collect();
        rules.push(SeccompRule::new(all).map_err(Error::Backend)?);
    }
    Ok(Some(rules))
}

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

fn offset(distance: usize) -> Result<u32> {
    u32::try_from(distance).map_err(|_| Error::TooLarge(distance))
}
