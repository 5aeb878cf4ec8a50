//! ESRI Shapefiles: `.shp` geometries (parsed per record by the `shapefile`
//! crate), `.dbf` attributes ([`super::dbf`]), the CRS from `.prj` (its ESRI
//! WKT as written: PROJ reads it), the text encoding from `.cpg`; also a
//! `.zip` holding one set ([`super::zip`]).
//!
//! Records are read in file order, one at a time: the record header gives
//! the length, the content is read whole and parsed, so a damaged shape is
//! an error for that feature while the framing holds. A `.shp` shorter than
//! its header says is refused at open (truncated); a record running past the
//! end stops the stream.
//!
//! The DBF encoding, in order: the `.cpg`; else the language driver id in
//! the DBF header when it names one code page; else UTF-8 if the whole
//! table is valid UTF-8 (checked in one streaming pass at open), else
//! Windows-1251 (CP1251), with a note in [`SourceInfo::notes`].
//!
//! Polygons: outer rings are clockwise, holes counter-clockwise (the
//! `shapefile` crate tells them apart); each hole goes to the outer ring that
//! contains it (the smallest, if several do), so a hole written after another
//! part is not misplaced; one outer ring makes a Polygon, more a MultiPolygon.
//! Z is dropped with a note; M too when any measure is set. MultiPatch (3D
//! surfaces) is an error per feature. DBF records marked deleted are
//! skipped with their shapes.

use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use geo::{Area, BoundingRect, Contains};
use geo_types::Polygon;
use geo_types::{Coord, Geometry, LineString, MultiLineString, MultiPoint, MultiPolygon, Point};
use shapefile::{PolygonRing, ReadableShape, Shape, NO_DATA};
use tempfile::TempDir;

use super::dbf::{cpg_encoding, is_utf8, ldid_encoding, Dbf, Header};
use super::geometry::{NOTE_M, NOTE_Z};
use super::{file_layer, zip};
use crate::import::SourceInfo;
use crate::import::{FeatureSource, Format, ReadError, ReadOptions, Result, SourceFeature};

/// The fixed header of `.shp` and `.shx` files.
const HEADER: u64 = 100;

/// Opens a `.shp` (or its `.dbf`/`.shx`), or a `.zip` holding one set.
pub(crate) fn open(path: &Path, options: &ReadOptions) -> Result<ShapefileSource> {
    if is_zip(path)? {
        let unpacked = zip::unpack(path, options.source_layer.as_deref())?;
        let shown = path.join(&unpacked.entry);
        let mut source = ShapefileSource::open_files(&unpacked.shp, &shown)?;
        source.info.layer = Some(unpacked.layer);
        source.unpacked = Some(unpacked.dir);
        return Ok(source);
    }
    let shp = sibling(path, "shp").unwrap_or_else(|| path.to_owned());
    ShapefileSource::open_files(&shp, path)
}

/// The Shapefiles in a zip, or the one a `.shp` is.
pub(crate) fn list_layers(path: &Path) -> Result<Vec<String>> {
    if is_zip(path)? {
        zip::layers(path)
    } else {
        Ok(file_layer(path).into_iter().collect())
    }
}

fn is_zip(path: &Path) -> Result<bool> {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"))
    {
        return Ok(true);
    }
    let mut magic = [0u8; 2];
    let n = File::open(path)
        .and_then(|mut f| f.read(&mut magic))
        .map_err(ReadError::io(path))?;
    Ok(n == 2 && &magic == b"PK")
}

/// The file beside `path` with extension `ext` (as given, or upper case).
fn sibling(path: &Path, ext: &str) -> Option<PathBuf> {
    [ext.to_owned(), ext.to_ascii_uppercase()]
        .into_iter()
        .map(|e| path.with_extension(e))
        .find(|p| p.is_file())
}

pub(crate) struct ShapefileSource {
    /// The path given (for a zip: the zip, then the entry), for messages.
    path: PathBuf,
    info: SourceInfo,
    shp: BufReader<File>,
    /// Where the records end: the header's file length, checked at open.
    shp_end: u64,
    /// Position in the `.shp`.
    pos: u64,
    dbf: Dbf<BufReader<File>>,
    /// Index of the next record.
    index: u64,
    content: Vec<u8>,
    done: bool,
    /// The folder a zip was unpacked into, removed on drop.
    unpacked: Option<TempDir>,
}

impl ShapefileSource {
    /// `shp` is the file to read, `shown` the path for messages.
    fn open_files(shp_path: &Path, shown: &Path) -> Result<Self> {
        let invalid = |reason: String| ReadError::invalid(shown, Format::Shapefile, reason);
        let file = File::open(shp_path).map_err(ReadError::io(shown))?;
        let actual = file.metadata().map_err(ReadError::io(shown))?.len();
        let mut shp = BufReader::with_capacity(1 << 16, file);
        let mut header = [0u8; HEADER as usize];
        shp.read_exact(&mut header)
            .map_err(|_| invalid("the .shp is shorter than its 100-byte header".into()))?;
        let code = i32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        let words = i32::from_be_bytes([header[24], header[25], header[26], header[27]]);
        let version = i32::from_le_bytes([header[28], header[29], header[30], header[31]]);
        if code != 9994 || version != 1000 {
            return Err(invalid(format!(
                "not a .shp file (file code {code}, version {version}; expected 9994 and 1000)"
            )));
        }
        let declared = u64::try_from(words).unwrap_or(0) * 2;
        if declared > actual {
            return Err(invalid(format!(
                "the .shp header says {declared} bytes but the file has {actual}: truncated?"
            )));
        }

        let dbf_path = sibling(shp_path, "dbf").ok_or_else(|| {
            invalid("no .dbf beside the .shp: a Shapefile needs its .shp, .shx and .dbf".into())
        })?;
        let mut notes = Vec::new();
        let encoding = dbf_encoding(shp_path, &dbf_path, shown, &mut notes)?;
        let dbf_file = File::open(&dbf_path).map_err(ReadError::io(&dbf_path))?;
        let dbf_len = dbf_file.metadata().map_err(ReadError::io(&dbf_path))?.len();
        let dbf =
            Dbf::open(BufReader::with_capacity(1 << 16, dbf_file), encoding).map_err(invalid)?;

        let shx_count = match sibling(shp_path, "shx") {
            Some(shx) => {
                let len = std::fs::metadata(&shx).map_err(ReadError::io(&shx))?.len();
                Some(len.saturating_sub(HEADER) / 8)
            }
            None => None,
        };
        let records = u64::from(dbf.records);
        if shx_count.is_some_and(|n| n != records) {
            notes.push(format!(
                "the .shx indexes {} shapes but the .dbf has {records} records",
                shx_count.unwrap_or_default()
            ));
        }
        if dbf.expected_len() > dbf_len {
            return Err(invalid(format!(
                "the .dbf declares {records} records ({} bytes) but the file has {dbf_len}: \
                 truncated?",
                dbf.expected_len()
            )));
        }
        let crs = match sibling(shp_path, "prj") {
            Some(prj) => {
                let text = std::fs::read(&prj).map_err(ReadError::io(&prj))?;
                let text = String::from_utf8_lossy(&text);
                let text = text.trim().trim_start_matches('\u{feff}').trim();
                (!text.is_empty()).then(|| super::crs_name(text))
            }
            None => None,
        };
        Ok(Self {
            path: shown.to_owned(),
            info: SourceInfo {
                format: Format::Shapefile,
                layer: file_layer(shown),
                crs,
                count: Some(shx_count.unwrap_or(records)),
                notes,
            },
            shp,
            shp_end: declared,
            pos: HEADER,
            dbf,
            index: 0,
            content: Vec::new(),
            done: false,
            unpacked: None,
        })
    }

    /// The next record of the `.shp` with its DBF record; `Ok(None)` at the end.
    fn next_record(&mut self) -> Result<Option<SourceFeature>> {
        loop {
            let index = self.index;
            if self.pos >= self.shp_end {
                return Ok(None);
            }
            let broken = |reason: String| ReadError::broken(&self.path, index, reason);
            if self.pos + 8 > self.shp_end {
                return Err(broken("the .shp ends inside a record header".into()));
            }
            let mut head = [0u8; 8];
            self.shp
                .read_exact(&mut head)
                .map_err(|e| broken(format!("reading the .shp: {e}")))?;
            let words = i32::from_be_bytes([head[4], head[5], head[6], head[7]]);
            let len = u64::try_from(words).unwrap_or(0) * 2;
            if self.pos + 8 + len > self.shp_end {
                return Err(broken(format!(
                    "the record declares {len} bytes, only {} remain: truncated?",
                    self.shp_end - self.pos - 8
                )));
            }
            self.content.resize(len as usize, 0);
            self.shp
                .read_exact(&mut self.content)
                .map_err(|e| broken(format!("reading the .shp: {e}")))?;
            self.pos += 8 + len;
            self.index += 1;
            let record = self
                .dbf
                .next_record()
                .map_err(|e| broken(format!("the .dbf ends early: {e}")))?;
            let (properties, mut notes) = match record {
                Some(Some(record)) => record,
                // Deleted in the DBF: skipped with its shape.
                Some(None) => continue,
                None => (
                    crate::model::Properties::new(),
                    vec!["no attributes: the .dbf has fewer records than the .shp".to_owned()],
                ),
            };
            let bad = |e: String| ReadError::feature(&self.path, index, format!("bad shape: {e}"));
            let size = i32::try_from(len).map_err(|_| bad("a record over 2 GiB".into()))?;
            check_counts(&self.content).map_err(bad)?;
            let shape = Shape::read_from(&mut Cursor::new(&self.content), size)
                .map_err(|e| bad(e.to_string()))?;
            let geometry = to_geo(shape, &mut notes)
                .map_err(|reason| ReadError::feature(&self.path, index, reason))?;
            return Ok(Some(SourceFeature {
                index,
                geometry,
                properties,
                notes,
            }));
        }
    }
}

impl Iterator for ShapefileSource {
    type Item = Result<SourceFeature>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.next_record();
        super::settle(&mut self.done, next)
    }
}

impl FeatureSource for ShapefileSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }
}

/// The DBF's text encoding; see the module doc for the order.
fn dbf_encoding(
    shp: &Path,
    dbf: &Path,
    shown: &Path,
    notes: &mut Vec<String>,
) -> Result<&'static encoding_rs::Encoding> {
    if let Some(cpg) = sibling(shp, "cpg") {
        let text = std::fs::read(&cpg).map_err(ReadError::io(&cpg))?;
        let label = String::from_utf8_lossy(&text);
        match cpg_encoding(&label) {
            Some(encoding) => return Ok(encoding),
            None => notes.push(format!(
                "the .cpg names an unknown encoding '{}'; guessing",
                label.trim()
            )),
        }
    }
    let mut file = File::open(dbf).map_err(ReadError::io(dbf))?;
    let mut start = [0u8; 32];
    file.read_exact(&mut start).map_err(|_| {
        ReadError::invalid(
            shown,
            Format::Shapefile,
            "the .dbf is shorter than its header",
        )
    })?;
    let header = Header::parse(&start)
        .map_err(|reason| ReadError::invalid(shown, Format::Shapefile, reason))?;
    if let Some(encoding) = ldid_encoding(header.ldid) {
        return Ok(encoding);
    }
    file.seek(SeekFrom::Start(header.header_len as u64))
        .map_err(ReadError::io(dbf))?;
    if is_utf8(BufReader::with_capacity(1 << 16, file)).map_err(ReadError::io(dbf))? {
        Ok(encoding_rs::UTF_8)
    } else {
        notes.push(
            "no .cpg beside the .dbf and its text is not UTF-8: decoded as Windows-1251 \
             (CP1251); add a .cpg naming the encoding if that is wrong"
                .to_owned(),
        );
        Ok(encoding_rs::WINDOWS_1251)
    }
}

/// Refuses a record whose counts or part indices would make the
/// `shapefile` crate reserve more than the record holds: it reserves what
/// the counts say, and for each part the points between its start index and
/// the next (found by fuzzing, `fuzz/`, target `shapefile`: a damaged part
/// count asked for 3.6 GB, a part starting past the last point for 26 GB).
///
/// Each part takes at least 4 bytes (its start index; 8 in a MultiPatch,
/// with its part type), each point 16 (x and y), after 44 fixed bytes (type,
/// box, two counts), or 40 for a multipoint (one count); part starts must
/// be ascending within the points. Short or unknown records are left to the
/// crate's own errors.
fn check_counts(content: &[u8]) -> std::result::Result<(), String> {
    let int = |at: usize| {
        let bytes = content.get(at..at.checked_add(4)?)?;
        Some(i64::from(i32::from_le_bytes(bytes.try_into().ok()?)))
    };
    let (parts, points, fixed, per_part) = match int(0) {
        // Polyline, Polygon and their Z and M forms.
        Some(3 | 5 | 13 | 15 | 23 | 25) => (int(36), int(40), 44, 4),
        Some(31) => (int(36), int(40), 44, 8),
        // Multipoint, Z and M.
        Some(8 | 18 | 28) => (Some(0), int(36), 40, 0),
        _ => return Ok(()),
    };
    let (Some(parts), Some(points)) = (parts, points) else {
        return Ok(());
    };
    let needed = fixed + parts.max(0) * per_part + points.max(0) * 16;
    if needed > i64::try_from(content.len()).unwrap_or(i64::MAX) {
        return Err(format!(
            "the record declares {parts} parts and {points} points, which take at least \
             {needed} bytes, but it has {}",
            content.len()
        ));
    }
    // The counts fit the record, so the part starts are all there.
    let mut previous = 0;
    for at in (0..usize::try_from(parts).unwrap_or(0)).map(|i| 44 + 4 * i) {
        let start = int(at).unwrap_or(0);
        if start < previous || start > points {
            return Err(format!(
                "a part starts at point {start}, outside 0..={points} or before the part \
                 before it ({previous})"
            ));
        }
        previous = start;
    }
    Ok(())
}

/// A shape as 2D geo-types; `None` for a null shape.
fn to_geo(
    shape: Shape,
    notes: &mut Vec<String>,
) -> std::result::Result<Option<Geometry<f64>>, String> {
    let xy = |x: f64, y: f64| Coord { x, y };
    let mut z = false;
    let mut m = false;
    let has_m = |v: f64| v > NO_DATA;
    let geometry: Geometry<f64> = match shape {
        Shape::NullShape => return Ok(None),
        Shape::Point(p) => Point(xy(p.x, p.y)).into(),
        Shape::PointM(p) => {
            m = has_m(p.m);
            Point(xy(p.x, p.y)).into()
        }
        Shape::PointZ(p) => {
            (z, m) = (true, has_m(p.m));
            Point(xy(p.x, p.y)).into()
        }
        Shape::Multipoint(mp) => points(mp.points().iter().map(|p| xy(p.x, p.y))),
        Shape::MultipointM(mp) => {
            m = mp.points().iter().any(|p| has_m(p.m));
            points(mp.points().iter().map(|p| xy(p.x, p.y)))
        }
        Shape::MultipointZ(mp) => {
            (z, m) = (true, mp.points().iter().any(|p| has_m(p.m)));
            points(mp.points().iter().map(|p| xy(p.x, p.y)))
        }
        Shape::Polyline(l) => lines(l.parts().iter().map(|p| p.iter().map(|p| xy(p.x, p.y)))),
        Shape::PolylineM(l) => {
            m = l.parts().iter().flatten().any(|p| has_m(p.m));
            lines(l.parts().iter().map(|p| p.iter().map(|p| xy(p.x, p.y))))
        }
        Shape::PolylineZ(l) => {
            (z, m) = (true, l.parts().iter().flatten().any(|p| has_m(p.m)));
            lines(l.parts().iter().map(|p| p.iter().map(|p| xy(p.x, p.y))))
        }
        Shape::Polygon(p) => polygons(
            p.rings()
                .iter()
                .map(|r| ring(r, |r| r.iter().map(|p| xy(p.x, p.y)).collect())),
            notes,
        ),
        Shape::PolygonM(p) => {
            m = p
                .rings()
                .iter()
                .any(|r| r.points().iter().any(|p| has_m(p.m)));
            polygons(
                p.rings()
                    .iter()
                    .map(|r| ring(r, |r| r.iter().map(|p| xy(p.x, p.y)).collect())),
                notes,
            )
        }
        Shape::PolygonZ(p) => {
            z = true;
            m = p
                .rings()
                .iter()
                .any(|r| r.points().iter().any(|p| has_m(p.m)));
            polygons(
                p.rings()
                    .iter()
                    .map(|r| ring(r, |r| r.iter().map(|p| xy(p.x, p.y)).collect())),
                notes,
            )
        }
        Shape::Multipatch(_) => {
            return Err("a MultiPatch (3D surface) shape is not supported".into());
        }
    };
    if z {
        notes.push(NOTE_Z.to_owned());
    }
    if m {
        notes.push(NOTE_M.to_owned());
    }
    Ok(Some(geometry))
}

fn points(coords: impl Iterator<Item = Coord<f64>>) -> Geometry<f64> {
    MultiPoint::new(coords.map(Point).collect()).into()
}

fn lines<I: Iterator<Item = Coord<f64>>>(parts: impl Iterator<Item = I>) -> Geometry<f64> {
    let mut lines: Vec<LineString<f64>> = parts.map(|p| LineString::new(p.collect())).collect();
    if lines.len() == 1 {
        lines.remove(0).into()
    } else {
        MultiLineString::new(lines).into()
    }
}

/// A ring as (is outer, coordinates).
fn ring<P>(
    r: &PolygonRing<P>,
    coords: impl Fn(&[P]) -> Vec<Coord<f64>>,
) -> (bool, LineString<f64>) {
    match r {
        PolygonRing::Outer(points) => (true, LineString::new(coords(points))),
        PolygonRing::Inner(points) => (false, LineString::new(coords(points))),
    }
}

/// Outer rings and holes into polygons, each hole in the smallest outer ring
/// that contains its first vertex.
fn polygons(
    rings: impl Iterator<Item = (bool, LineString<f64>)>,
    notes: &mut Vec<String>,
) -> Geometry<f64> {
    let mut outers: Vec<(Polygon<f64>, Vec<LineString<f64>>)> = Vec::new();
    let mut holes = Vec::new();
    for (outer, ring) in rings {
        if outer {
            outers.push((Polygon::new(ring, vec![]), Vec::new()));
        } else {
            holes.push((outers.len(), ring));
        }
    }
    if outers.is_empty() {
        // Every ring counter-clockwise: a writer that ignored the rule.
        if !holes.is_empty() {
            notes.push("no clockwise (outer) ring: every ring taken as an outer ring".into());
        }
        let all: Vec<_> = holes
            .into_iter()
            .map(|(_, r)| Polygon::new(r, vec![]))
            .collect();
        return one_or_many(all);
    }
    for (before, hole) in holes {
        let target = if outers.len() == 1 {
            0
        } else {
            let first = hole.0.first().copied();
            outers
                .iter()
                .enumerate()
                .filter(|(_, (p, _))| {
                    first.is_some_and(|c| {
                        p.bounding_rect().is_some_and(|b| b.contains(&c)) && p.contains(&Point(c))
                    })
                })
                .min_by(|a, b| a.1 .0.unsigned_area().total_cmp(&b.1 .0.unsigned_area()))
                .map_or_else(
                    || {
                        notes.push(
                            "a hole outside every outer ring kept with the ring before it".into(),
                        );
                        before.saturating_sub(1)
                    },
                    |(i, _)| i,
                )
        };
        outers[target].1.push(hole);
    }
    let all = outers
        .into_iter()
        .map(|(p, holes)| Polygon::new(p.into_inner().0, holes))
        .collect();
    one_or_many(all)
}

fn one_or_many(mut polygons: Vec<Polygon<f64>>) -> Geometry<f64> {
    if polygons.len() == 1 {
        polygons.remove(0).into()
    } else {
        MultiPolygon::new(polygons).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo_types::{line_string, polygon};

    /// A `.shp` of `records` (contents after the record headers).
    fn shp(shape_type: i32, records: &[Vec<u8>]) -> Vec<u8> {
        let mut body = Vec::new();
        for (i, content) in records.iter().enumerate() {
            let number = i32::try_from(i + 1).unwrap();
            let words = i32::try_from(content.len() / 2).unwrap();
            body.extend(number.to_be_bytes());
            body.extend(words.to_be_bytes());
            body.extend(content);
        }
        let mut file = Vec::new();
        file.extend(9994i32.to_be_bytes());
        file.extend([0u8; 20]);
        file.extend(i32::try_from((100 + body.len()) / 2).unwrap().to_be_bytes());
        file.extend(1000i32.to_le_bytes());
        file.extend(shape_type.to_le_bytes());
        file.extend([0u8; 64]);
        file.extend(body);
        file
    }

    /// A `.dbf` of `n` records with one 4-character text field `ID`.
    fn dbf(n: u32) -> Vec<u8> {
        let mut file = vec![0x03, 124, 1, 1];
        file.extend(n.to_le_bytes());
        file.extend(65u16.to_le_bytes());
        file.extend(5u16.to_le_bytes());
        file.extend([0u8; 20]);
        file.extend(b"ID\0\0\0\0\0\0\0\0\0C\0\0\0\0");
        file.extend([4u8, 0]);
        file.extend([0u8; 14]);
        file.push(0x0d);
        for i in 0..n {
            file.extend(format!(" {:<4}", format!("r{i}")).bytes());
        }
        file.push(0x1a);
        file
    }

    /// Fuzzing (`fuzz/`, target `shapefile`): a PolylineM record of 164
    /// bytes declaring 892,941,600 parts made the `shapefile` crate reserve
    /// 3.6 GB; a multipoint can do the same with its point count, and a
    /// PolylineM whose second part starts past its 4 points made it reserve
    /// the billion points before that start (26 GB). Each is an error for
    /// that feature, and the next feature reads.
    #[test]
    fn counts_larger_than_the_record_are_an_error_not_an_allocation() {
        let mut polyline = 23i32.to_le_bytes().to_vec();
        polyline.extend([0u8; 32]);
        polyline.extend(892_941_600i32.to_le_bytes());
        polyline.extend(53i32.to_le_bytes());
        polyline.resize(164, 0);
        let mut multipoint = 28i32.to_le_bytes().to_vec();
        multipoint.extend([0u8; 32]);
        multipoint.extend(i32::MAX.to_le_bytes());
        multipoint.resize(60, 0);
        // Counts that fit, but a second part starting a billion points on.
        let mut far = 23i32.to_le_bytes().to_vec();
        far.extend([0u8; 32]);
        far.extend(2i32.to_le_bytes());
        far.extend(4i32.to_le_bytes());
        far.extend(0i32.to_le_bytes());
        far.extend(1_072_693_248i32.to_le_bytes());
        far.resize(52 + 4 * 16 + 16 + 4 * 8, 0);
        let mut point = 1i32.to_le_bytes().to_vec();
        point.extend(1.5f64.to_le_bytes());
        point.extend(2.5f64.to_le_bytes());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.shp");
        let records = [polyline, multipoint, far, point];
        std::fs::write(&path, shp(23, &records)).unwrap();
        std::fs::write(dir.path().join("bad.dbf"), dbf(4)).unwrap();
        let read: Vec<_> = open(&path, &ReadOptions::default()).unwrap().collect();
        assert_eq!(read.len(), 4);
        let errors: Vec<String> = read[..3]
            .iter()
            .map(|bad| {
                let e = bad.as_ref().unwrap_err();
                assert!(e.is_skippable(), "{e}");
                e.to_string()
            })
            .collect();
        assert!(errors[0].contains("which take at least"), "{}", errors[0]);
        assert!(errors[1].contains("which take at least"), "{}", errors[1]);
        assert!(
            errors[2].contains("a part starts at point 1072693248"),
            "{}",
            errors[2]
        );
        let point = read[3].as_ref().unwrap();
        assert_eq!(point.geometry, Some(Point::new(1.5, 2.5).into()));
        assert_eq!(point.properties["ID"], "r3");
    }

    #[test]
    fn holes_go_to_the_ring_that_holds_them() {
        let big = line_string![(x: 0., y: 0.), (x: 0., y: 10.), (x: 10., y: 10.), (x: 10., y: 0.), (x: 0., y: 0.)];
        let far = line_string![(x: 20., y: 0.), (x: 20., y: 1.), (x: 21., y: 1.), (x: 21., y: 0.), (x: 20., y: 0.)];
        let hole = line_string![(x: 1., y: 1.), (x: 2., y: 1.), (x: 2., y: 2.), (x: 1., y: 2.), (x: 1., y: 1.)];
        // The hole comes after the far ring, but lies in the big one.
        let mut notes = Vec::new();
        let g = polygons(
            [
                (true, big.clone()),
                (true, far.clone()),
                (false, hole.clone()),
            ]
            .into_iter(),
            &mut notes,
        );
        let Geometry::MultiPolygon(mp) = g else {
            panic!("{g:?}")
        };
        assert_eq!(mp.0[0].interiors(), [hole]);
        assert!(mp.0[1].interiors().is_empty());
        assert!(notes.is_empty());
        let g = polygons([(true, big.clone())].into_iter(), &mut notes);
        assert_eq!(
            g,
            polygon![(x: 0., y: 0.), (x: 0., y: 10.), (x: 10., y: 10.), (x: 10., y: 0.)].into()
        );
    }
}
