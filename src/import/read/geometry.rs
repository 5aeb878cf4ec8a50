//! Geometries that come through geozero (WKB of GeoPackage, WKT of CSV,
//! FlatGeobuf) as 2D geo-types, with a note for what 2D cannot hold.
//!
//! Coordinates stay in the file's CRS and units: nothing is reprojected here.

use geo_types::Geometry;
use geozero::error::{GeozeroError, Result as GeozeroResult};
use geozero::geo_types::GeoWriter;
use geozero::{CoordDimensions, GeomProcessor};

/// Note: a coordinate had a Z value, which 2D storage drops.
pub(crate) const NOTE_Z: &str = "3D coordinates kept as 2D (Z dropped)";
/// Note: a coordinate had a measure (M), which is dropped.
pub(crate) const NOTE_M: &str = "measures (M) dropped";
/// Note: geo-types has no empty point, so `POINT EMPTY` becomes an empty MultiPoint.
pub(crate) const NOTE_EMPTY_POINT: &str =
    "POINT EMPTY given as an empty MultiPoint (geo-types has no empty point)";
/// Note: an empty member of a MultiPoint has no 2D form and is left out.
const NOTE_EMPTY_MEMBER: &str = "an empty point inside a MultiPoint left out";

/// The most elements a geometry's header may make us reserve room for: the
/// count comes from the file, and a damaged count must not allocate gigabytes
/// (the vectors still grow to the real size as coordinates arrive).
const MAX_RESERVE: usize = 4096;

/// Runs a geozero reader (`GpkgWkb(..).process_geom(p)`, `Wkt(..)`, a
/// FlatGeobuf feature) into a 2D geo-types geometry and the notes on what was
/// dropped. Curves, triangles, TINs and polyhedral surfaces are refused: this
/// importer does not linearise arcs (an error, per feature, that names the
/// way out: `ogr2ogr -nlt CONVERT_TO_LINEAR`).
pub(crate) fn read_2d(
    process: impl FnOnce(&mut Flat2d) -> GeozeroResult<()>,
) -> Result<(Geometry<f64>, Vec<String>), String> {
    let mut flat = Flat2d::default();
    process(&mut flat).map_err(|e| match e {
        GeozeroError::Geometry(text) => text,
        GeozeroError::GeometryFormat => "the geometry's binary form is damaged".to_owned(),
        other => other.to_string(),
    })?;
    flat.finish()
}

/// A geozero [`GeomProcessor`] that writes geo-types through geozero's own
/// [`GeoWriter`], asking for every dimension so that it can tell which were
/// there, and keeping x and y only.
#[derive(Default)]
pub(crate) struct Flat2d {
    inner: GeoWriter,
    /// Some coordinate carried a Z.
    z: bool,
    /// Some coordinate carried an M.
    m: bool,
    /// A `POINT EMPTY` was given as an empty MultiPoint.
    empty_point: bool,
    /// An empty member of a MultiPoint was left out.
    empty_member: bool,
    /// Inside a MultiPoint, where an empty member cannot be written.
    in_multipoint: bool,
}

impl Flat2d {
    fn finish(mut self) -> Result<(Geometry<f64>, Vec<String>), String> {
        let geometry = self
            .inner
            .take_geometry()
            .ok_or_else(|| "the geometry holds nothing".to_owned())?;
        let notes = [
            (self.z, NOTE_Z),
            (self.m, NOTE_M),
            (self.empty_point, NOTE_EMPTY_POINT),
            (self.empty_member, NOTE_EMPTY_MEMBER),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, note)| note.to_owned())
        .collect();
        Ok((geometry, notes))
    }
}

fn unsupported(kind: &str) -> GeozeroResult<()> {
    Err(GeozeroError::Geometry(format!(
        "{kind} geometries are not supported: convert them to linear ones first \
         (ogr2ogr -nlt CONVERT_TO_LINEAR)"
    )))
}

impl GeomProcessor for Flat2d {
    fn dimensions(&self) -> CoordDimensions {
        CoordDimensions::xyzm()
    }

    fn xy(&mut self, x: f64, y: f64, idx: usize) -> GeozeroResult<()> {
        self.inner.xy(x, y, idx)
    }

    fn coordinate(
        &mut self,
        x: f64,
        y: f64,
        z: Option<f64>,
        m: Option<f64>,
        _t: Option<f64>,
        _tm: Option<u64>,
        idx: usize,
    ) -> GeozeroResult<()> {
        self.z |= z.is_some();
        self.m |= m.is_some();
        self.inner.xy(x, y, idx)
    }

    fn empty_point(&mut self, idx: usize) -> GeozeroResult<()> {
        if self.in_multipoint {
            self.empty_member = true;
            return Ok(());
        }
        self.empty_point = true;
        self.inner.multipoint_begin(0, idx)?;
        self.inner.multipoint_end(idx)
    }

    fn point_begin(&mut self, idx: usize) -> GeozeroResult<()> {
        self.inner.point_begin(idx)
    }

    fn point_end(&mut self, idx: usize) -> GeozeroResult<()> {
        self.inner.point_end(idx)
    }

    fn multipoint_begin(&mut self, size: usize, idx: usize) -> GeozeroResult<()> {
        self.in_multipoint = true;
        self.inner.multipoint_begin(size.min(MAX_RESERVE), idx)
    }

    fn multipoint_end(&mut self, idx: usize) -> GeozeroResult<()> {
        self.in_multipoint = false;
        self.inner.multipoint_end(idx)
    }

    fn linestring_begin(&mut self, tagged: bool, size: usize, idx: usize) -> GeozeroResult<()> {
        self.inner
            .linestring_begin(tagged, size.min(MAX_RESERVE), idx)
    }

    fn linestring_end(&mut self, tagged: bool, idx: usize) -> GeozeroResult<()> {
        self.inner.linestring_end(tagged, idx)
    }

    fn multilinestring_begin(&mut self, size: usize, idx: usize) -> GeozeroResult<()> {
        self.inner.multilinestring_begin(size.min(MAX_RESERVE), idx)
    }

    fn multilinestring_end(&mut self, idx: usize) -> GeozeroResult<()> {
        self.inner.multilinestring_end(idx)
    }

    fn polygon_begin(&mut self, tagged: bool, size: usize, idx: usize) -> GeozeroResult<()> {
        self.inner.polygon_begin(tagged, size.min(MAX_RESERVE), idx)
    }

    fn polygon_end(&mut self, tagged: bool, idx: usize) -> GeozeroResult<()> {
        self.inner.polygon_end(tagged, idx)
    }

    fn multipolygon_begin(&mut self, size: usize, idx: usize) -> GeozeroResult<()> {
        self.inner.multipolygon_begin(size.min(MAX_RESERVE), idx)
    }

    fn multipolygon_end(&mut self, idx: usize) -> GeozeroResult<()> {
        self.inner.multipolygon_end(idx)
    }

    fn geometrycollection_begin(&mut self, size: usize, idx: usize) -> GeozeroResult<()> {
        self.inner
            .geometrycollection_begin(size.min(MAX_RESERVE), idx)
    }

    fn geometrycollection_end(&mut self, idx: usize) -> GeozeroResult<()> {
        self.inner.geometrycollection_end(idx)
    }

    fn circularstring_begin(&mut self, _size: usize, _idx: usize) -> GeozeroResult<()> {
        unsupported("curved (CircularString)")
    }

    fn compoundcurve_begin(&mut self, _size: usize, _idx: usize) -> GeozeroResult<()> {
        unsupported("curved (CompoundCurve)")
    }

    fn curvepolygon_begin(&mut self, _size: usize, _idx: usize) -> GeozeroResult<()> {
        unsupported("curved (CurvePolygon)")
    }

    fn multicurve_begin(&mut self, _size: usize, _idx: usize) -> GeozeroResult<()> {
        unsupported("curved (MultiCurve)")
    }

    fn multisurface_begin(&mut self, _size: usize, _idx: usize) -> GeozeroResult<()> {
        unsupported("curved (MultiSurface)")
    }

    fn triangle_begin(&mut self, _tagged: bool, _size: usize, _idx: usize) -> GeozeroResult<()> {
        unsupported("Triangle")
    }

    fn polyhedralsurface_begin(&mut self, _size: usize, _idx: usize) -> GeozeroResult<()> {
        unsupported("PolyhedralSurface")
    }

    fn tin_begin(&mut self, _size: usize, _idx: usize) -> GeozeroResult<()> {
        unsupported("TIN")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo_types::{point, MultiPoint};
    use geozero::wkb::GpkgWkb;
    use geozero::wkt::Wkt;
    use geozero::GeozeroGeometry;

    fn wkt(text: &str) -> Result<(Geometry<f64>, Vec<String>), String> {
        read_2d(|p| Wkt(text).process_geom(p))
    }

    #[test]
    fn z_and_m_are_dropped_with_notes() {
        let (g, notes) = wkt("POINT Z (1 2 3)").unwrap();
        assert_eq!(g, point!(x: 1.0, y: 2.0).into());
        assert_eq!(notes, [NOTE_Z]);
        let (_, notes) = wkt("LINESTRING ZM (1 2 3 4, 5 6 7 8)").unwrap();
        assert_eq!(notes, [NOTE_Z, NOTE_M]);
        let (_, notes) = wkt("POLYGON ((0 0, 1 0, 1 1, 0 0))").unwrap();
        assert!(notes.is_empty());
    }

    #[test]
    fn empty_point_becomes_an_empty_multipoint() {
        let (g, notes) = wkt("POINT EMPTY").unwrap();
        assert_eq!(g, MultiPoint::<f64>::new(vec![]).into());
        assert_eq!(notes, [NOTE_EMPTY_POINT]);
        // In WKB an empty point is NaN, NaN (GeoPackage spec, §2.1.3.1.1).
        let mut blob = b"GP\0\x01\xe6\x10\0\0".to_vec();
        blob.extend_from_slice(&[1, 1, 0, 0, 0]);
        blob.extend_from_slice(&f64::NAN.to_le_bytes());
        blob.extend_from_slice(&f64::NAN.to_le_bytes());
        let (g, _) = read_2d(|p| GpkgWkb(&blob).process_geom(p)).unwrap();
        assert_eq!(g, MultiPoint::<f64>::new(vec![]).into());
    }

    #[test]
    fn curves_are_refused_with_the_way_out() {
        // A CircularString (WKB type 8) of three points, in a GeoPackage blob.
        let mut blob = b"GP\0\x01\xe6\x10\0\0".to_vec();
        blob.extend_from_slice(&[1, 8, 0, 0, 0, 3, 0, 0, 0]);
        for v in [0.0f64, 0.0, 1.0, 1.0, 2.0, 0.0] {
            blob.extend_from_slice(&v.to_le_bytes());
        }
        let e = read_2d(|p| GpkgWkb(&blob).process_geom(p)).unwrap_err();
        assert!(
            e.contains("CircularString") && e.contains("CONVERT_TO_LINEAR"),
            "{e}"
        );
    }

    #[test]
    fn damaged_wkb_is_an_error_not_a_panic() {
        // A MultiPolygon claiming 4 billion polygons, then nothing.
        let mut blob = b"GP\0\x01\xe6\x10\0\0".to_vec();
        blob.extend_from_slice(&[1, 6, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        assert!(read_2d(|p| GpkgWkb(&blob).process_geom(p)).is_err());
        assert!(read_2d(|p| GpkgWkb(b"GP").process_geom(p)).is_err());
    }
}
