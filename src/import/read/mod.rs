//! One reader per format, and what they share: content sniffing, CRS names,
//! number typing of text values, 2D geometries through geozero.

pub(crate) mod csv;
mod dbf;
pub(crate) mod fgb;
pub(crate) mod geojson;
mod geometry;
pub(crate) mod gpkg;
pub(crate) mod shapefile;
pub(crate) mod zip;

use std::path::Path;

use serde_json::{Number, Value};

use super::Format;

/// The format by content alone, or `None` when the bytes do not tell.
/// `by_name` (the extension's guess) settles what content leaves open: a
/// first JSON line cut off by the end of the sample.
pub(crate) fn sniff(bytes: &[u8], by_name: Option<Format>) -> Option<Format> {
    if bytes.starts_with(b"SQLite format 3\0") {
        return Some(Format::GeoPackage);
    }
    if bytes.len() >= 8 && &bytes[0..3] == b"fgb" && &bytes[4..7] == b"fgb" {
        return Some(Format::FlatGeobuf);
    }
    // The .shp file code, 9994, big-endian; and a zip (a zipped Shapefile).
    if bytes.starts_with(&[0, 0, 0x27, 0x0a])
        || bytes.starts_with(b"PK\x03\x04")
        || bytes.starts_with(b"PK\x05\x06")
    {
        return Some(Format::Shapefile);
    }
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = text.iter().position(|b| !b.is_ascii_whitespace())?;
    match text[start] {
        // RFC 8142: every record starts with a record separator.
        0x1e => Some(Format::GeoJsonSeq),
        b'{' => {
            let rest = &text[start..];
            let Some(end) = rest.iter().position(|&b| b == b'\n') else {
                return by_name
                    .filter(|f| *f == Format::GeoJsonSeq)
                    .or(Some(Format::GeoJson));
            };
            // A whole Feature (or geometry) on the first line, more after it: a sequence.
            let first: Option<Value> = serde_json::from_slice(&rest[..end]).ok();
            let kind = first.as_ref().and_then(|v| v.get("type")?.as_str());
            let more = rest[end..].iter().any(|b| !b.is_ascii_whitespace());
            match kind {
                Some(k) if k != "FeatureCollection" && more => Some(Format::GeoJsonSeq),
                _ => Some(Format::GeoJson),
            }
        }
        _ => None,
    }
}

/// A CRS name from a file, as [`super::SourceInfo::crs`] gives it: EPSG
/// codes in any of their spellings (`EPSG:2264`, `urn:ogc:def:crs:EPSG::2264`,
/// `urn:ogc:def:crs:EPSG:6.6:2264`, `http://www.opengis.net/def/crs/EPSG/0/2264`,
/// `…/epsg.xml#2264`) as `EPSG:2264`; the OGC lon/lat CRSs (`CRS84`,
/// `urn:ogc:def:crs:OGC:1.3:CRS84`, `CRS:84`…) as `EPSG:4326` (and CRS83,
/// CRS27 as EPSG:4269, EPSG:4267), since every reader gives x = longitude;
/// anything else as written.
pub(crate) fn crs_name(name: &str) -> String {
    let name = name.trim();
    let lower = name.to_ascii_lowercase();
    // The plain WGS 84 of a `.prj` (ESRI WKT, which names no EPSG code):
    // lon/lat degrees, as EPSG:4326 is read here.
    if lower.starts_with("geogcs[\"gcs_wgs_1984\"") && lower.contains("datum[\"d_wgs_1984\"") {
        return "EPSG:4326".to_owned();
    }
    for (ogc, epsg) in [("84", 4326), ("83", 4269), ("27", 4267)] {
        if lower.ends_with(&format!("crs{ogc}")) || lower == format!("crs:{ogc}") {
            return format!("EPSG:{epsg}");
        }
    }
    if let Some(at) = lower.rfind("epsg") {
        let rest = &lower[at + 4..];
        let digits = rest.len() - rest.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        let between = &rest[..rest.len() - digits];
        let separators = between
            .chars()
            .all(|c| matches!(c, ':' | '/' | '.' | '0'..='9'));
        if digits > 0 && (separators || between == ".xml#") && !between.is_empty() {
            return format!("EPSG:{}", &rest[rest.len() - digits..]);
        }
    }
    name.to_owned()
}

/// A text value (CSV) as JSON: empty is null; text written exactly as a
/// JSON number is that number (`12`, `-3.5`, `1e3`), an integer when it has
/// no fraction or exponent and fits 64 bits; everything else stays text,
/// notably codes with leading zeros (`0123`), `+5`, `1.`, `NaN`, and integers
/// too big for 64 bits (their digits would be lost as floats).
pub(crate) fn typed_text(text: &str) -> Value {
    if text.is_empty() {
        return Value::Null;
    }
    match json_number_kind(text.as_bytes()) {
        Some(true) => text
            .parse::<i64>()
            .map_or_else(|_| Value::String(text.to_owned()), Value::from),
        Some(false) => text
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map_or_else(|| Value::String(text.to_owned()), Value::Number),
        None => Value::String(text.to_owned()),
    }
}

/// `Some(true)` for a JSON integer, `Some(false)` for another JSON number
/// (RFC 8259 §6 grammar), `None` for anything else.
fn json_number_kind(b: &[u8]) -> Option<bool> {
    let digits = |i: usize| b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    let mut i = usize::from(b.first() == Some(&b'-'));
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i += digits(i),
        _ => return None,
    }
    let mut integer = true;
    if b.get(i) == Some(&b'.') {
        let n = digits(i + 1);
        if n == 0 {
            return None;
        }
        i += 1 + n;
        integer = false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let n = digits(i);
        if n == 0 {
            return None;
        }
        i += n;
        integer = false;
    }
    (i == b.len()).then_some(integer)
}

/// The file name without its extension: the layer name of single-layer files.
pub(crate) fn file_layer(path: &Path) -> Option<String> {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
}

/// One step of a reader whose `next` gives `Ok(None)` at the end of the file:
/// nothing more after the end or after an error that ends the file; after a
/// feature's own error, reading goes on.
pub(crate) fn settle(
    done: &mut bool,
    next: crate::import::Result<Option<crate::import::SourceFeature>>,
) -> Option<crate::import::Result<crate::import::SourceFeature>> {
    match next {
        Ok(Some(feature)) => Some(Ok(feature)),
        Ok(None) => {
            *done = true;
            None
        }
        Err(e) => {
            *done = !e.is_skippable();
            Some(Err(e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn crs_names_in_their_spellings() {
        for epsg in [
            "EPSG:2264",
            "epsg:2264",
            "urn:ogc:def:crs:EPSG::2264",
            "urn:ogc:def:crs:EPSG:6.6:2264",
            "urn:x-ogc:def:crs:EPSG:2264",
            "http://www.opengis.net/def/crs/EPSG/0/2264",
            "http://www.opengis.net/gml/srs/epsg.xml#2264",
        ] {
            assert_eq!(crs_name(epsg), "EPSG:2264", "{epsg}");
        }
        for crs84 in [
            "urn:ogc:def:crs:OGC:1.3:CRS84",
            "urn:ogc:def:crs:OGC::CRS84",
            "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
            "OGC:CRS84",
            "CRS:84",
        ] {
            assert_eq!(crs_name(crs84), "EPSG:4326", "{crs84}");
        }
        assert_eq!(crs_name("urn:ogc:def:crs:OGC:1.3:CRS83"), "EPSG:4269");
        assert_eq!(crs_name("ESRI:102100"), "ESRI:102100");
        assert_eq!(crs_name("EPSG"), "EPSG");
        let esri_wgs84 = r#"GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]"#;
        assert_eq!(crs_name(esri_wgs84), "EPSG:4326");
        assert_eq!(crs_name("epsgfoo2264"), "epsgfoo2264");
    }

    #[test]
    fn text_values_become_numbers_only_when_written_as_numbers() {
        assert_eq!(typed_text("12"), json!(12));
        assert_eq!(typed_text("-3.5"), json!(-3.5));
        assert_eq!(typed_text("1e3"), json!(1000.0));
        assert_eq!(typed_text("0"), json!(0));
        assert_eq!(typed_text("0.25"), json!(0.25));
        assert_eq!(typed_text(""), Value::Null);
        for text in [
            "0123",
            "+5",
            "1.",
            ".5",
            "NaN",
            "inf",
            " 12",
            "12 ",
            "16:50:011204:35",
            "99999999999999999999",
            "1e999",
            "-",
            "1e",
        ] {
            assert_eq!(typed_text(text), json!(text), "{text}");
        }
    }

    #[test]
    fn sniffing() {
        let seq =
            b"{\"type\":\"Feature\",\"geometry\":null,\"properties\":{}}\n{\"type\":\"Feature\"";
        assert_eq!(sniff(seq, None), Some(Format::GeoJsonSeq));
        assert_eq!(sniff(b"\x1e{\"type\":", None), Some(Format::GeoJsonSeq));
        let fc = b"{\"type\":\"FeatureCollection\",\"features\":[]}\n";
        assert_eq!(sniff(fc, None), Some(Format::GeoJson));
        assert_eq!(
            sniff(b"\xEF\xBB\xBF{\n \"type\"", None),
            Some(Format::GeoJson)
        );
        assert_eq!(
            sniff(b"{\"type\":\"Feat", Some(Format::GeoJsonSeq)),
            Some(Format::GeoJsonSeq)
        );
        assert_eq!(sniff(b"id,wkt\n1,POINT (1 2)\n", Some(Format::Csv)), None);
        assert_eq!(sniff(b"", None), None);
    }
}
