//! FlatGeobuf (format version 3) through the `flatgeobuf` crate (6.x, on
//! geozero 0.15 like the rest of the crate), with the checks that keep a
//! damaged file an error rather than a panic or a huge allocation:
//!
//! - the version byte is checked first: version 2 files (FlatGeobuf before
//!   3.0) are refused with their version named (the crate would take them);
//! - the header size, the spatial index size (computed with checked
//!   arithmetic; node size 1 would make the crate panic) and every feature's
//!   size prefix are checked against the file length before the crate reads
//!   (it allocates what the prefix says); a file that ends early stops the
//!   stream with a [`ReadError::Broken`] naming the feature;
//! - each geometry's vectors are checked (coordinate pairs whole, `ends`
//!   ascending and in range, Z/M as long as XY) before geozero walks them,
//!   since the crate indexes them unchecked;
//! - properties are decoded here, bounds-checked, typed by their column
//!   (integers, floats, booleans, text, JSON parsed, date-times as text);
//!   columns a feature leaves out are null.
//!
//! The CRS comes from the header: `EPSG:n` for an EPSG code (or a code
//! without organisation, which the spec reads as EPSG), else its WKT, else
//! `ORG:code`.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use flatgeobuf::{ColumnType, FallibleStreamingIterator, FeatureIter, FgbFeature, FgbReader};
use flatgeobuf::{GeometryType, GeozeroGeometry, Header, Seekable};
use geo_types::{Geometry, MultiPoint};
use serde_json::{Number, Value};

use super::file_layer;
use super::geometry::{read_2d, NOTE_EMPTY_POINT};
use crate::import::{FeatureSource, Format, ReadError, Result, SourceFeature, SourceInfo};
use crate::model::Properties;

/// The version this reader takes (the magic bytes' fourth byte).
const VERSION: u8 = 3;

/// Magic bytes and the header's size prefix.
const PREAMBLE: u64 = 12;

/// Bytes of one node of the packed R-tree index.
const NODE_BYTES: u64 = 40;

/// Deepest nesting of geometry parts checked (collections of collections…).
const MAX_DEPTH: usize = 32;

pub(crate) struct FgbSource {
    path: PathBuf,
    info: SourceInfo,
    iter: FeatureIter<BufReader<File>, Seekable>,
    /// A second handle on the file, to read each size prefix before the crate does.
    probe: File,
    file_len: u64,
    /// Where the next feature's size prefix is.
    next_at: u64,
    /// The feature count the header declares (0 there means unknown).
    expected: Option<u64>,
    /// Column names and types, in header order.
    columns: Vec<(String, ColumnType)>,
    /// The header's geometry type (`Unknown`: per feature).
    geometry_type: GeometryType,
    index: u64,
    done: bool,
}

impl FgbSource {
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let invalid = |reason: String| ReadError::invalid(path, Format::FlatGeobuf, reason);
        let mut probe = File::open(path).map_err(ReadError::io(path))?;
        let file_len = probe.metadata().map_err(ReadError::io(path))?.len();
        let mut start = [0u8; PREAMBLE as usize];
        probe.read_exact(&mut start).map_err(|_| {
            invalid("shorter than the FlatGeobuf magic bytes and header size".into())
        })?;
        if &start[0..3] != b"fgb" || &start[4..7] != b"fgb" {
            return Err(invalid("no FlatGeobuf magic bytes ('fgb')".into()));
        }
        if start[3] != VERSION {
            return Err(ReadError::Unsupported {
                path: path.to_owned(),
                reason: format!(
                    "FlatGeobuf format version {}: only version {VERSION} (FlatGeobuf 3.0 \
                     and later) is read; rewrite it with a current FlatGeobuf writer",
                    start[3]
                ),
            });
        }
        let header_len = u64::from(u32::from_le_bytes([
            start[8], start[9], start[10], start[11],
        ]));
        if PREAMBLE + header_len > file_len {
            return Err(invalid(format!(
                "the header declares {header_len} bytes, the file has {} after the magic: \
                 truncated?",
                file_len.saturating_sub(PREAMBLE)
            )));
        }
        let file = File::open(path).map_err(ReadError::io(path))?;
        let reader = FgbReader::open(BufReader::with_capacity(1 << 16, file))
            .map_err(|e| invalid(format!("bad header: {e}")))?;
        let header = reader.header();
        let count = header.features_count();
        let node_size = header.index_node_size();
        let index_len = index_bytes(count, node_size).ok_or_else(|| {
            invalid(format!(
                "impossible index: {count} features, node size {node_size}"
            ))
        })?;
        let data_start = PREAMBLE + header_len + index_len;
        if data_start > file_len {
            return Err(invalid(format!(
                "the spatial index runs past the end of the file ({data_start} > {file_len} \
                 bytes): truncated?"
            )));
        }
        let columns: Vec<(String, ColumnType)> = header
            .columns()
            .map(|cols| {
                cols.iter()
                    .map(|c| (c.name().to_owned(), c.type_()))
                    .collect()
            })
            .unwrap_or_default();
        let info = SourceInfo {
            format: Format::FlatGeobuf,
            layer: header
                .name()
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .or_else(|| file_layer(path)),
            crs: crs(&header),
            count: if count > 0 || data_start == file_len {
                Some(count)
            } else {
                None
            },
            notes: Vec::new(),
        };
        let geometry_type = header.geometry_type();
        let iter = reader
            .select_all()
            .map_err(|e| invalid(format!("cannot start reading features: {e}")))?;
        Ok(Self {
            path: path.to_owned(),
            info,
            iter,
            probe,
            file_len,
            next_at: data_start,
            expected: (count > 0).then_some(count),
            columns,
            geometry_type,
            index: 0,
            done: false,
        })
    }

    fn next_feature(&mut self) -> Result<Option<SourceFeature>> {
        let index = self.index;
        let broken = |reason: String| ReadError::broken(&self.path, index, reason);
        if self.expected == Some(index) {
            return Ok(None);
        }
        if self.next_at == self.file_len {
            return match self.expected {
                Some(n) => Err(broken(format!(
                    "the file ends after {index} of the {n} features its header declares: \
                     truncated?"
                ))),
                None => Ok(None),
            };
        }
        let remaining = self.file_len - self.next_at;
        if remaining < 4 {
            return Err(broken(
                "the file ends inside a feature's size: truncated?".into(),
            ));
        }
        let mut prefix = [0u8; 4];
        self.probe
            .seek(SeekFrom::Start(self.next_at))
            .and_then(|_| self.probe.read_exact(&mut prefix))
            .map_err(|e| broken(e.to_string()))?;
        let size = u64::from(u32::from_le_bytes(prefix));
        if size + 4 > remaining {
            return Err(broken(format!(
                "the feature declares {size} bytes, only {} remain: truncated?",
                remaining - 4
            )));
        }
        let feature = match self.iter.next() {
            Ok(Some(feature)) => feature,
            Ok(None) => return Err(broken("the feature cannot be read".into())),
            Err(e) => return Err(broken(format!("damaged feature: {e}"))),
        };
        self.next_at += 4 + size;
        self.index += 1;
        convert(feature, self.geometry_type, &self.columns, index)
            .map(Some)
            .map_err(|reason| ReadError::feature(&self.path, index, reason))
    }
}

impl Iterator for FgbSource {
    type Item = Result<SourceFeature>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.next_feature();
        super::settle(&mut self.done, next)
    }
}

impl FeatureSource for FgbSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }
}

/// The size of the packed Hilbert R-tree of `count` items (as
/// `PackedRTree::index_size`, which asserts and may overflow); `None` for
/// an impossible one.
fn index_bytes(count: u64, node_size: u16) -> Option<u64> {
    if node_size == 0 || count == 0 {
        return Some(0);
    }
    if node_size == 1 {
        return None;
    }
    let node = u64::from(node_size);
    let (mut n, mut nodes) = (count, count);
    while n > 1 {
        n = n.div_ceil(node);
        nodes = nodes.checked_add(n)?;
    }
    if count == 1 {
        nodes += 1;
    }
    nodes.checked_mul(NODE_BYTES)
}

fn crs(header: &Header) -> Option<String> {
    let crs = header.crs()?;
    let org = crs.org().map(str::trim).filter(|o| !o.is_empty());
    let code = crs.code();
    if code > 0 && org.is_none_or(|o| o.eq_ignore_ascii_case("EPSG")) {
        return Some(format!("EPSG:{code}"));
    }
    if let Some(wkt) = crs.wkt().map(str::trim).filter(|w| !w.is_empty()) {
        return Some(wkt.to_owned());
    }
    let code = (code > 0)
        .then(|| code.to_string())
        .or_else(|| crs.code_string().map(str::to_owned))?;
    Some(format!("{}:{code}", org.unwrap_or("EPSG")))
}

fn convert(
    feature: &FgbFeature,
    header_type: GeometryType,
    columns: &[(String, ColumnType)],
    index: u64,
) -> std::result::Result<SourceFeature, String> {
    let (properties, mut notes) = properties(
        feature.fbs_feature().properties().map(|p| p.bytes()),
        columns,
    )?;
    let geometry = match feature.geometry() {
        None => None,
        Some(g) => {
            let kind = if header_type == GeometryType::Unknown {
                g.type_()
            } else {
                header_type
            };
            if kind == GeometryType::Point && g.xy().is_none_or(|xy| xy.is_empty()) {
                notes.push(NOTE_EMPTY_POINT.to_owned());
                Some(MultiPoint::<f64>::new(vec![]).into())
            } else {
                check(&g, kind, 0)?;
                let (geometry, more): (Geometry<f64>, _) = read_2d(|p| feature.process_geom(p))?;
                notes.extend(more);
                Some(geometry)
            }
        }
    };
    Ok(SourceFeature {
        index,
        geometry,
        properties,
        notes,
    })
}

/// The structure checks geozero's walk relies on; see the module doc.
fn check(
    g: &flatgeobuf::Geometry,
    kind: GeometryType,
    depth: usize,
) -> std::result::Result<(), String> {
    if depth > MAX_DEPTH {
        return Err("geometry parts nested too deep".into());
    }
    let xy = g.xy().map_or(0, |v| v.len());
    if !xy.is_multiple_of(2) {
        return Err("an odd number of x/y values".into());
    }
    let n = xy / 2;
    let short = [
        g.z().map(|v| v.len()),
        g.m().map(|v| v.len()),
        g.t().map(|v| v.len()),
        g.tm().map(|v| v.len()),
    ]
    .into_iter()
    .flatten()
    .any(|len| len < n);
    if short {
        return Err("fewer Z, M or T values than coordinates".into());
    }
    if let Some(ends) = g.ends() {
        let mut before = 0u32;
        for end in ends.iter() {
            if end < before || end as usize > n {
                return Err("ring or part ends out of order or past the coordinates".into());
            }
            before = end;
        }
    }
    if kind == GeometryType::Point && depth > 0 && n == 0 {
        return Err("an empty point inside a collection".into());
    }
    if let Some(parts) = g.parts() {
        for part in parts.iter() {
            let part_kind = if kind == GeometryType::GeometryCollection {
                part.type_()
            } else {
                GeometryType::Polygon
            };
            check(&part, part_kind, depth + 1)?;
        }
    }
    Ok(())
}

/// The property buffer decoded: `u16` column index, then the value in the
/// column's type (strings, JSON, date-times and binaries with a `u32` length).
fn properties(
    bytes: Option<&[u8]>,
    columns: &[(String, ColumnType)],
) -> std::result::Result<(Properties, Vec<String>), String> {
    let mut properties: Properties = columns
        .iter()
        .map(|(name, _)| (name.clone(), Value::Null))
        .collect();
    let mut notes = Vec::new();
    let mut bytes = Cursor {
        bytes: bytes.unwrap_or_default(),
        at: 0,
    };
    // A single trailing byte is tolerated, as the crate does (some writers
    // leave one after a binary column).
    while bytes.remaining() > 1 {
        let column = bytes
            .take(2, "?")
            .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])))?;
        let (name, kind) = columns.get(column).ok_or_else(|| {
            format!(
                "a property of column #{column}, but the header has {} columns",
                columns.len()
            )
        })?;
        let float = |v: f64| Number::from_f64(v).map_or(Value::Null, Value::Number);
        let value = match *kind {
            ColumnType::Byte => Value::from(i8::from_le_bytes([bytes.take(1, name)?[0]])),
            ColumnType::UByte => Value::from(bytes.take(1, name)?[0]),
            ColumnType::Bool => Value::Bool(bytes.take(1, name)?[0] != 0),
            ColumnType::Short => {
                let b = bytes.take(2, name)?;
                Value::from(i16::from_le_bytes([b[0], b[1]]))
            }
            ColumnType::UShort => {
                let b = bytes.take(2, name)?;
                Value::from(u16::from_le_bytes([b[0], b[1]]))
            }
            ColumnType::Int => Value::from(i32::from_le_bytes(array(bytes.take(4, name)?))),
            ColumnType::UInt => Value::from(u32::from_le_bytes(array(bytes.take(4, name)?))),
            ColumnType::Long => Value::from(i64::from_le_bytes(array(bytes.take(8, name)?))),
            ColumnType::ULong => Value::from(u64::from_le_bytes(array(bytes.take(8, name)?))),
            ColumnType::Float => float(f64::from(f32::from_le_bytes(array(bytes.take(4, name)?)))),
            ColumnType::Double => float(f64::from_le_bytes(array(bytes.take(8, name)?))),
            ColumnType::String | ColumnType::Json | ColumnType::DateTime | ColumnType::Binary => {
                let len = u32::from_le_bytes(array(bytes.take(4, name)?)) as usize;
                let raw = bytes.take(len, name)?;
                if *kind == ColumnType::Binary {
                    notes.push(format!("binary property '{name}' not imported"));
                    Value::Null
                } else {
                    let text = std::str::from_utf8(raw)
                        .map_err(|_| format!("property '{name}' is not UTF-8 text"))?;
                    if *kind == ColumnType::Json {
                        serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.into()))
                    } else {
                        Value::String(text.to_owned())
                    }
                }
            }
            other => return Err(format!("property '{name}' has unknown type {}", other.0)),
        };
        properties.insert(name.clone(), value);
    }
    Ok((properties, notes))
}

/// Reads through a property buffer, bounds-checked.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.at)
    }

    fn take(&mut self, n: usize, name: &str) -> std::result::Result<&'a [u8], String> {
        let slice = self
            .bytes
            .get(self.at..self.at.saturating_add(n))
            .ok_or_else(|| format!("property '{name}' runs past the end of the feature"))?;
        self.at += n;
        Ok(slice)
    }
}

fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(bytes);
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_size_matches_the_crate_and_refuses_the_impossible() {
        for (count, node) in [(1u64, 16u16), (2, 16), (179, 16), (1000, 2), (10, 65535)] {
            assert_eq!(
                index_bytes(count, node),
                Some(
                    flatgeobuf::packed_r_tree::PackedRTree::index_size(count as usize, node) as u64
                ),
                "{count} {node}"
            );
        }
        assert_eq!(index_bytes(10, 1), None);
        assert_eq!(index_bytes(u64::MAX, 2), None);
        assert_eq!(index_bytes(0, 16), Some(0));
    }

    #[test]
    fn damaged_properties_are_errors() {
        let columns = vec![("name".to_owned(), ColumnType::String)];
        // Column 0, a string of 100 bytes, but only 3 there.
        let bytes = [0u8, 0, 100, 0, 0, 0, b'a', b'b', b'c'];
        let e = properties(Some(&bytes), &columns).unwrap_err();
        assert!(e.contains("runs past"), "{e}");
        let e = properties(Some(&[5u8, 0, 1, 0, 0, 0]), &columns).unwrap_err();
        assert!(e.contains("column #5"), "{e}");
        let (p, _) = properties(None, &columns).unwrap();
        assert_eq!(p["name"], Value::Null);
    }
}
