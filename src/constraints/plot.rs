//! The plot a question is asked about: a stored parcel, or an area an applicant
//! drew, checked and measured once (EPSG:4326 lon/lat degrees in, m² out).

use geo::{BoundingRect, CoordsIter, Validation};
use geo_types::{Coord, Geometry, LineString, MultiPolygon, Polygon, Rect};
use serde::Serialize;

use super::metric::Metric;
use super::{ConstraintsError, Result};
use crate::model::{Cadastral, Feature, FeatureId, LayerCode};

/// What an applicant-drawn plot may be, from the config.
#[derive(Debug, Clone, Copy)]
pub struct PlotLimits {
    /// Largest area accepted, m² in the metric CRS (config `max_plot_area_m2`).
    pub max_area_m2: f64,
    /// Most vertices accepted: OGC validity is checked pairwise over the edges,
    /// so this bounds the work one request can ask for.
    pub max_vertices: usize,
}

/// Vertices of a drawn plot, all rings together: a surveyed plot has tens, a
/// traced one hundreds. geo's validity check compares pairs of edges, so the
/// limit bounds one request's work: a 1 000-vertex plot takes about 30 ms
/// (validity and all its overlaps, demo city of 300 000 plots), off the async workers.
pub const MAX_PLOT_VERTICES: usize = 1_000;

/// A plot, checked: polygons in EPSG:4326 lon/lat degrees, with its area in
/// the metric CRS and where it came from.
#[derive(Debug, Clone)]
pub struct Plot {
    /// The plot's polygons, EPSG:4326 lon/lat degrees.
    pub(crate) geometry: MultiPolygon<f64>,
    /// Its bounding box, EPSG:4326 lon/lat degrees: the R-tree query.
    pub(crate) bbox: Rect<f64>,
    /// What the answer says about the plot.
    pub(crate) summary: PlotSummary,
}

/// The plot as the answer describes it.
#[derive(Debug, Clone, Serialize)]
pub struct PlotSummary {
    /// Planar area in the metric CRS, m² (as PostGIS `ST_Area(ST_Transform(…))`).
    pub area_m2: f64,
    /// `[west, south, east, north]`, EPSG:4326 lon/lat degrees.
    pub bbox: [f64; 4],
    /// The cadastral number, for a stored parcel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cadastral: Option<Cadastral>,
    /// The stored parcel: its layer, version and id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parcel: Option<ParcelRef>,
    /// Why the plot's geometry was taken with care (a stored parcel that is not
    /// OGC-valid is measured as it is, by the even-odd rule).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Which stored parcel a plot is.
#[derive(Debug, Clone, Serialize)]
pub struct ParcelRef {
    pub layer: LayerCode,
    pub version: i64,
    pub feature_id: FeatureId,
}

impl Plot {
    /// An applicant-drawn area: a GeoJSON Polygon or MultiPolygon in EPSG:4326
    /// lon/lat degrees, refused unless every ring is closed, the whole is
    /// OGC-valid (no self-intersection, holes inside their shell), and it is not
    /// larger than `limits` allow.
    pub fn drawn(
        geometry: &geojson::Geometry,
        limits: PlotLimits,
        metric: &Metric,
    ) -> Result<Self> {
        let polygons = match &geometry.value {
            geojson::Value::Polygon(rings) => vec![polygon(rings, None)?],
            geojson::Value::MultiPolygon(polygons) => polygons
                .iter()
                .enumerate()
                .map(|(i, rings)| polygon(rings, Some(i)))
                .collect::<Result<_>>()?,
            other => {
                return Err(ConstraintsError::NotAPolygon(format!(
                    "a {} was given",
                    other.type_name()
                )))
            }
        };
        let geometry = MultiPolygon::new(polygons);
        if geometry.0.is_empty() {
            return Err(ConstraintsError::InvalidGeometry(
                "the MultiPolygon has no polygons".into(),
            ));
        }
        let vertices = geometry.coords_count();
        if vertices > limits.max_vertices {
            return Err(ConstraintsError::TooManyVertices {
                vertices,
                limit: limits.max_vertices,
            });
        }
        for c in geometry.coords_iter() {
            check_lonlat(c)?;
        }
        if let Err(e) = geometry.check_validation() {
            return Err(ConstraintsError::InvalidGeometry(e.to_string()));
        }
        let plot = Self::measured(geometry, metric, None)?;
        if plot.summary.area_m2 > limits.max_area_m2 {
            return Err(ConstraintsError::PlotTooLarge {
                area_m2: plot.summary.area_m2,
                limit_m2: limits.max_area_m2,
            });
        }
        Ok(plot)
    }

    /// A stored parcel. It is the city's own data, so it is neither limited in
    /// size nor refused when invalid; an invalid one is measured as it is and
    /// the answer says so.
    pub fn parcel(
        layer: &LayerCode,
        version: i64,
        feature: &Feature,
        metric: &Metric,
    ) -> Result<Self> {
        let geometry = match &feature.geometry {
            Geometry::Polygon(p) => MultiPolygon::new(vec![p.clone()]),
            Geometry::MultiPolygon(mp) => mp.clone(),
            other => {
                return Err(ConstraintsError::NotAPolygon(format!(
                    "parcel {} of layer '{layer}' is a {}",
                    feature.id,
                    geometry_name(other)
                )))
            }
        };
        let note = geometry.check_validation().err().map(|e| {
            format!(
                "the parcel's geometry is not valid ({e}); it is measured as stored, \
                 and its overlaps by the even-odd rule"
            )
        });
        let mut plot = Self::measured(geometry, metric, note)?;
        plot.summary.cadastral = feature.cadastral.clone();
        plot.summary.parcel = Some(ParcelRef {
            layer: layer.clone(),
            version,
            feature_id: feature.id,
        });
        Ok(plot)
    }

    fn measured(
        geometry: MultiPolygon<f64>,
        metric: &Metric,
        note: Option<String>,
    ) -> Result<Self> {
        let bbox = geometry.bounding_rect().ok_or_else(|| {
            ConstraintsError::InvalidGeometry("the polygon has no coordinates".into())
        })?;
        let area_m2 = metric
            .multi_polygon_area_m2(&geometry)
            .map_err(|e| ConstraintsError::OutsideMetricCrs(e.to_string()))?;
        if area_m2 <= 0.0 || !area_m2.is_finite() {
            return Err(ConstraintsError::InvalidGeometry(
                "the polygon has no area".into(),
            ));
        }
        Ok(Self {
            geometry,
            bbox,
            summary: PlotSummary {
                area_m2,
                bbox: [bbox.min().x, bbox.min().y, bbox.max().x, bbox.max().y],
                cadastral: None,
                parcel: None,
                note,
            },
        })
    }

    /// The plot's polygons, EPSG:4326 lon/lat degrees.
    pub fn geometry(&self) -> &MultiPolygon<f64> {
        &self.geometry
    }

    /// Planar area in the metric CRS, m².
    pub fn area_m2(&self) -> f64 {
        self.summary.area_m2
    }

    pub fn summary(&self) -> &PlotSummary {
        &self.summary
    }
}

/// One GeoJSON polygon (its rings of `[lon, lat]` positions) as a geo polygon.
/// Closure is checked here because geo closes rings silently.
fn polygon(rings: &[Vec<Vec<f64>>], part: Option<usize>) -> Result<Polygon<f64>> {
    let at = |ring: usize| {
        let role = if ring == 0 {
            "the exterior ring".to_owned()
        } else {
            format!("interior ring {ring}")
        };
        match part {
            Some(p) => format!("{role} of polygon {p}"),
            None => role,
        }
    };
    if rings.is_empty() {
        return Err(ConstraintsError::InvalidGeometry(match part {
            Some(p) => format!("polygon {p} has no rings"),
            None => "the polygon has no rings".into(),
        }));
    }
    let mut out = Vec::with_capacity(rings.len());
    for (i, ring) in rings.iter().enumerate() {
        if ring.len() < 4 {
            return Err(ConstraintsError::InvalidGeometry(format!(
                "{} has {} positions; a ring needs at least 4, the last equal to the first",
                at(i),
                ring.len()
            )));
        }
        let coords: Vec<Coord<f64>> = ring
            .iter()
            .map(|p| match p.as_slice() {
                [x, y, ..] => Ok(Coord { x: *x, y: *y }),
                _ => Err(ConstraintsError::InvalidGeometry(format!(
                    "{} has a position with fewer than two numbers",
                    at(i)
                ))),
            })
            .collect::<Result<_>>()?;
        if coords.first() != coords.last() {
            return Err(ConstraintsError::InvalidGeometry(format!(
                "{} is not closed: its last position must equal its first",
                at(i)
            )));
        }
        out.push(LineString::new(coords));
    }
    let exterior = out.remove(0);
    Ok(Polygon::new(exterior, out))
}

/// A position must be finite lon/lat degrees (EPSG:4326, longitude first).
pub(crate) fn check_lonlat(c: Coord<f64>) -> Result<()> {
    if c.x.is_finite()
        && c.y.is_finite()
        && (-180.0..=180.0).contains(&c.x)
        && (-90.0..=90.0).contains(&c.y)
    {
        Ok(())
    } else {
        Err(ConstraintsError::InvalidGeometry(format!(
            "({}, {}) is not a longitude/latitude position in degrees (EPSG:4326, longitude first)",
            c.x, c.y
        )))
    }
}

fn geometry_name(g: &Geometry<f64>) -> &'static str {
    match g {
        Geometry::Point(_) => "Point",
        Geometry::Line(_) => "Line",
        Geometry::LineString(_) => "LineString",
        Geometry::Polygon(_) => "Polygon",
        Geometry::MultiPoint(_) => "MultiPoint",
        Geometry::MultiLineString(_) => "MultiLineString",
        Geometry::MultiPolygon(_) => "MultiPolygon",
        Geometry::GeometryCollection(_) => "GeometryCollection",
        Geometry::Rect(_) => "Rect",
        Geometry::Triangle(_) => "Triangle",
    }
}
