//! The Mapbox Vector Tile 2.1 wire format (`vector_tile.proto`), written by hand.
//!
//! Why by hand: the schema is four small messages, and the encoder only needs
//! varints, zigzag and length-delimited fields. A generated encoder (`prost`)
//! would build an owned message tree per tile (a `String` per key and value, a
//! `Vec` per feature) only to serialize it once, and brings a proc-macro stack;
//! `geozero`'s MVT writer does the same through its own structs, and neither
//! would let a thread keep its buffers between tiles. Here features are written
//! straight into byte buffers that are reused, and keys and values are interned
//! as their encoded bytes in tables that are reused, too.
//!
//! The schema, as far as it is written here:
//! ```text
//! Tile    { repeated Layer layers = 3; }
//! Layer   { required uint32 version = 15; required string name = 1;
//!           repeated Feature features = 2; repeated string keys = 3;
//!           repeated Value values = 4; optional uint32 extent = 5; }
//! Feature { optional uint64 id = 1; repeated uint32 tags = 2 [packed];
//!           optional GeomType type = 3; repeated uint32 geometry = 4 [packed]; }
//! Value   { string_value = 1; double_value = 3 (fixed64);
//!           uint_value = 5; sint_value = 6 (zigzag); bool_value = 7; }
//! ```

use std::hash::BuildHasher;

use hashbrown::hash_table::{Entry, HashTable};
use hashbrown::DefaultHashBuilder;

/// `Feature.type` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum GeomType {
    Point = 1,
    LineString = 2,
    Polygon = 3,
}

/// Protobuf wire types.
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;

/// A field key (number and wire type) for field numbers below 16, which fit one byte.
const fn key(field: u8, wire: u8) -> u8 {
    (field << 3) | wire
}

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        // Truncation intended: the low seven bits, with the continuation bit.
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn varint_len(v: u64) -> usize {
    // 1 byte per started group of 7 bits; 0 still takes one byte.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn put_len_field(buf: &mut Vec<u8>, field: u8, bytes: &[u8]) {
    buf.push(key(field, LEN));
    put_varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

/// Zigzag, so that small negative deltas stay short varints.
fn zigzag32(v: i32) -> u32 {
    // Bit reinterpretation intended: the standard protobuf sint32 mapping.
    ((v << 1) ^ (v >> 31)) as u32
}

fn zigzag64(v: i64) -> u64 {
    // As above, the sint64 mapping.
    ((v << 1) ^ (v >> 63)) as u64
}

/// A geometry's command stream (`Feature.geometry`) in tile pixels, as packed
/// varint bytes. The cursor starts at (0, 0) for every feature.
#[derive(Debug, Default)]
pub(crate) struct GeometryWriter {
    pub(crate) bytes: Vec<u8>,
    cursor: [i32; 2],
}

impl GeometryWriter {
    const MOVE_TO: u32 = 1;
    const LINE_TO: u32 = 2;
    const CLOSE_PATH: u32 = 7;

    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.cursor = [0, 0];
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn command(&mut self, id: u32, count: usize) {
        // 2^29 vertices in one part would be 8 GiB of coordinates: never in the index.
        let count = u32::try_from(count).expect("fewer than 2^29 vertices in one part");
        put_varint(&mut self.bytes, u64::from((count << 3) | id));
    }

    fn to(&mut self, p: [i32; 2]) {
        let [dx, dy] = [p[0] - self.cursor[0], p[1] - self.cursor[1]];
        put_varint(&mut self.bytes, u64::from(zigzag32(dx)));
        put_varint(&mut self.bytes, u64::from(zigzag32(dy)));
        self.cursor = p;
    }

    /// `MoveTo(n)` over all the points (one point feature, or a multipoint).
    pub(crate) fn points(&mut self, points: &[[i32; 2]]) {
        self.command(Self::MOVE_TO, points.len());
        for &p in points {
            self.to(p);
        }
    }

    /// One line part: `MoveTo(1) LineTo(n − 1)`; at least two points.
    pub(crate) fn line(&mut self, points: &[[i32; 2]]) {
        debug_assert!(points.len() >= 2);
        self.command(Self::MOVE_TO, 1);
        self.to(points[0]);
        self.command(Self::LINE_TO, points.len() - 1);
        for &p in &points[1..] {
            self.to(p);
        }
    }

    /// One ring, without its closing point: `MoveTo(1) LineTo(n − 1) ClosePath`.
    pub(crate) fn ring(&mut self, points: &[[i32; 2]]) {
        self.line(points);
        self.command(Self::CLOSE_PATH, 1);
    }
}

/// A table of distinct byte strings, as a layer's keys or values are: each is
/// appended once to `bytes` as a length-delimited field, and found again by hash.
/// It holds no borrows, so its buffers can be reused from tile to tile.
#[derive(Debug, Default)]
struct Interner {
    /// The encoded fields, in position order.
    bytes: Vec<u8>,
    /// Where each entry's payload lies in `bytes`.
    spans: Vec<(usize, usize)>,
    /// Positions, hashed by payload.
    table: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

impl Interner {
    fn clear(&mut self) {
        self.bytes.clear();
        self.spans.clear();
        self.table.clear();
    }

    /// The payload at `position`.
    fn payload(&self, position: u32) -> &[u8] {
        let (start, end) = self.spans[position as usize];
        &self.bytes[start..end]
    }

    /// The position of `payload`, added as field `field` if it is new.
    fn position(&mut self, field: u8, payload: &[u8]) -> u32 {
        let Self {
            bytes,
            spans,
            table,
            hasher,
        } = self;
        let entry = table.entry(
            hasher.hash_one(payload),
            |&i| bytes[spans[i as usize].0..spans[i as usize].1] == *payload,
            |&i| hasher.hash_one(&bytes[spans[i as usize].0..spans[i as usize].1]),
        );
        match entry {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(e) => {
                let position =
                    u32::try_from(spans.len()).expect("fewer than 2^32 entries in a tile");
                bytes.push(key(field, LEN));
                put_varint(bytes, payload.len() as u64);
                spans.push((bytes.len(), bytes.len() + payload.len()));
                bytes.extend_from_slice(payload);
                e.insert(position);
                position
            }
        }
    }
}

/// One layer being written: its features, and its key and value tables, each
/// entry once (tags refer to them by position). Holds no borrows: one writer
/// serves every layer of every tile a thread makes.
#[derive(Debug, Default)]
pub(crate) struct LayerWriter {
    /// Encoded `Layer.features` fields, each with its key and length.
    features: Vec<u8>,
    feature_count: usize,
    /// `Layer.keys`: the key strings.
    keys: Interner,
    /// `Layer.values`: whole `Value` messages, so that equal encodings are equal values.
    values: Interner,
    /// The current feature's packed tags.
    tags: Vec<u8>,
    /// How many tags the current feature has so far.
    tag_count: usize,
    /// The key and value positions of the previous feature's tags, by order.
    /// Features of a layer mostly share their keys, in the same (sorted)
    /// order, and neighbours often share values (district, land use …): a
    /// byte comparison against the memo then saves a hash lookup.
    memo: Vec<(u32, u32)>,
    /// Scratch: the `Value` message being looked up.
    value_msg: Vec<u8>,
    /// Scratch: the JSON text of an array or object property.
    json: Vec<u8>,
}

impl LayerWriter {
    /// Empties the writer for the next layer, keeping its buffers.
    pub(crate) fn clear(&mut self) {
        self.features.clear();
        self.feature_count = 0;
        self.keys.clear();
        self.values.clear();
        self.tags.clear();
        self.memo.clear();
    }

    /// Bytes held by the buffers, to let a thread's scratch shrink after a huge tile.
    pub(crate) fn capacity(&self) -> usize {
        self.features.capacity()
            + self.keys.bytes.capacity()
            + self.values.bytes.capacity()
            + self.values.spans.capacity() * std::mem::size_of::<(usize, usize)>()
            + self.values.table.capacity() * std::mem::size_of::<u32>()
    }

    pub(crate) fn feature_count(&self) -> usize {
        self.feature_count
    }

    /// Starts the tags of a new feature.
    pub(crate) fn begin_tags(&mut self) {
        self.tags.clear();
        self.tag_count = 0;
    }

    /// Adds a string property to the current feature's tags.
    pub(crate) fn tag_str(&mut self, key_str: &str, value: &str) {
        self.value_msg.clear();
        put_len_field(&mut self.value_msg, 1, value.as_bytes());
        self.push_tag(key_str);
    }

    /// Adds a JSON property to the current feature's tags: strings, numbers
    /// and booleans as themselves, arrays and objects as their JSON text, and
    /// null not at all (MVT has no null).
    pub(crate) fn tag_json(&mut self, key_str: &str, value: &serde_json::Value) {
        use serde_json::Value;
        let msg = &mut self.value_msg;
        msg.clear();
        match value {
            Value::Null => return,
            Value::Bool(b) => {
                msg.push(key(7, VARINT));
                msg.push(u8::from(*b));
            }
            Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => {
                    msg.push(key(5, VARINT));
                    put_varint(msg, u);
                }
                (None, Some(i)) => {
                    msg.push(key(6, VARINT));
                    put_varint(msg, zigzag64(i));
                }
                (None, None) => {
                    // Not an integer: serde_json then always has an f64.
                    msg.push(key(3, FIXED64));
                    let f = n.as_f64().unwrap_or(f64::NAN);
                    msg.extend_from_slice(&f.to_le_bytes());
                }
            },
            Value::String(s) => put_len_field(msg, 1, s.as_bytes()),
            Value::Array(_) | Value::Object(_) => {
                self.json.clear();
                serde_json::to_writer(&mut self.json, value)
                    .expect("a JSON value serializes into memory");
                put_len_field(msg, 1, &self.json);
            }
        }
        self.push_tag(key_str);
    }

    /// Tags the current feature with `key_str` and the value in `value_msg`.
    fn push_tag(&mut self, key_str: &str) {
        let memo = self.memo.get(self.tag_count).copied();
        let k = match memo {
            Some((k, _)) if self.keys.payload(k) == key_str.as_bytes() => k,
            _ => self.keys.position(3, key_str.as_bytes()),
        };
        let v = match memo {
            Some((_, v)) if self.values.payload(v) == self.value_msg => v,
            _ => self.values.position(4, &self.value_msg),
        };
        if let Some(m) = self.memo.get_mut(self.tag_count) {
            *m = (k, v);
        } else {
            self.memo.push((k, v));
        }
        self.tag_count += 1;
        put_varint(&mut self.tags, u64::from(k));
        put_varint(&mut self.tags, u64::from(v));
    }

    /// Writes a feature with the current tags and this geometry command stream.
    pub(crate) fn feature(&mut self, id: Option<u64>, kind: GeomType, geometry: &[u8]) {
        // type: key and one-byte value; geometry: key, length, commands.
        let mut len = 2 + 1 + varint_len(geometry.len() as u64) + geometry.len();
        if let Some(id) = id {
            len += 1 + varint_len(id);
        }
        if !self.tags.is_empty() {
            len += 1 + varint_len(self.tags.len() as u64) + self.tags.len();
        }
        let out = &mut self.features;
        out.push(key(2, LEN));
        put_varint(out, len as u64);
        if let Some(id) = id {
            out.push(key(1, VARINT));
            put_varint(out, id);
        }
        if !self.tags.is_empty() {
            put_len_field(out, 2, &self.tags);
        }
        out.push(key(3, VARINT));
        out.push(kind as u8);
        put_len_field(out, 4, geometry);
        self.feature_count += 1;
    }

    /// The `Layer` message's length.
    fn message_len(&self, name: &str, extent: u32) -> usize {
        2 + 1
            + varint_len(name.len() as u64)
            + name.len()
            + self.features.len()
            + self.keys.bytes.len()
            + self.values.bytes.len()
            + 1
            + varint_len(u64::from(extent))
    }

    /// How many bytes [`LayerWriter::finish`] appends.
    pub(crate) fn encoded_len(&self, name: &str, extent: u32) -> usize {
        let len = self.message_len(name, extent);
        1 + varint_len(len as u64) + len
    }

    /// Appends the layer, as a `Tile.layers` field, to `tile`.
    pub(crate) fn finish(&self, name: &str, extent: u32, tile: &mut Vec<u8>) {
        const VERSION: u8 = 2;
        let len = self.message_len(name, extent);
        tile.push(key(3, LEN));
        put_varint(tile, len as u64);
        tile.push(key(15, VARINT));
        tile.push(VERSION);
        put_len_field(tile, 1, name.as_bytes());
        tile.extend_from_slice(&self.features);
        tile.extend_from_slice(&self.keys.bytes);
        tile.extend_from_slice(&self.values.bytes);
        tile.push(key(5, VARINT));
        put_varint(tile, u64::from(extent));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_zigzag_match_the_protobuf_examples() {
        let enc = |v: u64| {
            let mut b = vec![];
            put_varint(&mut b, v);
            assert_eq!(b.len(), varint_len(v), "{v}");
            b
        };
        assert_eq!(enc(0), [0]);
        assert_eq!(enc(1), [1]);
        assert_eq!(enc(150), [0x96, 0x01]);
        assert_eq!(enc(300), [0xAC, 0x02]);
        assert_eq!(enc(u64::MAX).len(), 10);
        assert_eq!(
            [0, -1, 1, -2, 2147483647, -2147483648].map(zigzag32),
            [0, 1, 2, 3, 4294967294, 4294967295]
        );
        assert_eq!(zigzag64(-1), 1);
    }

    #[test]
    fn the_spec_example_geometries_encode_as_in_the_spec() {
        // MVT 2.1 spec, 4.3.5: a point at (25, 17); a line (2,2) (2,10) (10,10);
        // a polygon (3,6) (8,12) (20,34).
        let mut g = GeometryWriter::default();
        g.points(&[[25, 17]]);
        assert_eq!(g.bytes, [9, 50, 34]);
        g.clear();
        g.line(&[[2, 2], [2, 10], [10, 10]]);
        assert_eq!(g.bytes, [9, 4, 4, 18, 0, 16, 16, 0]);
        g.clear();
        g.ring(&[[3, 6], [8, 12], [20, 34]]);
        assert_eq!(g.bytes, [9, 6, 12, 18, 10, 12, 24, 44, 15]);
    }
}
