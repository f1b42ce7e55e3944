//! Every `unsafe` block and raw libc call of the crate.
//!
//! `rustix` covers most system calls safely; what it lacks lives here: `clone(2)` with
//! namespace flags followed by `execveat(2)` (the container's first instructions),
//! `fork`, `setns`/`unshare`, `mount_setattr(2)`, `close_range(2)`, signal masks and
//! dispositions, and `execve` of the user's command.

use std::ffi::{CStr, CString, c_char, c_int};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::ptr;

/// A null-terminated array of C string pointers (`argv`/`envp`) built before `clone`, so
/// that the child never allocates.
#[derive(Debug)]
pub(crate) struct CStringArray {
    // Owns the strings the pointers point into; never mutated after construction.
    _strings: Vec<CString>,
    ptrs: Vec<*const c_char>,
}

impl CStringArray {
    pub(crate) fn new(strings: Vec<CString>) -> Self {
        let mut ptrs: Vec<*const c_char> = strings.iter().map(|s| s.as_ptr()).collect();
        ptrs.push(ptr::null());
        Self {
            _strings: strings,
            ptrs,
        }
    }

    pub(crate) fn as_ptr(&self) -> *const *const c_char {
        self.ptrs.as_ptr()
    }
}

/// Everything the cloned child needs, prepared (allocated) before `clone`.
#[derive(Debug)]
pub(crate) struct ChildExec<'a> {
    /// The (protected) init binary, executed with `execveat(fd, "", AT_EMPTY_PATH)`.
    pub(crate) exe: BorrowedFd<'a>,
    pub(crate) argv: &'a CStringArray,
    pub(crate) envp: &'a CStringArray,
    /// Descriptors to install as 0, 1 and 2 (`None` keeps the parent's). Must be >= 3.
    pub(crate) stdio: [Option<RawFd>; 3],
    /// The init end of the socketpair: its close-on-exec flag is cleared.
    pub(crate) keep: RawFd,
    /// Close-on-exec pipe: the child writes its errno there when `execveat` fails.
    pub(crate) err_pipe: RawFd,
    /// With a new user namespace: the child reads one byte from this pipe (the parent
    /// writes the namespace's mappings first), becomes its root, then `execveat`s, which
    /// so keeps the namespace root's capabilities.
    pub(crate) wait_pipe: Option<RawFd>,
}

/// `clone(2)` a child into the namespaces of `ns_flags`; the child only runs
/// async-signal-safe system calls (`setsid`, `dup2`, `fcntl`, `execveat`, `write`, `_exit`) so that it
/// stays correct even when the calling process has other threads holding locks.
///
/// Returns the child's pid.
pub(crate) fn clone_and_exec(ns_flags: c_int, child: &ChildExec<'_>) -> io::Result<i32> {
    let old = block_all_signals()?;
    // SAFETY: `clone` without CLONE_VM and without a new stack behaves like `fork`: the
    // child gets a copy-on-write copy of this thread's memory and continues here with a
    // zero return value. The arguments after `flags` (stack, parent_tid, child_tid, tls)
    // are all zero, which makes the call independent of the architecture's argument order.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (ns_flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if ret == 0 {
        // In the child: every signal is blocked (see above), so no handler of the parent
        // can run before execve resets the handlers.
        child_after_clone(child);
    }
    let err = io::Error::last_os_error();
    restore_signal_mask(&old);
    if ret < 0 {
        return Err(err);
    }
    Ok(ret as i32)
}

/// The cloned child: lead a new session, install stdio, keep the init socket, exec the
/// init binary.
fn child_after_clone(c: &ChildExec<'_>) -> ! {
    // A session of its own before anything of the binary runs: the caller's controlling
    // terminal is not ours, so nothing in the container can reach it (TIOCSTI, job
    // control signals, SIGHUP). A freshly cloned child is never a group leader, so this
    // only fails if the kernel is out of memory.
    // SAFETY: setsid is async-signal-safe and takes no arguments.
    if unsafe { libc::setsid() } < 0 {
        child_fail(c.err_pipe);
    }
    for (target, fd) in c.stdio.iter().enumerate() {
        if let Some(fd) = *fd {
            // SAFETY: dup2 is async-signal-safe; `fd` is a valid descriptor >= 3 owned by
            // the parent's copy of the table, `target` is 0..=2.
            if unsafe { libc::dup2(fd, target as c_int) } < 0 {
                child_fail(c.err_pipe);
            }
        }
    }
    // SAFETY: fcntl(F_SETFD) on a descriptor of our own table; async-signal-safe.
    if unsafe { libc::fcntl(c.keep, libc::F_SETFD, 0) } < 0 {
        child_fail(c.err_pipe);
    }
    if let Some(fd) = c.wait_pipe {
        let mut byte = 0u8;
        loop {
            // SAFETY: read(2) of one byte into a stack variable; async-signal-safe.
            let n = unsafe { libc::read(fd, (&raw mut byte).cast(), 1) };
            if n == 1 {
                break;
            }
            // SAFETY: __errno_location returns this thread's errno slot.
            if n < 0 && unsafe { *libc::__errno_location() } == libc::EINTR {
                continue;
            }
            // The parent gave up (EOF).
            child_fail(c.err_pipe);
        }
        // Root of the new user namespace now that it is mapped, so that the exec keeps
        // the namespace's capabilities (an unmapped uid would lose them). Raw system
        // calls: glibc's wrappers would try to signal the parent's other threads.
        // SAFETY: setgroups(0, NULL), setresgid and setresuid take integers (and a null
        // pointer with a zero count) and touch no memory of ours; async-signal-safe.
        unsafe {
            if libc::syscall(libc::SYS_setgroups, 0usize, std::ptr::null::<libc::gid_t>()) < 0
                || libc::syscall(libc::SYS_setresgid, 0u32, 0u32, 0u32) < 0
                || libc::syscall(libc::SYS_setresuid, 0u32, 0u32, 0u32) < 0
            {
                child_fail(c.err_pipe);
            }
        }
    }
    // SAFETY: execveat with valid, null-terminated argv/envp arrays built before clone and
    // an empty path with AT_EMPTY_PATH, executing the file `exe` refers to.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            c.exe.as_raw_fd(),
            c"".as_ptr(),
            c.argv.as_ptr(),
            c.envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        );
    }
    child_fail(c.err_pipe)
}

/// Report errno on the error pipe and exit, async-signal-safely.
fn child_fail(err_pipe: RawFd) -> ! {
    // SAFETY: __errno_location returns this thread's errno slot.
    let errno = unsafe { *libc::__errno_location() };
    let bytes = errno.to_ne_bytes();
    // SAFETY: write of a 4-byte stack buffer to a pipe, then _exit; both
    // async-signal-safe. A failed write only loses the errno detail.
    unsafe {
        libc::write(err_pipe, bytes.as_ptr().cast(), bytes.len());
        libc::_exit(127)
    }
}

fn block_all_signals() -> io::Result<libc::sigset_t> {
    // SAFETY: sigset_t is plain data, initialised by sigfillset/pthread_sigmask.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        let rc = libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(old)
    }
}

fn restore_signal_mask(old: &libc::sigset_t) {
    // SAFETY: `old` was filled by pthread_sigmask.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, old, ptr::null_mut());
    }
}

/// Block every signal in the calling (single-threaded) process.
pub(crate) fn block_signals() -> io::Result<()> {
    block_all_signals().map(|_| ())
}

/// Reset every signal disposition to default and unblock all signals: what the user's
/// command must start with (Rust's runtime ignores SIGPIPE, the parent may block some).
pub(crate) fn reset_signals() {
    for sig in 1..libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: setting SIG_DFL is always valid; the call fails harmlessly (EINVAL) for
        // the signal numbers glibc reserves.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
        }
    }
    // SAFETY: an empty, initialised signal set.
    unsafe {
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, ptr::null_mut());
    }
}

/// Wait for any signal of the (blocked) full set; returns the signal number.
pub(crate) fn wait_any_signal() -> io::Result<c_int> {
    // SAFETY: a full, initialised set; siginfo may be null.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        let sig = libc::sigwaitinfo(&all, ptr::null_mut());
        if sig < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(sig)
    }
}

/// Result of [`fork`].
#[derive(Debug)]
pub(crate) enum Forked {
    Child,
    Parent(i32),
}

/// `fork(2)`. Only called from single-threaded init processes, where the child may keep
/// running ordinary Rust code.
///
/// With `clone_parent`, the child becomes a child of our parent (`CLONE_PARENT`), used by
/// `exec` so that the caller can wait for the process that joined the container.
pub(crate) fn fork(clone_parent: bool) -> io::Result<Forked> {
    let flags = if clone_parent {
        libc::CLONE_PARENT | libc::SIGCHLD
    } else {
        libc::SIGCHLD
    };
    // SAFETY: fork-like clone (no CLONE_VM, no new stack) in a single-threaded process:
    // the child has a private copy of the only thread, so no lock can be held by another
    // thread and ordinary code may run in it.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    match ret {
        0 => Ok(Forked::Child),
        r if r < 0 => Err(io::Error::last_os_error()),
        r => Ok(Forked::Parent(r as i32)),
    }
}

/// `setns(2)`.
pub(crate) fn setns(fd: BorrowedFd<'_>, nstype: c_int) -> io::Result<()> {
    // SAFETY: setns on a valid descriptor; the kernel validates the type.
    if unsafe { libc::setns(fd.as_raw_fd(), nstype) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `unshare(2)`; only used in single-threaded init processes.
pub(crate) fn unshare(flags: c_int) -> io::Result<()> {
    // SAFETY: unshare only changes this process's namespaces; single-threaded callers.
    if unsafe { libc::unshare(flags) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `struct mount_attr` of `<linux/mount.h>` (MOUNT_ATTR_SIZE_VER0).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct MountAttr {
    pub(crate) attr_set: u64,
    pub(crate) attr_clr: u64,
    pub(crate) propagation: u64,
    pub(crate) userns_fd: u64,
}

/// `mount_setattr(2)` on a mount fd (`AT_EMPTY_PATH`), optionally recursive.
pub(crate) fn mount_setattr(
    fd: BorrowedFd<'_>,
    recursive: bool,
    attr: &MountAttr,
) -> io::Result<()> {
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: `attr` is a properly laid out mount_attr of the given size; the path is an
    // empty C string used with AT_EMPTY_PATH.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Mark every descriptor from `first` up close-on-exec (`close_range(2)`).
pub(crate) fn cloexec_from(first: u32) -> io::Result<()> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags on our own descriptors.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Close every descriptor from `first` up (`close_range(2)`).
///
/// The caller must own every descriptor in the range (nothing else in the process may
/// use them afterwards): only used at the very start of init.
pub(crate) fn close_from(first: u32) -> io::Result<()> {
    // SAFETY: see above: the init owns its whole table and has no other thread.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0u32) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Take ownership of an inherited descriptor number.
///
/// # Safety
/// `fd` must be open and owned by nobody else in this process.
unsafe fn owned_fd(fd: RawFd) -> OwnedFd {
    use std::os::fd::FromRawFd;
    // SAFETY: guaranteed by the caller.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Take ownership of the init's end of the channel, whose number the parent put in our
/// environment. Called once, first thing in the init.
pub(crate) fn take_inherited_channel(fd: RawFd) -> OwnedFd {
    // SAFETY: the parent created this descriptor for the init alone, cleared its
    // close-on-exec flag in the cloned child and named it in the environment; nothing
    // else in this freshly executed process owns it. (A hand-made environment naming a
    // closed number only makes the first read fail with EBADF.)
    unsafe { owned_fd(fd) }
}

/// Duplicate `fd` onto the number `target` (close-on-exec).
///
/// Only used at the start of init, when no other part of the process owns `target`.
pub(crate) fn dup_to(fd: BorrowedFd<'_>, target: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: dup3 onto a number nobody in this freshly started process owns.
    let rc = unsafe { libc::dup3(fd.as_raw_fd(), target, libc::O_CLOEXEC) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: dup3 returned a new descriptor that nothing else owns.
    Ok(unsafe { owned_fd(rc) })
}

/// `execve(2)` of the user's command; returns only on failure.
pub(crate) fn execve(path: &CStr, argv: &CStringArray, envp: &CStringArray) -> io::Error {
    // SAFETY: valid C string path and null-terminated argv/envp arrays that outlive the call.
    unsafe {
        libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr());
    }
    io::Error::last_os_error()
}

/// Send a signal by number (real-time signals included).
pub(crate) fn kill(pid: i32, sig: c_int) -> io::Result<()> {
    // SAFETY: kill has no memory-safety preconditions.
    if unsafe { libc::kill(pid, sig) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Close the init channel's descriptor in a process that will never return to the code
/// owning it (the reaping init, which only exits through `_exit`).
pub(crate) fn close_channel_forever(ch: &crate::channel::InitChannel) {
    // SAFETY: the caller never returns to the owner of this descriptor (the reaper loop
    // ends in _exit, which runs no destructors), so the number is never used or closed
    // again through the OwnedFd.
    unsafe {
        libc::close(ch.0.as_fd().as_raw_fd());
    }
}

/// Close every descriptor above 2 in a process that never returns to the code owning
/// them (the reaping init).
pub(crate) fn close_all_forever() {
    // SAFETY: as for `close_channel_forever`: the reaper loop only exits through _exit,
    // so no OwnedFd of this process is used or dropped after this.
    unsafe {
        libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
    }
}

/// Terminate immediately without running destructors or atexit handlers.
pub(crate) fn exit_now(code: c_int) -> ! {
    // SAFETY: _exit never returns and is always safe to call.
    unsafe { libc::_exit(code) }
}
