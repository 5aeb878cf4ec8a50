//! The import pipeline from a source file to batches of storable features:
//!
//! 1. a reader thread streams the file's features in chunks (bounded: two
//!    chunks wait at most), and says how far into the file it is;
//! 2. each chunk is prepared in parallel (rayon): reprojected from the source
//!    CRS to storage EPSG:4326 lon/lat, checked by [`validate::check`] and
//!    repaired when the policy says so, its cadastral number read;
//! 3. in file order, the policy is applied (duplicates of cadastral numbers
//!    are found here, since they depend on the features before), the report
//!    is kept, and the good features go to the store in batches while the
//!    next chunks are read.
//!
//! Memory stays bounded by the chunks in flight plus what the store keeps for
//! the index (the index holds every feature in memory by design).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use geo::CoordsIter;
use geo_types::{Coord, Geometry, Rect};
use rayon::prelude::*;
use serde_json::Value;

use super::report::{
    Action, ImportOptions, InvalidPolicy, Issue, Outcome, Report, CADASTRAL_FIELDS,
};
use super::validate::{self, Checked, Problem};
use super::{Deferred, FeatureSource, ReadError, SourceFeature};
use crate::crs::{with_transformer, STORAGE_SRS};
use crate::model::{Cadastral, GeometryType, NewFeature};
use crate::store::StoreError;

/// Source features read and prepared together: enough to keep both cores
/// busy, few enough that the chunks in flight stay a few MB.
const CHUNK: usize = 2048;

/// What the pipeline needs to know of the layer it writes.
#[derive(Debug, Clone)]
pub struct Target {
    /// The layer's geometry type (`GEOMETRY` for a layer the import creates:
    /// the store narrows it to what was imported).
    pub expected: GeometryType,
    /// A parcels layer: features carry cadastral numbers.
    pub parcels: bool,
    /// The city's bounds, lon/lat degrees (EPSG:4326).
    pub bounds: Rect<f64>,
    /// Cadastral numbers already used elsewhere, with the layer using each:
    /// other parcels layers, and this one's own when appending.
    pub taken: HashMap<Cadastral, String>,
    /// The most features the file may hold (config `max_import_features`):
    /// the index keeps every feature in memory, so a larger file is refused,
    /// as soon as its count is known or its reading passes the limit.
    pub max_features: u64,
}

/// How far an import is, for progress bars.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    pub features: u64,
    /// Bytes of the file read so far (estimated for formats that do not say).
    pub bytes: u64,
    pub total_bytes: u64,
}

/// Why an import stopped before its end: nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("{0}")]
    Crs(String),
    #[error("{0}")]
    CadastralField(String),
    #[error("the import was stopped: {0}")]
    Stopped(String),
    #[error(
        "the file holds more than {limit} features, the most one import may hold \
         (config max_import_features): nothing was imported; split the file, or raise the limit"
    )]
    TooManyFeatures { limit: u64 },
}

/// Where batches of prepared features go (`None`: a dry run).
pub type Sink = Option<tokio::sync::mpsc::Sender<Result<Vec<NewFeature>, StoreError>>>;

/// Reads `path` as `options` say and sends its good features to `sink` in
/// batches, in file order. Blocking: call it on a blocking thread while the
/// store consumes the sink.
///
/// Returns the report (without layer version and time, which the caller
/// knows). A rejected import sends an error into the sink (so the store
/// rolls back), then reads on to list every refused feature. A fatal error
/// (a broken file, coordinates that cannot be lon/lat with no CRS named)
/// also sends an error into the sink and is returned.
pub fn run(
    path: &Path,
    options: &ImportOptions,
    target: &Target,
    sink: Sink,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Report, ImportError> {
    let started = Instant::now();
    let mut sink = sink;
    let result = run_inner(path, options, target, &mut sink, progress);
    if let (Err(e), Some(tx)) = (&result, sink.as_ref()) {
        // The store must not commit what was sent before the failure.
        let _ = tx.blocking_send(Err(StoreError::ImportAborted(e.to_string())));
    }
    let mut report = result?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The CRS coordinates are read in, and where that came from.
struct SourceCrs {
    /// `None`: already storage lon/lat, nothing to transform.
    transform_from: Option<String>,
    name: String,
    from: &'static str,
    /// No CRS was named anywhere: lon/lat is assumed, and a coordinate that
    /// cannot be lon/lat stops the import with an error naming `--srs`.
    assumed: bool,
}

fn source_crs(
    declared: Option<&str>,
    options: &ImportOptions,
    format: &str,
) -> Result<SourceCrs, ImportError> {
    let (name, from, assumed) = match (&options.srs, declared) {
        (Some(srs), _) => (srs.trim().to_owned(), "--srs", false),
        (None, Some(declared)) => (declared.to_owned(), "file", false),
        (None, None) => (STORAGE_SRS.to_owned(), "assumed", true),
    };
    let lonlat = name.eq_ignore_ascii_case(STORAGE_SRS)
        || super::read::crs_name(&name).eq_ignore_ascii_case(STORAGE_SRS);
    if !lonlat {
        // Fail before reading a feature when PROJ does not know the CRS.
        with_transformer(&name, STORAGE_SRS, |_| Ok(())).map_err(|e| {
            ImportError::Crs(format!(
                "the {format} file's CRS cannot be used ({e}); name the right one with --srs EPSG:n"
            ))
        })?;
    }
    Ok(SourceCrs {
        transform_from: (!lonlat).then(|| name.clone()),
        name: if lonlat { STORAGE_SRS.to_owned() } else { name },
        from,
        assumed,
    })
}

/// One source feature after step 2.
struct Prepared {
    index: u64,
    notes: Vec<String>,
    result: Result<Kept, Refusal>,
}

struct Kept {
    feature: NewFeature,
    /// What was wrong and what repair did.
    repaired: Option<(Problem, String)>,
}

enum Refusal {
    /// Refused by the policy: (problem code, reason).
    Feature(&'static str, String),
    /// Stops the whole import.
    Fatal(ImportError),
}

fn run_inner(
    path: &Path,
    options: &ImportOptions,
    target: &Target,
    sink: &mut Sink,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Report, ImportError> {
    let source = super::open(path, &options.read)?;
    let info = source.info().clone();
    if info.count.is_some_and(|n| n > target.max_features) {
        return Err(ImportError::TooManyFeatures {
            limit: target.max_features,
        });
    }
    let crs = source_crs(info.crs.as_deref(), options, &info.format.to_string())?;
    let total_bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let mut report = Report {
        outcome: if options.dry_run {
            Outcome::Checked
        } else {
            Outcome::Imported
        },
        file: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        format: info.format.to_string(),
        source_layer: info.layer.clone(),
        source_crs: crs.name.clone(),
        crs_from: crs.from,
        layer: options.layer.clone(),
        mode: options.mode,
        invalid: options.invalid,
        dry_run: options.dry_run,
        created: false,
        cadastral_field: None,
        read: 0,
        imported: 0,
        skipped: 0,
        repaired: 0,
        rejected: 0,
        issues: Vec::new(),
        issues_not_listed: 0,
        notes: info.notes.clone(),
        layer_version: None,
        layer_features: None,
        bytes: total_bytes,
        seconds: 0.0,
    };
    let position = AtomicU64::new(0);
    let (chunks_tx, chunks_rx) = mpsc::sync_channel::<Vec<Deferred>>(2);
    let mut feature_notes: Vec<(String, u64)> = Vec::new();
    let mut seen: HashMap<Cadastral, u64> = HashMap::new();
    let mut cadastral_field: Option<Option<String>> = None;
    let outcome = std::thread::scope(|scope| -> Result<(), ImportError> {
        let position = &position;
        let known_count = info.count;
        scope.spawn(move || read_chunks(source, chunks_tx, position, known_count, total_bytes));
        for chunk in chunks_rx {
            // Decoded in parallel (the heavy part of reading GeoJSON), in order.
            let decoded: Vec<super::Result<SourceFeature>> =
                chunk.into_par_iter().map(|decode| decode()).collect();
            if cadastral_field.is_none() && target.parcels {
                cadastral_field = Some(find_cadastral_field(&decoded, options)?);
                report.cadastral_field = cadastral_field.clone().flatten();
            }
            let field = cadastral_field.clone().flatten();
            let prepared: Vec<Prepared> = decoded
                .into_par_iter()
                .map(|item| prepare_one(item, &crs, target, options.invalid, field.as_deref()))
                .collect();
            let mut batch = Vec::with_capacity(prepared.len());
            for p in prepared {
                report.read += 1;
                if report.read > target.max_features {
                    return Err(ImportError::TooManyFeatures {
                        limit: target.max_features,
                    });
                }
                for note in p.notes {
                    match feature_notes.iter_mut().find(|(n, _)| *n == note) {
                        Some((_, count)) => *count += 1,
                        None => feature_notes.push((note, 1)),
                    }
                }
                let refusal = match p.result {
                    Err(Refusal::Fatal(e)) => return Err(e),
                    Err(Refusal::Feature(code, reason)) => Some((code, reason)),
                    Ok(kept) => match duplicate(&kept.feature, p.index, &mut seen, &target.taken) {
                        Some(reason) => Some(("duplicate_cadastral", reason)),
                        None => {
                            if let Some((problem, done)) = &kept.repaired {
                                report.repaired += 1;
                                report.push_issue(Issue {
                                    index: p.index,
                                    problem: problem.code(),
                                    reason: format!("{problem}; {done}"),
                                    action: Action::Repaired,
                                });
                            }
                            report.imported += 1;
                            batch.push(kept.feature);
                            None
                        }
                    },
                };
                if let Some((problem, reason)) = refusal {
                    let action = if options.invalid == InvalidPolicy::Reject {
                        report.rejected += 1;
                        Action::Rejected
                    } else {
                        report.skipped += 1;
                        Action::Skipped
                    };
                    report.push_issue(Issue {
                        index: p.index,
                        problem,
                        reason,
                        action,
                    });
                }
            }
            if report.rejected > 0 {
                if let Some(tx) = sink.take() {
                    // Nothing of a rejected import may commit; read on to
                    // list every refused feature.
                    let _ = tx.blocking_send(Err(StoreError::ImportAborted(format!(
                        "feature {} was refused and the policy is 'reject'",
                        report.issues.first().map_or(0, |i| i.index)
                    ))));
                }
            } else if let Some(tx) = sink.as_ref() {
                if !batch.is_empty() && tx.blocking_send(Ok(batch)).is_err() {
                    // The store gave up (its error is what the caller reports).
                    return Err(ImportError::Stopped("the store stopped reading".into()));
                }
            }
            progress(Progress {
                features: report.read,
                bytes: position.load(Ordering::Relaxed),
                total_bytes,
            });
        }
        Ok(())
    });
    outcome?;
    if report.rejected > 0 {
        report.outcome = Outcome::Rejected;
        report.imported = 0;
        report.repaired = 0;
    }
    if crs.assumed && report.read > 0 {
        report.notes.push(
            "the file names no CRS; its coordinates are all longitude/latitude, so EPSG:4326 \
             was taken (name another with --srs)"
                .into(),
        );
    }
    for (note, count) in feature_notes {
        report.notes.push(format!("{note}: {count} feature(s)"));
    }
    if target.parcels && report.cadastral_field.is_none() {
        report.notes.push(format!(
            "no cadastral number field (looked for {}); name it with --cadastral-field, \
             or the parcels cannot be found by cadastral number",
            CADASTRAL_FIELDS.join(", ")
        ));
    }
    Ok(report)
}

/// The reader thread: chunks of features, and how far into the file it is.
fn read_chunks(
    mut source: Box<dyn FeatureSource>,
    tx: mpsc::SyncSender<Vec<Deferred>>,
    position: &AtomicU64,
    known_count: Option<u64>,
    total_bytes: u64,
) {
    let mut read = 0u64;
    loop {
        let mut chunk = Vec::with_capacity(CHUNK);
        while chunk.len() < CHUNK {
            match source.next_deferred() {
                Some(item) => chunk.push(item),
                None => break,
            }
        }
        read += chunk.len() as u64;
        let at = source.bytes_read().unwrap_or_else(|| match known_count {
            Some(n) if n > 0 => total_bytes.saturating_mul(read.min(n)) / n,
            _ => 0,
        });
        position.store(at, Ordering::Relaxed);
        let last = chunk.len() < CHUNK;
        if chunk.is_empty() || tx.send(chunk).is_err() || last {
            return;
        }
    }
}

/// The cadastral number field, found on the first readable feature: the one
/// `--cadastral-field` names (which must be there), else a usual name.
fn find_cadastral_field(
    chunk: &[super::Result<SourceFeature>],
    options: &ImportOptions,
) -> Result<Option<String>, ImportError> {
    let Some(first) = chunk.iter().find_map(|f| f.as_ref().ok()) else {
        return Ok(options.cadastral_field.clone());
    };
    let find = |name: &str| {
        first
            .properties
            .keys()
            .find(|k| k.to_lowercase() == name.to_lowercase())
            .cloned()
    };
    match &options.cadastral_field {
        Some(name) => find(name).map(Some).ok_or_else(|| {
            let fields: Vec<&str> = first.properties.keys().map(String::as_str).collect();
            ImportError::CadastralField(format!(
                "--cadastral-field '{name}' is not a field of the file; its fields: {}",
                fields.join(", ")
            ))
        }),
        None => Ok(CADASTRAL_FIELDS.iter().find_map(|name| find(name))),
    }
}

/// Step 2 for one feature: reproject, check (and repair), read its cadastral number.
fn prepare_one(
    item: super::Result<SourceFeature>,
    crs: &SourceCrs,
    target: &Target,
    policy: InvalidPolicy,
    cadastral_field: Option<&str>,
) -> Prepared {
    let feature = match item {
        Ok(f) => f,
        Err(e) if e.is_skippable() => {
            return Prepared {
                index: e.feature_index().unwrap_or(0),
                notes: Vec::new(),
                result: Err(Refusal::Feature("unreadable", e.to_string())),
            }
        }
        Err(e) => {
            return Prepared {
                index: e.feature_index().unwrap_or(0),
                notes: Vec::new(),
                result: Err(Refusal::Fatal(e.into())),
            }
        }
    };
    let SourceFeature {
        index,
        geometry,
        properties,
        notes,
    } = feature;
    let result = (|| {
        let geometry = match geometry {
            Some(g) => Some(to_storage(g, crs, index)?),
            None => None,
        };
        let repair = policy == InvalidPolicy::Repair;
        let (geometry, repaired) =
            match validate::check(geometry, target.expected, &target.bounds, repair) {
                Checked::Valid(g) => (g, None),
                Checked::Repaired {
                    geometry,
                    problem,
                    done,
                } => (geometry, Some((problem, done))),
                Checked::Refused(problem) => {
                    return Err(Refusal::Feature(problem.code(), problem.to_string()))
                }
            };
        let cadastral = match cadastral_field {
            Some(field) => Some(read_cadastral(properties.get(field), field)?),
            None => None,
        };
        Ok(Kept {
            feature: NewFeature {
                geometry,
                cadastral,
                properties,
            },
            repaired,
        })
    })();
    Prepared {
        index,
        notes,
        result,
    }
}

/// A geometry from the source CRS to storage lon/lat.
fn to_storage(g: Geometry<f64>, crs: &SourceCrs, index: u64) -> Result<Geometry<f64>, Refusal> {
    let Some(from) = &crs.transform_from else {
        if crs.assumed {
            if let Some(c) = g.coords_iter().find(|c| !is_lonlat(*c)) {
                return Err(Refusal::Fatal(ImportError::Crs(format!(
                    "the file names no CRS and feature {index} has the coordinate ({}, {}), \
                     which is not longitude/latitude: name the file's CRS with --srs \
                     (e.g. --srs EPSG:28992)",
                    c.x, c.y
                ))));
            }
        }
        return Ok(g);
    };
    with_transformer(from, STORAGE_SRS, |t| t.geometry(&g))
        .map_err(|e| Refusal::Feature("reprojection", format!("cannot be reprojected: {e}")))
}

fn is_lonlat(c: Coord<f64>) -> bool {
    (-180.0..=180.0).contains(&c.x) && (-90.0..=90.0).contains(&c.y)
}

fn read_cadastral(value: Option<&Value>, field: &str) -> Result<Cadastral, Refusal> {
    let text = match value {
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(Value::Null) | None => {
            return Err(Refusal::Feature(
                "cadastral",
                format!("a parcel without a cadastral number (field '{field}' is empty)"),
            ))
        }
        Some(other) => other.to_string(),
    };
    text.parse::<Cadastral>()
        .map_err(|e| Refusal::Feature("cadastral", e.to_string()))
}

/// A cadastral number used by an earlier feature of the file, or by another
/// layer: the reason this feature is refused.
fn duplicate(
    feature: &NewFeature,
    index: u64,
    seen: &mut HashMap<Cadastral, u64>,
    taken: &HashMap<Cadastral, String>,
) -> Option<String> {
    let c = feature.cadastral.as_ref()?;
    if let Some(layer) = taken.get(c) {
        return Some(format!(
            "cadastral number {c} is already used in layer '{layer}'"
        ));
    }
    match seen.get(c) {
        Some(first) => Some(format!(
            "cadastral number {c} is also used by feature {first}"
        )),
        None => {
            seen.insert(c.clone(), index);
            None
        }
    }
}
