//! Coordinate reference systems: a thin wrapper over PROJ (the `proj` crate,
//! PROJ built from source by `bundled_proj`).
//!
//! Storage is EPSG:4326 in lon/lat order; metres are computed in the city's
//! metric CRS (config `metric_srs`, Kazan and the demo city: EPSG:32639, UTM 39N).

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
