//! The crate's only `unsafe` code: a helper thread with a private working directory,
//! and early writeback of written data.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

/// Starts the writeback of `len` bytes of `fd` from `offset` (`len` 0: to the end) without
/// waiting for it (`sync_file_range(SYNC_FILE_RANGE_WRITE)`). The data is not durable
/// after this; it only makes the later `fsync`/`syncfs` that does make it durable find
/// most of it on disk already, instead of writing everything at the end.
pub(crate) fn start_writeback(fd: BorrowedFd<'_>, offset: u64, len: u64) -> io::Result<()> {
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    };
    // SAFETY: sync_file_range takes a descriptor, which the borrow keeps open for the
    // call, and integers; it touches no memory of ours.
    let r =
        unsafe { libc::sync_file_range(fd.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Runs `f` on a helper thread whose working directory is `dir`, without touching the
/// process-wide working directory (the thread first unshares its filesystem context with
/// `unshare(CLONE_FS)`). Used to mount overlayfs with short relative lowerdir paths.
pub(crate) fn with_private_cwd<T: Send + 'static>(
    dir: OwnedFd,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let handle = std::thread::Builder::new()
        .name("mydocker-mount".into())
        .spawn(move || -> io::Result<T> {
            // SAFETY: CLONE_FS only gives this thread its own copy of the cwd/root/umask.
            // The danger `unshare_unsafe` documents is CLONE_FILES (descriptor tables
            // diverging between threads), which is not requested here. The thread is ours
            // and exits when `f` returns, so no other code observes the changed cwd.
            unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::FS) }?;
            rustix::process::fchdir(&dir)?;
            f()
        })?;
    handle
        .join()
        .map_err(|_| io::Error::other("mount helper thread panicked"))?
}
