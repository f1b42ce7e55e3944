//! Layers as the drivers record them ([`LayerInfo`]) and layers unpacked but not committed
//! yet ([`Staged`]).

use std::fs;
use std::path::PathBuf;

use fsutil::{FileLock, remove_tree};
use oci_spec::image::Digest;
use serde::{Deserialize, Serialize};

use crate::unpack::UnpackStats;

/// Metadata of a committed layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerInfo {
    /// The layer's chain ID.
    pub chain_id: Digest,
    /// The diff ID (digest of the uncompressed tar).
    pub diff_id: Digest,
    /// The parent layer's chain ID.
    pub parent: Option<Digest>,
    /// Size of the uncompressed tar.
    pub tar_size: u64,
}

/// The state of a staged layer.
#[derive(Debug)]
pub(crate) enum StagedState {
    /// The layer was already committed (by someone else); nothing to do.
    Present,
    /// Unpacked into a staging directory (in `ROOT/tmp`), renamed into place on commit.
    Unpacked { dir: PathBuf, stats: UnpackStats },
    /// The verified tar was spooled to a file in `ROOT/tmp`; unpacked on commit.
    Spooled { file: PathBuf, tar_size: u64 },
}

/// A layer unpacked (or spooled) but not committed yet; see the module docs.
#[derive(Debug)]
pub struct Staged {
    pub(crate) driver: &'static str,
    pub(crate) chain_id: Digest,
    pub(crate) diff_id: Digest,
    pub(crate) parent: Option<Digest>,
    pub(crate) state: StagedState,
    pub(crate) lock: Option<FileLock>,
}

impl Staged {
    /// The chain ID this layer will be committed as.
    pub fn chain_id(&self) -> &Digest {
        &self.chain_id
    }

    /// The driver that staged it.
    pub fn driver(&self) -> &'static str {
        self.driver
    }

    /// Whether the layer was found already present (the tar stream was not read).
    pub fn is_present(&self) -> bool {
        matches!(self.state, StagedState::Present)
    }

    /// Bytes of uncompressed tar read (0 when already present).
    pub fn tar_size(&self) -> u64 {
        match &self.state {
            StagedState::Present => 0,
            StagedState::Unpacked { stats, .. } => stats.tar_size,
            StagedState::Spooled { tar_size, .. } => *tar_size,
        }
    }

    pub(crate) fn take_state(&mut self) -> StagedState {
        std::mem::replace(&mut self.state, StagedState::Present)
    }

    pub(crate) fn info(&self, tar_size: u64) -> LayerInfo {
        LayerInfo {
            chain_id: self.chain_id.clone(),
            diff_id: self.diff_id.clone(),
            parent: self.parent.clone(),
            tar_size,
        }
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        match &self.state {
            StagedState::Present => {}
            StagedState::Unpacked { dir, .. } => {
                let _ = remove_tree(dir);
            }
            StagedState::Spooled { file, .. } => {
                let _ = fs::remove_file(file);
            }
        }
    }
}
