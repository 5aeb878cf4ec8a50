//! CSV with geometries in a WKT column or as longitude/latitude (or x/y)
//! columns, read record by record with the `csv` crate.
//!
//! - The delimiter is whichever of `,` `;` tab occurs most in the header line
//!   (outside quotes): spreadsheets in much of Europe and Russia write `;`.
//! - The text must be UTF-8 (a BOM is skipped); a record that is not is an
//!   error for that record.
//! - The geometry columns are found by option, else by name (see
//!   [`crate::import::ReadOptions`]); they make the geometry and are not
//!   properties. An empty WKT (or empty lon and lat) is a null geometry.
//! - Every other column is a property, typed per value by
//!   [`super::typed_text`]: a value written exactly as a JSON number is a
//!   number, an empty one is null, anything else (codes with leading zeros
//!   included) stays text. Typing per value keeps one pass and no guessing
//!   ahead; a column of mixed values gives mixed types.
//! - A CSV declares no CRS: [`crate::import::SourceInfo::crs`] is `None`.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use geo_types::{Coord, Point};
use geozero::wkt::Wkt;
use geozero::GeozeroGeometry;

use super::geometry::read_2d;
use super::{file_layer, typed_text};
use crate::import::SourceInfo;
use crate::import::{FeatureSource, Format, ReadError, ReadOptions, Result, SourceFeature};
use crate::model::Properties;

/// Column names taken for WKT when no option names one (any case).
const WKT_NAMES: [&str; 5] = ["wkt", "geometry", "geom", "the_geom", "wkt_geom"];
/// Column names taken for longitude / easting (any case).
const LON_NAMES: [&str; 4] = ["lon", "lng", "longitude", "x"];
/// Column names taken for latitude / northing (any case).
const LAT_NAMES: [&str; 3] = ["lat", "latitude", "y"];

/// Where the geometry of a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GeometryColumns {
    Wkt(usize),
    LonLat { lon: usize, lat: usize },
}

pub(crate) struct CsvSource {
    path: PathBuf,
    info: SourceInfo,
    reader: csv::Reader<BufReader<File>>,
    headers: Vec<String>,
    columns: GeometryColumns,
    record: csv::StringRecord,
    index: u64,
    done: bool,
}

impl CsvSource {
    pub(crate) fn open(path: &Path, options: &ReadOptions) -> Result<Self> {
        if ends_inside_quotes(path)? {
            return Err(ReadError::invalid(
                path,
                Format::Csv,
                "the file ends inside a quoted field: truncated?",
            ));
        }
        let file = File::open(path).map_err(ReadError::io(path))?;
        let mut buffered = BufReader::with_capacity(1 << 16, file);
        let delimiter = sniff_delimiter(buffered.fill_buf().map_err(ReadError::io(path))?);
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(true)
            .from_reader(buffered);
        let headers: Vec<String> = reader
            .headers()
            .map_err(|e| ReadError::invalid(path, Format::Csv, format!("bad header line: {e}")))?
            .iter()
            .map(str::to_owned)
            .collect();
        if headers.iter().all(String::is_empty) {
            return Err(ReadError::invalid(path, Format::Csv, "no header line"));
        }
        let columns = geometry_columns(&headers, options).map_err(|reason| ReadError::Columns {
            path: path.to_owned(),
            reason,
        })?;
        Ok(Self {
            path: path.to_owned(),
            info: SourceInfo {
                format: Format::Csv,
                layer: file_layer(path),
                crs: None,
                count: None,
                notes: Vec::new(),
            },
            reader,
            headers,
            columns,
            record: csv::StringRecord::new(),
            index: 0,
            done: false,
        })
    }

    /// The feature of the record just read.
    fn feature(&self, index: u64) -> std::result::Result<SourceFeature, String> {
        let cell = |i: usize| self.record.get(i).unwrap_or("").trim();
        let (geometry, notes) = match self.columns {
            GeometryColumns::Wkt(i) if cell(i).is_empty() => (None, Vec::new()),
            GeometryColumns::Wkt(i) => {
                let (g, notes) = read_2d(|p| Wkt(cell(i)).process_geom(p))
                    .map_err(|e| format!("column '{}': bad WKT: {e}", self.headers[i]))?;
                (Some(g), notes)
            }
            GeometryColumns::LonLat { lon, lat } => match (cell(lon), cell(lat)) {
                ("", "") => (None, Vec::new()),
                (x, y) => {
                    let number = |text: &str, column: usize| {
                        text.parse::<f64>()
                            .ok()
                            .filter(|v| v.is_finite())
                            .ok_or_else(|| {
                                format!(
                                    "column '{}': '{text}' is not a coordinate",
                                    self.headers[column]
                                )
                            })
                    };
                    let point = Point(Coord {
                        x: number(x, lon)?,
                        y: number(y, lat)?,
                    });
                    (Some(point.into()), Vec::new())
                }
            },
        };
        let geometry_column = |i: usize| match self.columns {
            GeometryColumns::Wkt(w) => i == w,
            GeometryColumns::LonLat { lon, lat } => i == lon || i == lat,
        };
        let properties: Properties = self
            .headers
            .iter()
            .zip(self.record.iter())
            .enumerate()
            .filter(|(i, _)| !geometry_column(*i))
            .map(|(_, (name, value))| (name.clone(), typed_text(value)))
            .collect();
        Ok(SourceFeature {
            index,
            geometry,
            properties,
            notes,
        })
    }
}

impl Iterator for CsvSource {
    type Item = Result<SourceFeature>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let index = self.index;
        match self.reader.read_record(&mut self.record) {
            Ok(false) => {
                self.done = true;
                None
            }
            Ok(true) => {
                self.index += 1;
                let line = self.record.position().map_or(0, csv::Position::line);
                Some(self.feature(index).map_err(|e| {
                    ReadError::feature(&self.path, index, format!("line {line}: {e}"))
                }))
            }
            Err(e) => {
                self.index += 1;
                match e.kind() {
                    csv::ErrorKind::Utf8 { .. } | csv::ErrorKind::UnequalLengths { .. } => {
                        Some(Err(ReadError::feature(&self.path, index, e.to_string())))
                    }
                    _ => {
                        self.done = true;
                        Some(Err(ReadError::broken(&self.path, index, e.to_string())))
                    }
                }
            }
        }
    }
}

impl FeatureSource for CsvSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }
}

/// Whether the file has an odd number of `"`: a quoted field (a WKT with
/// commas) that never closes, which the csv crate would close at the end of
/// the file, turning a file cut in the middle of its last row into a row
/// with a bad WKT that a `skip` import would quietly leave out. Quotes
/// inside quoted fields are doubled, so a whole file always has an even
/// number. One pass over the bytes, before reading: a few hundred MB/s.
fn ends_inside_quotes(path: &Path) -> Result<bool> {
    let mut file = File::open(path).map_err(ReadError::io(path))?;
    let mut buf = vec![0u8; 1 << 16];
    let mut odd = false;
    loop {
        let n = std::io::Read::read(&mut file, &mut buf).map_err(ReadError::io(path))?;
        if n == 0 {
            return Ok(odd);
        }
        let quotes = buf[..n].iter().filter(|&&b| b == b'"').count();
        odd ^= quotes % 2 == 1;
    }
}

/// The delimiter of the header line: `,` `;` or tab, whichever occurs most
/// outside quotes (`,` on a tie or when none does).
fn sniff_delimiter(start: &[u8]) -> u8 {
    let line = start.split(|&b| b == b'\n').next().unwrap_or(start);
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0)];
    let mut quoted = false;
    for &b in line {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted {
            for (d, n) in &mut counts {
                if b == *d {
                    *n += 1;
                }
            }
        }
    }
    counts
        .iter()
        .fold(
            (b',', 0),
            |best, &(d, n)| if n > best.1 { (d, n) } else { best },
        )
        .0
}

/// Finds the geometry columns: by option, else by the usual names.
fn geometry_columns(
    headers: &[String],
    options: &ReadOptions,
) -> std::result::Result<GeometryColumns, String> {
    let listing = || headers.join(", ");
    let named = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .or_else(|| headers.iter().position(|h| h.eq_ignore_ascii_case(name)))
            .ok_or_else(|| format!("no column '{name}'; the columns are: {}", listing()))
    };
    let usual = |names: &[&str]| {
        names.iter().find_map(|n| {
            headers
                .iter()
                .position(|h| h.trim().eq_ignore_ascii_case(n))
        })
    };
    if let Some(name) = &options.wkt_column {
        return named(name).map(GeometryColumns::Wkt);
    }
    let lon = options.lon_column.as_deref().map(named).transpose()?;
    let lat = options.lat_column.as_deref().map(named).transpose()?;
    if lon.is_none() && lat.is_none() {
        if let Some(i) = usual(&WKT_NAMES) {
            return Ok(GeometryColumns::Wkt(i));
        }
    }
    match (
        lon.or_else(|| usual(&LON_NAMES)),
        lat.or_else(|| usual(&LAT_NAMES)),
    ) {
        (Some(lon), Some(lat)) if lon != lat => Ok(GeometryColumns::LonLat { lon, lat }),
        _ => Err(format!(
            "no geometry columns found: name a WKT column with --wkt-column, or the \
             coordinate columns with --lon-column and --lat-column; the columns are: {}",
            listing()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(
        headers: &[&str],
        options: &ReadOptions,
    ) -> std::result::Result<GeometryColumns, String> {
        let headers: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
        geometry_columns(&headers, options)
    }

    #[test]
    fn geometry_columns_by_name_and_option() {
        let none = ReadOptions::default();
        assert_eq!(cols(&["id", "WKT"], &none), Ok(GeometryColumns::Wkt(1)));
        assert_eq!(cols(&["the_geom", "x"], &none), Ok(GeometryColumns::Wkt(0)));
        assert_eq!(
            cols(&["name", "Latitude", "Longitude"], &none),
            Ok(GeometryColumns::LonLat { lon: 2, lat: 1 })
        );
        let e = cols(&["a", "b"], &none).unwrap_err();
        assert!(e.contains("--wkt-column") && e.contains("a, b"), "{e}");
        let by_option = ReadOptions {
            lon_column: Some("E".into()),
            lat_column: Some("N".into()),
            ..ReadOptions::default()
        };
        assert_eq!(
            cols(&["wkt", "E", "N"], &by_option),
            Ok(GeometryColumns::LonLat { lon: 1, lat: 2 })
        );
        let missing = ReadOptions {
            wkt_column: Some("shape".into()),
            ..ReadOptions::default()
        };
        assert!(cols(&["wkt"], &missing)
            .unwrap_err()
            .contains("no column 'shape'"));
    }

    #[test]
    fn delimiters() {
        assert_eq!(sniff_delimiter(b"a;b;\"c,d\"\n1;2;3"), b';');
        assert_eq!(sniff_delimiter(b"a,b\n"), b',');
        assert_eq!(sniff_delimiter(b"a\tb\tc"), b'\t');
        assert_eq!(sniff_delimiter(b"wkt"), b',');
    }
}
