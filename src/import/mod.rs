//! Reading the files a department's GIS specialist imports (issue 5):
//! GeoJSON, GeoJSON text sequences, Shapefiles (also zipped), GeoPackage,
//! FlatGeobuf and CSV (WKT or lon/lat columns), as one stream of
//! [`SourceFeature`]s, then through validation and reprojection to the
//! store ([`pipeline`]).
//!
//! 1. [`detect`] tells the format from the first bytes (magic numbers, the
//!    SQLite header, JSON sniffing) and then from the file name.
//! 2. [`open`] reads what the file says about itself ([`SourceInfo`]: its CRS
//!    as declared, layer, feature count when known up front) and fails for
//!    file-level problems: not that format, damaged or truncated header,
//!    unsupported version, several layers and none chosen, a refused zip.
//! 3. The source then yields the features one at a time, in file order, in
//!    bounded memory: no reader holds more than the feature at hand (and, for
//!    GeoPackage, a short queue of them). A feature that cannot be read is an
//!    `Err` with its index ([`ReadError::is_skippable`]); a file that breaks
//!    off in the middle ends the stream with one [`ReadError::Broken`].
//!
//! 4. [`pipeline::run`] takes the stream to the store: reprojection to
//!    storage lon/lat, per-feature validation ([`validate`]) under the
//!    import's policy, cadastral numbers, batches, and the [`Report`].
//!
//! Geometries are 2D geo-types **in the file's own CRS and units** (metres,
//! US survey feet, degrees…), not reprojected; Z and M are dropped with a
//! note on the feature ([`SourceFeature::notes`]), empty geometries are given
//! as they are (an empty point, which geo-types cannot hold, as an empty
//! MultiPoint), and curves are an error per feature (this step does not
//! linearise arcs; the error names `ogr2ogr -nlt CONVERT_TO_LINEAR`).
//!
//! One module per format under `read/`, each with its reasons in its doc.

mod error;
pub mod pipeline;
mod read;
pub mod report;
#[cfg(test)]
mod tests;
pub mod validate;

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::str::FromStr;

use crate::model::Properties;

pub use error::{ReadError, Result};
pub use pipeline::{ImportError, Progress, Target};
pub use report::{ImportOptions, InvalidPolicy, Mode, Outcome, Report};

/// A source file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// RFC 7946 GeoJSON (and the 2008 form with a `crs` member): a
    /// FeatureCollection, a Feature or a bare geometry.
    GeoJson,
    /// Newline-delimited GeoJSON (`.geojsonl`, `.ndjson`) or an RFC 8142
    /// GeoJSON text sequence (record separators): one feature per record.
    GeoJsonSeq,
    /// ESRI Shapefile: `.shp` with `.shx`, `.dbf`, `.prj`, `.cpg` beside it,
    /// or a `.zip` holding such a set.
    Shapefile,
    /// OGC GeoPackage: one feature table of it.
    GeoPackage,
    /// FlatGeobuf, format version 3.
    FlatGeobuf,
    /// CSV with a WKT column or longitude/latitude columns.
    Csv,
}

impl Format {
    /// Every format, in the order the CLI lists them.
    pub const ALL: [Format; 6] = [
        Format::GeoJson,
        Format::GeoJsonSeq,
        Format::Shapefile,
        Format::GeoPackage,
        Format::FlatGeobuf,
        Format::Csv,
    ];

    /// The name `--format` takes.
    pub fn cli_name(self) -> &'static str {
        match self {
            Format::GeoJson => "geojson",
            Format::GeoJsonSeq => "geojsonseq",
            Format::Shapefile => "shapefile",
            Format::GeoPackage => "gpkg",
            Format::FlatGeobuf => "fgb",
            Format::Csv => "csv",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::GeoJson => "GeoJSON",
            Format::GeoJsonSeq => "GeoJSON sequence",
            Format::Shapefile => "Shapefile",
            Format::GeoPackage => "GeoPackage",
            Format::FlatGeobuf => "FlatGeobuf",
            Format::Csv => "CSV",
        })
    }
}

impl FromStr for Format {
    type Err = String;

    /// The CLI names and the usual aliases (`geojsonl`, `ndjson`, `shp`,
    /// `geopackage`, `flatgeobuf`), any case.
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "geojson" | "json" => Format::GeoJson,
            "geojsonseq" | "geojsonl" | "geojsons" | "ndjson" | "jsonl" => Format::GeoJsonSeq,
            "shapefile" | "shp" | "esri shapefile" => Format::Shapefile,
            "gpkg" | "geopackage" => Format::GeoPackage,
            "fgb" | "flatgeobuf" => Format::FlatGeobuf,
            "csv" => Format::Csv,
            _ => {
                let names: Vec<_> = Format::ALL.iter().map(|f| f.cli_name()).collect();
                return Err(format!(
                    "unknown format '{s}'; one of: {}",
                    names.join(", ")
                ));
            }
        })
    }
}

/// How to read a source; everything is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// The format, when detecting it is not wanted or cannot work.
    pub format: Option<Format>,
    /// The layer to read: a GeoPackage feature table, or the `.shp` (by its
    /// name without extension) in a zip holding several. Needed when there is
    /// more than one.
    pub source_layer: Option<String>,
    /// CSV: the column holding WKT geometries; else the first of `WKT`,
    /// `geometry`, `geom`, `the_geom`, `wkt_geom` (QGIS's name), any case.
    pub wkt_column: Option<String>,
    /// CSV: the longitude (or easting) column; else `lon`, `lng`,
    /// `longitude` or `x` (any case). Used when no WKT column is named or
    /// found.
    pub lon_column: Option<String>,
    /// CSV: the latitude (or northing) column; else `lat`, `latitude` or `y`.
    pub lat_column: Option<String>,
}

/// What a source file says about itself, known once it is open.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceInfo {
    pub format: Format,
    /// The layer being read: the GeoPackage table, the GeoJSON `name` member
    /// or FlatGeobuf header name when there is one, else the file name
    /// without extension.
    pub layer: Option<String>,
    /// The CRS as the file declares it: `EPSG:n` when it names an EPSG code
    /// (CRS84, the lon/lat WGS 84 of GeoJSON, is `EPSG:4326`: every reader
    /// here gives x = longitude), else the WKT or other text it holds (a
    /// `.prj` is kept as its ESRI WKT: PROJ reads it). `None` when the file
    /// declares none: a CSV, a GeoJSON without the legacy `crs` member (RFC
    /// 7946 then implies CRS84, which the import step applies when the
    /// coordinates fit), a Shapefile without `.prj`.
    pub crs: Option<String>,
    /// The number of features, when the format knows it up front
    /// (Shapefile, GeoPackage, FlatGeobuf with an index); `None` otherwise.
    pub count: Option<u64>,
    /// Notes on the whole file (e.g. a DBF whose encoding was guessed).
    pub notes: Vec<String>,
}

/// One feature as read from the file.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceFeature {
    /// 0-based position in the file, for reports ("feature 17 of parcels.shp").
    pub index: u64,
    /// 2D, in the file's CRS and units. `None`: a null or missing geometry.
    pub geometry: Option<geo_types::Geometry<f64>>,
    /// The attributes, typed as the format types them (see each reader).
    pub properties: Properties,
    /// What was changed on the way, e.g. "3D coordinates kept as 2D (Z dropped)".
    pub notes: Vec<String>,
}

/// A stream of features from one source file. Dropping it closes the file
/// (and removes what a zipped Shapefile was unpacked into).
pub trait FeatureSource: Iterator<Item = Result<SourceFeature>> + Send {
    fn info(&self) -> &SourceInfo;

    /// How many bytes of the file are read, for progress bars; `None` when
    /// the reader cannot tell (progress is then estimated from the count).
    fn bytes_read(&self) -> Option<u64> {
        None
    }

    /// The next feature, to be decoded by calling it, possibly on another
    /// thread: readers whose decoding is heavy (GeoJSON parsing) only cut
    /// the feature out here; the others decode at once.
    fn next_deferred(&mut self) -> Option<Deferred> {
        self.next().map(|item| Box::new(move || item) as Deferred)
    }
}

/// A feature read from its file but not yet decoded ([`FeatureSource::next_deferred`]).
pub type Deferred = Box<dyn FnOnce() -> Result<SourceFeature> + Send>;

/// How many bytes [`open`] reads to [`detect`] a format.
const SNIFF_BYTES: usize = 8192;

/// The format of a file by its content first (FlatGeobuf, Shapefile and zip
/// magic numbers, the SQLite header of a GeoPackage, JSON: a first line that
/// is a whole Feature makes a GeoJSON sequence), then by its extension
/// (`.csv`/`.tsv` for CSV, which has no signature). `first_bytes` is the
/// beginning of the file, a few KiB are enough; `None` when neither tells.
pub fn detect(path: &Path, first_bytes: &[u8]) -> Option<Format> {
    read::sniff(first_bytes, by_extension(path)).or_else(|| by_extension(path))
}

fn by_extension(path: &Path) -> Option<Format> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "geojson" | "json" => Format::GeoJson,
        "geojsonl" | "geojsons" | "geojsonseq" | "ndjson" | "jsonl" | "jsonseq" => {
            Format::GeoJsonSeq
        }
        "shp" | "shx" | "dbf" | "zip" => Format::Shapefile,
        "gpkg" => Format::GeoPackage,
        "fgb" => Format::FlatGeobuf,
        "csv" | "tsv" => Format::Csv,
        _ => return None,
    })
}

/// The first bytes of a file, for [`detect`].
fn head(path: &Path) -> Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(SNIFF_BYTES);
    std::fs::File::open(path)
        .and_then(|f| f.take(SNIFF_BYTES as u64).read_to_end(&mut bytes))
        .map_err(ReadError::io(path))?;
    Ok(bytes)
}

fn format_of(path: &Path, options: &ReadOptions) -> Result<Format> {
    match options.format {
        Some(format) => Ok(format),
        None => detect(path, &head(path)?).ok_or_else(|| ReadError::UnknownFormat {
            path: path.to_owned(),
        }),
    }
}

/// Opens a source file: reads its header (CRS, layer, count) and returns the
/// stream of its features. File-level problems fail here; see [`ReadError`].
///
/// Blocking I/O: from async code call it (and iterate) in `spawn_blocking`.
pub fn open(path: &Path, options: &ReadOptions) -> Result<Box<dyn FeatureSource>> {
    Ok(match format_of(path, options)? {
        Format::GeoJson => Box::new(read::geojson::GeoJsonSource::open(path)?),
        Format::GeoJsonSeq => Box::new(read::geojson::GeoJsonSeqSource::open(path)?),
        Format::Shapefile => Box::new(read::shapefile::open(path, options)?),
        Format::GeoPackage => Box::new(read::gpkg::GpkgSource::open(path, options)?),
        Format::FlatGeobuf => Box::new(read::fgb::FgbSource::open(path)?),
        Format::Csv => Box::new(read::csv::CsvSource::open(path, options)?),
    })
}

/// The layers of a source file: the feature tables of a GeoPackage, the
/// Shapefiles in a zip; any other file is one layer, named as
/// [`SourceInfo::layer`] would name it.
pub fn list_layers(path: &Path) -> Result<Vec<String>> {
    match format_of(path, &ReadOptions::default())? {
        Format::GeoPackage => read::gpkg::list_layers(path),
        Format::Shapefile => read::shapefile::list_layers(path),
        _ => Ok(open(path, &ReadOptions::default())?
            .info()
            .layer
            .clone()
            .into_iter()
            .collect()),
    }
}
