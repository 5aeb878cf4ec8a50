//! Feature rows in PostgreSQL's binary `COPY` format, the fastest way into a
//! table: no SQL text for the server to parse, no round trip per row, and
//! geometries as EWKB, which PostGIS's `geometry_recv` takes as it is.
//!
//! The data of one `COPY … FROM STDIN (FORMAT binary)` is [`HEADER`], rows
//! ([`encode_rows`]), then [`TRAILER`]; all integers are big-endian
//! (<https://www.postgresql.org/docs/15/sql-copy.html>, "Binary Format").
//! Geometries are EPSG:4326, lon/lat degrees, XY.

use geo_types::{Coord, Geometry, LineString, Polygon};

use crate::model::{FeatureId, LayerCode, NewFeature};
use crate::store::{Result, StoreError};

/// The columns of every row, in the order [`encode_rows`] writes them.
pub(super) const COLUMNS: &str = "(id, layer_id, geom, cadastral, properties)";

/// The signature, then flags 0 (no OIDs) and a header extension of length 0.
pub(super) const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// A field count of -1 ends the data.
pub(super) const TRAILER: &[u8] = &[0xff, 0xff];

/// The SRID written into every geometry: the column is `geometry(Geometry, 4326)`,
/// which refuses any other.
const SRID: u32 = 4326;

/// The largest field PostgreSQL takes (1 GB).
const MAX_FIELD: usize = (1 << 30) - 1;

/// Appends one row per feature to `out`: `ids[i]`, `layer_id`, the geometry
/// as EWKB with SRID 4326, the cadastral number (or NULL), and the properties
/// as `jsonb` (version byte 1, then the JSON text). `first_index` is the
/// import-wide index of `features[0]`, for errors.
pub(super) fn encode_rows(
    (layer_id, code): (i32, &LayerCode),
    first_index: usize,
    features: &[NewFeature],
    ids: &[FeatureId],
    out: &mut Vec<u8>,
) -> Result<()> {
    debug_assert_eq!(features.len(), ids.len(), "one id per feature");
    for (i, (f, id)) in features.iter().zip(ids).enumerate() {
        let too_big = |what: &str| StoreError::Encode {
            layer: code.clone(),
            index: first_index + i,
            reason: format!("its {what} is larger than PostgreSQL's 1 GB limit for one value"),
        };
        out.extend_from_slice(&5_i16.to_be_bytes());
        out.extend_from_slice(&8_i32.to_be_bytes());
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&4_i32.to_be_bytes());
        out.extend_from_slice(&layer_id.to_be_bytes());
        field(out, |out| write_ewkb(&f.geometry, Some(SRID), out))
            .ok_or_else(|| too_big("geometry"))?;
        match &f.cadastral {
            Some(c) => field(out, |out| out.extend_from_slice(c.as_str().as_bytes()))
                .ok_or_else(|| too_big("cadastral number"))?,
            None => out.extend_from_slice(&(-1_i32).to_be_bytes()),
        }
        field(out, |out| {
            // jsonb's binary input: format version 1, then the JSON text.
            out.push(1);
            serde_json::to_writer(&mut *out, &f.properties)
                .expect("a map with string keys always serializes to JSON");
        })
        .ok_or_else(|| too_big("properties"))?;
    }
    Ok(())
}

/// Appends a field: its length, then what `write` appends. `None` when the
/// field is too large for PostgreSQL.
fn field(out: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) -> Option<()> {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    write(out);
    let len = out.len() - at - 4;
    if len > MAX_FIELD {
        return None;
    }
    let len = i32::try_from(len).ok()?;
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
    Some(())
}

/// WKB geometry type codes (OGC simple features), and the EWKB flag saying an
/// SRID follows the type.
mod wkb_type {
    pub const POINT: u32 = 1;
    pub const LINESTRING: u32 = 2;
    pub const POLYGON: u32 = 3;
    pub const MULTIPOINT: u32 = 4;
    pub const MULTILINESTRING: u32 = 5;
    pub const MULTIPOLYGON: u32 = 6;
    pub const GEOMETRYCOLLECTION: u32 = 7;
    pub const SRID_FLAG: u32 = 0x2000_0000;
}

/// Appends `g` as little-endian EWKB, XY, with `srid` on the outer geometry
/// only (as PostGIS writes it). The same bytes as geozero's
/// `to_ewkb(CoordDimensions::xy(), Some(srid))`, written directly: this runs
/// for every feature of an import, and geozero's event interface costs a call
/// per coordinate.
pub(super) fn write_ewkb(g: &Geometry<f64>, srid: Option<u32>, out: &mut Vec<u8>) {
    use wkb_type as t;
    let header = |out: &mut Vec<u8>, kind: u32| {
        out.push(1); // little endian
        match srid {
            Some(srid) => {
                out.extend_from_slice(&(kind | t::SRID_FLAG).to_le_bytes());
                out.extend_from_slice(&srid.to_le_bytes());
            }
            None => out.extend_from_slice(&kind.to_le_bytes()),
        }
    };
    match g {
        Geometry::Point(p) => {
            header(out, t::POINT);
            coord(out, p.0);
        }
        Geometry::Line(l) => {
            header(out, t::LINESTRING);
            count(out, 2);
            coord(out, l.start);
            coord(out, l.end);
        }
        Geometry::LineString(ls) => {
            header(out, t::LINESTRING);
            ring(out, ls);
        }
        Geometry::Polygon(p) => {
            header(out, t::POLYGON);
            rings(out, p);
        }
        Geometry::Rect(r) => {
            header(out, t::POLYGON);
            rings(out, &r.to_polygon());
        }
        Geometry::Triangle(tr) => {
            header(out, t::POLYGON);
            rings(out, &tr.to_polygon());
        }
        Geometry::MultiPoint(mp) => {
            header(out, t::MULTIPOINT);
            count(out, mp.0.len());
            for p in &mp.0 {
                write_ewkb(&Geometry::Point(*p), None, out);
            }
        }
        Geometry::MultiLineString(ml) => {
            header(out, t::MULTILINESTRING);
            count(out, ml.0.len());
            for ls in &ml.0 {
                out.push(1);
                out.extend_from_slice(&t::LINESTRING.to_le_bytes());
                ring(out, ls);
            }
        }
        Geometry::MultiPolygon(mp) => {
            header(out, t::MULTIPOLYGON);
            count(out, mp.0.len());
            for p in &mp.0 {
                out.push(1);
                out.extend_from_slice(&t::POLYGON.to_le_bytes());
                rings(out, p);
            }
        }
        Geometry::GeometryCollection(gc) => {
            header(out, t::GEOMETRYCOLLECTION);
            count(out, gc.0.len());
            for g in &gc.0 {
                write_ewkb(g, None, out);
            }
        }
    }
}

fn count(out: &mut Vec<u8>, n: usize) {
    let n = u32::try_from(n).expect("a geometry has fewer than 2^32 parts or points");
    out.extend_from_slice(&n.to_le_bytes());
}

fn coord(out: &mut Vec<u8>, c: Coord<f64>) {
    out.extend_from_slice(&c.x.to_le_bytes());
    out.extend_from_slice(&c.y.to_le_bytes());
}

/// A point count, then the points (a line string, or one ring of a polygon).
fn ring(out: &mut Vec<u8>, ls: &LineString<f64>) {
    count(out, ls.0.len());
    out.reserve(ls.0.len() * 16);
    for c in &ls.0 {
        coord(out, *c);
    }
}

/// A ring count, then the rings; an empty polygon (empty exterior, no holes)
/// has no rings, as in PostGIS.
fn rings(out: &mut Vec<u8>, p: &Polygon<f64>) {
    if p.exterior().0.is_empty() && p.interiors().is_empty() {
        count(out, 0);
        return;
    }
    count(out, 1 + p.interiors().len());
    ring(out, p.exterior());
    for hole in p.interiors() {
        ring(out, hole);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::props;
    use geo_types::{
        line_string, point, polygon, GeometryCollection, MultiLineString, MultiPoint, MultiPolygon,
    };
    use geozero::{CoordDimensions, ToWkb};

    fn samples() -> Vec<Geometry<f64>> {
        let ring = polygon![(x: 49.1, y: 55.7), (x: 49.2, y: 55.7), (x: 49.2, y: 55.8), (x: 49.1, y: 55.8)];
        let holed = Polygon::new(
            ring.exterior().clone(),
            vec![
                line_string![(x: 49.12, y: 55.72), (x: 49.13, y: 55.72), (x: 49.13, y: 55.73), (x: 49.12, y: 55.72)],
            ],
        );
        vec![
            point!(x: 49.106_414_312_345_67, y: -55.796_289_098_765_43).into(),
            line_string![(x: 1.0, y: 2.0), (x: 3.0, y: 4.0), (x: 5.5, y: 6.5)].into(),
            ring.clone().into(),
            holed.clone().into(),
            MultiPoint(vec![point!(x: 1.0, y: 2.0), point!(x: 3.0, y: 4.0)]).into(),
            MultiLineString(vec![line_string![(x: 1.0, y: 2.0), (x: 3.0, y: 4.0)]]).into(),
            MultiPolygon(vec![ring.clone(), holed]).into(),
            Geometry::GeometryCollection(GeometryCollection(vec![
                point!(x: 1.0, y: 2.0).into(),
                MultiPolygon(vec![ring]).into(),
                Geometry::GeometryCollection(GeometryCollection(vec![
                    line_string![(x: 0.0, y: 0.0), (x: 1.0, y: 1.0)].into(),
                ])),
            ])),
        ]
    }

    #[test]
    fn ewkb_equals_geozero() {
        for g in samples() {
            let mut ours = Vec::new();
            write_ewkb(&g, Some(4326), &mut ours);
            let theirs = g.to_ewkb(CoordDimensions::xy(), Some(4326)).unwrap();
            assert_eq!(ours, theirs, "{g:?}");
            let mut plain = Vec::new();
            write_ewkb(&g, None, &mut plain);
            assert_eq!(plain, g.to_wkb(CoordDimensions::xy()).unwrap(), "{g:?}");
        }
    }

    #[test]
    fn rows_have_the_binary_copy_layout() {
        let code: LayerCode = "t".parse().unwrap();
        let f = NewFeature::new(point!(x: 1.0, y: 2.0).into(), props([("a", 1.into())]))
            .with_cadastral("16:50:000001:7".parse().unwrap());
        let g = NewFeature::new(point!(x: 3.0, y: 4.0).into(), props([]));
        let mut out = Vec::new();
        encode_rows((7, &code), 0, &[f, g], &[41, 42], &mut out).unwrap();

        let mut at = 0;
        let mut take = |n: usize| {
            let s = &out[at..at + n];
            at += n;
            s.to_vec()
        };
        let i32_of = |b: Vec<u8>| i32::from_be_bytes(b.try_into().unwrap());
        let len_of = |b: Vec<u8>| usize::try_from(i32_of(b)).unwrap();
        // Row 1.
        assert_eq!(take(2), 5_i16.to_be_bytes());
        assert_eq!(i32_of(take(4)), 8);
        assert_eq!(take(8), 41_i64.to_be_bytes());
        assert_eq!(i32_of(take(4)), 4);
        assert_eq!(take(4), 7_i32.to_be_bytes());
        let n = len_of(take(4));
        let mut point = Vec::new();
        write_ewkb(&point!(x: 1.0, y: 2.0).into(), Some(4326), &mut point);
        assert_eq!(take(n), point);
        let n = len_of(take(4));
        assert_eq!(take(n), b"16:50:000001:7");
        let n = len_of(take(4));
        assert_eq!(take(n), b"\x01{\"a\":1}");
        // Row 2: no number, empty properties.
        assert_eq!(take(2), 5_i16.to_be_bytes());
        take(4 + 8 + 4 + 4);
        let n = len_of(take(4));
        take(n);
        assert_eq!(i32_of(take(4)), -1, "NULL cadastral number");
        let n = len_of(take(4));
        assert_eq!(take(n), b"\x01{}");
        assert_eq!(at, out.len());
    }
}
