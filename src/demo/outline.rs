//! The city outline: Kazan's seven districts (`data/kazan_districts.geojson`),
//! and [`Region`], the two questions the grid asks of every area it must respect
//! (the city, each district, the rivers): does a cell's rectangle touch the
//! boundary, and is a point inside.

use geo::orient::{Direction, Orient};
use geo::{BoundingRect, Intersects, Validation};
use geo_types::{Geometry, Line, MultiPolygon, Point, Rect};
use rstar::{RTree, AABB};

use super::DemoError;
use crate::crs::Transformer;

/// The real district outlines, EPSG:4326 lon/lat (see `data/SOURCES.md`).
const DISTRICTS_GEOJSON: &str = include_str!("../../data/kazan_districts.geojson");

/// One of the city's administrative districts.
pub(super) struct District {
    /// Cyrillic name from the source property `district` ("Вахитовский район").
    pub name: String,
    /// The outline as in the source file, EPSG:4326 lon/lat degrees.
    pub lonlat: MultiPolygon<f64>,
    /// The outline in EPSG:32639, metres.
    pub metric: MultiPolygon<f64>,
}

/// Parses the embedded outlines, in file order (that order gives the district numbers).
pub(super) fn districts(to_metric: &Transformer) -> Result<Vec<District>, DemoError> {
    let bad = |reason: String| DemoError::Outline(reason);
    let geojson: geojson::GeoJson = DISTRICTS_GEOJSON.parse().map_err(|e| bad(format!("{e}")))?;
    let geojson::GeoJson::FeatureCollection(collection) = geojson else {
        return Err(bad("not a FeatureCollection".into()));
    };
    let mut out = Vec::with_capacity(collection.features.len());
    for (n, feature) in collection.features.into_iter().enumerate() {
        let name = feature
            .property("district")
            .and_then(|v| v.as_str())
            .ok_or_else(|| bad(format!("feature {n} has no string property 'district'")))?
            .to_owned();
        let geometry = feature
            .geometry
            .ok_or_else(|| bad(format!("district {name} has no geometry")))?;
        let geometry = Geometry::<f64>::try_from(geometry)
            .map_err(|e| bad(format!("district {name}: {e}")))?;
        let lonlat = match geometry {
            Geometry::Polygon(p) => MultiPolygon(vec![p]),
            Geometry::MultiPolygon(mp) => mp,
            other => {
                return Err(bad(format!(
                    "district {name} is a {}, not a polygon",
                    crate::store::geometry_name(&other)
                )))
            }
        };
        // The layer stores the outlines as they are, so they must already be valid.
        if !lonlat.is_valid() {
            return Err(bad(format!("district {name} is not a valid polygon")));
        }
        let metric = match to_metric.geometry(&Geometry::MultiPolygon(lonlat.clone()))? {
            Geometry::MultiPolygon(mp) => mp.orient(Direction::Default),
            _ => unreachable!("a coordinate transform keeps the geometry type"),
        };
        out.push(District {
            name,
            lonlat,
            metric,
        });
    }
    if out.is_empty() {
        return Err(bad("no districts".into()));
    }
    Ok(out)
}

/// A polygonal area in EPSG:32639 metres, prepared for many rectangle and point
/// tests: its boundary edges in an R-tree, and a horizontal scan line
/// ([`Region::crossings`]) that answers "inside?" for a whole grid row at once.
pub(super) struct Region {
    edges: RTree<Line<f64>>,
    /// Bounding box of the boundary (metres); `None` for an empty region.
    bounds: Option<Rect<f64>>,
}

impl Region {
    pub fn new(area: &MultiPolygon<f64>) -> Self {
        let edges: Vec<Line<f64>> = area
            .0
            .iter()
            .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
            .flat_map(geo_types::LineString::lines)
            .filter(|l| l.start != l.end)
            .collect();
        Self {
            bounds: area.bounding_rect(),
            edges: RTree::bulk_load(edges),
        }
    }

    /// The x (metres) where the horizontal line at `y_m` crosses the boundary,
    /// sorted; a point on that line is inside when an odd number of crossings lie
    /// left of it (see [`inside`]). Half-open on y so a vertex is counted once.
    pub fn crossings(&self, y_m: f64) -> Vec<f64> {
        let Some(bounds) = self.bounds else {
            return Vec::new();
        };
        let band = AABB::from_corners(
            Point::new(bounds.min().x, y_m),
            Point::new(bounds.max().x, y_m),
        );
        let mut xs: Vec<f64> = self
            .edges
            .locate_in_envelope_intersecting(&band)
            .filter(|l| (l.start.y <= y_m) != (l.end.y <= y_m))
            .map(|l| l.start.x + (y_m - l.start.y) * (l.end.x - l.start.x) / (l.end.y - l.start.y))
            .collect();
        xs.sort_by(f64::total_cmp);
        xs
    }

    /// Whether the boundary touches the closed rectangle (metres).
    pub fn touches(&self, rect: Rect<f64>) -> bool {
        let env = AABB::from_corners(Point::from(rect.min()), Point::from(rect.max()));
        self.edges
            .locate_in_envelope_intersecting(&env)
            .any(|l| l.intersects(&rect))
    }

    /// The bounding box of the area (metres), `None` for an empty region.
    pub fn bounds(&self) -> Option<Rect<f64>> {
        self.bounds
    }
}

/// Whether `x_m` lies inside, given the sorted [`Region::crossings`] of its row.
pub(super) fn inside(crossings: &[f64], x_m: f64) -> bool {
    crossings.partition_point(|&c| c < x_m) % 2 == 1
}
