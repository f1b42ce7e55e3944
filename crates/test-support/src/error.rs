//! The harness's error type.

use std::io;

/// What can go wrong while setting up registries and fixtures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A local I/O operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The registry client failed (pushing fixtures, say).
    #[error(transparent)]
    Registry(#[from] registry::Error),
    /// A registry or token server could not be started.
    #[error("{0}")]
    Setup(String),
}

/// Adds context to I/O results.
pub(crate) trait IoContext<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, Error>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, Error> {
        self.map_err(|source| Error::Io {
            context: what(),
            source,
        })
    }
}
