//! OGC API – Features Part 2 (CRS by reference): the CRSs items can be asked
//! in (`crs`) and boxes given in (`bbox-crs`), named by their OGC URIs.
//!
//! Storage is CRS84 (EPSG:4326 in lon/lat order). On top of it: EPSG:4326 in
//! its own axis order (latitude first, as Part 2 asks for that URI), Web
//! Mercator EPSG:3857 (metres), and the city's metric CRS (config
//! `metric_srs`, Kazan: EPSG:32639, metres).

use geo::MapCoords;
use geo_types::{Coord, Geometry, LineString, Polygon};

use crate::crs::{with_transformer, CrsError, STORAGE_SRS};

pub const CRS84_URI: &str = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";
const EPSG_PREFIX: &str = "http://www.opengis.net/def/crs/EPSG/0/";

/// A CRS imgis offers for features.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeatureCrs {
    /// Longitude, latitude in degrees: storage, and GeoJSON's default.
    Crs84,
    /// Latitude, longitude in degrees (EPSG:4326's own axis order).
    Epsg4326,
    /// A projected CRS in metres, easting then northing: `EPSG:n`.
    Projected(String),
}

impl FeatureCrs {
    /// Every CRS offered, given the city's metric CRS (`EPSG:n`; another form
    /// of `metric_srs`, a WKT or PROJ string, has no URI and is not offered).
    #[must_use]
    pub fn offered(metric_srs: &str) -> Vec<FeatureCrs> {
        let mut all = vec![
            Self::Crs84,
            Self::Epsg4326,
            Self::Projected("EPSG:3857".into()),
        ];
        if let Some(code) = epsg_code(metric_srs) {
            if code != "3857" && code != "4326" {
                all.push(Self::Projected(format!("EPSG:{code}")));
            }
        }
        all
    }

    /// The CRS a URI names, if offered.
    #[must_use]
    pub fn from_uri(uri: &str, metric_srs: &str) -> Option<Self> {
        let uri = uri.trim();
        let wanted = if uri == CRS84_URI || uri == "[OGC:CRS84]" {
            Self::Crs84
        } else {
            let code = uri
                .strip_prefix(EPSG_PREFIX)
                .or_else(|| uri.strip_prefix("[EPSG:").and_then(|c| c.strip_suffix(']')))?;
            if code == "4326" {
                Self::Epsg4326
            } else {
                Self::Projected(format!("EPSG:{code}"))
            }
        };
        Self::offered(metric_srs).into_iter().find(|c| *c == wanted)
    }

    #[must_use]
    pub fn uri(&self) -> String {
        match self {
            Self::Crs84 => CRS84_URI.to_owned(),
            Self::Epsg4326 => format!("{EPSG_PREFIX}4326"),
            Self::Projected(srs) => format!(
                "{EPSG_PREFIX}{}",
                epsg_code(srs).expect("projected CRSs offered are EPSG codes")
            ),
        }
    }

    /// Whether coordinates are degrees (and must lie within ±180/±90).
    #[must_use]
    pub fn is_geographic(&self) -> bool {
        matches!(self, Self::Crs84 | Self::Epsg4326)
    }

    /// A stored geometry (CRS84) in this CRS.
    ///
    /// # Errors
    /// A position PROJ cannot transform (far outside the CRS's area).
    pub fn from_storage(&self, g: &Geometry<f64>) -> Result<Geometry<f64>, CrsError> {
        match self {
            Self::Crs84 => Ok(g.clone()),
            Self::Epsg4326 => Ok(g.map_coords(|c| Coord { x: c.y, y: c.x })),
            Self::Projected(srs) => with_transformer(STORAGE_SRS, srs, |t| t.geometry(g)),
        }
    }

    /// A box `[x1, y1, x2, y2]` in this CRS's axis order, as an area in CRS84.
    /// A projected box's edges are curves in lon/lat: each is followed at
    /// several points so that the area keeps its shape.
    ///
    /// # Errors
    /// A corner PROJ cannot transform.
    pub fn box_to_storage(&self, b: [f64; 4]) -> Result<Polygon<f64>, CrsError> {
        let [x1, y1, x2, y2] = b;
        let ring = |points: Vec<Coord<f64>>| Polygon::new(LineString::from(points), vec![]);
        match self {
            Self::Crs84 => Ok(ring(corners(x1, y1, x2, y2, 1))),
            // Latitude first: x1,y1 are the south-west corner's lat, lon.
            Self::Epsg4326 => Ok(ring(corners(y1, x1, y2, x2, 1))),
            Self::Projected(srs) => with_transformer(srs, STORAGE_SRS, |t| {
                let points = corners(x1, y1, x2, y2, EDGE_STEPS)
                    .into_iter()
                    .map(|c| t.coord(c))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(ring(points))
            }),
        }
    }
}

/// Points per edge when a projected box is brought to lon/lat.
const EDGE_STEPS: usize = 16;

/// A closed ring around the box, `steps` points per edge, counter-clockwise.
fn corners(x1: f64, y1: f64, x2: f64, y2: f64, steps: usize) -> Vec<Coord<f64>> {
    let mut out = Vec::with_capacity(4 * steps + 1);
    let lerp = |a: f64, b: f64, k: usize| a + (b - a) * k as f64 / steps as f64;
    for k in 0..steps {
        out.push(Coord {
            x: lerp(x1, x2, k),
            y: y1,
        });
    }
    for k in 0..steps {
        out.push(Coord {
            x: x2,
            y: lerp(y1, y2, k),
        });
    }
    for k in 0..steps {
        out.push(Coord {
            x: lerp(x2, x1, k),
            y: y2,
        });
    }
    for k in 0..steps {
        out.push(Coord {
            x: x1,
            y: lerp(y2, y1, k),
        });
    }
    out.push(Coord { x: x1, y: y1 });
    out
}

/// The digits of `EPSG:n` (any case), if it is one.
fn epsg_code(srs: &str) -> Option<&str> {
    let (authority, code) = srs.trim().split_once(':')?;
    (authority.eq_ignore_ascii_case("EPSG")
        && !code.is_empty()
        && code.bytes().all(|b| b.is_ascii_digit()))
    .then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo_types::Point;

    #[test]
    fn uris_name_the_offered_crss_only() {
        let m = "EPSG:32639";
        assert_eq!(FeatureCrs::from_uri(CRS84_URI, m), Some(FeatureCrs::Crs84));
        assert_eq!(
            FeatureCrs::from_uri("http://www.opengis.net/def/crs/EPSG/0/4326", m),
            Some(FeatureCrs::Epsg4326)
        );
        let utm = FeatureCrs::from_uri("http://www.opengis.net/def/crs/EPSG/0/32639", m).unwrap();
        assert_eq!(utm.uri(), "http://www.opengis.net/def/crs/EPSG/0/32639");
        assert_eq!(
            FeatureCrs::from_uri("http://www.opengis.net/def/crs/EPSG/0/2264", m),
            None
        );
        assert_eq!(FeatureCrs::offered(m).len(), 4);
    }

    #[test]
    fn the_kremlin_in_each_crs() {
        // The Kazan Kremlin, lon/lat degrees.
        let p = Geometry::Point(Point::new(49.1056, 55.7990));
        let swapped = FeatureCrs::Epsg4326.from_storage(&p).unwrap();
        assert_eq!(swapped, Geometry::Point(Point::new(55.7990, 49.1056)));
        let Geometry::Point(m) = FeatureCrs::Projected("EPSG:3857".into())
            .from_storage(&p)
            .unwrap()
        else {
            panic!()
        };
        // Spherical Mercator: x = R·λ, R = 6 378 137 m.
        assert!((m.x() - 6_378_137.0 * 49.1056_f64.to_radians()).abs() < 0.01);
        // A box around it in UTM 39N comes back around it in lon/lat.
        let Geometry::Point(u) = FeatureCrs::Projected("EPSG:32639".into())
            .from_storage(&p)
            .unwrap()
        else {
            panic!()
        };
        let area = FeatureCrs::Projected("EPSG:32639".into())
            .box_to_storage([u.x() - 100.0, u.y() - 100.0, u.x() + 100.0, u.y() + 100.0])
            .unwrap();
        use geo::Contains;
        assert!(area.contains(&Point::new(49.1056, 55.7990)));
        assert!(
            !area.contains(&Point::new(49.1056, 55.8010)),
            "about 220 m north is outside"
        );
    }
}
