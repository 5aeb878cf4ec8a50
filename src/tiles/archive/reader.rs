//! The archives the server serves: every `*.pmtiles` of the tiles folder, opened
//! once at start and read tile by tile as clients ask.

use std::collections::BTreeMap;
use std::fs::File;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use pmtiles::{
    AsyncBackend, AsyncPmTilesReader, BackendResponse, Compression, HashMapCache, PmtError,
    PmtResult, TileType,
};
use serde_json::{json, Map, Value};

use super::{is_archive_name, ArchiveError};
use crate::tiles::TileCoord;

/// The archives (`*.pmtiles`) of the tiles folder, by name (file stem).
#[derive(Debug, Default)]
pub struct ArchiveSet {
    archives: BTreeMap<String, Archive>,
}

impl ArchiveSet {
    /// Opens every `*.pmtiles` in `dir` (not its subfolders). A missing folder
    /// is an empty set. A file whose name is not an archive name (see
    /// [`is_archive_name`]) or that is not a PMTiles v3 archive of vector tiles
    /// is logged and left out: one bad file does not stop the server.
    ///
    /// # Errors
    /// [`ArchiveError::Io`] when `dir` exists but cannot be listed.
    pub async fn open_dir(dir: &Path) -> Result<Self, ArchiveError> {
        let io_error = |error| ArchiveError::Io {
            path: dir.display().to_string(),
            error,
        };
        let mut entries = match tokio::fs::read_dir(dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                tracing::debug!(folder = %dir.display(), "no tile archive folder");
                return Ok(Self::default());
            }
            Err(e) => return Err(io_error(e)),
        };
        let mut archives = BTreeMap::new();
        while let Some(entry) = entries.next_entry().await.map_err(io_error)? {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("pmtiles") {
                continue;
            }
            let Some(name) = path
                .file_stem()
                .and_then(|s| s.to_str())
                .filter(|s| is_archive_name(s))
            else {
                tracing::warn!(
                    file = %path.display(),
                    "skipping a tile archive: its name must be lower-case letters, digits, '_' and '-', \
                     starting with a letter or digit (it is the name in the URL)"
                );
                continue;
            };
            match Archive::open(name, &path).await {
                Ok(archive) => {
                    archives.insert(name.to_owned(), archive);
                }
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "skipping a tile archive")
                }
            }
        }
        tracing::info!(
            folder = %dir.display(),
            archives = archives.len(),
            "tile archives open"
        );
        Ok(Self { archives })
    }

    /// The archives' names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.archives.keys().map(String::as_str)
    }

    /// The archives, in the order of their names.
    pub fn iter(&self) -> impl Iterator<Item = &Archive> {
        self.archives.values()
    }

    pub fn get(&self, name: &str) -> Option<&Archive> {
        self.archives.get(name)
    }

    pub fn len(&self) -> usize {
        self.archives.len()
    }

    pub fn is_empty(&self) -> bool {
        self.archives.is_empty()
    }
}

/// One open archive: its header and metadata read, its directories cached as
/// they are first used.
pub struct Archive {
    name: String,
    path: PathBuf,
    reader: AsyncPmTilesReader<FileBackend, HashMapCache>,
    /// The archive's JSON metadata (an object; `vector_layers` for TileJSON).
    metadata: Map<String, Value>,
}

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archive")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("minzoom", &self.minzoom())
            .field("maxzoom", &self.maxzoom())
            .finish_non_exhaustive()
    }
}

impl Archive {
    /// Opens an archive and checks that the server can serve it: PMTiles v3,
    /// vector tiles (MVT), stored gzipped or plain, with JSON metadata.
    ///
    /// # Errors
    /// [`ArchiveError::Io`] when the file cannot be opened;
    /// [`ArchiveError::Format`] when it is not such an archive.
    pub async fn open(name: &str, path: &Path) -> Result<Self, ArchiveError> {
        let io_error = |error| ArchiveError::Io {
            path: path.display().to_string(),
            error,
        };
        let format = |reason: String| ArchiveError::Format {
            path: path.display().to_string(),
            reason,
        };
        let file = tokio::fs::File::open(path)
            .await
            .map_err(io_error)?
            .into_std()
            .await;
        let len = file.metadata().map_err(io_error)?.len();
        let backend = FileBackend {
            file: Arc::new(file),
            len,
        };
        let reader = AsyncPmTilesReader::try_from_cached_source(backend, HashMapCache::default())
            .await
            .map_err(|e| format(e.to_string()))?;
        let header = reader.get_header();
        if header.tile_type != TileType::Mvt {
            return Err(format(format!(
                "it holds {:?} tiles, not vector tiles (MVT)",
                header.tile_type
            )));
        }
        if !matches!(
            header.tile_compression,
            Compression::Gzip | Compression::None
        ) {
            return Err(format(format!(
                "its tiles are compressed with {:?}; only gzip or none can be served",
                header.tile_compression
            )));
        }
        let metadata = reader
            .get_metadata()
            .await
            .map_err(|e| format(format!("its metadata: {e}")))?;
        let Ok(Value::Object(metadata)) = serde_json::from_str(&metadata) else {
            return Err(format("its metadata is not a JSON object".into()));
        };
        Ok(Self {
            name: name.to_owned(),
            path: path.to_owned(),
            reader,
            metadata,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Lowest zoom the archive holds.
    pub fn minzoom(&self) -> u8 {
        self.reader.get_header().min_zoom
    }

    /// Highest zoom the archive holds (clients overzoom beyond it).
    pub fn maxzoom(&self) -> u8 {
        self.reader.get_header().max_zoom
    }

    /// The area the archive covers, lon/lat degrees `[west, south, east, north]`
    /// (the header stores them to 1e-7°).
    pub fn bounds(&self) -> [f64; 4] {
        let h = self.reader.get_header();
        [
            h.min_longitude,
            h.min_latitude,
            h.max_longitude,
            h.max_latitude,
        ]
    }

    /// Whether [`Archive::tile`] gives gzip (else plain MVT): one setting for
    /// the whole archive.
    pub fn is_gzip(&self) -> bool {
        self.reader.get_header().tile_compression == Compression::Gzip
    }

    /// The tile `z/x/y` (XYZ numbering) as stored, gzipped when
    /// [`Archive::is_gzip`]; `None` when the archive holds no such tile (an
    /// empty tile, or outside its zooms or area).
    ///
    /// # Errors
    /// [`ArchiveError::Tile`] for an address outside the tile pyramid;
    /// [`ArchiveError::Read`] when the file cannot be read.
    pub async fn tile(&self, z: u8, x: u32, y: u32) -> Result<Option<Bytes>, ArchiveError> {
        TileCoord::new(z, x, y)?;
        if !(self.minzoom()..=self.maxzoom()).contains(&z) {
            return Ok(None);
        }
        let coord = pmtiles::TileCoord::new(z, x, y)
            .expect("a tile of the WebMercatorQuad pyramid (z <= 24) is a PMTiles tile");
        self.reader
            .get_tile(coord)
            .await
            .map_err(|error| ArchiveError::Read {
                name: self.name.clone(),
                error,
            })
    }

    /// The archive's TileJSON 3.0, from its header (zooms, bounds, centre) and
    /// metadata (name, description, attribution, version, `vector_layers`).
    /// `base_url` is the absolute URL under which the archive's tiles are
    /// served: they are `{base_url}/{z}/{x}/{y}.mvt`.
    pub fn tilejson(&self, base_url: &str) -> Value {
        let h = self.reader.get_header();
        let text = |key: &str| self.metadata.get(key).filter(|v| v.is_string()).cloned();
        let mut doc = json!({
            "tilejson": "3.0.0",
            "name": text("name").unwrap_or_else(|| json!(self.name)),
            "scheme": "xyz",
            "tiles": [format!("{}/{{z}}/{{x}}/{{y}}.mvt", base_url.trim_end_matches('/'))],
            "minzoom": h.min_zoom,
            "maxzoom": h.max_zoom,
            "bounds": self.bounds(),
            "center": [h.center_longitude, h.center_latitude, h.center_zoom],
            "vector_layers": self
                .metadata
                .get("vector_layers")
                .filter(|v| v.is_array())
                .cloned()
                .unwrap_or_else(|| json!([])),
        });
        for key in ["description", "attribution", "version"] {
            if let Some(value) = text(key) {
                doc[key] = value;
            }
        }
        doc
    }
}

/// A stored tile is at most this large once gunzipped (the largest tiles of a
/// dense city are a few MB): a damaged or hostile archive cannot make the
/// server inflate a gzip bomb.
const MAX_TILE_BYTES: u64 = 64 << 20;

/// The MVT bytes of a tile stored gzipped (for a client that does not take gzip).
///
/// # Errors
/// [`ArchiveError::Format`] when the bytes are not gzip, or inflate past
/// 64 MiB.
pub fn gunzip(gzip: &[u8]) -> Result<Bytes, ArchiveError> {
    use std::io::Read;
    let bad = |reason: String| ArchiveError::Format {
        path: "a stored tile".into(),
        reason,
    };
    let mut mvt = Vec::with_capacity(gzip.len() * 3);
    flate2::read::GzDecoder::new(gzip)
        .take(MAX_TILE_BYTES + 1)
        .read_to_end(&mut mvt)
        .map_err(|e| bad(format!("its gzip does not inflate: {e}")))?;
    if mvt.len() as u64 > MAX_TILE_BYTES {
        return Err(bad(format!("it inflates past {MAX_TILE_BYTES} bytes")));
    }
    Ok(Bytes::from(mvt))
}

/// Reads an archive with positional reads on tokio's blocking threads.
///
/// Not a memory map: a file overwritten in place (say, copied over while the
/// server runs) would make a read from a map kill the process with SIGBUS; a
/// read gives an error for that one request. `imgis tiles export` renames a
/// new file into place instead, so the open file stays whole and is read on.
struct FileBackend {
    file: Arc<File>,
    /// The file's length when opened, bytes: no read allocates past it, even
    /// when a damaged directory names a longer one.
    len: u64,
}

impl AsyncBackend for FileBackend {
    fn read(
        &self,
        offset: u64,
        length: usize,
    ) -> impl Future<Output = PmtResult<BackendResponse>> + Send {
        let file = Arc::clone(&self.file);
        let length = usize::try_from(self.len.saturating_sub(offset))
            .unwrap_or(usize::MAX)
            .min(length);
        async move {
            let bytes = tokio::task::spawn_blocking(move || read_at(&file, offset, length))
                .await
                .map_err(|e| PmtError::Reading(io::Error::other(e)))??;
            Ok(BackendResponse::new(bytes))
        }
    }
}

/// Up to `length` bytes at `offset`; fewer only at the end of the file.
fn read_at(file: &File, offset: u64, length: usize) -> io::Result<Bytes> {
    let mut buf = vec![0; length];
    let mut filled = 0;
    while filled < length {
        match positional_read(file, &mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(Bytes::from(buf))
}

#[cfg(unix)]
fn positional_read(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn positional_read(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}
