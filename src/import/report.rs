//! What an import is asked to do ([`ImportOptions`]) and what it did
//! ([`Report`]): the same report for the CLI, the HTTP endpoint and logs.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use super::ReadOptions;
use crate::model::{LayerCode, LayerKind};

/// Whether an import replaces the layer's features or adds to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The layer holds exactly the file's features afterwards (a department
    /// re-exports its whole layer from its own GIS: the usual case).
    #[default]
    Replace,
    /// The file's features are added to the layer's.
    Append,
}

/// What to do with features whose geometry (or cadastral number) is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InvalidPolicy {
    /// Any such feature refuses the whole import; the report lists them all.
    #[default]
    Reject,
    /// Such features are left out; the report lists them.
    Skip,
    /// Invalid geometries are made valid; what cannot be (null, empty, out
    /// of bounds, a bad cadastral number) is left out. The report lists both.
    Repair,
}

macro_rules! cli_enum {
    ($ty:ty, $what:literal, $($name:literal => $v:expr),+) => {
        impl FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($name => Ok($v),)+
                    other => Err(format!(
                        "'{other}' is not {}; one of: {}",
                        $what,
                        [$($name),+].join(", ")
                    )),
                }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                $(if *self == $v { return f.write_str($name); })+
                Ok(())
            }
        }
    };
}

cli_enum!(Mode, "an import mode", "replace" => Mode::Replace, "append" => Mode::Append);
cli_enum!(InvalidPolicy, "an invalid-feature policy",
    "reject" => InvalidPolicy::Reject, "skip" => InvalidPolicy::Skip, "repair" => InvalidPolicy::Repair);

/// One import, as the CLI flags and the HTTP query parameters give it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportOptions {
    /// The layer written (created when it does not exist).
    pub layer: LayerCode,
    /// The owning department of a layer this import creates; for an existing
    /// layer, it must be the layer's department.
    pub department: Option<String>,
    /// The kind of a layer this import creates (default `other`); for an
    /// existing layer, it must be the layer's kind.
    pub kind: Option<LayerKind>,
    /// The source CRS, overriding what the file declares: `EPSG:n`, WKT, or
    /// anything else PROJ reads.
    pub srs: Option<String>,
    pub mode: Mode,
    pub invalid: InvalidPolicy,
    /// Read and check everything, write nothing.
    pub dry_run: bool,
    /// A layer this import creates is internal (unpublished): invisible to
    /// the public role. An existing layer keeps what it is.
    pub internal: bool,
    /// The source field holding parcels' cadastral numbers (parcels layers
    /// only); else the first of [`CADASTRAL_FIELDS`] present.
    pub cadastral_field: Option<String>,
    /// Format, source layer, CSV columns.
    pub read: ReadOptions,
}

impl ImportOptions {
    pub fn new(layer: LayerCode) -> Self {
        Self {
            layer,
            department: None,
            kind: None,
            srs: None,
            mode: Mode::default(),
            invalid: InvalidPolicy::default(),
            dry_run: false,
            internal: false,
            cadastral_field: None,
            read: ReadOptions::default(),
        }
    }
}

/// Source fields taken as the cadastral number of a parcel when
/// `--cadastral-field` names none (compared without case): the names the
/// Russian cadastre's exports and city GIS departments commonly use.
pub const CADASTRAL_FIELDS: [&str; 9] = [
    "cadastral",
    "cadastral_number",
    "cad_num",
    "cadnum",
    "cad_number",
    "kad_num",
    "kadastr",
    "kn",
    "кадастровый_номер",
];

/// How an import ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Written and committed: the layer has a new version.
    Imported,
    /// A dry run that would have imported.
    Checked,
    /// The `reject` policy met a refused feature: nothing was written.
    Rejected,
}

/// What happened to a feature the report lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Repaired,
    Skipped,
    /// Refused, and with it the whole import (`reject`).
    Rejected,
}

/// One feature the report lists: it was repaired, skipped or refused.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Issue {
    /// 0-based position in the source file (the order `ogrinfo` lists).
    pub index: u64,
    /// `null`, `empty`, `invalid`, `wrong_type`, `out_of_bounds`,
    /// `unreadable`, `cadastral`, `duplicate_cadastral`.
    pub problem: &'static str,
    pub reason: String,
    pub action: Action,
}

/// At most this many issues are listed one by one; the counts are always whole.
pub const MAX_LISTED_ISSUES: usize = 10_000;

/// The report of one import: the counts (`read = imported + skipped`,
/// `repaired` are among the imported), every affected feature, the CRS
/// used, the new layer version, and the time taken.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub outcome: Outcome,
    /// The file's name (not its full path: reports reach HTTP clients).
    pub file: String,
    pub format: String,
    /// The GeoPackage table or the Shapefile in a zip that was read.
    pub source_layer: Option<String>,
    /// The CRS the coordinates were read in: `--srs`, the file's own, or
    /// `EPSG:4326` taken for lon/lat.
    pub source_crs: String,
    /// Whether that CRS was given with `--srs`, declared by the file, or
    /// assumed (GeoJSON's CRS84, or a file without a CRS whose coordinates
    /// are all lon/lat).
    pub crs_from: &'static str,
    pub layer: LayerCode,
    pub mode: Mode,
    pub invalid: InvalidPolicy,
    pub dry_run: bool,
    /// The layer did not exist and this import made it.
    pub created: bool,
    /// The source field cadastral numbers came from (parcels layers).
    pub cadastral_field: Option<String>,
    pub read: u64,
    pub imported: u64,
    pub skipped: u64,
    pub repaired: u64,
    /// Features refused under `reject` (then nothing is imported).
    pub rejected: u64,
    /// Repaired, skipped or rejected features, in file order (at most
    /// [`MAX_LISTED_ISSUES`]).
    pub issues: Vec<Issue>,
    /// Issues not listed because of the cap.
    pub issues_not_listed: u64,
    /// Notes on the file and on features (3D kept as 2D, encodings), with
    /// how many features each applies to.
    pub notes: Vec<String>,
    /// The layer's version after the import; `None` when nothing was written.
    pub layer_version: Option<i64>,
    /// The layer's feature count after the import.
    pub layer_features: Option<i64>,
    pub bytes: u64,
    pub seconds: f64,
}

impl Report {
    /// The one-line summary the CLI prints and the server logs.
    pub fn summary(&self) -> String {
        let what = match self.outcome {
            Outcome::Imported => "imported",
            Outcome::Checked => "dry run, nothing written",
            Outcome::Rejected => "REJECTED, nothing written",
        };
        let version = self
            .layer_version
            .map(|v| format!(", layer '{}' now at version {v}", self.layer))
            .unwrap_or_default();
        format!(
            "{} read, {} imported, {} skipped, {} repaired in {:.2} s ({what}{version})",
            self.read, self.imported, self.skipped, self.repaired, self.seconds
        )
    }

    pub(crate) fn push_issue(&mut self, issue: Issue) {
        if self.issues.len() < MAX_LISTED_ISSUES {
            self.issues.push(issue);
        } else {
            self.issues_not_listed += 1;
        }
    }
}

/// An import's options as text, the way the CLI flags and the HTTP query
/// parameters (same names, `_` for `-`) give them; [`ImportParams::into_options`]
/// checks them.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportParams {
    pub department: Option<String>,
    pub kind: Option<String>,
    pub srs: Option<String>,
    pub mode: Option<String>,
    pub invalid: Option<String>,
    pub dry_run: Option<bool>,
    pub internal: Option<bool>,
    pub source_layer: Option<String>,
    pub format: Option<String>,
    pub cadastral_field: Option<String>,
    pub wkt_column: Option<String>,
    pub lon_column: Option<String>,
    pub lat_column: Option<String>,
    /// HTTP only: the uploaded file's name when the body is the bare file
    /// (its extension helps to tell the format).
    pub filename: Option<String>,
}

impl ImportParams {
    /// The options for importing into layer `layer`, or what is wrong with them.
    pub fn into_options(self, layer: &str) -> Result<ImportOptions, String> {
        let Self {
            department,
            kind,
            srs,
            mode,
            invalid,
            dry_run,
            internal,
            source_layer,
            format,
            cadastral_field,
            wkt_column,
            lon_column,
            lat_column,
            filename: _,
        } = self;
        let layer: LayerCode = layer
            .parse()
            .map_err(|e: crate::model::LayerCodeError| e.to_string())?;
        let blank = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        Ok(ImportOptions {
            layer,
            department: blank(department),
            kind: blank(kind)
                .map(|k| k.parse::<LayerKind>())
                .transpose()
                .map_err(|e| e.to_string())?,
            srs: blank(srs),
            mode: blank(mode)
                .map(|m| m.parse())
                .transpose()?
                .unwrap_or_default(),
            invalid: blank(invalid)
                .map(|m| m.parse())
                .transpose()?
                .unwrap_or_default(),
            dry_run: dry_run.unwrap_or(false),
            internal: internal.unwrap_or(false),
            cadastral_field: blank(cadastral_field),
            read: ReadOptions {
                format: blank(format).map(|f| f.parse()).transpose()?,
                source_layer: blank(source_layer),
                wkt_column: blank(wkt_column),
                lon_column: blank(lon_column),
                lat_column: blank(lat_column),
            },
        })
    }
}
