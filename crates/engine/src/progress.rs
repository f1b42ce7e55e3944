//! How pulls and pushes report progress: docker's per-layer states, sent to whatever the
//! caller draws them with.

/// A layer's state as docker names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerStatus {
    /// Queued among the first downloads.
    PullingFsLayer,
    /// Queued behind them.
    Waiting,
    /// Bytes arriving.
    Downloading,
    /// The download is being verified.
    VerifyingChecksum,
    /// Downloaded.
    DownloadComplete,
    /// Being unpacked.
    Extracting,
    /// Unpacked and committed.
    PullComplete,
    /// Present before the pull.
    AlreadyExists,
    /// A push is about to look at it.
    Preparing,
    /// Bytes leaving.
    Pushing,
    /// Uploaded.
    Pushed,
    /// The registry has it.
    LayerAlreadyExists,
}

impl LayerStatus {
    /// Docker's words.
    pub fn text(self) -> &'static str {
        match self {
            LayerStatus::PullingFsLayer => "Pulling fs layer",
            LayerStatus::Waiting => "Waiting",
            LayerStatus::Downloading => "Downloading",
            LayerStatus::VerifyingChecksum => "Verifying Checksum",
            LayerStatus::DownloadComplete => "Download complete",
            LayerStatus::Extracting => "Extracting",
            LayerStatus::PullComplete => "Pull complete",
            LayerStatus::AlreadyExists => "Already exists",
            LayerStatus::Preparing => "Preparing",
            LayerStatus::Pushing => "Pushing",
            LayerStatus::Pushed => "Pushed",
            LayerStatus::LayerAlreadyExists => "Layer already exists",
        }
    }

    /// States that carry a byte count (docker shows those only on a terminal).
    pub fn carries_bytes(self) -> bool {
        matches!(
            self,
            LayerStatus::Downloading | LayerStatus::Extracting | LayerStatus::Pushing
        )
    }
}

/// Receives the progress of a pull or push; called from several download threads.
pub trait Progress: Sync {
    /// A status line (`Using default tag: latest`, `Digest: ...`, `Status: ...`).
    fn line(&self, text: &str);
    /// Layer `id` (12 hex digits) reached `status`; `bytes` is (done, total) when it
    /// carries a byte count.
    fn layer(&self, id: &str, status: LayerStatus, bytes: Option<(u64, u64)>);
    /// No more layer updates (a terminal display can settle its lines).
    fn finish(&self) {}
}

/// A [`Progress`] that shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn line(&self, _text: &str) {}
    fn layer(&self, _id: &str, _status: LayerStatus, _bytes: Option<(u64, u64)>) {}
}

/// The 12-digit short form of a hex ID or digest.
pub fn short_id(hex: &str) -> &str {
    let hex = hex.strip_prefix("sha256:").unwrap_or(hex);
    &hex[..12.min(hex.len())]
}
