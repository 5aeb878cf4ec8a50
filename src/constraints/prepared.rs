//! Zone and network layers made ready for many queries, once per layer state,
//! and kept while the index holds that state.
//!
//! Zones are cut into pieces of a few dozen vertices (as PostGIS users do with
//! `ST_Subdivide`): a water protection zone along a river has thousands of
//! vertices and an envelope over half the city, so without pieces every plot
//! near it would clip against all of them. Cuts are axis-aligned half-planes
//! (Sutherland–Hodgman), which keep every original vertex bit for bit and add
//! vertices only on the cut lines; pieces of one polygon cover it exactly, so
//! their overlaps with a plot add up to the polygon's.
//!
//! All coordinates here are EPSG:4326 lon/lat degrees.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, OnceLock, RwLock};

use geo::{BooleanOps, BoundingRect, CoordsIter, Validation};
use geo_types::{Coord, Geometry, LineString, MultiPolygon, Polygon, Rect};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::RTree;

use crate::index::LayerIndex;
use crate::model::Feature;

/// Pieces are cut until they have at most this many vertices: small enough
/// that clipping a plot against one takes microseconds, large enough that a
/// territorial zone (a few dozen vertices) stays whole.
const MAX_PIECE_VERTICES: usize = 64;
/// Halvings of one polygon at most: a piece 2^-20 of its polygon's extent is
/// centimetres wide in a city, so a dense knot of vertices stops here.
const MAX_CUT_DEPTH: u32 = 20;

/// A zone of a layer, with what the answer must say about its geometry.
pub(crate) struct Zone {
    pub(crate) feature: Arc<Feature>,
    /// Its `zone_type` property, the key of the catalog's zone types.
    pub(crate) zone_type: Option<String>,
    /// Set when the stored geometry is not OGC-valid: overlaps are measured on
    /// the repaired areas (even-odd rule, as PostGIS `ST_MakeValid`).
    pub(crate) note: Option<String>,
    /// Whether the pieces hold the stored coordinates exactly (not repaired):
    /// then a touch found on a piece is a touch of the zone.
    pub(crate) exact_pieces: bool,
}

/// What an R-tree entry of a zone layer points at.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Part {
    /// An areal piece: index into `ZoneLayer::pieces`.
    Piece(u32),
    /// The zone's points and lines (zones are areas, but nothing stops a layer
    /// of kind `zones` holding lines): they can touch a plot, never overlap it.
    NonAreal,
}

/// An R-tree entry: a part's envelope (lon/lat degrees), its zone's index in
/// `ZoneLayer::zones`, and the part.
pub(crate) type PartEnvelope = GeomWithData<Rectangle<[f64; 2]>, (u32, Part)>;

/// A zone layer, ready for plots.
pub(crate) struct ZoneLayer {
    pub(crate) zones: Vec<Zone>,
    /// Areal pieces of the zones, EPSG:4326 lon/lat degrees.
    pub(crate) pieces: Vec<Polygon<f64>>,
    /// Envelopes of pieces (and of non-areal parts) → (zone index, part).
    pub(crate) tree: RTree<PartEnvelope>,
    /// The distinct `zone_type` values of the layer.
    pub(crate) zone_types: BTreeSet<String>,
}

impl ZoneLayer {
    pub(crate) fn build(layer: &LayerIndex) -> Self {
        let mut zones = Vec::new();
        let mut pieces = Vec::new();
        let mut entries = Vec::new();
        let mut zone_types = BTreeSet::new();
        let everywhere = Rect::new(
            Coord {
                x: -180.0,
                y: -90.0,
            },
            Coord { x: 180.0, y: 90.0 },
        );
        for feature in layer.in_envelope(everywhere) {
            let zone_index =
                u32::try_from(zones.len()).expect("a layer holds fewer than 2^32 zones");
            let zone_type = feature
                .properties
                .get("zone_type")
                .and_then(|v| v.as_str())
                .map(str::to_owned);
            if let Some(t) = &zone_type {
                zone_types.insert(t.clone());
            }
            let (areal, non_areal) = split_areal(&feature.geometry);
            let (areal, note) = match areal.check_validation() {
                Ok(()) => (areal, None),
                Err(e) => (
                    // Union with nothing rebuilds the rings by the even-odd rule:
                    // a bow-tie becomes its two triangles, as ST_MakeValid makes it.
                    areal.union(&MultiPolygon::<f64>::new(Vec::new())),
                    Some(format!(
                        "the zone's stored geometry is not valid ({e}); its overlap is measured on the \
                         geometry repaired by the even-odd rule (as PostGIS ST_MakeValid)"
                    )),
                ),
            };
            let exact_pieces = note.is_none();
            for polygon in areal {
                let mut cut = Vec::new();
                subdivide(polygon, 0, &mut cut);
                for piece in cut {
                    if let Some(r) = piece.bounding_rect() {
                        let index = u32::try_from(pieces.len()).expect("fewer than 2^32 pieces");
                        entries.push(GeomWithData::new(
                            rectangle(r),
                            (zone_index, Part::Piece(index)),
                        ));
                        pieces.push(piece);
                    }
                }
            }
            if let Some(r) = non_areal.and_then(|g| g.bounding_rect()) {
                entries.push(GeomWithData::new(
                    rectangle(r),
                    (zone_index, Part::NonAreal),
                ));
            }
            zones.push(Zone {
                feature: feature.clone(),
                zone_type,
                note,
                exact_pieces,
            });
        }
        Self {
            zones,
            pieces,
            tree: RTree::bulk_load(entries),
            zone_types,
        }
    }
}

fn rectangle(r: Rect<f64>) -> Rectangle<[f64; 2]> {
    Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y])
}

/// The polygons of a geometry, and the rest (points, lines) if there is any.
fn split_areal(g: &Geometry<f64>) -> (MultiPolygon<f64>, Option<Geometry<f64>>) {
    match g {
        Geometry::Polygon(p) => (MultiPolygon::new(vec![p.clone()]), None),
        Geometry::MultiPolygon(mp) => (mp.clone(), None),
        Geometry::Rect(r) => (MultiPolygon::new(vec![r.to_polygon()]), None),
        Geometry::Triangle(t) => (MultiPolygon::new(vec![t.to_polygon()]), None),
        Geometry::GeometryCollection(gc) => {
            let mut polygons = Vec::new();
            let mut rest = Vec::new();
            for part in gc {
                let (mp, other) = split_areal(part);
                polygons.extend(mp);
                rest.extend(other);
            }
            let rest = (!rest.is_empty()).then(|| {
                Geometry::GeometryCollection(geo_types::GeometryCollection::new_from(rest))
            });
            (MultiPolygon::new(polygons), rest)
        }
        other => (MultiPolygon::new(Vec::new()), Some(other.clone())),
    }
}

/// Cuts `polygon` in halves across the longer side of its box until each
/// piece has at most [`MAX_PIECE_VERTICES`] vertices.
fn subdivide(polygon: Polygon<f64>, depth: u32, out: &mut Vec<Polygon<f64>>) {
    let Some(bbox) = polygon.bounding_rect() else {
        return;
    };
    if polygon.coords_count() <= MAX_PIECE_VERTICES || depth >= MAX_CUT_DEPTH {
        out.push(polygon);
        return;
    }
    let (axis, at) = if bbox.width() >= bbox.height() {
        (Axis::X, (bbox.min().x + bbox.max().x) / 2.0)
    } else {
        (Axis::Y, (bbox.min().y + bbox.max().y) / 2.0)
    };
    for keep_low in [true, false] {
        let Some(exterior) = clip_ring(polygon.exterior(), axis, at, keep_low) else {
            continue;
        };
        let interiors = polygon
            .interiors()
            .iter()
            .filter_map(|ring| clip_ring(ring, axis, at, keep_low))
            .collect();
        subdivide(Polygon::new(exterior, interiors), depth + 1, out);
    }
}

/// The part of `polygon` inside `r` (closed), by four half-plane cuts; `None`
/// when no area is left. Exact where it matters: the polygon's vertices inside
/// `r` are kept as they are, and what the cuts add lies on `r`'s sides, so a
/// shape inside `r` overlaps the result exactly as it overlaps `polygon`.
pub(crate) fn clip_to_rect(polygon: &Polygon<f64>, r: Rect<f64>) -> Option<Polygon<f64>> {
    let cuts = [
        (Axis::X, r.min().x, false),
        (Axis::X, r.max().x, true),
        (Axis::Y, r.min().y, false),
        (Axis::Y, r.max().y, true),
    ];
    let clip = |ring: &LineString<f64>| {
        cuts.iter()
            .try_fold(ring.clone(), |ring, &(axis, at, keep_low)| {
                clip_ring(&ring, axis, at, keep_low)
            })
    };
    let exterior = clip(polygon.exterior())?;
    let interiors = polygon.interiors().iter().filter_map(clip).collect();
    Some(Polygon::new(exterior, interiors))
}

#[derive(Debug, Clone, Copy)]
enum Axis {
    X,
    Y,
}

impl Axis {
    fn of(self, c: Coord<f64>) -> f64 {
        match self {
            Axis::X => c.x,
            Axis::Y => c.y,
        }
    }
}

/// The part of a closed ring on one side of the line `axis = at` (the low
/// side, `<= at`, or the high side, `>= at`), by Sutherland–Hodgman. Vertices
/// kept are the ring's own; new ones lie exactly on the line. Where the ring
/// leaves and re-enters the half-plane the result runs along the line and back
/// (a zero-width bridge): it adds no area, and the even-odd overlay of a plot
/// with the piece cancels it. `None` when nothing with area is left.
fn clip_ring(
    ring: &LineString<f64>,
    axis: Axis,
    at: f64,
    keep_low: bool,
) -> Option<LineString<f64>> {
    let inside = |c: Coord<f64>| {
        if keep_low {
            axis.of(c) <= at
        } else {
            axis.of(c) >= at
        }
    };
    let crossing = |a: Coord<f64>, b: Coord<f64>| {
        let t = (at - axis.of(a)) / (axis.of(b) - axis.of(a));
        match axis {
            Axis::X => Coord {
                x: at,
                y: a.y + t * (b.y - a.y),
            },
            Axis::Y => Coord {
                x: a.x + t * (b.x - a.x),
                y: at,
            },
        }
    };
    let mut out: Vec<Coord<f64>> = Vec::with_capacity(ring.0.len() / 2 + 4);
    for line in ring.lines() {
        let (a, b) = (line.start, line.end);
        match (inside(a), inside(b)) {
            (true, true) => out.push(b),
            (true, false) => out.push(crossing(a, b)),
            (false, true) => {
                out.push(crossing(a, b));
                out.push(b);
            }
            (false, false) => {}
        }
    }
    out.dedup();
    if out.len() < 3 {
        return None;
    }
    if out.first() != out.last() {
        out.push(out[0]);
    }
    (out.len() >= 4).then(|| LineString::new(out))
}

/// Prepared layers, kept as long as the index holds the layer state they were
/// made from. Keyed by the `Arc<LayerIndex>` itself: every publish of a layer
/// (an import, an edit, a metadata change) is a new `Arc`, so a state is never
/// mistaken for another, even across several apps in one process.
pub(crate) struct LayerCache<T> {
    entries: RwLock<HashMap<usize, Entry<T>>>,
}

struct Entry<T> {
    /// Held so the address cannot be reused by another layer state while cached.
    layer: Arc<LayerIndex>,
    prepared: Arc<OnceLock<Arc<T>>>,
}

impl<T> Default for LayerCache<T> {
    fn default() -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
        }
    }
}

impl<T> LayerCache<T> {
    /// The prepared form of `layer`, if it is ready (never blocks on a build).
    pub(crate) fn ready(&self, layer: &Arc<LayerIndex>) -> Option<Arc<T>> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries
            .get(&key(layer))
            .and_then(|e| e.prepared.get().cloned())
    }

    /// The prepared form of `layer`, built by `build` on first use. Concurrent
    /// first uses wait for one build.
    pub(crate) fn get(
        &self,
        layer: &Arc<LayerIndex>,
        build: impl FnOnce(&LayerIndex) -> T,
    ) -> Arc<T> {
        if let Some(ready) = self.ready(layer) {
            return ready;
        }
        let cell = {
            let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
            // States the index no longer holds (only this cache does) go.
            entries.retain(|_, e| Arc::strong_count(&e.layer) > 1);
            entries
                .entry(key(layer))
                .or_insert_with(|| Entry {
                    layer: layer.clone(),
                    prepared: Arc::new(OnceLock::new()),
                })
                .prepared
                .clone()
        };
        cell.get_or_init(|| Arc::new(build(layer))).clone()
    }
}

fn key(layer: &Arc<LayerIndex>) -> usize {
    Arc::as_ptr(layer) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::Area;

    #[test]
    fn pieces_of_a_ring_with_many_vertices_add_up_to_it() {
        // A star with 400 vertices and a hole: concave, so cuts leave bridges.
        let star: Vec<Coord<f64>> = (0..=400)
            .map(|i| {
                let a = std::f64::consts::TAU * f64::from(i % 400) / 400.0;
                let r = if i % 2 == 0 { 1.0 } else { 0.4 };
                Coord {
                    x: 49.0 + r * a.cos() * 0.01,
                    y: 55.0 + r * a.sin() * 0.01,
                }
            })
            .collect();
        let hole = LineString::from(vec![
            (49.0 - 0.001, 55.0 - 0.001),
            (49.0 - 0.001, 55.0 + 0.001),
            (49.0 + 0.001, 55.0 + 0.001),
            (49.0 + 0.001, 55.0 - 0.001),
            (49.0 - 0.001, 55.0 - 0.001),
        ]);
        let polygon = Polygon::new(LineString::new(star.clone()), vec![hole]);
        let mut pieces = Vec::new();
        subdivide(polygon.clone(), 0, &mut pieces);
        assert!(pieces.len() > 8, "{} pieces", pieces.len());
        assert!(pieces
            .iter()
            .all(|p| p.coords_count() <= MAX_PIECE_VERTICES));
        // Every original vertex is kept bit for bit in some piece.
        for c in &star {
            assert!(
                pieces.iter().any(|p| p.exterior().0.contains(c)),
                "{c:?} lost"
            );
        }
        // Overlap of a box with the pieces, summed, equals that with the whole.
        let plot = Rect::new(
            Coord {
                x: 48.995,
                y: 54.996,
            },
            Coord {
                x: 49.004,
                y: 55.007,
            },
        )
        .to_polygon();
        let whole = plot.intersection(&polygon).unsigned_area();
        let summed: f64 = pieces
            .iter()
            .map(|p| plot.intersection(p).unsigned_area())
            .sum();
        assert!(
            (whole - summed).abs() <= whole * 1e-7,
            "{whole} vs {summed}"
        );
    }
}
