//! The attribute table of a Shapefile (dBASE III `.dbf`), read record by
//! record, with its text decoded by an encoding chosen once per file.
//!
//! Written here rather than with the `dbase` crate that `shapefile` brings:
//! its record iterator borrows the reader (so it cannot live in an owning
//! stream without being rebuilt per record), it skips deleted records on its
//! own (which would pair attributes with the wrong shapes), it decodes every
//! number as a float, and its encodings cannot fall back from UTF-8.
//!
//! Values: `C` text with trailing blanks trimmed, blank = null (as GDAL);
//! `N`/`F` numbers, integers when they have no decimals and fit 64 bits,
//! blank or `*` overflow = null; `L` booleans; `D` dates as `YYYY-MM-DD`
//! text; `I`, `B`/`O` binary integers and doubles; memo and other binary
//! fields are null with a note (their data is in files we do not read).

use std::io::{self, Read};

use encoding_rs::Encoding;
use serde_json::{Number, Value};

use crate::model::Properties;

/// One field (column) of the table.
#[derive(Debug, Clone)]
struct Field {
    name: String,
    kind: u8,
    /// Offset in the record, after the deletion flag.
    offset: usize,
    len: usize,
    decimals: u8,
}

/// The table's header, and the reader of its records.
pub(crate) struct Dbf<R> {
    source: R,
    fields: Vec<Field>,
    /// The number of records the header declares.
    pub records: u32,
    /// Where the records start.
    header_len: usize,
    /// Record length, deletion flag included.
    record_len: usize,
    /// Records read so far.
    read: u32,
    buf: Vec<u8>,
    encoding: &'static Encoding,
}

/// The bytes before the first record: [`Dbf::open`] reads them, and an
/// encoding guess skips them.
pub(crate) struct Header {
    /// The header length: where the records start.
    pub header_len: usize,
    /// The language driver id (byte 29), 0 when unset.
    pub ldid: u8,
}

/// A record: its properties and the notes on them, or `None` when deleted.
pub(crate) type Record = Option<(Properties, Vec<String>)>;

impl Header {
    /// The fixed 32-byte start of a dBASE file.
    pub fn parse(start: &[u8]) -> Result<Header, String> {
        if start.len() < 32 {
            return Err("the .dbf is shorter than its 32-byte header".into());
        }
        if start[0] & 0x07 != 0x03 && !matches!(start[0], 0x30..=0x32 | 0xf5 | 0xfb) {
            return Err(format!(
                "the .dbf is not a dBASE III table (version byte {:#04x})",
                start[0]
            ));
        }
        Ok(Header {
            header_len: usize::from(u16::from_le_bytes([start[8], start[9]])),
            ldid: start[29],
        })
    }
}

impl<R: Read> Dbf<R> {
    /// Reads the header and field descriptors; text will be decoded as `encoding`.
    pub fn open(mut source: R, encoding: &'static Encoding) -> Result<Self, String> {
        let mut start = [0u8; 32];
        source
            .read_exact(&mut start)
            .map_err(|_| "the .dbf is shorter than its 32-byte header".to_owned())?;
        let header = Header::parse(&start)?;
        let records = u32::from_le_bytes([start[4], start[5], start[6], start[7]]);
        let record_len = usize::from(u16::from_le_bytes([start[10], start[11]]));
        if header.header_len < 33 {
            return Err(format!(
                "the .dbf header length {} is too short",
                header.header_len
            ));
        }
        let mut descriptors = vec![0u8; header.header_len - 32];
        source
            .read_exact(&mut descriptors)
            .map_err(|_| "the .dbf ends inside its field descriptors: truncated?".to_owned())?;
        let mut fields = Vec::new();
        let mut offset = 0;
        for d in descriptors.chunks_exact(32) {
            if d[0] == 0x0d {
                break;
            }
            let name_bytes = &d[..11];
            let name_len = name_bytes.iter().position(|&b| b == 0).unwrap_or(11);
            let (name, _, _) = encoding.decode(&name_bytes[..name_len]);
            let len = usize::from(d[16]);
            fields.push(Field {
                name: name.trim().to_owned(),
                kind: d[11].to_ascii_uppercase(),
                offset,
                len,
                decimals: d[17],
            });
            offset += len;
        }
        if 1 + offset > record_len {
            return Err(format!(
                "the .dbf fields take {} bytes but its records have {}",
                1 + offset,
                record_len
            ));
        }
        Ok(Self {
            source,
            fields,
            records,
            header_len: header.header_len,
            record_len,
            read: 0,
            buf: vec![0; record_len],
            encoding,
        })
    }

    /// The file length the header implies (header and all records).
    pub fn expected_len(&self) -> u64 {
        self.header_len as u64 + u64::from(self.records) * self.record_len as u64
    }

    /// The next record, `Ok(None)` past the last; a deleted record is
    /// `Some(None)`. An error means the file ends early.
    pub fn next_record(&mut self) -> io::Result<Option<Record>> {
        if self.read >= self.records {
            return Ok(None);
        }
        self.source.read_exact(&mut self.buf)?;
        self.read += 1;
        if self.buf[0] == b'*' {
            return Ok(Some(None));
        }
        let mut properties = Properties::new();
        let mut notes = Vec::new();
        for field in &self.fields {
            let raw = &self.buf[1 + field.offset..1 + field.offset + field.len];
            let value = self.value(field, raw, &mut notes);
            properties.insert(field.name.clone(), value);
        }
        Ok(Some(Some((properties, notes))))
    }

    fn value(&self, field: &Field, raw: &[u8], notes: &mut Vec<String>) -> Value {
        let text = || {
            let end = raw
                .iter()
                .rposition(|&b| b != b' ' && b != 0)
                .map_or(0, |e| e + 1);
            self.encoding.decode_without_bom_handling(&raw[..end]).0
        };
        match field.kind {
            b'C' => {
                let t = text();
                if t.is_empty() {
                    Value::Null
                } else {
                    Value::String(t.into_owned())
                }
            }
            b'N' | b'F' => {
                let t = text();
                let t = t.trim();
                if t.is_empty() || t.bytes().all(|b| b == b'*') {
                    return Value::Null;
                }
                if field.decimals == 0 {
                    if let Ok(i) = t.parse::<i64>() {
                        return Value::from(i);
                    }
                }
                match t.parse::<f64>().ok().and_then(Number::from_f64) {
                    Some(n) => Value::Number(n),
                    None => {
                        notes.push(format!(
                            "field {}: '{t}' is not a number; kept as text",
                            field.name
                        ));
                        Value::String(t.to_owned())
                    }
                }
            }
            b'L' => match raw.first() {
                Some(b'T' | b't' | b'Y' | b'y') => Value::Bool(true),
                Some(b'F' | b'f' | b'N' | b'n') => Value::Bool(false),
                _ => Value::Null,
            },
            b'D' => {
                let t = text();
                let t = t.trim();
                let digits = t.len() == 8 && t.bytes().all(|b| b.is_ascii_digit());
                if t.is_empty() || t == "00000000" {
                    Value::Null
                } else if digits {
                    Value::String(format!("{}-{}-{}", &t[..4], &t[4..6], &t[6..]))
                } else {
                    Value::String(t.to_owned())
                }
            }
            b'I' if raw.len() == 4 => {
                Value::from(i32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]))
            }
            b'B' | b'O' if raw.len() == 8 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(raw);
                Number::from_f64(f64::from_le_bytes(b)).map_or(Value::Null, Value::Number)
            }
            other => {
                notes.push(format!(
                    "field {}: type '{}' is not read (memo or binary data)",
                    field.name,
                    char::from(other).escape_default()
                ));
                Value::Null
            }
        }
    }
}

/// The encoding a `.cpg` names: a WHATWG label (`UTF-8`, `windows-1251`,
/// `koi8-r`…) or a code page number, bare or as `CP1251`, `ANSI 1251`,
/// `88591`/`8859-1` for ISO 8859 parts. `None` when unknown.
pub(crate) fn cpg_encoding(cpg: &str) -> Option<&'static Encoding> {
    let label = cpg.trim().trim_start_matches('\u{feff}').trim();
    let upper = label.to_ascii_uppercase();
    let number = upper
        .strip_prefix("ANSI")
        .or_else(|| upper.strip_prefix("CP"))
        .or_else(|| upper.strip_prefix("WINDOWS-"))
        .unwrap_or(&upper)
        .trim();
    if let Some(part) = number
        .strip_prefix("8859")
        .map(|p| p.trim_start_matches(['-', '_']))
        .filter(|p| !p.is_empty())
    {
        return Encoding::for_label(format!("iso-8859-{part}").as_bytes());
    }
    if let Ok(page) = number.parse::<u16>() {
        return code_page(page);
    }
    Encoding::for_label(label.as_bytes())
}

/// The encoding of a Windows code page number.
fn code_page(page: u16) -> Option<&'static Encoding> {
    Some(match page {
        65001 => encoding_rs::UTF_8,
        866 => encoding_rs::IBM866,
        874 => encoding_rs::WINDOWS_874,
        932 => encoding_rs::SHIFT_JIS,
        936 => encoding_rs::GBK,
        949 => encoding_rs::EUC_KR,
        950 => encoding_rs::BIG5,
        1250 => encoding_rs::WINDOWS_1250,
        1251 => encoding_rs::WINDOWS_1251,
        1252 => encoding_rs::WINDOWS_1252,
        1253 => encoding_rs::WINDOWS_1253,
        1254 => encoding_rs::WINDOWS_1254,
        1255 => encoding_rs::WINDOWS_1255,
        1256 => encoding_rs::WINDOWS_1256,
        1257 => encoding_rs::WINDOWS_1257,
        1258 => encoding_rs::WINDOWS_1258,
        20866 => encoding_rs::KOI8_R,
        21866 => encoding_rs::KOI8_U,
        28591 => encoding_rs::WINDOWS_1252,
        _ => return None,
    })
}

/// The encoding a DBF's language driver id names, for the ids that name one
/// code page unambiguously (0x57 "ANSI" does not: it means the writer's own).
pub(crate) fn ldid_encoding(ldid: u8) -> Option<&'static Encoding> {
    code_page(match ldid {
        0x03 => 1252,
        0x26 | 0x65 => 866,
        0x13 | 0x7b => 932,
        0x4d | 0x7a => 936,
        0x79 => 949,
        0x78 => 950,
        0x7c => 874,
        0x7d => 1255,
        0x7e => 1256,
        0xc8 => 1250,
        0xc9 => 1251,
        0xca => 1254,
        0xcb => 1253,
        0xcc => 1257,
        _ => return None,
    })
}

/// Whether everything from `reader` is valid UTF-8, read in chunks (bounded
/// memory): a sequence cut by a chunk's end is carried into the next.
pub(crate) fn is_utf8(mut reader: impl Read) -> io::Result<bool> {
    let mut buf = vec![0u8; 1 << 16];
    let mut carry = 0;
    loop {
        let n = reader.read(&mut buf[carry..])?;
        if n == 0 {
            return Ok(carry == 0);
        }
        let filled = carry + n;
        match std::str::from_utf8(&buf[..filled]) {
            Ok(_) => carry = 0,
            Err(e) if e.error_len().is_none() => {
                // An incomplete sequence at the end: keep it for the next read.
                let valid = e.valid_up_to();
                buf.copy_within(valid..filled, 0);
                carry = filled - valid;
            }
            Err(_) => return Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpg_names() {
        for (cpg, enc) in [
            ("UTF-8", encoding_rs::UTF_8),
            ("utf8\n", encoding_rs::UTF_8),
            ("65001", encoding_rs::UTF_8),
            ("CP1251", encoding_rs::WINDOWS_1251),
            ("1251", encoding_rs::WINDOWS_1251),
            ("windows-1251", encoding_rs::WINDOWS_1251),
            ("ANSI 1251", encoding_rs::WINDOWS_1251),
            ("\u{feff}cp1251\r\n", encoding_rs::WINDOWS_1251),
            ("KOI8-R", encoding_rs::KOI8_R),
            ("866", encoding_rs::IBM866),
            ("88595", encoding_rs::ISO_8859_5),
            ("ISO-8859-5", encoding_rs::ISO_8859_5),
        ] {
            assert_eq!(cpg_encoding(cpg), Some(enc), "{cpg:?}");
        }
        assert_eq!(cpg_encoding("no such"), None);
        assert_eq!(ldid_encoding(0xc9), Some(encoding_rs::WINDOWS_1251));
        assert_eq!(ldid_encoding(0x57), None);
    }

    #[test]
    fn utf8_check_carries_sequences_over_chunks() {
        // "Ж" (2 bytes) straddling the 64 KiB chunk boundary.
        let mut text = vec![b'a'; (1 << 16) - 1];
        text.extend_from_slice("Ж".as_bytes());
        assert!(is_utf8(&text[..]).unwrap());
        text.push(0xc6); // "Ж" in CP1251: not UTF-8
        text.push(b' ');
        assert!(!is_utf8(&text[..]).unwrap());
    }
}
