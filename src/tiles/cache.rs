//! Tiles as the server hands them out: which layers a tile draws at its zoom,
//! the cache of rendered tiles, and the validators (ETag) clients revalidate with.
//!
//! A tile is keyed by its address and by the *version* of every layer it draws
//! (with the layer's `updated_at`, which tells apart a layer deleted and made
//! anew at the same version number). An import or edit gives the layer a new
//! version, so its old tiles can never be found again: a stale tile is never
//! served, and the tiles of other layers stay cached. Old versions' entries
//! are also dropped at once ([`TileCache::forget_older`]) so they do not hold
//! the byte budget until they age out.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::{render, TileCoord, TileError, TileOptions, ZoomRange};
use crate::index::LayerIndex;
use crate::model::LayerCode;

/// One layer as drawn in a tile: its code, and the state of its data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct LayerState {
    code: LayerCode,
    version: i64,
    updated_at: DateTime<Utc>,
}

/// What a tile is: its address and the exact data it was made from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TileKey {
    tile: TileCoord,
    layers: Box<[LayerState]>,
}

impl TileKey {
    /// The validator of the tile's bytes: the same data and address always
    /// render the same bytes (render is deterministic), so a hash of the key is
    /// a strong ETag that needs no rendering to compute.
    pub fn etag(&self) -> String {
        // SipHash with fixed keys: the same value in every process, so an ETag
        // stays valid across restarts and across instances on one database.
        #[allow(deprecated)]
        let mut h = std::hash::SipHasher::new();
        self.hash(&mut h);
        format!("\"{:016x}\"", h.finish())
    }
}

/// A rendered tile, with its gzip form made on first demand and kept.
#[derive(Debug)]
pub struct CachedTile {
    /// The MVT protobuf, uncompressed; empty when no layer has a feature here.
    pub mvt: Bytes,
    gzip: OnceLock<Bytes>,
}

impl CachedTile {
    fn new(mvt: Vec<u8>) -> Self {
        Self {
            mvt: Bytes::from(mvt),
            gzip: OnceLock::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.mvt.is_empty()
    }

    /// The tile gzipped (fast level: MVT compresses to about a third either way,
    /// and a cold tile should not wait on the compressor).
    pub fn gzip(&self) -> Bytes {
        self.gzip
            .get_or_init(|| {
                use std::io::Write;
                let mut enc = flate2::write::GzEncoder::new(
                    Vec::with_capacity(self.mvt.len() / 2 + 64),
                    flate2::Compression::fast(),
                );
                enc.write_all(&self.mvt)
                    .expect("writing into a Vec cannot fail");
                Bytes::from(enc.finish().expect("writing into a Vec cannot fail"))
            })
            .clone()
    }

    /// Bytes charged against the cache budget: the tile, room for its gzip
    /// form (about half), and the entry's bookkeeping.
    fn weight(&self) -> u32 {
        let bytes = self.mvt.len() + self.mvt.len() / 2 + 256;
        u32::try_from(bytes).unwrap_or(u32::MAX)
    }
}

/// The layers a tile request names, resolved against the index.
pub struct TileRequest {
    tile: TileCoord,
    /// The requested layers drawn at this zoom, in the requested order.
    drawn: Vec<Arc<LayerIndex>>,
    key: TileKey,
}

impl TileRequest {
    /// Resolves a request: keeps the layers whose zoom range holds the tile's zoom.
    /// `layers` come with their zoom ranges, in the order the tile stacks them.
    pub fn new(tile: TileCoord, layers: &[(Arc<LayerIndex>, ZoomRange)]) -> Self {
        let drawn: Vec<Arc<LayerIndex>> = layers
            .iter()
            .filter(|(_, zoom)| zoom.contains(tile.z))
            .map(|(l, _)| l.clone())
            .collect();
        let states = drawn
            .iter()
            .map(|l| LayerState {
                code: l.code().clone(),
                version: l.layer().version,
                updated_at: l.layer().updated_at,
            })
            .collect();
        Self {
            tile,
            drawn,
            key: TileKey {
                tile,
                layers: states,
            },
        }
    }

    /// No requested layer is drawn at this zoom: the tile is empty without rendering.
    pub fn draws_nothing(&self) -> bool {
        self.drawn.is_empty()
    }

    pub fn etag(&self) -> String {
        self.key.etag()
    }

    fn render(&self, opts: &TileOptions) -> Result<Vec<u8>, TileError> {
        let named: Vec<(&str, &LayerIndex)> = self
            .drawn
            .iter()
            .map(|l| (l.code().as_str(), l.as_ref()))
            .collect();
        render(&named, self.tile, opts)
    }
}

/// Counters since start, for `/health` and the metrics.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct CacheStats {
    pub enabled: bool,
    pub capacity_bytes: u64,
    pub hits: u64,
    pub misses: u64,
    pub entries: u64,
    pub bytes: u64,
}

/// The tile cache: bounded in bytes (least-recently and least-frequently used
/// tiles go first), or off. Concurrent requests for the same missing tile
/// render it once and share the result.
pub struct TileCache {
    cache: Option<moka::future::Cache<TileKey, Arc<CachedTile>>>,
    capacity_bytes: u64,
    options: TileOptions,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl TileCache {
    /// A cache of at most `capacity_bytes`; 0 turns caching off (every tile is
    /// rendered afresh, as the cold benchmark measures).
    pub fn new(capacity_bytes: u64, options: TileOptions) -> Self {
        let cache = (capacity_bytes > 0).then(|| {
            moka::future::Cache::builder()
                .max_capacity(capacity_bytes)
                .weigher(|_key: &TileKey, tile: &Arc<CachedTile>| tile.weight())
                .support_invalidation_closures()
                .build()
        });
        Self {
            cache,
            capacity_bytes,
            options,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.cache.is_some()
    }

    pub fn options(&self) -> &TileOptions {
        &self.options
    }

    /// The tile when the cache holds it (a hit), else `None`, without rendering:
    /// a caller that must wait its turn to render asks this first.
    pub async fn cached(&self, request: &TileRequest) -> Option<Arc<CachedTile>> {
        let tile = self.cache.as_ref()?.get(&request.key).await?;
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(tile)
    }

    /// The tile, from the cache or rendered now (on a blocking thread: a dense
    /// tile is milliseconds of CPU). Returns the tile and whether it was cached.
    pub async fn get(&self, request: TileRequest) -> Result<(Arc<CachedTile>, bool), TileError> {
        let Some(cache) = &self.cache else {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return Ok((self.render(request).await?, false));
        };
        if let Some(tile) = cache.get(&request.key).await {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok((tile, true));
        }
        let key = request.key.clone();
        let entry = cache
            .entry(key)
            .or_try_insert_with(self.render(request))
            .await
            .map_err(|e| (*e).clone())?;
        // Not fresh: another request rendered it while this one waited.
        let fresh = entry.is_fresh();
        if fresh {
            self.misses.fetch_add(1, Ordering::Relaxed);
        } else {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        Ok((entry.into_value(), !fresh))
    }

    async fn render(&self, request: TileRequest) -> Result<Arc<CachedTile>, TileError> {
        let opts = self.options;
        tokio::task::spawn_blocking(move || request.render(&opts).map(CachedTile::new))
            .await
            .map_err(|e| TileError::Render(e.to_string()))?
            .map(Arc::new)
    }

    /// Drops the cached tiles that drew `code` at a version other than
    /// `current` (after an import, edit or delete; `None` for a deleted layer).
    /// Tiles of other layers stay.
    pub fn forget_older(&self, code: &LayerCode, current: Option<i64>) {
        let Some(cache) = &self.cache else { return };
        let code = code.clone();
        let dropped = cache.invalidate_entries_if(move |key, _| {
            key.layers
                .iter()
                .any(|l| l.code == code && Some(l.version) != current)
        });
        if let Err(e) = dropped {
            // Only if the builder lacked support_invalidation_closures; the
            // versioned keys still keep stale tiles from being served.
            tracing::warn!(error = %e, "cannot drop old tiles from the cache");
        }
    }

    /// Finishes the cache's deferred upkeep (evictions, dropped versions), so
    /// that [`TileCache::stats`] counts exactly; the cache does it by itself
    /// as it goes, this is for tests and reports.
    pub async fn settle(&self) {
        if let Some(cache) = &self.cache {
            cache.run_pending_tasks().await;
        }
    }

    pub fn stats(&self) -> CacheStats {
        let (entries, bytes) = self
            .cache
            .as_ref()
            .map_or((0, 0), |c| (c.entry_count(), c.weighted_size()));
        CacheStats {
            enabled: self.cache.is_some(),
            capacity_bytes: self.capacity_bytes,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries,
            bytes,
        }
    }
}
