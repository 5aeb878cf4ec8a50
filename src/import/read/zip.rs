//! A zip archive holding a Shapefile set (how Shapefiles usually travel):
//! checked whole from its central directory before anything is unpacked,
//! then the one set (`.shp`, `.shx`, `.dbf`, `.prj`, `.cpg`) is unpacked
//! into a fresh temporary folder, under names we make (`layer.shp`…), never
//! under the names the archive gives.
//!
//! Refused, with nothing unpacked: an entry whose name is absolute or climbs
//! out (`..`), an encrypted entry, more than [`Limits::total`] bytes
//! uncompressed in all, an entry over 1 MiB that expands more than
//! [`Limits::ratio`]:1 (a zip bomb: real Shapefiles deflate 2–20:1, padded
//! DBFs up to about 100:1), and, while unpacking, an entry that holds more
//! than its header declared.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use tempfile::TempDir;
use zip::ZipArchive;

use crate::import::{Format, ReadError, Result};

/// What an archive may expand to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Uncompressed bytes of all entries together.
    pub total: u64,
    /// Uncompressed : compressed, per entry over [`RATIO_FLOOR`] bytes.
    pub ratio: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            total: 4 << 30,
            ratio: 200,
        }
    }
}

/// Entries up to this size are not held to the ratio: a small file of
/// blanks may deflate very well and can do no harm.
const RATIO_FLOOR: u64 = 1 << 20;

/// More entries than a Shapefile set could need, by far.
const MAX_ENTRIES: usize = 10_000;

/// The files of a Shapefile set that are unpacked.
const SET: [&str; 5] = ["shp", "shx", "dbf", "prj", "cpg"];

/// One checked entry.
struct Entry {
    index: usize,
    name: String,
    size: u64,
}

/// A Shapefile set unpacked from an archive; the folder goes when this does.
pub(crate) struct Unpacked {
    pub dir: TempDir,
    /// The unpacked `.shp`.
    pub shp: PathBuf,
    /// The `.shp`'s name in the archive without extension: the layer name.
    pub layer: String,
    /// The `.shp`'s path in the archive, for messages.
    pub entry: String,
}

fn refuse(path: &Path, reason: impl Into<String>) -> ReadError {
    ReadError::Archive {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

fn zip_error(path: &Path) -> impl Fn(zip::result::ZipError) -> ReadError + '_ {
    move |e| {
        ReadError::invalid(
            path,
            Format::Shapefile,
            format!("a damaged zip archive: {e}"),
        )
    }
}

/// Opens an archive and checks every entry of its central directory.
fn checked(path: &Path, limits: Limits) -> Result<(ZipArchive<File>, Vec<Entry>)> {
    let file = File::open(path).map_err(ReadError::io(path))?;
    let mut archive = ZipArchive::new(file).map_err(zip_error(path))?;
    if archive.len() > MAX_ENTRIES {
        return Err(refuse(
            path,
            format!("{} entries: not a Shapefile set", archive.len()),
        ));
    }
    let mut entries = Vec::with_capacity(archive.len());
    let mut total: u64 = 0;
    for index in 0..archive.len() {
        let entry = archive.by_index_raw(index).map_err(zip_error(path))?;
        let name = entry.name().map_err(zip_error(path))?.into_owned();
        let climbs = name.split(['/', '\\']).any(|part| part == "..");
        let absolute = name.starts_with(['/', '\\'])
            || name.as_bytes().get(1) == Some(&b':')
            || name.contains('\0');
        if climbs || absolute || entry.enclosed_name().is_none() {
            return Err(refuse(
                path,
                format!(
                    "entry '{name}' points outside the folder it would be unpacked into \
                     (absolute or with '..'); nothing was unpacked"
                ),
            ));
        }
        if entry.encrypted() {
            return Err(refuse(path, format!("entry '{name}' is encrypted")));
        }
        let (size, packed) = (entry.size(), entry.compressed_size());
        if size > RATIO_FLOOR && size / packed.max(1) > limits.ratio {
            return Err(refuse(
                path,
                format!(
                    "entry '{name}' expands {}:1 ({size} bytes from {packed}), more than \
                     {}:1: a zip bomb? nothing was unpacked",
                    size / packed.max(1),
                    limits.ratio
                ),
            ));
        }
        total = total.saturating_add(size);
        if total > limits.total {
            return Err(refuse(
                path,
                format!(
                    "its entries expand to more than {} bytes in all; nothing was unpacked",
                    limits.total
                ),
            ));
        }
        if entry.is_file() {
            entries.push(Entry { index, name, size });
        }
    }
    Ok((archive, entries))
}

/// The `.shp` entries, leaving out macOS metadata (`__MACOSX/`, `._x.shp`).
fn shapefiles(entries: &[Entry]) -> Vec<&Entry> {
    entries
        .iter()
        .filter(|e| {
            let file = e.name.rsplit(['/', '\\']).next().unwrap_or(&e.name);
            e.name.to_ascii_lowercase().ends_with(".shp")
                && !e.name.starts_with("__MACOSX/")
                && !file.starts_with("._")
        })
        .collect()
}

/// The layer name of a `.shp` entry: its file name without extension.
fn layer_of(entry: &Entry) -> String {
    let file = entry.name.rsplit(['/', '\\']).next().unwrap_or(&entry.name);
    file[..file.len() - 4].to_owned()
}

/// The Shapefiles (layer names) in an archive.
pub(crate) fn layers(path: &Path) -> Result<Vec<String>> {
    let (_, entries) = checked(path, Limits::default())?;
    Ok(shapefiles(&entries).into_iter().map(layer_of).collect())
}

/// Checks the archive and unpacks the one Shapefile set (or the one named
/// `layer`) into a new folder in the system's temp folder.
pub(crate) fn unpack(path: &Path, layer: Option<&str>) -> Result<Unpacked> {
    unpack_in(path, layer, Limits::default(), &std::env::temp_dir())
}

/// [`unpack`] with given limits, into a new folder inside `parent`.
pub(crate) fn unpack_in(
    path: &Path,
    layer: Option<&str>,
    limits: Limits,
    parent: &Path,
) -> Result<Unpacked> {
    let (mut archive, entries) = checked(path, limits)?;
    let candidates = shapefiles(&entries);
    let listing = || {
        candidates
            .iter()
            .map(|e| e.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let shp = match (layer, candidates.as_slice()) {
        (_, []) => {
            return Err(ReadError::invalid(
                path,
                Format::Shapefile,
                "the zip archive holds no .shp file",
            ))
        }
        (None, [one]) => *one,
        (None, _) => {
            return Err(ReadError::Layer {
                path: path.to_owned(),
                reason: format!(
                    "the archive holds several Shapefiles ({}); choose one with --source-layer",
                    listing()
                ),
            })
        }
        (Some(wanted), _) => *candidates
            .iter()
            .find(|e| layer_of(e) == wanted)
            .or_else(|| {
                candidates
                    .iter()
                    .find(|e| layer_of(e).eq_ignore_ascii_case(wanted))
            })
            .ok_or_else(|| ReadError::Layer {
                path: path.to_owned(),
                reason: format!(
                    "no Shapefile '{wanted}' in the archive; it holds: {}",
                    listing()
                ),
            })?,
    };
    let base = shp.name[..shp.name.len() - 4].to_ascii_lowercase();
    let dir = tempfile::Builder::new()
        .prefix("imgis-import-")
        .tempdir_in(parent)
        .map_err(ReadError::io(parent))?;
    let mut written: u64 = 0;
    for entry in &entries {
        let lower = entry.name.to_ascii_lowercase();
        let Some(ext) = SET
            .iter()
            .find(|ext| lower.strip_suffix(*ext).and_then(|s| s.strip_suffix('.')) == Some(&base))
        else {
            continue;
        };
        let target = dir.path().join(format!("layer.{ext}"));
        let mut out = File::create(&target).map_err(ReadError::io(&target))?;
        let reader = archive.by_index(entry.index).map_err(zip_error(path))?;
        let copied = io::copy(&mut reader.take(entry.size + 1), &mut out).map_err(|e| {
            refuse(
                path,
                format!("entry '{}' cannot be unpacked: {e}", entry.name),
            )
        })?;
        written += copied;
        if copied > entry.size || written > limits.total {
            return Err(refuse(
                path,
                format!(
                    "entry '{}' holds more than the {} bytes it declares",
                    entry.name, entry.size
                ),
            ));
        }
    }
    Ok(Unpacked {
        shp: dir.path().join("layer.shp"),
        dir,
        layer: layer_of(shp),
        entry: shp.name.clone(),
    })
}
