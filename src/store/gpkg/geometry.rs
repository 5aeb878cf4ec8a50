//! Geometries in the GeoPackage binary format (spec §2.1.3, "GeoPackageBinary"):
//! `GP`, version 0, a flags byte, the srs_id, an envelope, then ISO WKB.
//!
//! All coordinates here are EPSG:4326, longitude/latitude degrees, XY only.

use geo::BoundingRect;
use geo_types::{Geometry, Rect};
use geozero::wkb::GpkgWkb;
use geozero::{CoordDimensions, ToGeo, ToWkb};

/// The srs_id every imgis geometry carries: EPSG:4326, registered in
/// `gpkg_spatial_ref_sys` by the first migration.
pub(crate) const SRS_ID: i32 = 4326;

/// Encodes a geometry as a GeoPackage blob with an XY envelope, and returns that
/// envelope too (the layer extent is their union). `None` for an empty geometry,
/// which has no envelope (`check_features` refuses those before we get here).
///
/// geozero writes the standard header when given an envelope (flags: little
/// endian, envelope indicator 1 = `[min_x, max_x, min_y, max_y]`); without one
/// the header would say "no envelope" and readers would have to parse every blob
/// to filter by extent.
pub(crate) fn encode(geometry: &Geometry<f64>) -> Option<(Vec<u8>, Bounds)> {
    let rect = geometry.bounding_rect()?;
    let envelope = vec![rect.min().x, rect.max().x, rect.min().y, rect.max().y];
    let blob = geometry
        .to_gpkg_wkb(CoordDimensions::xy(), Some(SRS_ID), envelope)
        // geozero's WKB writer fails only when its output fails (ours is a Vec)
        // or for MySQL SRIDs; a geo-types geometry always has a WKB form.
        .expect("writing WKB into memory cannot fail");
    Some((blob, Bounds::from_rect(rect)))
}

/// A blob for a geometry kept outside feature tables (an application's plot):
/// as [`encode`] gives it, and for an empty geometry a blob without envelope
/// instead of none, so storing never fails on emptiness.
pub(crate) fn encode_any(geometry: &Geometry<f64>) -> Vec<u8> {
    match encode(geometry) {
        Some((blob, _)) => blob,
        None => geometry
            .to_gpkg_wkb(CoordDimensions::xy(), Some(SRS_ID), Vec::new())
            .expect("writing WKB into memory cannot fail"),
    }
}

/// Decodes a GeoPackage blob (any envelope kind, either byte order).
pub(crate) fn decode(blob: &[u8]) -> Result<Geometry<f64>, String> {
    GpkgWkb(blob).to_geo().map_err(|e| e.to_string())
}

/// A layer's extent in EPSG:4326 degrees, as `gpkg_contents` keeps it
/// (min_x, min_y, max_x, max_y).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bounds {
    pub min_x: f64,
    pub min_y: f64,
    pub max_x: f64,
    pub max_y: f64,
}

impl Bounds {
    fn from_rect(r: Rect<f64>) -> Self {
        Self {
            min_x: r.min().x,
            min_y: r.min().y,
            max_x: r.max().x,
            max_y: r.max().y,
        }
    }

    /// The smallest box holding both (`None` is the extent of nothing).
    pub fn union(a: Option<Self>, b: Option<Self>) -> Option<Self> {
        match (a, b) {
            (Some(a), Some(b)) => Some(Self {
                min_x: a.min_x.min(b.min_x),
                min_y: a.min_y.min(b.min_y),
                max_x: a.max_x.max(b.max_x),
                max_y: a.max_y.max(b.max_y),
            }),
            (one, None) | (None, one) => one,
        }
    }

    /// The extent of some geometries; `None` when there are none.
    #[cfg(test)]
    pub fn of<'a>(geometries: impl IntoIterator<Item = &'a Geometry<f64>>) -> Option<Self> {
        geometries
            .into_iter()
            .filter_map(|g| g.bounding_rect().map(Self::from_rect))
            .fold(None, |acc, b| Self::union(acc, Some(b)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo_types::{line_string, point, polygon, GeometryCollection};

    #[test]
    fn blob_has_a_standard_header_with_envelope() {
        let g: Geometry<f64> =
            polygon![(x: 49.0, y: 55.5), (x: 49.5, y: 55.5), (x: 49.5, y: 56.0)].into();
        let (blob, bounds) = encode(&g).unwrap();
        assert_eq!((bounds.min_x, bounds.max_y), (49.0, 56.0));
        assert_eq!(&blob[..3], b"GP\0", "magic and version 0");
        // Flags: little endian (bit 0) and envelope indicator 1 (bits 1-3).
        assert_eq!(blob[3], 0b0000_0011);
        assert_eq!(i32::from_le_bytes(blob[4..8].try_into().unwrap()), 4326);
        let env: Vec<f64> = blob[8..40]
            .chunks(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(env, [49.0, 49.5, 55.5, 56.0], "min_x, max_x, min_y, max_y");
        // Then ISO WKB: little endian, type 3 (Polygon).
        assert_eq!(blob[40], 1);
        assert_eq!(u32::from_le_bytes(blob[41..45].try_into().unwrap()), 3);
        assert_eq!(decode(&blob).unwrap(), g);
    }

    #[test]
    fn every_kind_round_trips_exactly() {
        let kinds: Vec<Geometry<f64>> = vec![
            point!(x: 49.106_414_3, y: 55.796_289_1).into(),
            line_string![(x: 0.1, y: 0.2), (x: 1e-9, y: -179.999_999_999)].into(),
            Geometry::GeometryCollection(GeometryCollection::new_from(vec![
                point!(x: 1.0, y: 2.0).into(),
                line_string![(x: 0.0, y: 0.0), (x: 1.0, y: 1.0)].into(),
            ])),
        ];
        for g in kinds {
            assert_eq!(decode(&encode(&g).unwrap().0).unwrap(), g);
        }
    }

    #[test]
    fn empty_geometries_have_no_blob() {
        let empty: Geometry<f64> = geo_types::MultiPolygon::<f64>::new(vec![]).into();
        assert!(encode(&empty).is_none());
    }

    #[test]
    fn empty_geometries_have_a_blob_outside_feature_tables() {
        let empty: Geometry<f64> = geo_types::MultiPolygon::<f64>::new(vec![]).into();
        let blob = encode_any(&empty);
        assert_eq!(blob[3] & 0b0000_1110, 0, "envelope indicator 0: none");
        assert_eq!(decode(&blob).unwrap(), empty);
        let square: Geometry<f64> = geo_types::MultiPolygon::new(vec![
            polygon![(x: 49.0, y: 55.5), (x: 49.5, y: 55.5), (x: 49.5, y: 56.0)],
        ])
        .into();
        assert_eq!(encode_any(&square), encode(&square).unwrap().0);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode(b"").is_err());
        assert!(decode(b"XX\0\x01\0\0\0\0").is_err());
        assert!(
            decode(b"GP\0\x0f\0\0\0\0").is_err(),
            "envelope indicator 7 is invalid"
        );
    }

    #[test]
    fn bounds_union() {
        let a: Geometry<f64> = point!(x: 1.0, y: 5.0).into();
        let b: Geometry<f64> = line_string![(x: -1.0, y: 2.0), (x: 0.0, y: 3.0)].into();
        let all = Bounds::of([&a, &b]).unwrap();
        assert_eq!(
            all,
            Bounds {
                min_x: -1.0,
                min_y: 2.0,
                max_x: 1.0,
                max_y: 5.0
            }
        );
        assert_eq!(Bounds::of([]), None);
        assert_eq!(Bounds::union(None, Some(all)), Some(all));
    }
}
