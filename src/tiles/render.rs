//! The per-tile pipeline: index query → project → clip → simplify → quantize →
//! encode (see the docs of the `tiles` module).

use std::cell::RefCell;
use std::sync::Arc;

use geo_types::{Coord, Geometry, LineString, Polygon, Rect};

use super::clip::{Bbox, ClipBox, Px};
use super::coord::TileTransform;
use super::encode::{GeomType, GeometryWriter, LayerWriter};
use super::simplify::Simplifier;
use super::{Result, TileCoord, TileError, TileOptions};
use crate::index::LayerIndex;
use crate::model::{Feature, FeatureId};

/// The property under which a feature's cadastral number is published.
const CADASTRAL_KEY: &str = "cadastral";

/// Makes one vector tile: one MVT layer per `(name, index)` pair that has a
/// feature in the tile, in the order given.
///
/// Returns the encoded tile (uncompressed protobuf), or an empty `Vec` when no
/// layer has a feature in the tile. Features are written in the order of their
/// ids, so later features draw on top and the same data gives the same bytes.
/// Each feature's MVT `id` is its store id; its tags are its properties (strings,
/// integers, floats, booleans; arrays and objects as JSON text; nulls left out),
/// plus `cadastral` when it has a cadastral number.
///
/// # Errors
/// [`TileError::InvalidOptions`] for options out of range;
/// [`TileError::DuplicateLayer`] when a layer name is given twice.
///
/// # Examples
/// ```
/// use imgis::tiles::{render, TileCoord, TileOptions};
/// let tile = TileCoord::new(14, 10_427, 5_119).unwrap();
/// assert!(render(&[], tile, &TileOptions::default()).unwrap().is_empty());
/// ```
pub fn render(
    layers: &[(&str, &LayerIndex)],
    tile: TileCoord,
    opts: &TileOptions,
) -> Result<Vec<u8>> {
    opts.validate()?;
    for (i, (name, _)) in layers.iter().enumerate() {
        if layers[..i].iter().any(|(other, _)| other == name) {
            return Err(TileError::DuplicateLayer((*name).to_owned()));
        }
    }
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => Ok(scratch.render(layers, tile, opts)),
        // Only if `render` were re-entered on this thread, which it is not.
        Err(_) => Ok(Scratch::default().render(layers, tile, opts)),
    })
}

thread_local! {
    /// Each thread's buffers, kept from tile to tile, so that a tile costs one
    /// allocation of its own (its bytes) once a thread has warmed up.
    static SCRATCH: RefCell<Scratch> = RefCell::default();
}

/// A thread's scratch buffers hold no more than this many bytes after a tile;
/// beyond it (a low-zoom tile over a dense layer) they are given back.
const SCRATCH_KEEP_BYTES: usize = 4 << 20;

#[derive(Debug, Default)]
struct Scratch {
    pipeline: Pipeline,
    /// One writer per layer of the request, so that the tile's size is known
    /// before its bytes are allocated.
    writers: Vec<LayerWriter>,
}

impl Scratch {
    fn render(
        &mut self,
        layers: &[(&str, &LayerIndex)],
        tile: TileCoord,
        opts: &TileOptions,
    ) -> Vec<u8> {
        // 1. The query box: the tile grown by the buffer, in tile widths.
        let query = tile.bounds_lonlat_grown(f64::from(opts.buffer) / f64::from(opts.extent));
        self.pipeline.start(tile, query, opts);
        if self.writers.len() < layers.len() {
            self.writers.resize_with(layers.len(), LayerWriter::default);
        }
        // With their ids beside them, so that sorting does not chase pointers.
        let mut features: Vec<(FeatureId, &Arc<Feature>)> = Vec::new();
        for (&(_, index), writer) in layers.iter().zip(&mut self.writers) {
            features.clear();
            features.extend(index.in_envelope(query).map(|f| (f.id, f)));
            features.sort_unstable_by_key(|&(id, _)| id);
            writer.clear();
            for (_, f) in &features {
                self.pipeline.feature(f, writer);
            }
        }
        // One exact allocation: the caller may keep the tile (in a cache) as it is.
        let drawn = || {
            layers
                .iter()
                .zip(&self.writers)
                .filter(|(_, w)| w.feature_count() > 0)
        };
        let len = drawn()
            .map(|(&(name, _), w)| w.encoded_len(name, opts.extent))
            .sum();
        let mut bytes = Vec::with_capacity(len);
        for (&(name, _), w) in drawn() {
            w.finish(name, opts.extent, &mut bytes);
        }
        debug_assert_eq!(bytes.len(), len);
        if self.capacity() > SCRATCH_KEEP_BYTES {
            *self = Self::default();
        }
        bytes
    }

    /// Bytes held by the buffers (the larger ones; the rest are small).
    fn capacity(&self) -> usize {
        let p = &self.pipeline;
        let px = std::mem::size_of::<Px>();
        self.writers
            .iter()
            .map(LayerWriter::capacity)
            .sum::<usize>()
            + (p.work.capacity() + p.spare.capacity() + p.parts.capacity()) * px
            + p.rounded.capacity() * std::mem::size_of::<[i32; 2]>()
            + p.lines.bytes.capacity()
            + p.polygons.bytes.capacity()
    }
}

/// Whether a ring bounds a polygon or a hole in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Exterior,
    Hole,
}

/// Steps 2 to 5 for one feature at a time, with buffers reused across features.
#[derive(Debug, Default)]
struct Pipeline {
    transform: TileTransform,
    clip: ClipBox,
    /// Douglas–Peucker tolerance, tile pixels.
    tolerance: f64,
    /// Corners of the clip box in lon/lat degrees (the index query box):
    /// vertices are sorted against it before they are projected.
    query_min: Coord<f64>,
    query_max: Coord<f64>,
    /// Smallest polygon or hole kept, square tile pixels.
    min_area: f64,
    /// The ring or line being worked on, tile pixels.
    work: Vec<Px>,
    /// Scratch for clipping.
    spare: Vec<Px>,
    /// Clipped line parts (`work` is split into them) and where each ends.
    parts: Vec<Px>,
    part_ends: Vec<usize>,
    /// A ring or line part rounded to integer tile pixels.
    rounded: Vec<[i32; 2]>,
    simplifier: Simplifier,
    /// The current feature's output, one MVT feature per geometry family.
    points: Vec<[i32; 2]>,
    point_geometry: GeometryWriter,
    lines: GeometryWriter,
    polygons: GeometryWriter,
}

impl Pipeline {
    /// Sets the pipeline up for a tile; its buffers are kept.
    fn start(&mut self, tile: TileCoord, query: Rect<f64>, opts: &TileOptions) {
        (self.query_min, self.query_max) = (query.min(), query.max());
        let buffer = f64::from(opts.buffer);
        self.transform = TileTransform::new(tile, opts.extent);
        self.clip = ClipBox {
            min: -buffer,
            max: f64::from(opts.extent) + buffer,
        };
        self.tolerance = opts.simplify_tolerance;
        self.min_area = opts.min_area;
    }

    /// Writes what is left of `f` in the tile into `layer`: nothing, or one MVT
    /// feature per geometry family it has (points, lines, polygons; more than
    /// one only for a geometry collection, each with the same id and tags).
    fn feature(&mut self, f: &Feature, layer: &mut LayerWriter) {
        self.points.clear();
        self.lines.clear();
        self.polygons.clear();
        self.geometry(&f.geometry);
        if self.points.is_empty() && self.lines.is_empty() && self.polygons.is_empty() {
            return;
        }
        // Tags only now: a feature that is not drawn must not grow the value table.
        layer.begin_tags();
        if let Some(c) = &f.cadastral {
            layer.tag_str(CADASTRAL_KEY, c.as_str());
        }
        for (k, v) in &f.properties {
            if f.cadastral.is_some() && k == CADASTRAL_KEY {
                continue; // Written above, from the checked number.
            }
            layer.tag_json(k, v);
        }
        // MVT ids are unsigned; the store's are positive.
        let id = u64::try_from(f.id).ok();
        if !self.points.is_empty() {
            self.point_geometry.clear();
            self.point_geometry.points(&self.points);
            layer.feature(id, GeomType::Point, &self.point_geometry.bytes);
        }
        if !self.lines.is_empty() {
            layer.feature(id, GeomType::LineString, &self.lines.bytes);
        }
        if !self.polygons.is_empty() {
            layer.feature(id, GeomType::Polygon, &self.polygons.bytes);
        }
    }

    fn geometry(&mut self, g: &Geometry<f64>) {
        match g {
            Geometry::Point(p) => self.point(p.0),
            Geometry::MultiPoint(mp) => mp.iter().for_each(|p| self.point(p.0)),
            Geometry::Line(l) => self.line(&[l.start, l.end]),
            Geometry::LineString(ls) => self.line(&ls.0),
            Geometry::MultiLineString(mls) => mls.iter().for_each(|ls| self.line(&ls.0)),
            Geometry::Polygon(p) => self.polygon(p),
            Geometry::MultiPolygon(mp) => mp.iter().for_each(|p| self.polygon(p)),
            Geometry::Rect(r) => self.polygon(&r.to_polygon()),
            Geometry::Triangle(t) => self.polygon(&t.to_polygon()),
            Geometry::GeometryCollection(gc) => gc.iter().for_each(|g| self.geometry(g)),
        }
    }

    fn point(&mut self, lonlat: Coord<f64>) {
        let p = self.transform.pixel(lonlat);
        if self.clip.contains(p) {
            self.points.push(round(p));
        }
    }

    fn line(&mut self, lonlat: &[Coord<f64>]) {
        self.project(lonlat);
        let Some(bbox) = Bbox::of(&self.work) else {
            return;
        };
        if self.clip.misses_box(&bbox) {
            return;
        }
        if self.clip.contains_box(&bbox) {
            self.line_part();
            return;
        }
        self.clip
            .clip_line(&self.work, &mut self.parts, &mut self.part_ends);
        let mut start = 0;
        for i in 0..self.part_ends.len() {
            let end = self.part_ends[i];
            self.work.clear();
            self.work.extend_from_slice(&self.parts[start..end]);
            self.line_part();
            start = end;
        }
    }

    /// Simplifies, rounds and writes the line part in `work`, if two distinct
    /// points are left of it.
    fn line_part(&mut self) {
        self.simplifier
            .simplify(&mut self.work, false, self.tolerance);
        round_dedup(&self.work, &mut self.rounded);
        if self.rounded.len() >= 2 {
            self.lines.line(&self.rounded);
        }
    }

    fn polygon(&mut self, p: &Polygon<f64>) {
        if !self.ring(p.exterior(), Role::Exterior) {
            return; // Holes of a polygon that is not drawn are not drawn either.
        }
        for hole in p.interiors() {
            self.ring(hole, Role::Hole);
        }
    }

    /// Clips, simplifies and rounds a ring, and writes it with the winding its
    /// role asks for. False when nothing of it is left.
    fn ring(&mut self, ring: &LineString<f64>, role: Role) -> bool {
        let coords = match ring.0.split_last() {
            // geo-types closes rings; MVT wants no repeated closing point.
            Some((last, rest)) if rest.first() == Some(last) => rest,
            _ => &ring.0[..],
        };
        self.project(coords);
        let Some(bbox) = Bbox::of(&self.work) else {
            return false;
        };
        // The box's area bounds the ring's: a cheap way to drop, before any
        // clipping, the sub-pixel parcels that fill low-zoom tiles.
        if self.clip.misses_box(&bbox) || bbox.area() < self.min_area {
            return false;
        }
        if !self.clip.contains_box(&bbox) {
            self.clip.clip_ring(&mut self.work, &mut self.spare, &bbox);
        }
        self.simplifier
            .simplify(&mut self.work, true, self.tolerance);
        round_dedup(&self.work, &mut self.rounded);
        // A ring that closes on its first point lists it once.
        while self.rounded.len() > 1 && self.rounded.first() == self.rounded.last() {
            self.rounded.pop();
        }
        if self.rounded.len() < 3 {
            return false;
        }
        let area2 = doubled_area(&self.rounded);
        // Integer area, so zero is exact; min_area is compared in doubled units.
        if area2 == 0 || (area2.unsigned_abs() as f64) < 2.0 * self.min_area {
            return false;
        }
        // Positive (surveyor's formula, y down) for exteriors, negative for holes.
        if (area2 > 0) != (role == Role::Exterior) {
            self.rounded.reverse();
        }
        self.polygons.ring(&self.rounded);
        true
    }

    /// Projects lon/lat coordinates into `work`, tile pixels, leaving out the
    /// vertices that cannot change what is left after clipping.
    ///
    /// A vertex goes when it and its neighbours on both sides (the last one
    /// kept and the next one) lie beyond the same side of the clip box: the
    /// path through it then stays beyond that side, and so does the straight
    /// edge that replaces it, which the clip removes all the same. (Web Mercator
    /// maps lon/lat boxes to boxes, so the test can be made before projecting.)
    /// The rule holds for rings and lines alike. Large features such as district
    /// outlines, of which a tile sees a corner, so cost a comparison per vertex,
    /// not a projection.
    fn project(&mut self, lonlat: &[Coord<f64>]) {
        self.work.clear();
        let (min, max) = (self.query_min, self.query_max);
        // Bits: west, east, south, north of the box.
        let side = |c: &Coord<f64>| {
            u8::from(c.x < min.x)
                | u8::from(c.x > max.x) << 1
                | u8::from(c.y < min.y) << 2
                | u8::from(c.y > max.y) << 3
        };
        let tf = &self.transform;
        let [first, middle @ .., last] = lonlat else {
            self.work.extend(lonlat.iter().map(|&c| tf.pixel(c)));
            return;
        };
        self.work.push(tf.pixel(*first));
        // The sides shared by every vertex since the last one kept, inclusive.
        let mut shared = side(first);
        let mut this_side = middle.first().map_or(0, side);
        for (i, c) in middle.iter().enumerate() {
            let next_side = middle.get(i + 1).map_or_else(|| side(last), side);
            if shared & this_side & next_side != 0 {
                shared &= this_side;
            } else {
                self.work.push(tf.pixel(*c));
                shared = this_side;
            }
            this_side = next_side;
        }
        self.work.push(tf.pixel(*last));
    }
}

/// Rounds tile pixels to the nearest integer. Inputs are clipped to the tile
/// plus buffer (within −2^16 ..= 2^17 by [`TileOptions`]' limits), so shifting them
/// positive makes the truncating cast a floor, which is several times faster
/// than `f64::round` (a libm call on baseline x86-64).
#[inline]
fn round(p: Px) -> [i32; 2] {
    const BIAS: f64 = (1 << 22) as f64;
    // In range by the clip: the casts cannot saturate.
    let r = |v: f64| ((v + (BIAS + 0.5)) as i64 - (1 << 22)) as i32;
    [r(p[0]), r(p[1])]
}

/// Rounds points into `out`, leaving out each that repeats the one before.
fn round_dedup(points: &[Px], out: &mut Vec<[i32; 2]>) {
    out.clear();
    for &p in points {
        let q = round(p);
        if out.last() != Some(&q) {
            out.push(q);
        }
    }
}

/// Twice the ring's signed area by the surveyor's formula, square tile pixels:
/// positive for a ring clockwise on screen (y down). `i64`: exact.
fn doubled_area(ring: &[[i32; 2]]) -> i64 {
    let mut prev = ring[ring.len() - 1];
    let mut sum = 0i64;
    for &p in ring {
        sum += i64::from(prev[0]) * i64::from(p[1]) - i64::from(p[0]) * i64::from(prev[1]);
        prev = p;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_to_the_nearest_pixel() {
        assert_eq!(round([0.4, 0.6]), [0, 1]);
        assert_eq!(round([-0.4, -0.6]), [0, -1]);
        assert_eq!(round([-64.0, 4160.0]), [-64, 4160]);
        assert_eq!(round([2.5, -2.5]), [3, -2]);
    }

    #[test]
    fn the_surveyors_formula_is_positive_for_clockwise_on_screen() {
        // Right along the top, down the right side: clockwise with y down.
        assert_eq!(doubled_area(&[[0, 0], [10, 0], [10, 10], [0, 10]]), 200);
        assert_eq!(doubled_area(&[[0, 0], [0, 10], [10, 10], [10, 0]]), -200);
    }
}
