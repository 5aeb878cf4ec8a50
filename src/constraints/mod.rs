//! What restricts a plot, what is at a point, and which utility lines are
//! nearest: the questions of the municipal services intake, answered from the
//! in-memory index (pure: no I/O).
//!
//! Constraints of a plot ([`constraints`]):
//! 1. The plot is checked and measured ([`Plot`]): EPSG:4326 lon/lat in, its
//!    planar area in the city's metric CRS (config `metric_srs`) out.
//! 2. Each zone layer is prepared once per layer state ([`Prepared`]): its
//!    zones cut into small pieces in an R-tree, invalid ones repaired.
//! 3. The R-tree gives the pieces whose envelope meets the plot's; each is
//!    clipped exactly with the plot in lon/lat (geo's `BooleanOps`, i_overlay),
//!    and the clipped part's vertices are projected to metres and measured —
//!    the same steps as PostGIS `ST_Area(ST_Transform(ST_Intersection(plot,
//!    zone), srid))`.
//! 4. A zone counts when it intersects the plot (as `ST_Intersects`: touching
//!    counts); overlaps under the sliver tolerance are listed apart as slivers.
//! 5. The zone types checked are those the zone layers hold; the ones no
//!    constraint has are answered as not found: an explicit negative.
//!
//! [`identify`] lists the features at a point per layer; [`nearest`] finds the
//! nearest line of each utility network, in metres.

mod identify;
mod metric;
mod nearest;
mod plot;
mod prepared;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::sync::Arc;

use geo::coordinate_position::{CoordPos, CoordinatePosition};
use geo::{BooleanOps, Intersects, LinesIter};
use geo_types::{Line, MultiPolygon, Polygon};
use serde::{Serialize, Serializer};

pub use identify::{identify, FeatureHit, LayerHits};
pub use metric::Metric;
pub use nearest::{nearest, network_layers, NearestFrom, NearestLine};
pub use plot::{ParcelRef, Plot, PlotLimits, PlotSummary, MAX_PLOT_VERTICES};

use crate::index::{LayerIndex, Snapshot};
use crate::model::{Feature, FeatureId, GeometryType, LayerCode, LayerKind};
use nearest::NetworkLayer;
use prepared::{clip_to_rect, LayerCache, Part, ZoneLayer};

/// Overlaps below this many m² are not trusted to mean "the interiors meet":
/// clipping rounds coordinates (to about 1e-10 degrees), so a plot that only
/// touches a zone may show a few mm² of overlap. Below it, whether the plot
/// meets the zone at all is decided on the stored geometries with exact
/// predicates, as PostGIS `ST_Intersects` does.
const TOUCH_AREA_M2: f64 = 0.01;

pub type Result<T, E = ConstraintsError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum ConstraintsError {
    #[error("the geometry must be a GeoJSON Polygon or MultiPolygon: {0}")]
    NotAPolygon(String),
    #[error("the geometry is not valid: {0}")]
    InvalidGeometry(String),
    #[error("the plot covers {area_m2:.0} m², more than the limit of {limit_m2:.0} m²")]
    PlotTooLarge { area_m2: f64, limit_m2: f64 },
    #[error("the plot has {vertices} vertices, more than the limit of {limit}")]
    TooManyVertices { vertices: usize, limit: usize },
    #[error("the geometry cannot be projected to the city's metric CRS: {0}")]
    OutsideMetricCrs(String),
    #[error("layer '{0}' does not exist")]
    UnknownLayer(String),
    #[error("layer '{code}' is a {kind} layer; constraints are read from layers of kind zones")]
    NotZoneLayer { code: String, kind: LayerKind },
    #[error("layer '{code}' is not a utility network of lines (it is a {kind} layer of {geometry_type})")]
    NotNetworkLayer {
        code: String,
        kind: LayerKind,
        geometry_type: GeometryType,
    },
}

/// A layer and the version an answer was read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LayerRef {
    pub code: LayerCode,
    /// The layer's version when the answer was read: each write bumps it.
    pub version: i64,
}

impl LayerRef {
    fn of(layer: &LayerIndex) -> Self {
        Self {
            code: layer.code().clone(),
            version: layer.layer().version,
        }
    }
}

/// Zone and network layers prepared for queries, each kept while the index
/// holds the layer state it was made from. One per server; cheap to share.
#[derive(Default)]
pub struct Prepared {
    zones: LayerCache<ZoneLayer>,
    networks: LayerCache<NetworkLayer>,
}

impl Prepared {
    /// Whether every one of `layers` is prepared for constraints, so a query
    /// takes microseconds; otherwise the first query prepares them (about a
    /// second for a big city's zones) and callers may want it off their async workers.
    pub fn zones_ready(&self, layers: &[Arc<LayerIndex>]) -> bool {
        layers.iter().all(|l| self.zones.ready(l).is_some())
    }

    /// Whether every one of `layers` is prepared for nearest-line queries.
    pub fn networks_ready(&self, layers: &[Arc<LayerIndex>]) -> bool {
        layers.iter().all(|l| self.networks.ready(l).is_some())
    }
}

/// What restricts a plot.
#[derive(Debug, Serialize)]
pub struct ConstraintsReport {
    pub plot: PlotSummary,
    /// The CRS areas are measured in.
    pub metric_srs: String,
    /// Zones overlapping the plot by at least the sliver tolerance, largest first.
    pub constraints: Vec<ZoneOverlap>,
    /// Zones touching the plot or overlapping it by less than the tolerance.
    pub slivers: Vec<ZoneOverlap>,
    /// The tolerance, m².
    pub sliver_tolerance_m2: f64,
    /// The zone layers read, with their versions.
    pub checked_layers: Vec<LayerRef>,
    /// Every zone type looked for.
    pub checked_zone_types: Vec<String>,
    /// The zone types looked for that no constraint has.
    pub zone_types_not_found: Vec<String>,
}

/// One zone meeting the plot.
#[derive(Debug, Serialize)]
pub struct ZoneOverlap {
    /// The zone's `zone_type`; `null` when the feature has none.
    pub zone_type: Option<String>,
    /// The department owning the zone's layer (who approves).
    pub department: Option<String>,
    pub layer: LayerRef,
    pub feature_id: FeatureId,
    /// Planar area of plot ∩ zone in the metric CRS, m².
    pub overlap_m2: f64,
    /// `overlap_m2` as a percentage of the plot's area.
    pub overlap_percent: f64,
    /// The zone's attributes.
    #[serde(rename = "properties", serialize_with = "serialize_properties")]
    pub feature: Arc<Feature>,
    /// How the zone's geometry was taken, when not as stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Serializes a feature as its properties: answers share the index's features
/// rather than copying their attributes.
fn serialize_properties<S: Serializer>(feature: &Arc<Feature>, s: S) -> Result<S::Ok, S::Error> {
    feature.properties.serialize(s)
}

/// `x` rounded to `decimals` places (answers carry what is measured, not float
/// noise); dividing by the power of ten gives the double nearest the decimal.
fn round_dp(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

/// The zone layers a question reads: `only` (each must be a zones layer), else
/// every layer of kind `zones`. All of them, public or not: an answer that
/// misses a zone would be a wrong answer.
pub fn zone_layers(
    snapshot: &Snapshot,
    only: Option<&[LayerCode]>,
) -> Result<Vec<Arc<LayerIndex>>> {
    match only {
        None => Ok(snapshot
            .values()
            .filter(|l| l.layer().spec.kind == LayerKind::Zones)
            .cloned()
            .collect()),
        Some(codes) => {
            let mut layers: Vec<Arc<LayerIndex>> = Vec::with_capacity(codes.len());
            for code in codes {
                let layer = snapshot
                    .get(code)
                    .ok_or_else(|| ConstraintsError::UnknownLayer(code.to_string()))?;
                if layer.layer().spec.kind != LayerKind::Zones {
                    return Err(ConstraintsError::NotZoneLayer {
                        code: code.to_string(),
                        kind: layer.layer().spec.kind,
                    });
                }
                if !layers.iter().any(|l| l.code() == code) {
                    layers.push(layer.clone());
                }
            }
            Ok(layers)
        }
    }
}

/// The zone types a constraints answer checks. Until the catalog lists zone
/// types, they are the distinct `zone_type` values found in the zone layers
/// read; this is the one place to put the catalog's list instead.
fn checked_zone_types(layers: &[Arc<ZoneLayer>]) -> BTreeSet<String> {
    layers
        .iter()
        .flat_map(|l| l.zone_types.iter().cloned())
        .collect()
}

/// Every zone of `layers` meeting `plot`, with overlaps in m² measured in
/// `metric`'s CRS; overlaps below `sliver_tolerance_m2` are listed as slivers.
pub fn constraints(
    prepared: &Prepared,
    layers: &[Arc<LayerIndex>],
    plot: &Plot,
    metric: &Metric,
    sliver_tolerance_m2: f64,
) -> Result<ConstraintsReport> {
    let zone_layers: Vec<Arc<ZoneLayer>> = layers
        .iter()
        .map(|l| prepared.zones.get(l, ZoneLayer::build))
        .collect();
    let mut constraints = Vec::new();
    let mut slivers = Vec::new();
    for (layer, zones) in layers.iter().zip(&zone_layers) {
        for (zone_index, overlap_m2) in overlaps(zones, plot, metric)? {
            let zone = &zones.zones[zone_index as usize];
            let overlap = ZoneOverlap {
                zone_type: zone.zone_type.clone(),
                department: layer.layer().spec.department.clone(),
                layer: LayerRef::of(layer),
                feature_id: zone.feature.id,
                overlap_m2: round_dp(overlap_m2, 4),
                overlap_percent: round_dp((overlap_m2 / plot.area_m2() * 100.0).min(100.0), 4),
                feature: zone.feature.clone(),
                note: zone.note.clone(),
            };
            if overlap_m2 >= sliver_tolerance_m2 {
                constraints.push(overlap);
            } else {
                slivers.push(overlap);
            }
        }
    }
    let order = |a: &ZoneOverlap, b: &ZoneOverlap| {
        b.overlap_m2
            .total_cmp(&a.overlap_m2)
            .then_with(|| a.layer.code.cmp(&b.layer.code))
            .then_with(|| a.feature_id.cmp(&b.feature_id))
    };
    constraints.sort_by(order);
    slivers.sort_by(order);
    let checked = checked_zone_types(&zone_layers);
    let found: BTreeSet<String> = constraints
        .iter()
        .filter_map(|c| c.zone_type.clone())
        .collect();
    let mut plot_summary = plot.summary().clone();
    plot_summary.area_m2 = round_dp(plot_summary.area_m2, 4);
    Ok(ConstraintsReport {
        plot: plot_summary,
        metric_srs: metric.srs().to_owned(),
        constraints,
        slivers,
        sliver_tolerance_m2,
        checked_layers: layers.iter().map(|l| LayerRef::of(l)).collect(),
        zone_types_not_found: checked
            .iter()
            .filter(|t| !found.contains(*t))
            .cloned()
            .collect(),
        checked_zone_types: checked.into_iter().collect(),
    })
}

/// Whether `plot` lies inside `piece`, boundaries apart, decided without
/// clipping: no edge of the piece meets an edge of the plot, the first vertex
/// of each of the plot's shells is inside the piece, and no ring of the piece
/// lies inside the plot (a hole of the zone within the plot). With the
/// boundaries apart, each ring lies wholly inside or wholly outside the other
/// shape, so one vertex tells for all.
fn contains_plot(piece: &Polygon<f64>, plot: &Plot) -> bool {
    let b = plot.bbox;
    let near = |l: &Line<f64>| {
        l.start.x.min(l.end.x) <= b.max().x
            && l.start.x.max(l.end.x) >= b.min().x
            && l.start.y.min(l.end.y) <= b.max().y
            && l.start.y.max(l.end.y) >= b.min().y
    };
    for ring in std::iter::once(piece.exterior()).chain(piece.interiors()) {
        let mut ring_near = false;
        for edge in ring.lines().filter(near) {
            ring_near = true;
            if plot.geometry.lines_iter().any(|p| p.intersects(&edge)) {
                return false;
            }
        }
        // A ring with no edge in the plot's box cannot lie inside the plot.
        if ring_near
            && ring
                .0
                .first()
                .is_some_and(|c| plot.geometry.coordinate_position(c) != CoordPos::Outside)
        {
            return false;
        }
    }
    plot.geometry.iter().all(|p| {
        p.exterior()
            .0
            .first()
            .is_some_and(|c| piece.coordinate_position(c) == CoordPos::Inside)
    })
}

/// The zones of one layer that meet the plot (index into `zones.zones`) with
/// their overlap in m².
fn overlaps(zones: &ZoneLayer, plot: &Plot, metric: &Metric) -> Result<Vec<(u32, f64)>> {
    let b = plot.bbox;
    let envelope = rstar::AABB::from_corners([b.min().x, b.min().y], [b.max().x, b.max().y]);
    let mut parts: Vec<(u32, Part)> = zones
        .tree
        .locate_in_envelope_intersecting(&envelope)
        .map(|e| e.data)
        .collect();
    parts.sort_unstable_by_key(|(zone, _)| *zone);
    let mut out = Vec::new();
    for group in parts.chunk_by(|a, b| a.0 == b.0) {
        let zone_index = group[0].0;
        let zone = &zones.zones[zone_index as usize];
        let mut area_m2 = 0.0;
        // Whether the plot may meet the zone with less than TOUCH_AREA_M2 of
        // overlap: something was clipped, or some part might only touch.
        let mut uncertain = !zone.exact_pieces;
        for (_, part) in group {
            match part {
                Part::Piece(p) => {
                    let piece = &zones.pieces[*p as usize];
                    if contains_plot(piece, plot) {
                        // The common case (a plot inside its territorial zone):
                        // plot ∩ piece is the plot, measured already.
                        area_m2 += plot.area_m2();
                        uncertain = true;
                        continue;
                    }
                    // The piece's part within the plot's box: a clip of a few
                    // vertices instead of all of the piece's.
                    let clipped = match clip_to_rect(piece, plot.bbox) {
                        Some(near) => plot.geometry.intersection(&near),
                        None => MultiPolygon::new(Vec::new()),
                    };
                    if clipped.0.is_empty() {
                        uncertain = uncertain || plot.geometry.intersects(piece);
                    } else {
                        uncertain = true;
                        area_m2 += metric
                            .multi_polygon_area_m2(&clipped)
                            .map_err(|e| ConstraintsError::OutsideMetricCrs(e.to_string()))?;
                    }
                }
                Part::NonAreal => uncertain = true,
            }
        }
        // A piece's touch is confirmed on the stored geometry: a cut can leave
        // a zero-width bridge along the cut line, outside the zone.
        let meets = area_m2 >= TOUCH_AREA_M2
            || (uncertain && plot.geometry.intersects(&zone.feature.geometry));
        if meets {
            out.push((zone_index, area_m2));
        }
    }
    Ok(out)
}
