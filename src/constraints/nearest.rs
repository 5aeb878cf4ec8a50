//! The nearest line of each utility network to a point or a plot, with its
//! distance in metres: what technical conditions for a connection start from.
//!
//! 1. Each network layer's lines are cut into segments and put in an R-tree
//!    (once per layer state), in lon/lat with longitudes scaled by the cosine
//!    of the layer's mean latitude, so that degrees are about equally long
//!    both ways and R-tree distance orders segments nearly as metres do.
//! 2. Segments come out of the tree nearest first; each candidate's exact
//!    distance is measured in the metric CRS (both geometries projected, as
//!    PostGIS `ST_Distance(ST_Transform(…), ST_Transform(…))` does).
//! 3. The search stops when no further segment can be nearer in metres than
//!    the best found: a lower bound of metres per scaled degree (kept
//!    generous, see [`NetworkLayer::metres_per_degree_at_least`]) turns tree
//!    distances into metres.

use std::sync::Arc;

use geo::{Distance, Euclidean, Intersects};
use geo_types::{Coord, Geometry, Line, LineString, MultiPolygon, Point};
use rstar::primitives::{GeomWithData, Line as TreeLine};
use rstar::RTree;
use serde::Serialize;

use super::metric::Metric;
use super::plot::Plot;
use super::{ConstraintsError, LayerRef, Prepared, Result};
use crate::index::{LayerIndex, Snapshot};
use crate::model::{Feature, FeatureId, GeometryType, LayerCode, LayerKind};

/// Length of one degree of latitude, metres, at its shortest (at the equator,
/// on the WGS 84 ellipsoid).
const MIN_METRES_PER_LAT_DEGREE: f64 = 110_574.0;
/// Length of one degree of longitude on the equator, metres (WGS 84).
const METRES_PER_LON_DEGREE_AT_EQUATOR: f64 = 111_320.0;
/// Slack on the metres-per-degree bound: covers the metric CRS's scale (UTM
/// 0.9996 on its central meridian, other conformal projections a little
/// less) and the difference between straight lines in degrees and in metres.
const BOUND_SLACK: f64 = 0.9;

/// What the distance is measured from.
pub enum NearestFrom<'a> {
    /// A position, EPSG:4326 lon/lat degrees.
    Point(Coord<f64>),
    /// A plot (a stored parcel): distance 0 when a line touches or crosses it.
    Plot(&'a Plot),
}

/// The nearest line of one network.
#[derive(Debug, Serialize)]
pub struct NearestLine {
    /// The network's layer and the version answered from.
    pub layer: LayerRef,
    /// The layer's owning department (the operator that issues conditions).
    pub department: Option<String>,
    pub feature_id: FeatureId,
    /// Planar distance in the metric CRS, metres.
    pub distance_m: f64,
    /// The line's attributes (diameter, pressure, voltage …).
    #[serde(rename = "properties", serialize_with = "super::serialize_properties")]
    pub feature: Arc<Feature>,
}

/// An R-tree entry: a segment in scaled lon/lat, with its line's index in
/// `NetworkLayer::features` and the segment in plain lon/lat degrees.
type Segment = GeomWithData<TreeLine<[f64; 2]>, (u32, Line<f64>)>;

/// A network layer, ready for nearest-line queries.
pub(crate) struct NetworkLayer {
    /// Segments in scaled lon/lat (x = lon × `lon_scale`, y = lat), each with
    /// its line's index in `features` and the segment in plain lon/lat degrees.
    tree: RTree<Segment>,
    features: Vec<Arc<Feature>>,
    /// cos(mean latitude) of the layer.
    lon_scale: f64,
    /// The layer's latitude range, degrees.
    lat_range: (f64, f64),
}

impl NetworkLayer {
    pub(crate) fn build(layer: &LayerIndex) -> Self {
        let (lat_range, lon_scale) = match layer.extent() {
            Some(e) => (
                (e.min().y, e.max().y),
                ((e.min().y + e.max().y) / 2.0).to_radians().cos().max(1e-6),
            ),
            None => ((0.0, 0.0), 1.0),
        };
        let everywhere = geo_types::Rect::new(
            Coord {
                x: -180.0,
                y: -90.0,
            },
            Coord { x: 180.0, y: 90.0 },
        );
        let mut features = Vec::new();
        let mut entries = Vec::new();
        for feature in layer.in_envelope(everywhere) {
            let mut lines = Vec::new();
            collect_lines(&feature.geometry, &mut lines);
            if lines.is_empty() {
                continue;
            }
            let index = u32::try_from(features.len()).expect("a layer holds fewer than 2^32 lines");
            for line in lines {
                for segment in line.lines() {
                    let scaled = TreeLine::new(
                        [segment.start.x * lon_scale, segment.start.y],
                        [segment.end.x * lon_scale, segment.end.y],
                    );
                    entries.push(GeomWithData::new(scaled, (index, segment)));
                }
            }
            features.push(feature.clone());
        }
        Self {
            tree: RTree::bulk_load(entries),
            features,
            lon_scale,
            lat_range,
        }
    }

    /// A lower bound of the metres one unit of scaled degrees spans anywhere
    /// between the layer and a query at latitude `query_lat`: a latitude
    /// degree is at least 110.574 km; a scaled longitude degree at latitude φ
    /// is 111.32 km × cos φ / `lon_scale`, least at the highest |φ| involved.
    fn metres_per_degree_at_least(&self, query_lat: f64) -> f64 {
        let highest = self
            .lat_range
            .0
            .abs()
            .max(self.lat_range.1.abs())
            .max(query_lat.abs())
            .min(90.0);
        let lon = METRES_PER_LON_DEGREE_AT_EQUATOR * highest.to_radians().cos() / self.lon_scale;
        BOUND_SLACK * MIN_METRES_PER_LAT_DEGREE.min(lon)
    }

    /// The nearest line to `from` and its distance in metres, or `None` for a
    /// layer without lines.
    fn nearest(&self, from: &Query<'_>, metric: &Metric) -> Result<Option<(Arc<Feature>, f64)>> {
        let centre = [from.centre.x * self.lon_scale, from.centre.y];
        let per_degree = self.metres_per_degree_at_least(from.centre.y);
        let mut best: Option<(u32, f64)> = None;
        for (entry, d2) in self.tree.nearest_neighbor_iter_with_distance_2(&centre) {
            // No geometry within `radius` of the centre reaches nearer than this.
            let lower_bound_m = (d2.sqrt() - from.radius_scaled).max(0.0) * per_degree;
            if best.is_some_and(|(_, m)| lower_bound_m > m) {
                break;
            }
            let (line_index, segment) = &entry.data;
            let projected = Line::new(
                metric.coord(segment.start).map_err(crs)?,
                metric.coord(segment.end).map_err(crs)?,
            );
            let metres = match from.shape {
                Shape::Point(p) => Euclidean.distance(&projected, p),
                Shape::Plot { lonlat, metric } => {
                    if segment.intersects(*lonlat) {
                        0.0
                    } else {
                        Euclidean.distance(&projected, metric)
                    }
                }
            };
            if best.is_none_or(|(_, m)| metres < m) {
                best = Some((*line_index, metres));
            }
            if metres == 0.0 {
                break;
            }
        }
        Ok(best.map(|(i, m)| (self.features[i as usize].clone(), m)))
    }
}

fn crs(e: crate::crs::CrsError) -> ConstraintsError {
    ConstraintsError::OutsideMetricCrs(e.to_string())
}

/// The line parts of a geometry (points and areas are not network lines).
fn collect_lines(g: &Geometry<f64>, out: &mut Vec<LineString<f64>>) {
    match g {
        Geometry::LineString(l) => out.push(l.clone()),
        Geometry::MultiLineString(ml) => out.extend(ml.iter().cloned()),
        Geometry::Line(l) => out.push(LineString::new(vec![l.start, l.end])),
        Geometry::GeometryCollection(gc) => gc.iter().for_each(|g| collect_lines(g, out)),
        _ => {}
    }
}

/// The query in the forms the search needs.
struct Query<'a> {
    /// Where the tree search starts, lon/lat degrees.
    centre: Coord<f64>,
    /// Farthest vertex of the plot from `centre`, scaled degrees (0 for a point).
    radius_scaled: f64,
    shape: &'a Shape<'a>,
}

enum Shape<'a> {
    /// The point, metres in the metric CRS.
    Point(Point<f64>),
    /// The plot in lon/lat (for the exact touch test) and in metres.
    Plot {
        lonlat: &'a MultiPolygon<f64>,
        metric: MultiPolygon<f64>,
    },
}

/// Whether a layer is a utility network of lines.
pub(crate) fn is_network(layer: &LayerIndex) -> bool {
    let spec = &layer.layer().spec;
    spec.kind == LayerKind::Utilities
        && matches!(
            spec.geometry_type,
            GeometryType::LineString | GeometryType::MultiLineString | GeometryType::Geometry
        )
}

/// The network layers to search: `only` (which must be a public utility layer
/// of lines), else every public one. Private layers are not disclosed, as in tiles.
pub fn network_layers(
    snapshot: &Snapshot,
    only: Option<&LayerCode>,
) -> Result<Vec<Arc<LayerIndex>>> {
    match only {
        Some(code) => {
            let layer = snapshot
                .get(code)
                .filter(|l| l.layer().spec.public)
                .ok_or_else(|| ConstraintsError::UnknownLayer(code.to_string()))?;
            if !is_network(layer) {
                return Err(ConstraintsError::NotNetworkLayer {
                    code: code.to_string(),
                    kind: layer.layer().spec.kind,
                    geometry_type: layer.layer().spec.geometry_type,
                });
            }
            Ok(vec![layer.clone()])
        }
        None => Ok(snapshot
            .values()
            .filter(|l| l.layer().spec.public && is_network(l))
            .cloned()
            .collect()),
    }
}

/// For each of `layers`, its line nearest to `from`, nearest first. Layers
/// without lines are left out.
pub fn nearest(
    prepared: &Prepared,
    layers: &[Arc<LayerIndex>],
    from: &NearestFrom<'_>,
    metric: &Metric,
) -> Result<Vec<NearestLine>> {
    let (centre, shape) = match from {
        NearestFrom::Point(c) => {
            super::plot::check_lonlat(*c)?;
            (
                *c,
                Shape::Point(Point::from(metric.coord(*c).map_err(crs)?)),
            )
        }
        NearestFrom::Plot(plot) => {
            let projected = plot
                .geometry
                .iter()
                .map(|p| metric.polygon(p))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(crs)?;
            (
                plot.bbox.center(),
                Shape::Plot {
                    lonlat: &plot.geometry,
                    metric: MultiPolygon::new(projected),
                },
            )
        }
    };
    let mut out = Vec::new();
    for layer in layers {
        let network = prepared.networks.get(layer, NetworkLayer::build);
        let radius_scaled = match from {
            NearestFrom::Point(_) => 0.0,
            // Half the box's diagonal, in this layer's scaled degrees, reaches every vertex.
            NearestFrom::Plot(plot) => {
                (plot.bbox.width() * network.lon_scale).hypot(plot.bbox.height()) / 2.0
            }
        };
        let query = Query {
            centre,
            radius_scaled,
            shape: &shape,
        };
        if let Some((feature, metres)) = network.nearest(&query, metric)? {
            out.push(NearestLine {
                layer: LayerRef::of(layer),
                department: layer.layer().spec.department.clone(),
                feature_id: feature.id,
                distance_m: super::round_dp(metres, 3),
                feature,
            });
        }
    }
    out.sort_by(|a, b| {
        a.distance_m
            .total_cmp(&b.distance_m)
            .then_with(|| a.layer.code.cmp(&b.layer.code))
    });
    Ok(out)
}
