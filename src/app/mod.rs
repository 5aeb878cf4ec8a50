//! The running application: the store, the index built from it, and the one
//! write path that keeps them in step (store first, in one transaction; then
//! the index). `run` serves the HTTP API until a shutdown signal.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::applications::ApplicationError;
use crate::catalog::{Catalog, CatalogError};
use crate::config::{Config, StoreConfig};
use crate::constraints::Prepared;
use crate::demo::{self, DemoError, DemoOptions};
use crate::index::{Index, IndexError};
use crate::model::{Feature, FeatureId, Layer, LayerCode, NewFeature};
use crate::store::gpkg::GpkgStore;
use crate::store::postgis::PostgisStore;
use crate::store::{DynStore, StoreError, StoreEvent, StoreWatch};
use crate::tiles::archive::{ArchiveError, ArchiveSet};
use crate::tiles::{TileCache, TileOptions, ZoomRange};
use crate::zones::{self, ZoneError};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("loading the demo city: {0}")]
    Demo(#[from] DemoError),
    #[error("a background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("serving HTTP: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Zones(#[from] ZoneError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Application(#[from] ApplicationError),
    #[error(
        "layer '{0}' is derived by imgis from other layers and cannot be edited; edit its sources"
    )]
    DerivedLayer(LayerCode),
    #[error(transparent)]
    Import(#[from] crate::import::ImportError),
    /// An import that does not fit its layer (kind, department) or would
    /// empty it.
    #[error("{0}")]
    ImportTarget(String),
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
}

mod applications;
pub mod auth;
pub mod catalog;
mod edits;
pub mod imports;

pub use catalog::{CatalogRevision, LoadedCatalog};

/// How the last full index build went; logged at start and shown by `/health`.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct IndexStats {
    pub layers: usize,
    pub features: usize,
    /// Wall time to read every layer from the store and build its R-tree.
    pub build_ms: u128,
    /// Estimated heap bytes of the whole index.
    pub memory_bytes: usize,
}

pub struct App {
    store: DynStore,
    index: Index,
    config: Config,
    /// One lock per layer, held from the store write until the index has the
    /// result, so the index applies a layer's writes in commit order.
    write_locks: Mutex<HashMap<LayerCode, Arc<tokio::sync::Mutex<()>>>>,
    /// When a write last found the store unreachable, and why: a write that
    /// was queued behind it answers the same at once (see [`App::lock_for_write`]).
    unreachable: Mutex<Option<(Instant, String)>>,
    stats: Mutex<IndexStats>,
    tile_cache: TileCache,
    archives: ArchiveSet,
    /// The city's catalog: departments, zone types, buffer rules, services, rules.
    catalog: Arc<Catalog>,
    /// Which stored revision `catalog` is.
    catalog_revision: CatalogRevision,
    /// Zone and network layers prepared for constraints and nearest queries,
    /// kept per layer state as long as the index holds it.
    prepared_zones: Arc<Prepared>,
    /// What `/metrics` reports: this app's own counters (not process-wide).
    metrics: crate::metrics::Metrics,
    /// Permits of the expensive reads (`max_concurrent_heavy`): a burst of cold
    /// tiles or constraint checks waits its turn instead of starving the cores.
    heavy_permits: Arc<tokio::sync::Semaphore>,
    /// Permits of imports over HTTP (`max_concurrent_imports`).
    import_permits: Arc<tokio::sync::Semaphore>,
    /// Tokens recently checked against the store.
    tokens: auth::TokenCache,
}

/// Opens (and for PostGIS, migrates) the configured store.
pub async fn open_store(config: &StoreConfig) -> Result<DynStore, StoreError> {
    match config {
        StoreConfig::Postgis { url } => {
            let store = PostgisStore::connect(url).await?;
            store.migrate().await?;
            Ok(Arc::new(store))
        }
        StoreConfig::Gpkg { path } => {
            // The embedded default lives in data/ of the working folder; make the folder
            // on the first start rather than failing on a fresh machine.
            if let Some(parent) = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty() && !p.exists())
            {
                std::fs::create_dir_all(parent).map_err(|e| StoreError::Connect {
                    target: path.display().to_string(),
                    reason: format!("cannot create folder {}: {e}", parent.display()),
                })?;
            }
            Ok(Arc::new(GpkgStore::open(path).await?))
        }
    }
}

/// Generates the demo city and writes it into the store, with the built-in
/// catalog when the store has none.
pub async fn load_demo(
    store: &DynStore,
    options: DemoOptions,
) -> Result<demo::LoadSummary, AppError> {
    let started = Instant::now();
    let city = tokio::task::spawn_blocking(move || demo::generate(&options)).await??;
    let generated = started.elapsed();
    let summary = demo::load(store.as_ref(), city).await?;
    // The demo city routes by the catalog its departments come from: a store
    // without a catalog gets the built-in one (a city's own is kept).
    catalog::install(store, None).await?;
    info!(
        layers = summary.layers,
        features = summary.features,
        generate_ms = generated.as_millis() as u64,
        total_ms = started.elapsed().as_millis() as u64,
        "demo city loaded"
    );
    Ok(summary)
}

impl App {
    /// Opens the store, loads the demo city into an empty embedded store when
    /// configured to, and builds the index.
    pub async fn open(config: Config) -> Result<Arc<App>, AppError> {
        let store = open_store(&config.store).await?;
        info!(backend = store.backend(), location = %store.location(), "store open");
        if config.store.is_embedded() && config.demo_parcels > 0 && store.layers().await?.is_empty()
        {
            info!(
                parcels = config.demo_parcels,
                "the embedded store is empty: generating the demo city"
            );
            load_demo(
                &store,
                DemoOptions {
                    parcels: config.demo_parcels,
                    ..DemoOptions::default()
                },
            )
            .await?;
        }
        let app = Self::with_store(config, store).await?;
        if app.index().snapshot().is_empty() {
            info!(
                "the store holds no layers yet: load the demo city with `imgis demo` \
                 (with the same --database or --gpkg) or import layers"
            );
        }
        Ok(app)
    }

    /// An app over an already opened store (tests use this with their own stores).
    pub async fn with_store(config: Config, store: DynStore) -> Result<Arc<App>, AppError> {
        let archives = ArchiveSet::open_dir(&config.tiles_dir).await?;
        let tile_cache = TileCache::new(
            (config.tile_cache_mb as u64).saturating_mul(1 << 20),
            TileOptions::default(),
        );
        let LoadedCatalog {
            catalog,
            revision: catalog_revision,
        } = catalog::install(&store, config.catalog.as_deref()).await?;
        let config_limits = config.limits.clone();
        let app = Arc::new(App {
            store,
            index: Index::new(),
            config,
            write_locks: Mutex::default(),
            unreachable: Mutex::default(),
            stats: Mutex::default(),
            tile_cache,
            archives,
            catalog,
            catalog_revision,
            prepared_zones: Arc::default(),
            metrics: crate::metrics::Metrics::new(),
            tokens: auth::TokenCache::default(),
            heavy_permits: Arc::new(tokio::sync::Semaphore::new(
                config_limits.max_concurrent_heavy,
            )),
            import_permits: Arc::new(tokio::sync::Semaphore::new(
                config_limits.max_concurrent_imports,
            )),
        });
        app.rebuild_index().await?;
        app.refresh_derived_zones().await?;
        Ok(app)
    }

    pub fn store(&self) -> &DynStore {
        &self.store
    }

    pub fn index(&self) -> &Index {
        &self.index
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn catalog_revision(&self) -> &CatalogRevision {
        &self.catalog_revision
    }

    pub fn prepared_zones(&self) -> &Arc<Prepared> {
        &self.prepared_zones
    }

    pub fn tile_cache(&self) -> &TileCache {
        &self.tile_cache
    }

    /// This app's metrics (`GET /metrics`).
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }

    /// Permits of the expensive reads; `api::limits` takes them.
    pub fn heavy_permits(&self) -> &Arc<tokio::sync::Semaphore> {
        &self.heavy_permits
    }

    /// Permits of imports over HTTP; `api::limits` takes them.
    pub fn import_permits(&self) -> &Arc<tokio::sync::Semaphore> {
        &self.import_permits
    }

    /// The tile archives of the tiles folder, served as they are.
    pub fn archives(&self) -> &ArchiveSet {
        &self.archives
    }

    /// The zooms a layer is drawn at: its configured override, else its kind's default.
    pub fn zoom_range(&self, layer: &crate::index::LayerIndex) -> ZoomRange {
        ZoomRange::of_layer(
            layer.code(),
            layer.layer().spec.kind,
            &self.config.layer_zoom,
        )
    }

    /// The index changed a layer (or removed it): its older tiles leave the cache.
    fn layer_changed(&self, code: &LayerCode) {
        let current = self.index.layer(code).map(|l| l.layer().version);
        self.tile_cache.forget_older(code, current);
    }

    pub fn index_stats(&self) -> IndexStats {
        *self
            .stats
            .lock()
            .expect("stats lock is never held across a panic")
    }

    /// Reads every layer from the store and publishes its index.
    pub async fn rebuild_index(&self) -> Result<IndexStats, AppError> {
        let started = Instant::now();
        let layers = self.store.layers().await?;
        let mut features = 0;
        for layer in &layers {
            features += self.reload_layer_from(layer.clone()).await?;
        }
        for code in self.index.snapshot().keys() {
            if !layers.iter().any(|l| l.code() == code) {
                self.index.remove_layer(code);
                self.layer_changed(code);
            }
        }
        let stats = IndexStats {
            layers: layers.len(),
            features,
            build_ms: started.elapsed().as_millis(),
            memory_bytes: self.index.memory().bytes,
        };
        info!(
            layers = stats.layers,
            features = stats.features,
            build_ms = stats.build_ms as u64,
            memory_mb = format!("{:.1}", stats.memory_bytes as f64 / 1_048_576.0),
            bytes_per_feature = stats.memory_bytes.checked_div(stats.features).unwrap_or(0),
            "index built"
        );
        *self
            .stats
            .lock()
            .expect("stats lock is never held across a panic") = stats;
        Ok(stats)
    }

    async fn reload_layer_from(&self, layer: Layer) -> Result<usize, AppError> {
        let features = self.store.features(layer.code()).await?;
        let n = features.len();
        self.publish_layer(layer, features).await?;
        Ok(n)
    }

    /// Builds a layer's index and publishes it. The R-tree bulk load is CPU work:
    /// it runs off the async workers.
    async fn publish_layer(&self, layer: Layer, features: Vec<Feature>) -> Result<(), AppError> {
        let built =
            tokio::task::spawn_blocking(move || crate::index::LayerIndex::build(layer, features))
                .await?;
        let code = built.code().clone();
        self.index.publish(built);
        self.layer_changed(&code);
        Ok(())
    }

    /// Reloads one layer from the store (after a version gap, or a change made elsewhere).
    pub async fn reload_layer(&self, code: &LayerCode) -> Result<(), AppError> {
        match self.store.layer(code).await? {
            Some(layer) => {
                self.reload_layer_from(layer).await?;
            }
            None => {
                self.index.remove_layer(code);
                self.layer_changed(code);
            }
        }
        Ok(())
    }

    fn write_lock(&self, code: &LayerCode) -> Arc<tokio::sync::Mutex<()>> {
        self.write_locks
            .lock()
            .expect("write-lock table is never held across a panic")
            .entry(code.clone())
            .or_default()
            .clone()
    }

    /// Takes `code`'s write lock for a client's write. A write that had to
    /// wait for it while the write before it found the store unreachable
    /// answers 503 at once, as that one did. Otherwise, during an outage, the
    /// writes queued on one layer would each wait out the pool's 3 s in turn,
    /// the tenth clerk half a minute for the same answer. A write that finds
    /// the lock free still tries the store, so the first one after the outage
    /// gets through.
    async fn lock_for_write(
        &self,
        code: &LayerCode,
    ) -> Result<tokio::sync::OwnedMutexGuard<()>, AppError> {
        let lock = self.write_lock(code);
        if let Ok(guard) = lock.clone().try_lock_owned() {
            return Ok(guard);
        }
        let waiting_since = Instant::now();
        let guard = lock.lock_owned().await;
        let seen = self
            .unreachable
            .lock()
            .expect("never held across a panic")
            .clone();
        match seen {
            Some((at, reason)) if at >= waiting_since => {
                Err(AppError::Store(StoreError::Connect {
                    target: "the store".into(),
                    reason,
                }))
            }
            _ => Ok(guard),
        }
    }

    /// Passes a write's error on, noting when it says the store is unreachable
    /// (for [`App::lock_for_write`]).
    fn noted(&self, e: impl Into<AppError>) -> AppError {
        let e = e.into();
        if let AppError::Store(store) = &e {
            if store.is_unavailable() {
                *self.unreachable.lock().expect("never held across a panic") =
                    Some((Instant::now(), store.to_string()));
            }
        }
        e
    }

    /// Replaces a layer's features: store (one transaction), then index.
    pub async fn replace_features(
        &self,
        code: &LayerCode,
        features: Vec<NewFeature>,
    ) -> Result<Layer, AppError> {
        let layer = {
            let _guard = self.lock_for_write(code).await?;
            let outcome = self
                .store
                .replace_features(code, features)
                .await
                .map_err(|e| self.noted(e))?;
            let layer = outcome.layer.clone();
            self.publish_layer(outcome.layer, outcome.features).await?;
            layer
        };
        self.source_changed(code).await?;
        Ok(layer)
    }

    /// Appends features to a layer: store (one transaction), then index.
    pub async fn append_features(
        &self,
        code: &LayerCode,
        features: Vec<NewFeature>,
    ) -> Result<Layer, AppError> {
        Ok(self.append_with_ids(code, features).await?.0)
    }

    /// [`App::append_features`], also giving the ids the store gave the
    /// features, in input order.
    async fn append_with_ids(
        &self,
        code: &LayerCode,
        features: Vec<NewFeature>,
    ) -> Result<(Layer, Vec<FeatureId>), AppError> {
        let done = {
            let _guard = self.lock_for_write(code).await?;
            let outcome = self
                .store
                .append_features(code, features)
                .await
                .map_err(|e| self.noted(e))?;
            let done = (
                outcome.layer.clone(),
                outcome.features.iter().map(|f| f.id).collect(),
            );
            let applied = self.index.append(outcome.layer, outcome.features);
            self.indexed(code, applied).await?;
            done
        };
        self.source_changed(code).await?;
        Ok(done)
    }

    /// After the index took (or refused) a committed write of `code`: the
    /// layer's old tiles leave the cache; out of step with the store (another
    /// instance or process wrote too), the layer is reloaded from the store,
    /// which has the whole truth.
    async fn indexed(
        &self,
        code: &LayerCode,
        applied: Result<(), IndexError>,
    ) -> Result<(), AppError> {
        match applied {
            Ok(()) => self.layer_changed(code),
            Err(e @ (IndexError::VersionGap { .. } | IndexError::UnknownLayer(_))) => {
                warn!(error = %e, "index out of step with the store; reloading the layer");
                self.reload_layer(code).await?;
            }
        }
        Ok(())
    }

    /// After a committed write: a utility layer that protection zones are
    /// derived from gets its zones made anew (after its own lock is released:
    /// the zones layer has a lock of its own).
    async fn source_changed(&self, code: &LayerCode) -> Result<(), AppError> {
        if self.catalog.is_buffer_source(code) {
            self.refresh_derived_zones().await?;
        }
        Ok(())
    }

    /// Makes the derived protection zones (`utility_protection_zones`) anew
    /// from the utility layers when one of those is newer than the zones (or
    /// the zones layer is missing): derived in the metric CRS off the async
    /// workers, written in one transaction, then published. A no-op for a
    /// store without utility layers.
    pub async fn refresh_derived_zones(&self) -> Result<(), AppError> {
        let code: LayerCode = zones::LAYER_CODE
            .parse()
            .expect("the zones layer code is valid");
        let lock = self.write_lock(&code);
        let _guard = lock.lock().await;
        let snapshot = self.index.snapshot();
        let newest_source = snapshot
            .values()
            .filter(|l| self.catalog.is_buffer_source(l.code()))
            .map(|l| l.layer().updated_at)
            .max();
        let Some(newest_source) = newest_source else {
            return Ok(());
        };
        if snapshot
            .get(&code)
            .is_some_and(|z| z.layer().updated_at >= newest_source)
        {
            return Ok(());
        }
        let started = Instant::now();
        let catalog = self.catalog.clone();
        let metric = self.config.metric_srs.clone();
        let derived =
            tokio::task::spawn_blocking(move || zones::derive_all(&snapshot, &catalog, &metric))
                .await??;
        for s in &derived.skipped {
            warn!(layer = %s.layer, feature = s.feature, reason = ?s.reason, "no protection zone derived");
        }
        if self.store.layer(&code).await?.is_none() {
            // The catalog's departments are data the store keeps; the zones layer's
            // owner must be among them before the layer can be made.
            self.store
                .upsert_departments(&self.catalog.departments)
                .await?;
            self.store.create_layer(&zones::layer_spec()).await?;
        }
        let n = derived.zones.len();
        let outcome = self.store.replace_features(&code, derived.zones).await?;
        self.publish_layer(outcome.layer, outcome.features).await?;
        info!(
            zones = n,
            skipped = derived.skipped.len(),
            ms = started.elapsed().as_millis() as u64,
            "protection zones derived from the utility layers"
        );
        Ok(())
    }
}

/// How often a server compares the store's layer versions with its index
/// when the store does not tell its changes (GeoPackage: SQLite has no
/// notifications, and `imgis import` may write the file meanwhile).
pub const SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// How often a server whose store tells its changes ([`crate::store::Store::watch`],
/// PostGIS) compares every layer anyway: a safety net under the notifications.
pub const SAFETY_SYNC_INTERVAL: Duration = Duration::from_secs(30);

impl App {
    /// Reloads the layers whose stored version differs from the index's:
    /// written by someone else (`imgis import` on the command line, another
    /// instance on the same PostGIS), or removed. Returns how many changed.
    pub async fn sync_with_store(&self) -> Result<usize, AppError> {
        let stored = self.store.layers().await?;
        let mut changed = Vec::new();
        for layer in &stored {
            let indexed = self.index.layer(layer.code()).map(|l| l.layer().version);
            if indexed == Some(layer.version) {
                continue;
            }
            let lock = self.write_lock(layer.code());
            let _guard = lock.lock().await;
            // Our own write may have published it while we waited for the lock.
            let now = self.index.layer(layer.code()).map(|l| l.layer().version);
            if now.is_some_and(|v| v >= layer.version) {
                continue;
            }
            self.reload_layer(layer.code()).await?;
            changed.push(layer.code().clone());
        }
        for code in self.index.snapshot().keys() {
            if !stored.iter().any(|l| l.code() == code) {
                let lock = self.write_lock(code);
                let _guard = lock.lock().await;
                self.reload_layer(code).await?;
                changed.push(code.clone());
            }
        }
        for code in &changed {
            info!(layer = %code, "layer changed in the store by another writer; reloaded");
            self.source_changed(code).await?;
        }
        Ok(changed.len())
    }

    /// Follows one change the store told ([`StoreEvent::LayerChanged`]):
    /// reloads the layer unless the index has that version or a newer one
    /// already, as it has after this server's own writes (which then cost a
    /// version compare). Returns whether the layer was reloaded.
    pub async fn follow_change(
        &self,
        code: &LayerCode,
        version: Option<i64>,
    ) -> Result<bool, AppError> {
        let behind = || match (self.index.layer(code).map(|l| l.layer().version), version) {
            (Some(indexed), Some(stored)) => indexed < stored,
            (None, None) => false,
            // Made, or deleted, by another writer.
            (None, Some(_)) | (Some(_), None) => true,
        };
        if !behind() {
            return Ok(false);
        }
        {
            let lock = self.write_lock(code);
            let _guard = lock.lock().await;
            // A write of ours holds the lock until the index has it: the
            // notification of that write can arrive first.
            if !behind() {
                return Ok(false);
            }
            self.reload_layer(code).await?;
        }
        info!(layer = %code, "layer changed in the store by another writer; reloaded");
        self.source_changed(code).await?;
        Ok(true)
    }
}

/// Keeps the index in step with what others write to the store, for as long
/// as the server runs: driven by the store's change events when it tells them
/// (a changed layer is reloaded alone; after a lost connection every layer is
/// compared), with a full compare every [`SAFETY_SYNC_INTERVAL`]; else by a
/// full compare every [`SYNC_INTERVAL`].
async fn follow_store(app: Arc<App>) {
    let mut events: Option<StoreWatch> = app.store.watch();
    let mut ticks = sync_ticks(events.is_some());
    let mut outage = Outage::default();
    loop {
        let step = tokio::select! {
            _ = ticks.tick() => None,
            event = next_event(&mut events) => Some(event),
        };
        let done = match step {
            None | Some(Some(StoreEvent::Resync)) => app.sync_with_store().await.map(drop),
            Some(Some(StoreEvent::LayerChanged { code, version })) => {
                app.follow_change(&code, version).await.map(drop)
            }
            Some(Some(StoreEvent::Lost(reason))) => {
                outage.down(&reason);
                continue;
            }
            Some(None) => {
                warn!("the store stopped telling its changes; comparing layers every second");
                events = None;
                ticks = sync_ticks(false);
                continue;
            }
        };
        match done {
            Ok(()) => outage.up(),
            Err(AppError::Store(e)) if e.is_unavailable() => outage.down(&e.to_string()),
            Err(e) => warn!(error = %e, "cannot bring the index in step with the store; retrying"),
        }
    }
}

/// The full compares of [`follow_store`]: rare when the store tells its changes.
fn sync_ticks(told: bool) -> tokio::time::Interval {
    let every = if told {
        SAFETY_SYNC_INTERVAL
    } else {
        SYNC_INTERVAL
    };
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks
}

/// The next change event; `None` when the watcher ended; never resolves
/// without a watcher.
async fn next_event(events: &mut Option<StoreWatch>) -> Option<StoreEvent> {
    match events {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Whether the store is out of reach, so that an outage is logged once when
/// it starts and once when it ends, not at every retry.
#[derive(Default)]
struct Outage {
    since: Option<Instant>,
}

impl Outage {
    fn down(&mut self, reason: &str) {
        if self.since.is_none() {
            self.since = Some(Instant::now());
            warn!(
                reason,
                "the store cannot be reached: reads are served from the index, \
                 writes answer 503 until it is back"
            );
        }
    }

    fn up(&mut self) {
        if let Some(since) = self.since.take() {
            info!(
                after_s = since.elapsed().as_secs(),
                "the store is reachable again; the index is in step with it"
            );
        }
    }
}

/// Serves the API on `listener` until `shutdown` resolves, then lets in-flight
/// requests finish. Meanwhile the index follows changes others make to the
/// store ([`follow_store`]).
pub async fn run(
    app: Arc<App>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AppError> {
    let sync = tokio::spawn(follow_store(app.clone()));
    let served = serve(app, listener, shutdown).await;
    sync.abort();
    served
}

async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AppError> {
    let addr = listener.local_addr()?;
    info!(%addr, "serving http://{addr}/");
    axum::serve(listener, crate::api::router(app))
        .with_graceful_shutdown(shutdown)
        .await?;
    info!("server stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM (how systemd and operators stop a service).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => info!("Ctrl-C: shutting down"),
        () = term => info!("SIGTERM: shutting down"),
    }
}

/// How long `/health` waits for the store before calling it unreachable.
pub const HEALTH_STORE_TIMEOUT: Duration = Duration::from_secs(2);
