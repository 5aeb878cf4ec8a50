//! Coordinate reference systems: a thin wrapper over PROJ (the `proj` crate,
//! PROJ built from source by `bundled_proj`).
//!
//! Storage is EPSG:4326 in lon/lat order; metres are computed in the city's
//! metric CRS (config `metric_srs`, Kazan and the demo city: EPSG:32639, UTM 39N).

use std::cell::RefCell;
use std::rc::Rc;

use geo::MapCoords;
use geo_types::{Coord, Geometry};

/// EPSG:4326 with lon/lat axis order: how every geometry is stored.
pub const STORAGE_SRS: &str = "EPSG:4326";

/// The demo city's and Kazan's metric CRS: UTM zone 39N, metres.
pub const KAZAN_METRIC_SRS: &str = "EPSG:32639";

#[derive(Debug, thiserror::Error)]
pub enum CrsError {
    #[error("unknown or unusable CRS '{srs}': {reason}")]
    Unknown { srs: String, reason: String },
    #[error("cannot transform coordinate ({x}, {y}) from {from} to {to}: {reason}")]
    Transform {
        from: String,
        to: String,
        x: f64,
        y: f64,
        reason: String,
    },
}

/// A transformation between two CRSs, with traditional GIS axis order on both
/// sides (x = easting or longitude, y = northing or latitude), whatever the
/// CRS definitions say.
///
/// `proj::Proj` holds a PROJ context that must not be shared between threads,
/// so a `Transformer` is made where it is used and not kept in shared state.
pub struct Transformer {
    proj: proj::Proj,
    from: String,
    to: String,
}

impl Transformer {
    /// `from` and `to` are anything PROJ knows: `EPSG:n`, WKT, a PROJ string.
    pub fn new(from: &str, to: &str) -> Result<Self, CrsError> {
        let proj = proj::Proj::new_known_crs(from, to, None).map_err(|e| CrsError::Unknown {
            srs: format!("{from} → {to}"),
            reason: e.to_string(),
        })?;
        Ok(Self {
            proj,
            from: from.to_owned(),
            to: to.to_owned(),
        })
    }

    /// Storage lon/lat (EPSG:4326, degrees) → `metric` (metres).
    pub fn to_metric(metric: &str) -> Result<Self, CrsError> {
        Self::new(STORAGE_SRS, metric)
    }

    /// `metric` (metres) → storage lon/lat (EPSG:4326, degrees).
    pub fn from_metric(metric: &str) -> Result<Self, CrsError> {
        Self::new(metric, STORAGE_SRS)
    }

    pub fn coord(&self, c: Coord<f64>) -> Result<Coord<f64>, CrsError> {
        let (x, y) = self
            .proj
            .convert((c.x, c.y))
            .map_err(|e| self.error(c, e))?;
        if !x.is_finite() || !y.is_finite() {
            return Err(self.error(c, "result is not finite"));
        }
        Ok(Coord { x, y })
    }

    pub fn geometry(&self, g: &Geometry<f64>) -> Result<Geometry<f64>, CrsError> {
        g.try_map_coords(|c| self.coord(c))
    }

    fn error(&self, c: Coord<f64>, reason: impl ToString) -> CrsError {
        CrsError::Transform {
            from: self.from.clone(),
            to: self.to.clone(),
            x: c.x,
            y: c.y,
            reason: reason.to_string(),
        }
    }
}

/// Transformers kept per thread by [`with_transformer`].
const MAX_CACHED: usize = 16;

/// Transformers by (from CRS, to CRS).
type TransformerCache = Vec<((String, String), Rc<Transformer>)>;

thread_local! {
    /// This thread's transformers by (from, to): a PROJ context must not be
    /// shared between threads and takes about a millisecond to make.
    static TRANSFORMERS: RefCell<TransformerCache> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's transformer from `from` to `to`, made on first
/// use and kept (at most [`MAX_CACHED`] per thread, the oldest dropped first).
pub fn with_transformer<T>(
    from: &str,
    to: &str,
    f: impl FnOnce(&Transformer) -> Result<T, CrsError>,
) -> Result<T, CrsError> {
    let t = TRANSFORMERS.with(|cell| {
        let mut cache = cell.borrow_mut();
        if let Some((_, t)) = cache.iter().find(|((a, b), _)| a == from && b == to) {
            return Ok(t.clone());
        }
        let t = Rc::new(Transformer::new(from, to)?);
        if cache.len() >= MAX_CACHED {
            // An import may name any WKT: the cache must not grow with them.
            cache.remove(0);
        }
        cache.push(((from.to_owned(), to.to_owned()), t.clone()));
        Ok::<_, CrsError>(t)
    })?;
    f(&t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kazan_kremlin_round_trips_through_utm_39n() {
        // The Kazan Kremlin, lon/lat degrees.
        let kremlin = Coord {
            x: 49.1056,
            y: 55.7989,
        };
        let utm = Transformer::to_metric(KAZAN_METRIC_SRS)
            .unwrap()
            .coord(kremlin)
            .unwrap();
        // UTM 39N: central meridian 51°E, so Kazan lies west of it (easting < 500 km).
        assert!((370_000.0..390_000.0).contains(&utm.x), "{utm:?}");
        assert!((6_180_000.0..6_190_000.0).contains(&utm.y), "{utm:?}");
        let back = Transformer::from_metric(KAZAN_METRIC_SRS)
            .unwrap()
            .coord(utm)
            .unwrap();
        assert!((back.x - kremlin.x).abs() < 1e-9 && (back.y - kremlin.y).abs() < 1e-9);
    }

    #[test]
    fn unknown_crs_is_a_clear_error() {
        let e = Transformer::new("EPSG:999999", STORAGE_SRS)
            .err()
            .expect("must fail");
        assert!(e.to_string().contains("EPSG:999999"), "{e}");
    }
}
