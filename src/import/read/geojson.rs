//! GeoJSON (RFC 7946 and the 2008 form with a `crs` member) and GeoJSON
//! sequences (one feature per line, or RFC 8142 record separators).
//!
//! A FeatureCollection is streamed: a small scanner walks the top-level
//! object member by member and, inside `features`, cuts out one element at a
//! time by balancing brackets (strings and escapes respected); only that
//! element is parsed (serde_json, from the slice), so memory holds one
//! feature, and a feature whose JSON is bad is an error for that feature
//! alone while the file's framing holds. Members before `features` (`type`,
//! `name`, `crs`, `bbox`) are read as they come; a `crs` placed after
//! `features` (rare) is looked for in the last 64 KiB of the file.
//!
//! Geometries are converted here, not by the `geojson` crate, whose
//! conversion indexes positions unchecked (a position with one number would
//! panic) and keeps no note of a third coordinate.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use geo_types::{Coord, Geometry, GeometryCollection, LineString, MultiLineString, MultiPoint};
use geo_types::{MultiPolygon, Point, Polygon};
use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::geometry::{NOTE_EMPTY_POINT, NOTE_Z};
use super::{crs_name, file_layer};
use crate::import::{
    Deferred, FeatureSource, Format, ReadError, Result, SourceFeature, SourceInfo,
};
use crate::model::Properties;

/// The largest single JSON value (one feature) read into memory: a bound
/// against a damaged file whose brackets never close.
const MAX_VALUE_BYTES: usize = 512 << 20;

/// How much of the end of a file is searched for a `crs` member that comes
/// after `features`.
const TAIL_BYTES: u64 = 64 << 10;

// ---------------------------------------------------------------- FeatureCollection

/// Where a [`GeoJsonSource`] is in its file.
enum State {
    /// Inside the `features` array; `after_first`: a `,` or `]` comes next.
    Features {
        after_first: bool,
    },
    /// The file is one Feature or one geometry, already read whole.
    Single(Box<Value>),
    Done,
}

/// A GeoJSON file: a FeatureCollection streamed feature by feature, or a
/// single Feature or geometry.
pub(crate) struct GeoJsonSource {
    path: PathBuf,
    info: SourceInfo,
    scanner: Scanner<BufReader<File>>,
    state: State,
    /// Index of the next feature.
    index: u64,
    /// The raw bytes of the feature at hand (reused).
    buf: Vec<u8>,
}

impl GeoJsonSource {
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let invalid = |reason: String| ReadError::invalid(path, Format::GeoJson, reason);
        let scan_err = |e: ScanError| invalid(e.to_string());
        let file = File::open(path).map_err(ReadError::io(path))?;
        let mut scanner = Scanner::new(BufReader::with_capacity(1 << 16, file));
        scanner.skip_bom().map_err(ReadError::io(path))?;
        match scanner.token().map_err(ReadError::io(path))? {
            Some(b'{') => scanner.bump(),
            Some(other) => {
                return Err(invalid(format!(
                    "it must start with a JSON object '{{', not '{}'",
                    char::from(other).escape_default()
                )))
            }
            None => return Err(invalid("the file is empty".into())),
        }
        // The top-level members up to `features`, or all of them.
        let mut head = Map::new();
        let mut features = false;
        let mut raw = Vec::new();
        loop {
            match scanner.token().map_err(ReadError::io(path))? {
                Some(b'}') if head.is_empty() => break,
                Some(b'"') => {}
                _ => return Err(invalid("a top-level member name is expected".into())),
            }
            raw.clear();
            scanner.value(&mut raw, MAX_VALUE_BYTES).map_err(scan_err)?;
            let key: String = serde_json::from_slice(&raw)
                .map_err(|e| invalid(format!("bad member name: {e}")))?;
            if scanner.token().map_err(ReadError::io(path))? != Some(b':') {
                return Err(invalid(format!("':' expected after \"{key}\"")));
            }
            scanner.bump();
            if key == "features" {
                if scanner.token().map_err(ReadError::io(path))? != Some(b'[') {
                    return Err(invalid("\"features\" must be an array".into()));
                }
                scanner.bump();
                features = true;
                break;
            }
            raw.clear();
            scanner.value(&mut raw, MAX_VALUE_BYTES).map_err(scan_err)?;
            let value: Value = serde_json::from_slice(&raw)
                .map_err(|e| invalid(format!("bad value of \"{key}\": {e}")))?;
            head.insert(key, value);
            match scanner.token().map_err(ReadError::io(path))? {
                Some(b',') => scanner.bump(),
                Some(b'}') => break,
                Some(_) => return Err(invalid("',' or '}' expected between members".into())),
                None => return Err(invalid("the file ends inside the top-level object".into())),
            }
        }

        let kind = head.get("type").and_then(Value::as_str).map(str::to_owned);
        let mut notes = Vec::new();
        let mut crs = head.get("crs").and_then(|c| crs_member(c, &mut notes));
        if features && !head.contains_key("crs") {
            crs = crs_in_tail(path, &mut notes)?;
        }
        let layer = head
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| file_layer(path));
        let state = match (features, kind.as_deref()) {
            (true, Some("FeatureCollection") | None) => State::Features { after_first: false },
            (true, Some(other)) => {
                return Err(invalid(format!(
                    "a \"features\" array in an object of type '{other}', not a FeatureCollection"
                )))
            }
            (false, Some("FeatureCollection")) => State::Done,
            (false, Some(_)) => State::Single(Box::new(Value::Object(head))),
            (false, None) => {
                return Err(invalid(
                    "no \"type\" member: not a FeatureCollection, Feature or geometry".into(),
                ))
            }
        };
        Ok(Self {
            path: path.to_owned(),
            info: SourceInfo {
                format: Format::GeoJson,
                layer,
                crs,
                count: None,
                notes,
            },
            scanner,
            state,
            index: 0,
            buf: Vec::new(),
        })
    }

    /// The next element of `features`, or `None` at its end.
    fn next_in_features(&mut self, after_first: bool) -> Result<Option<SourceFeature>> {
        let mut buf = std::mem::take(&mut self.buf);
        let feature = match self.scan_next(after_first, &mut buf) {
            Ok(Some((index, start))) => decode(&self.path, index, start, &buf).map(Some),
            Ok(None) => Ok(None),
            Err(e) => Err(e),
        };
        self.buf = buf;
        feature
    }

    /// Cuts the raw bytes of the next element of `features` into `out`
    /// without parsing them: its index and byte offset, or `None` at the end
    /// of the array. Errors here are of the file's framing: [`ReadError::Broken`].
    fn scan_next(&mut self, after_first: bool, out: &mut Vec<u8>) -> Result<Option<(u64, u64)>> {
        let index = self.index;
        let broken = |reason: String| ReadError::broken(&self.path, index, reason);
        let ends = "the file ends inside the \"features\" array: truncated?";
        let mut token = self
            .scanner
            .token()
            .map_err(|e| broken(e.to_string()))?
            .ok_or_else(|| broken(ends.into()))?;
        if after_first {
            match token {
                b',' => {
                    self.scanner.bump();
                    token = self
                        .scanner
                        .token()
                        .map_err(|e| broken(e.to_string()))?
                        .ok_or_else(|| broken(ends.into()))?;
                }
                b']' => return Ok(None),
                _ => return Err(broken("',' or ']' expected after a feature".into())),
            }
        } else if token == b']' {
            return Ok(None);
        }
        if token == b']' {
            return Err(broken("a ',' before the end of the array".into()));
        }
        let start = self.scanner.offset;
        out.clear();
        self.scanner
            .value(out, MAX_VALUE_BYTES)
            .map_err(|e| match e {
                ScanError::Eof => broken(ends.into()),
                other => broken(other.to_string()),
            })?;
        self.index += 1;
        Ok(Some((index, start)))
    }
}

/// Parses the raw bytes of feature `index` (starting at byte `start` of the file).
fn decode(path: &Path, index: u64, start: u64, bytes: &[u8]) -> Result<SourceFeature> {
    serde_json::from_slice::<JsonFeature>(bytes)
        .map_err(|e| format!("not valid GeoJSON: {e} (the feature starts at byte {start})"))
        .and_then(|f| f.into_source(index))
        .map_err(|reason| ReadError::feature(path, index, reason))
}

impl Iterator for GeoJsonSource {
    type Item = Result<SourceFeature>;

    fn next(&mut self) -> Option<Self::Item> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Done => None,
            State::Single(value) => {
                self.index = 1;
                Some(
                    serde_json::from_value::<JsonFeature>(*value)
                        .map_err(|e| format!("not valid GeoJSON: {e}"))
                        .and_then(|f| f.into_source(0))
                        .map_err(|reason| ReadError::feature(&self.path, 0, reason)),
                )
            }
            State::Features { after_first } => match self.next_in_features(after_first) {
                Ok(None) => None,
                Ok(Some(feature)) => {
                    self.state = State::Features { after_first: true };
                    Some(Ok(feature))
                }
                Err(e) => {
                    if e.is_skippable() {
                        self.state = State::Features { after_first: true };
                    }
                    Some(Err(e))
                }
            },
        }
    }
}

impl FeatureSource for GeoJsonSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn bytes_read(&self) -> Option<u64> {
        Some(self.scanner.offset)
    }

    /// The features' bytes are cut out here and parsed by the caller, on
    /// other threads: parsing is most of a GeoJSON import's work.
    fn next_deferred(&mut self) -> Option<Deferred> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Features { after_first } => {
                let mut bytes = Vec::new();
                match self.scan_next(after_first, &mut bytes) {
                    Ok(None) => None,
                    Ok(Some((index, start))) => {
                        self.state = State::Features { after_first: true };
                        let path = self.path.clone();
                        Some(Box::new(move || decode(&path, index, start, &bytes)))
                    }
                    // The file's framing is broken: nothing after it.
                    Err(e) => Some(Box::new(move || Err(e))),
                }
            }
            other => {
                self.state = other;
                self.next().map(|item| Box::new(move || item) as Deferred)
            }
        }
    }
}

/// The CRS a legacy `crs` member names: `{"type": "name", "properties":
/// {"name": …}}` or the 2008 `{"type": "EPSG", "properties": {"code": n}}`.
/// `null` is "no CRS"; a `link` CRS is not followed (a note says so).
fn crs_member(crs: &Value, notes: &mut Vec<String>) -> Option<String> {
    if crs.is_null() {
        return None;
    }
    let props = crs.get("properties");
    let found = match crs.get("type").and_then(Value::as_str) {
        Some("name") => props
            .and_then(|p| p.get("name"))
            .and_then(Value::as_str)
            .map(crs_name),
        Some("EPSG" | "epsg") => props.and_then(|p| p.get("code")).and_then(|c| match c {
            Value::Number(n) => n.as_u64().map(|n| format!("EPSG:{n}")),
            Value::String(s) => Some(crs_name(&format!("EPSG:{s}"))),
            _ => None,
        }),
        _ => None,
    };
    if found.is_none() {
        notes.push(format!(
            "the \"crs\" member {} names no CRS this reader understands; it is ignored",
            serde_json::to_string(crs).unwrap_or_default()
        ));
    }
    found
}

/// A `crs` member after `features`, found in the last [`TAIL_BYTES`].
fn crs_in_tail(path: &Path, notes: &mut Vec<String>) -> Result<Option<String>> {
    let mut file = File::open(path).map_err(ReadError::io(path))?;
    let len = file.metadata().map_err(ReadError::io(path))?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)))
        .map_err(ReadError::io(path))?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).map_err(ReadError::io(path))?;
    let key = b"\"crs\"";
    let Some(at) = tail.windows(key.len()).rposition(|w| w == key) else {
        return Ok(None);
    };
    let mut scanner = Scanner::new(&tail[at + key.len()..]);
    if scanner.token().ok().flatten() != Some(b':') {
        return Ok(None);
    }
    scanner.bump();
    let mut raw = Vec::new();
    if scanner.value(&mut raw, TAIL_BYTES as usize).is_err() {
        return Ok(None);
    }
    Ok(serde_json::from_slice::<Value>(&raw)
        .ok()
        .filter(|v| v.get("type").is_some() && v.get("properties").is_some())
        .and_then(|v| crs_member(&v, notes)))
}

// ---------------------------------------------------------------- sequences

/// A GeoJSON text sequence: one Feature (or geometry) per line, or per RFC
/// 8142 record (each starting with the record separator 0x1E).
pub(crate) struct GeoJsonSeqSource {
    path: PathBuf,
    info: SourceInfo,
    reader: BufReader<File>,
    /// The byte records end at: `\n`, or 0x1E (which starts each record)
    /// for RFC 8142 files.
    delimiter: u8,
    index: u64,
    buf: Vec<u8>,
    done: bool,
}

impl GeoJsonSeqSource {
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(ReadError::io(path))?;
        let mut reader = BufReader::with_capacity(1 << 16, file);
        let start = reader.fill_buf().map_err(ReadError::io(path))?;
        let first = start
            .strip_prefix(b"\xEF\xBB\xBF")
            .unwrap_or(start)
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .copied();
        let delimiter = match first {
            Some(0x1e) => 0x1e,
            Some(b'{') | None => b'\n',
            Some(other) => {
                return Err(ReadError::invalid(
                    path,
                    Format::GeoJsonSeq,
                    format!(
                        "records must be JSON objects, this one starts with '{}'",
                        char::from(other).escape_default()
                    ),
                ))
            }
        };
        Ok(Self {
            path: path.to_owned(),
            info: SourceInfo {
                format: Format::GeoJsonSeq,
                layer: file_layer(path),
                crs: None,
                count: None,
                notes: Vec::new(),
            },
            reader,
            delimiter,
            index: 0,
            buf: Vec::new(),
            done: false,
        })
    }
}

impl Iterator for GeoJsonSeqSource {
    type Item = Result<SourceFeature>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let index = self.index;
            self.buf.clear();
            let read = (&mut self.reader)
                .take(MAX_VALUE_BYTES as u64)
                .read_until(self.delimiter, &mut self.buf);
            let n = match read {
                Ok(n) => n,
                Err(e) => {
                    self.done = true;
                    return Some(Err(ReadError::broken(&self.path, index, e.to_string())));
                }
            };
            if n == 0 {
                self.done = true;
                return None;
            }
            let complete = self.buf.last() == Some(&self.delimiter);
            if !complete && n >= MAX_VALUE_BYTES {
                self.done = true;
                return Some(Err(ReadError::broken(
                    &self.path,
                    index,
                    "a record longer than 512 MiB: not a GeoJSON sequence?",
                )));
            }
            let record = trim_record(&self.buf);
            if record.is_empty() {
                continue;
            }
            self.index += 1;
            let parsed = serde_json::from_slice::<JsonFeature>(record)
                .map_err(|e| format!("not valid GeoJSON: {e}"))
                .and_then(|f| f.into_source(index));
            return Some(parsed.map_err(|reason| {
                if complete {
                    ReadError::feature(&self.path, index, reason)
                } else {
                    // The last record has no end and does not parse: the
                    // file was cut off.
                    self.done = true;
                    ReadError::broken(
                        &self.path,
                        index,
                        format!("the file ends inside this record: truncated? ({reason})"),
                    )
                }
            }));
        }
        None
    }
}

impl FeatureSource for GeoJsonSeqSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }
}

/// A record without its separators, BOM and surrounding whitespace.
fn trim_record(bytes: &[u8]) -> &[u8] {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let junk = |b: &u8| b.is_ascii_whitespace() || *b == 0x1e;
    let start = bytes.iter().position(|b| !junk(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !junk(b))
        .map_or(start, |e| e + 1);
    &bytes[start..end]
}

// ---------------------------------------------------------------- scanning

#[derive(Debug, thiserror::Error)]
enum ScanError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("the file ends inside a JSON value: truncated?")]
    Eof,
    #[error("a JSON value longer than 512 MiB: brackets that never close?")]
    TooLong,
}

/// Walks JSON structure over a buffered reader without parsing values:
/// finds the next token and cuts out the raw bytes of one value.
struct Scanner<R> {
    reader: R,
    /// Bytes consumed so far: the file offset, for messages.
    offset: u64,
}

impl<R: BufRead> Scanner<R> {
    fn new(reader: R) -> Self {
        Self { reader, offset: 0 }
    }

    fn consume(&mut self, n: usize) {
        self.reader.consume(n);
        self.offset += n as u64;
    }

    /// Consumes the byte [`Scanner::token`] returned.
    fn bump(&mut self) {
        self.consume(1);
    }

    fn skip_bom(&mut self) -> io::Result<()> {
        if self.reader.fill_buf()?.starts_with(b"\xEF\xBB\xBF") {
            self.consume(3);
        }
        Ok(())
    }

    /// Skips whitespace and returns the next byte without consuming it;
    /// `None` at the end of the input.
    fn token(&mut self) -> io::Result<Option<u8>> {
        loop {
            let buf = self.reader.fill_buf()?;
            if buf.is_empty() {
                return Ok(None);
            }
            let blank = buf.iter().take_while(|b| b.is_ascii_whitespace()).count();
            let next = buf.get(blank).copied();
            self.consume(blank);
            if next.is_some() {
                return Ok(next);
            }
        }
    }

    /// Appends the raw bytes of the next JSON value (object, array, string
    /// or scalar) to `out`, consuming them. Brackets are balanced, not
    /// matched by kind: the value's parser finds `{]`.
    fn value(&mut self, out: &mut Vec<u8>, limit: usize) -> Result<(), ScanError> {
        let first = self.token()?.ok_or(ScanError::Eof)?;
        let start = out.len();
        let mut depth = 0usize;
        let mut in_string = false;
        let mut escaped = false;
        let scalar = !matches!(first, b'{' | b'[' | b'"');
        loop {
            let buf = self.reader.fill_buf()?;
            if buf.is_empty() {
                return if scalar && out.len() > start {
                    Ok(())
                } else {
                    Err(ScanError::Eof)
                };
            }
            let mut end = None;
            for (i, &b) in buf.iter().enumerate() {
                if scalar {
                    if matches!(b, b',' | b'}' | b']') || b.is_ascii_whitespace() {
                        end = Some(i);
                        break;
                    }
                } else if in_string {
                    if escaped {
                        escaped = false;
                    } else if b == b'\\' {
                        escaped = true;
                    } else if b == b'"' {
                        in_string = false;
                        if depth == 0 {
                            end = Some(i + 1);
                            break;
                        }
                    }
                } else {
                    match b {
                        b'"' => in_string = true,
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth = depth.saturating_sub(1);
                            if depth == 0 {
                                end = Some(i + 1);
                                break;
                            }
                        }
                        _ => {}
                    }
                }
            }
            let take = end.unwrap_or(buf.len());
            out.extend_from_slice(&buf[..take]);
            self.consume(take);
            if out.len() - start > limit {
                return Err(ScanError::TooLong);
            }
            if end.is_some() {
                return Ok(());
            }
        }
    }
}

// ---------------------------------------------------------------- features and geometries

/// A Feature, or a bare geometry where a feature is expected (a sequence of
/// geometries, a file holding one geometry).
#[derive(Deserialize)]
struct JsonFeature {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    geometry: Option<JsonGeometry>,
    #[serde(default)]
    properties: Option<Properties>,
    #[serde(default)]
    coordinates: Option<Nested>,
    #[serde(default)]
    geometries: Option<Vec<JsonGeometry>>,
}

#[derive(Deserialize)]
struct JsonGeometry {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    coordinates: Option<Nested>,
    #[serde(default)]
    geometries: Option<Vec<JsonGeometry>>,
}

impl JsonFeature {
    fn into_source(self, index: u64) -> std::result::Result<SourceFeature, String> {
        let mut notes = Notes::default();
        let geometry = match self.kind.as_str() {
            "Feature" => self.geometry.map(|g| g.to_geo(&mut notes)).transpose()?,
            "FeatureCollection" => {
                return Err("a FeatureCollection where a Feature is expected".into())
            }
            _ => Some(
                JsonGeometry {
                    kind: self.kind,
                    coordinates: self.coordinates,
                    geometries: self.geometries,
                }
                .to_geo(&mut notes)?,
            ),
        };
        Ok(SourceFeature {
            index,
            geometry,
            properties: self.properties.unwrap_or_default(),
            notes: notes.into_vec(),
        })
    }
}

#[derive(Default)]
struct Notes {
    z: bool,
    empty_point: bool,
}

impl Notes {
    fn into_vec(self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.z {
            notes.push(NOTE_Z.to_owned());
        }
        if self.empty_point {
            notes.push(NOTE_EMPTY_POINT.to_owned());
        }
        notes
    }
}

/// GeoJSON coordinates: positions nested in arrays, depth by geometry type.
/// A position is a leaf (not an array of numbers), so reading a polygon
/// allocates once per ring, not once per vertex: this is the hot loop of a
/// GeoJSON import.
enum Nested {
    /// A number where an array was expected.
    Number(f64),
    /// `[x, y]`, or `[x, y, z…]` (`true`: extra numbers, dropped).
    Position(Coord<f64>, bool),
    /// `[x]`: a position with too few numbers.
    Short,
    List(Vec<Nested>),
}

impl<'de> Deserialize<'de> for Nested {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct NestedVisitor;
        impl<'de> Visitor<'de> for NestedVisitor {
            type Value = Nested;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("numbers in nested arrays")
            }
            fn visit_f64<E>(self, v: f64) -> std::result::Result<Nested, E> {
                Ok(Nested::Number(v))
            }
            #[allow(clippy::cast_precision_loss)]
            fn visit_i64<E>(self, v: i64) -> std::result::Result<Nested, E> {
                Ok(Nested::Number(v as f64))
            }
            #[allow(clippy::cast_precision_loss)]
            fn visit_u64<E>(self, v: u64) -> std::result::Result<Nested, E> {
                Ok(Nested::Number(v as f64))
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Nested, A::Error> {
                match seq.next_element::<Nested>()? {
                    None => Ok(Nested::List(Vec::new())),
                    // Numbers: a position; the rest of it must be numbers too.
                    Some(Nested::Number(x)) => {
                        let Some(y) = seq.next_element::<f64>()? else {
                            return Ok(Nested::Short);
                        };
                        let mut extra = false;
                        while seq.next_element::<f64>()?.is_some() {
                            extra = true;
                        }
                        Ok(Nested::Position(Coord { x, y }, extra))
                    }
                    Some(first) => {
                        let mut items =
                            Vec::with_capacity(seq.size_hint().unwrap_or(0).clamp(4, 4096));
                        items.push(first);
                        while let Some(item) = seq.next_element()? {
                            items.push(item);
                        }
                        Ok(Nested::List(items))
                    }
                }
            }
        }
        d.deserialize_any(NestedVisitor)
    }
}

impl Nested {
    fn list(&self, what: &str) -> std::result::Result<&[Nested], String> {
        match self {
            Nested::List(items) => Ok(items),
            Nested::Number(_) => Err(format!("{what}: an array expected, found a number")),
            Nested::Position(..) | Nested::Short => Err(format!(
                "{what}: an array of positions expected, found one position"
            )),
        }
    }

    fn position(&self, notes: &mut Notes) -> std::result::Result<Coord<f64>, String> {
        match self {
            Nested::Position(c, extra) => {
                notes.z |= *extra;
                Ok(*c)
            }
            Nested::Short => Err("a position needs at least 2 numbers, this one has 1".into()),
            Nested::List(items) if items.is_empty() => {
                Err("a position needs at least 2 numbers, this one has 0".into())
            }
            Nested::List(_) => Err("a position must hold numbers, not arrays".into()),
            Nested::Number(_) => Err("a position: an array expected, found a number".into()),
        }
    }

    fn line(&self, notes: &mut Notes) -> std::result::Result<LineString<f64>, String> {
        self.list("a line or ring")?
            .iter()
            .map(|p| p.position(notes))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map(LineString::new)
    }

    fn polygon(&self, notes: &mut Notes) -> std::result::Result<Polygon<f64>, String> {
        let mut rings = self
            .list("a polygon")?
            .iter()
            .map(|r| r.line(notes))
            .collect::<std::result::Result<Vec<_>, _>>()?
            .into_iter();
        let exterior = rings.next().unwrap_or_else(|| LineString::new(vec![]));
        Ok(Polygon::new(exterior, rings.collect()))
    }
}

impl JsonGeometry {
    fn to_geo(&self, notes: &mut Notes) -> std::result::Result<Geometry<f64>, String> {
        if self.kind == "GeometryCollection" {
            let members = self
                .geometries
                .as_ref()
                .ok_or("a GeometryCollection without \"geometries\"")?;
            return members
                .iter()
                .map(|g| g.to_geo(notes))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map(|g| Geometry::GeometryCollection(GeometryCollection::new_from(g)));
        }
        let coords = self
            .coordinates
            .as_ref()
            .ok_or_else(|| format!("a {} without \"coordinates\"", self.kind))?;
        let each = |what: &str| coords.list(what).map(|items| items.iter());
        Ok(match self.kind.as_str() {
            "Point" => match coords {
                Nested::List(items) if items.is_empty() => {
                    notes.empty_point = true;
                    MultiPoint::<f64>::new(vec![]).into()
                }
                _ => Point(coords.position(notes)?).into(),
            },
            "MultiPoint" => each("a MultiPoint")?
                .map(|p| p.position(notes).map(Point))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map(MultiPoint::new)?
                .into(),
            "LineString" => coords.line(notes)?.into(),
            "MultiLineString" => each("a MultiLineString")?
                .map(|l| l.line(notes))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map(MultiLineString::new)?
                .into(),
            "Polygon" => coords.polygon(notes)?.into(),
            "MultiPolygon" => each("a MultiPolygon")?
                .map(|p| p.polygon(notes))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map(MultiPolygon::new)?
                .into(),
            other => return Err(format!("unknown geometry type '{other}'")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo_types::point;
    use serde_json::json;

    fn feature(text: &str) -> std::result::Result<SourceFeature, String> {
        serde_json::from_str::<JsonFeature>(text)
            .map_err(|e| e.to_string())
            .and_then(|f| f.into_source(0))
    }

    #[test]
    fn bad_positions_are_errors_not_panics() {
        let e = feature(
            r#"{"type":"Feature","geometry":{"type":"Point","coordinates":[1]},"properties":null}"#,
        )
        .unwrap_err();
        assert!(e.contains("at least 2 numbers"), "{e}");
        let e = feature(r#"{"type":"Feature","geometry":{"type":"Curve","coordinates":[]}}"#)
            .unwrap_err();
        assert!(e.contains("unknown geometry type 'Curve'"), "{e}");
        assert!(feature(
            r#"{"type":"Feature","geometry":{"type":"Point","coordinates":[1,null]}}"#
        )
        .is_err());
    }

    #[test]
    fn z_is_noted_and_empty_point_kept_empty() {
        let f = feature(r#"{"type":"Feature","geometry":{"type":"Point","coordinates":[1,2,3]},"properties":{"a":1}}"#)
            .unwrap();
        assert_eq!(f.geometry, Some(point!(x: 1.0, y: 2.0).into()));
        assert_eq!(f.notes, [NOTE_Z]);
        assert_eq!(f.properties, json!({"a": 1}).as_object().unwrap().clone());
        let f = feature(r#"{"type":"Point","coordinates":[]}"#).unwrap();
        assert_eq!(f.geometry, Some(MultiPoint::<f64>::new(vec![]).into()));
        let f = feature(r#"{"type":"Feature","geometry":null,"properties":null}"#).unwrap();
        assert_eq!(f.geometry, None);
        assert!(f.properties.is_empty());
    }

    #[test]
    fn scanner_cuts_values_out_with_strings_and_escapes() {
        let text = br#" {"a": "}]\"{", "b": [1, {"c": "x"}]} , 12.5e3, "s\\", true]"#;
        let mut s = Scanner::new(&text[..]);
        let mut out = Vec::new();
        s.value(&mut out, 1 << 20).unwrap();
        assert_eq!(out, br#"{"a": "}]\"{", "b": [1, {"c": "x"}]}"#);
        assert_eq!(s.token().unwrap(), Some(b','));
        s.bump();
        for expected in [&b"12.5e3"[..], br#""s\\""#, b"true"] {
            out.clear();
            s.value(&mut out, 1 << 20).unwrap();
            assert_eq!(out, expected);
            s.token().unwrap();
            s.bump();
        }
        let mut s = Scanner::new(&br#"{"a": [1, 2"#[..]);
        assert!(matches!(s.value(&mut out, 1 << 20), Err(ScanError::Eof)));
    }
}
