use std::path::{Path, PathBuf};

use super::Format;

/// What went wrong reading a source file, in words a GIS specialist can act
/// on: which file, which feature (0-based position in the file), what is wrong.
///
/// Three kinds:
/// - file-level problems fail [`super::open`] (not the format, damaged or
///   truncated header, unsupported version, no usable layer or columns, a
///   refused archive);
/// - [`ReadError::Feature`]: one feature cannot be read, the next ones can;
///   a caller's policy may skip it ([`ReadError::is_skippable`]);
/// - [`ReadError::Broken`]: the file breaks off in the middle (truncated,
///   damaged framing); the source ends after it, and skipping it would lose
///   the rest of the file silently, so it is not skippable.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot tell the format of {}: name it with --format \
         (geojson, geojsonseq, shapefile, gpkg, fgb or csv)",
        path.display()
    )]
    UnknownFormat { path: PathBuf },
    #[error("{} is not a readable {format}: {reason}", path.display())]
    Invalid {
        path: PathBuf,
        format: Format,
        reason: String,
    },
    #[error("{}: {reason}", path.display())]
    Unsupported { path: PathBuf, reason: String },
    /// No layer, or not the one asked for, or several and none asked for.
    #[error("{}: {reason}", path.display())]
    Layer { path: PathBuf, reason: String },
    /// CSV: no geometry columns, or the ones named are not there.
    #[error("{}: {reason}", path.display())]
    Columns { path: PathBuf, reason: String },
    /// A zip archive refused before anything was unpacked from it.
    #[error("{}: archive refused: {reason}", path.display())]
    Archive { path: PathBuf, reason: String },
    #[error("{}, feature {index}: {reason}", path.display())]
    Feature {
        path: PathBuf,
        index: u64,
        reason: String,
    },
    #[error("{}: reading stopped at feature {index}: {reason}", path.display())]
    Broken {
        path: PathBuf,
        index: u64,
        reason: String,
    },
}

pub type Result<T, E = ReadError> = std::result::Result<T, E>;

impl ReadError {
    /// True for a feature that cannot be read while the ones after it can:
    /// an import that tolerates bad features may skip it and go on.
    pub fn is_skippable(&self) -> bool {
        matches!(self, ReadError::Feature { .. })
    }

    /// The 0-based position in the file of the feature this is about, if any.
    pub fn feature_index(&self) -> Option<u64> {
        match self {
            ReadError::Feature { index, .. } | ReadError::Broken { index, .. } => Some(*index),
            _ => None,
        }
    }

    pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReadError + '_ {
        move |source| ReadError::Io {
            path: path.to_owned(),
            source,
        }
    }

    pub(crate) fn invalid(path: &Path, format: Format, reason: impl Into<String>) -> ReadError {
        ReadError::Invalid {
            path: path.to_owned(),
            format,
            reason: reason.into(),
        }
    }

    pub(crate) fn feature(path: &Path, index: u64, reason: impl Into<String>) -> ReadError {
        ReadError::Feature {
            path: path.to_owned(),
            index,
            reason: reason.into(),
        }
    }

    pub(crate) fn broken(path: &Path, index: u64, reason: impl Into<String>) -> ReadError {
        ReadError::Broken {
            path: path.to_owned(),
            index,
            reason: reason.into(),
        }
    }
}
