//! Metres from lon/lat: EPSG:4326 lon/lat degrees projected to the city's
//! metric CRS (config `metric_srs`; the demo city and Kazan: EPSG:32639), where
//! areas are planar m² and distances planar metres, as PostGIS computes
//! `ST_Area(ST_Transform(g, srid))` and `ST_Distance(ST_Transform(…), …)`.
//!
//! `proj::Proj` must not be shared between threads and takes about a
//! millisecond to create, so each thread keeps its own transformer per CRS,
//! made on first use and reused for every later request on that thread.

use std::cell::RefCell;
use std::rc::Rc;

use geo::MapCoords;
use geo_types::{Coord, LineString, MultiPolygon, Polygon};

use crate::crs::{CrsError, Transformer};

thread_local! {
    /// This thread's transformers, EPSG:4326 → metric CRS, by CRS name. A
    /// server has one metric CRS; tests may use a few.
    static TO_METRIC: RefCell<Vec<(String, Rc<Transformer>)>> = const { RefCell::new(Vec::new()) };
}

/// Projection of EPSG:4326 lon/lat degrees to one metric CRS (metres), for use
/// on the current thread.
pub struct Metric {
    transformer: Rc<Transformer>,
    srs: String,
}

impl Metric {
    /// The current thread's transformer to `srs` (`EPSG:n`, WKT, PROJ string).
    pub fn new(srs: &str) -> Result<Self, CrsError> {
        TO_METRIC.with(|cell| {
            let mut cache = cell.borrow_mut();
            let transformer = match cache.iter().find(|(s, _)| s == srs) {
                Some((_, t)) => t.clone(),
                None => {
                    let t = Rc::new(Transformer::to_metric(srs)?);
                    cache.push((srs.to_owned(), t.clone()));
                    t
                }
            };
            Ok(Self {
                transformer,
                srs: srs.to_owned(),
            })
        })
    }

    /// The metric CRS, as configured.
    pub fn srs(&self) -> &str {
        &self.srs
    }

    /// One position: lon/lat degrees → metres.
    pub fn coord(&self, c: Coord<f64>) -> Result<Coord<f64>, CrsError> {
        self.transformer.coord(c)
    }

    pub fn line_string(&self, l: &LineString<f64>) -> Result<LineString<f64>, CrsError> {
        l.try_map_coords(|c| self.coord(c))
    }

    pub fn polygon(&self, p: &Polygon<f64>) -> Result<Polygon<f64>, CrsError> {
        p.try_map_coords(|c| self.coord(c))
    }

    /// Planar area in m² of a polygon given in lon/lat: its vertices projected,
    /// straight edges between them (shoelace), holes subtracted.
    pub fn polygon_area_m2(&self, p: &Polygon<f64>) -> Result<f64, CrsError> {
        let mut area = self.ring_area_m2(p.exterior())?;
        for hole in p.interiors() {
            area -= self.ring_area_m2(hole)?;
        }
        Ok(area)
    }

    pub fn multi_polygon_area_m2(&self, mp: &MultiPolygon<f64>) -> Result<f64, CrsError> {
        mp.iter().map(|p| self.polygon_area_m2(p)).sum()
    }

    /// Unsigned shoelace area of a closed ring, m², projecting each vertex once.
    fn ring_area_m2(&self, ring: &LineString<f64>) -> Result<f64, CrsError> {
        let mut coords = ring.0.iter();
        let Some(&first) = coords.next() else {
            return Ok(0.0);
        };
        // Relative to the first vertex: UTM northings are millions of metres,
        // and cross products of such numbers would lose the square metres.
        let origin = self.coord(first)?;
        let mut previous = Coord { x: 0.0, y: 0.0 };
        let mut twice = 0.0;
        for &c in coords {
            let p = self.coord(c)? - origin;
            twice += previous.x * p.y - p.x * previous.y;
            previous = p;
        }
        Ok(twice.abs() / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::Area;

    #[test]
    fn areas_are_planar_square_metres_of_the_projected_polygon() {
        let m = Metric::new(crate::crs::KAZAN_METRIC_SRS).unwrap();
        // About 63 m × 111 m near the Kremlin, with a hole.
        let p = Polygon::new(
            LineString::from(vec![
                (49.1, 55.79),
                (49.101, 55.79),
                (49.101, 55.791),
                (49.1, 55.791),
                (49.1, 55.79),
            ]),
            vec![LineString::from(vec![
                (49.1002, 55.7902),
                (49.1002, 55.7904),
                (49.1004, 55.7904),
                (49.1004, 55.7902),
                (49.1002, 55.7902),
            ])],
        );
        let expected = m.polygon(&p).unwrap().unsigned_area();
        let got = m.polygon_area_m2(&p).unwrap();
        assert!((got - expected).abs() < 1e-6, "{got} vs {expected}");
        assert!((6_500.0..7_000.0).contains(&got), "{got}");
    }
}
