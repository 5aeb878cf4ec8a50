//! Tile archives: PMTiles v3 files of vector tiles, for offline use, a CDN, or
//! the server's own tiles folder.
//!
//! - [`export`] (`export.rs`): `imgis tiles export`, the layers' tiles over an
//!   area and zoom range rendered with [`crate::tiles::render`] and written
//!   into one archive, never half-written in place.
//! - [`ArchiveSet`] (`reader.rs`): the `*.pmtiles` of the tiles folder, opened at
//!   start and served tile by tile as they are stored.
//!
//! An archive's name is its file stem and appears in URLs
//! (`/archives/{name}/{z}/{x}/{y}.mvt`), so it is whitelisted like a layer code:
//! see [`is_archive_name`].

mod export;
mod reader;

pub use export::{
    check_zoom_range, export, select_layers, ExportRequest, ExportSummary, LonLatBbox,
};
pub use reader::{gunzip, Archive, ArchiveSet};

use pmtiles::PmtError;

use super::{TileError, MAX_ZOOM};

/// What can go wrong exporting or reading an archive. The messages are for an
/// operator: the command prints them, the server logs them (its HTTP answers
/// say only "internal error").
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("tile archive {path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("writing tile archive {path}: {error}")]
    Write { path: String, error: PmtError },
    #[error("{path} is not a PMTiles v3 archive of vector tiles: {reason}")]
    Format { path: String, reason: String },
    #[error("reading tile archive '{name}': {error}")]
    Read { name: String, error: PmtError },
    #[error("zooms {minzoom} to {maxzoom}: minzoom must not exceed maxzoom, and maxzoom must not exceed {MAX_ZOOM}")]
    InvalidZoom { minzoom: u8, maxzoom: u8 },
    #[error("bbox '{value}' is not valid: {reason}")]
    InvalidBbox { value: String, reason: String },
    #[error("layer '{name}' does not exist; the store holds: {known}")]
    UnknownLayer { name: String, known: String },
    #[error("layer '{0}' is named twice")]
    DuplicateLayer(String),
    #[error("layer '{0}' is internal; archives are served to the public, so they hold published layers only")]
    InternalLayer(String),
    #[error("no layer to export: name layers, or publish some")]
    NoLayers,
    #[error("the layers hold no features, so they have no extent: give the area (bbox) to export")]
    EmptyLayers,
    #[error("no layer is drawn at z{minzoom} to z{maxzoom}: {layers}")]
    NothingDrawn {
        minzoom: u8,
        maxzoom: u8,
        /// Each layer with its own zooms.
        layers: String,
    },
    #[error("output {path}: {reason}")]
    InvalidOut { path: String, reason: String },
    #[error(transparent)]
    Tile(#[from] TileError),
    #[error("rendering tile {tile}: {error}")]
    Render { tile: String, error: TileError },
}

/// Whether `name` may name an archive: `^[a-z0-9][a-z0-9_-]*$`, safe in a URL
/// path and a file name as it is.
///
/// # Examples
/// ```
/// use imgis::tiles::archive::is_archive_name;
/// assert!(is_archive_name("kazan-2024_z16"));
/// assert!(!is_archive_name("Kazan") && !is_archive_name("-x") && !is_archive_name("a.b"));
/// ```
pub fn is_archive_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}
