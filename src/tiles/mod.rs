//! Vector tiles: Mapbox Vector Tiles 2.1 made from the in-memory index, pure
//! (no I/O; the HTTP layer and the cache sit on top).
//!
//! Tiles are `WebMercatorQuad` (EPSG:3857), XYZ numbering, extent 4096 by default.
//! [`render`] makes one tile, each layer in five steps:
//! 1. Query: the index's R-tree, with the tile's lon/lat box grown by the buffer.
//! 2. Project: lon/lat degrees → spherical Web Mercator → tile pixels (0 ..= extent,
//!    y down), closed-form (`coord.rs`); vertices that lie, with both
//!    neighbours, beyond one side of the box are skipped, as they cannot change
//!    what the clip leaves.
//! 3. Clip to the tile plus buffer (`clip.rs`): rings with Sutherland–Hodgman,
//!    lines into the parts inside, points kept or not.
//! 4. Simplify for the zoom (Douglas–Peucker, tolerance in tile pixels), round to
//!    integer pixels, and drop what has collapsed: rings under three distinct
//!    points or under [`TileOptions::min_area`], lines under two distinct points.
//! 5. Encode (`encode.rs`): exterior rings clockwise on screen (positive area
//!    by the spec's surveyor's formula, y down), holes counter-clockwise, no
//!    repeated closing point, zigzag deltas; properties as tags, de-duplicated.
//!
//! "Tile pixel" here is the MVT unit: 1/extent of the tile's width (a 512-pixel
//! screen tile shows 8 × 8 of them per screen pixel at extent 4096).
//!
//! Cost: [`render`] is synchronous CPU work, a few microseconds to a few
//! milliseconds a tile on a dense city (about 1 µs a drawn feature, most of it
//! reading the feature's scattered heap data); async callers run it off the
//! reactor. Each thread keeps its buffers between tiles, so a tile allocates
//! little more than its own bytes.

pub mod archive;
mod cache;
mod clip;
mod coord;
mod encode;
mod render;
mod simplify;
#[cfg(test)]
mod tests;

pub use cache::{CacheStats, CachedTile, TileCache, TileKey, TileRequest};
pub use coord::{TileCoord, MAX_LAT_DEG, MAX_ZOOM, MERCATOR_HALF_WORLD_M};
pub use render::render;

use std::collections::BTreeMap;

use crate::model::{LayerCode, LayerKind};

pub type Result<T, E = TileError> = std::result::Result<T, E>;

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum TileError {
    #[error("no tile {z}/{x}/{y}: the zoom is 0 to {MAX_ZOOM}, and x and y are below 2^zoom")]
    InvalidCoord { z: u8, x: u32, y: u32 },
    #[error("tile options: {0}")]
    InvalidOptions(&'static str),
    #[error("layer '{0}' is asked for twice in one tile")]
    DuplicateLayer(String),
    #[error("rendering a tile failed: {0}")]
    Render(String),
}

/// How tiles are cut. The defaults suit every MVT client.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TileOptions {
    /// Tile width and height in tile pixels (MVT `extent`), 1 ..= 65 536; 4096 is
    /// what clients expect.
    pub extent: u32,
    /// Tile pixels kept beyond each edge, 0 ..= extent, so that outlines and
    /// lines run on across tile seams instead of ending in caps or gaps.
    pub buffer: u32,
    /// Douglas–Peucker tolerance, tile pixels; 0 keeps every vertex. At 1.0
    /// (tippecanoe's default) a line stays within about a 1/8 screen pixel of
    /// where it is.
    pub simplify_tolerance: f64,
    /// Polygons and holes smaller than this, in square tile pixels, are dropped:
    /// invisible, and at low zooms most of a city's parcels.
    pub min_area: f64,
}

impl Default for TileOptions {
    fn default() -> Self {
        Self {
            extent: 4096,
            buffer: 64,
            simplify_tolerance: 1.0,
            min_area: 1.0,
        }
    }
}

impl TileOptions {
    fn validate(&self) -> Result<()> {
        if !(1..=1 << 16).contains(&self.extent) {
            return Err(TileError::InvalidOptions("extent must be 1 to 65536"));
        }
        if self.buffer > self.extent {
            return Err(TileError::InvalidOptions(
                "buffer must not exceed the extent",
            ));
        }
        if !(self.simplify_tolerance.is_finite() && self.simplify_tolerance >= 0.0) {
            return Err(TileError::InvalidOptions(
                "simplify_tolerance must be a finite number >= 0",
            ));
        }
        if !(self.min_area.is_finite() && self.min_area >= 0.0) {
            return Err(TileError::InvalidOptions(
                "min_area must be a finite number >= 0",
            ));
        }
        Ok(())
    }
}

/// The zooms at which a layer is drawn. Below `minzoom` a layer is left out of
/// tiles (a city's parcels at z12 are a grey smear and cost tens of milliseconds
/// a tile); above `maxzoom` clients overzoom the `maxzoom` tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ZoomRange {
    pub minzoom: u8,
    pub maxzoom: u8,
}

/// The highest zoom any layer is cut at by default: at z20 a tile pixel is
/// under 1 cm at extent 4096, finer than any survey the city keeps.
pub const DEFAULT_MAXZOOM: u8 = 20;

impl ZoomRange {
    /// The default of a kind of layer: parcels from z14 (a few thousand plots a
    /// tile), utility networks from z12 (street-level pipes), zones from z8,
    /// other reference layers (districts, rivers, streets, quarters) from z0.
    pub fn for_kind(kind: LayerKind) -> Self {
        let minzoom = match kind {
            LayerKind::Parcels => 14,
            LayerKind::Utilities => 12,
            LayerKind::Zones => 8,
            LayerKind::Other => 0,
        };
        Self {
            minzoom,
            maxzoom: DEFAULT_MAXZOOM,
        }
    }

    /// A layer's range: the configured override for its code, else its kind's default.
    pub fn of_layer(
        code: &LayerCode,
        kind: LayerKind,
        overrides: &BTreeMap<String, ZoomRange>,
    ) -> Self {
        overrides
            .get(code.as_str())
            .copied()
            .unwrap_or_else(|| Self::for_kind(kind))
    }

    pub fn contains(&self, z: u8) -> bool {
        (self.minzoom..=self.maxzoom).contains(&z)
    }
}
