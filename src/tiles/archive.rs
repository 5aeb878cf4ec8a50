//! Tile archives: PMTiles v3 export of layers, and the archives the server serves
//! from its tiles folder. (Being written: the set is empty until then.)

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("tile archive {path}: {reason}")]
    Io { path: String, reason: String },
}

/// The archives (`*.pmtiles`) of the tiles folder, by name (file stem).
#[derive(Debug, Default)]
pub struct ArchiveSet {}

impl ArchiveSet {
    /// Opens every `*.pmtiles` in `dir`; a missing folder is an empty set.
    pub async fn open_dir(_dir: &Path) -> Result<Self, ArchiveError> {
        Ok(Self::default())
    }
}
