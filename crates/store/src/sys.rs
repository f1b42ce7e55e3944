//! The crate's only `unsafe` code: a helper thread with a private working directory.

use std::io;
use std::os::fd::OwnedFd;

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
