//! Configuration: command-line flags, `IMGIS_*` environment variables and an
//! optional TOML file, merged here and only here, in one direction:
//! flags > environment > file > defaults.
//!
//! clap reads flags and environment together (each flag names its variable);
//! what neither gave falls back to the file, then to the default. Each merge
//! destructures the argument struct, so a flag added but not merged does not compile.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde::Deserialize;

use crate::store::postgis::redact_url;
use crate::tiles::ZoomRange;

/// Where the embedded GeoPackage lives unless told otherwise.
pub const DEFAULT_GPKG: &str = "data/imgis.gpkg";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Parcels of the demo city loaded at the first start of the embedded default:
/// small enough to generate and load in about a second.
pub const DEFAULT_DEMO_PARCELS: usize = 5_000;
/// Tile cache budget: about 20 000 dense parcel tiles, a whole district browsed at z15–z17.
pub const DEFAULT_TILE_CACHE_MB: usize = 256;
/// Where tile archives are written by `imgis tiles export` and served from.
pub const DEFAULT_TILES_DIR: &str = "tiles";
/// Overlaps of a plot and a zone below this (m²) are reported as slivers, not
/// constraints: digitising noise along shared boundaries, not a restriction.
pub const DEFAULT_SLIVER_TOLERANCE_M2: f64 = 0.5;
/// The largest area (m²) an applicant may ask constraints for: 1 km², far more
/// than a plot, small enough that one request cannot clip half the city.
pub const DEFAULT_MAX_PLOT_AREA_M2: f64 = 1_000_000.0;

/// Largest import upload over HTTP unless configured, MB: a city's whole
/// parcels layer as GeoJSON is a few hundred MB.
pub const DEFAULT_MAX_UPLOAD_MB: u64 = 1024;

/// Largest JSON request body unless configured, KB: a drawn plot of the most
/// vertices allowed is tens of KB; 2 MB leaves room for big feature edits.
pub const DEFAULT_MAX_BODY_KB: u64 = 2048;
/// Most features one import file may hold unless configured: a big city's
/// parcels layer is about a million; the index keeps every feature in memory.
pub const DEFAULT_MAX_IMPORT_FEATURES: u64 = 5_000_000;
/// The largest `limit` of a page (`/collections/{layer}/items`, `/applications`).
pub const DEFAULT_MAX_ITEMS_LIMIT: usize = 10_000;
/// Most layers in one composite tile: every layer of a city map, not hundreds.
pub const DEFAULT_MAX_TILE_LAYERS: usize = 32;
/// Seconds a request may take before it is answered 503 `timeout`.
pub const DEFAULT_REQUEST_TIMEOUT_S: u64 = 30;
/// Seconds an import may take (upload included): a big city layer takes minutes.
pub const DEFAULT_IMPORT_TIMEOUT_S: u64 = 3_600;
/// Imports running at once: each takes the cores and a store connection for minutes.
pub const DEFAULT_MAX_CONCURRENT_IMPORTS: usize = 2;
/// How long an expensive read waits for a free permit before 429, ms.
pub const DEFAULT_QUEUE_TIMEOUT_MS: u64 = 2_000;

/// Expensive reads (cold tiles, pages, constraints, routing) running at once
/// unless configured: four per core (most of them take milliseconds), at least 8.
pub fn default_max_concurrent_heavy() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    (4 * cores).max(8)
}

/// The city's bounds unless configured: the whole world, lon/lat degrees;
/// only coordinates that cannot be lon/lat are then out of bounds.
pub fn world() -> geo_types::Rect<f64> {
    geo_types::Rect::new((-180.0, -90.0), (180.0, 90.0))
}

/// `--city-bbox` (flag or environment), else the file's `city_bbox`, else [`world`].
pub fn resolve_city_bbox(
    flag: Option<String>,
    file: &FileConfig,
) -> Result<geo_types::Rect<f64>, ConfigError> {
    match flag.or_else(|| file.city_bbox.clone()) {
        None => Ok(world()),
        Some(text) => parse_lonlat_bbox(&text).map_err(|reason| ConfigError::Invalid {
            what: "city_bbox",
            value: text.clone(),
            reason,
        }),
    }
}

/// `--max-import-features` (flag or environment), else the file's, else the default.
pub fn resolve_max_import_features(
    flag: Option<u64>,
    file: &FileConfig,
) -> Result<u64, ConfigError> {
    let n = flag
        .or(file.max_import_features)
        .unwrap_or(DEFAULT_MAX_IMPORT_FEATURES);
    at_least("max_import_features", n, 1)
}

/// `value` when it is at least `min`, else an error naming the key.
fn at_least<T: PartialOrd + std::fmt::Display>(
    what: &'static str,
    value: T,
    min: T,
) -> Result<T, ConfigError> {
    if value >= min {
        Ok(value)
    } else {
        Err(ConfigError::Invalid {
            what,
            value: value.to_string(),
            reason: format!("must be at least {min}"),
        })
    }
}

/// "min_lon,min_lat,max_lon,max_lat" in degrees.
pub fn parse_lonlat_bbox(text: &str) -> Result<geo_types::Rect<f64>, String> {
    let numbers: Vec<f64> = text
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| "expected four numbers: min_lon,min_lat,max_lon,max_lat".to_owned())?;
    let [x0, y0, x1, y1] = numbers[..] else {
        return Err("expected four numbers: min_lon,min_lat,max_lon,max_lat".into());
    };
    let ok = [x0, x1].iter().all(|x| (-180.0..=180.0).contains(x))
        && [y0, y1].iter().all(|y| (-90.0..=90.0).contains(y))
        && x0 < x1
        && y0 < y1;
    if !ok {
        return Err("longitudes within ±180, latitudes within ±90, min below max".into());
    }
    Ok(geo_types::Rect::new((x0, y0), (x1, y1)))
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading config file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("{what} '{value}' is not valid: {reason}")]
    Invalid {
        what: &'static str,
        value: String,
        reason: String,
    },
}

#[derive(Debug, Parser)]
#[command(
    name = "imgis",
    version,
    about = "Integrated municipal geo-information system server"
)]
pub struct Cli {
    /// TOML config file (keys as the long flags, with '_' for '-').
    #[arg(long, global = true, env = "IMGIS_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the map, tiles and APIs over HTTP.
    Serve(ServeArgs),
    /// Create or upgrade the store's schema.
    Migrate(StoreArgs),
    /// Generate the demo city (a Kazan-like town) and load it into the store.
    Demo(DemoArgs),
    /// Vector tile archives.
    Tiles(TilesArgs),
    /// The city's catalog (departments, zone types, services, rules, calendar).
    Catalog(CatalogArgs),
    /// Import a layer from a GeoJSON, Shapefile (or zip), GeoPackage, FlatGeobuf or CSV file.
    Import(ImportArgs),
    /// API tokens: create (the token is shown once), list, revoke.
    Token(TokenArgs),
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub command: TokenCommand,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token and print it once; only its hash is stored.
    Create {
        /// public, intake, department (a department's GIS specialist) or admin.
        #[arg(long)]
        role: String,
        /// The department a `department` token acts for (its layers and tasks).
        #[arg(long)]
        department: Option<String>,
        /// Who or what holds the token, for the list (e.g. "Vodokanal GIS, Ivanova").
        #[arg(long, default_value = "")]
        label: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List the tokens (never their secrets): id, prefix, role, department, label, created, revoked.
    List {
        /// As JSON, one array.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke a token by its id; every server refuses it within seconds.
    Revoke {
        /// The token's id, as `imgis token list` shows it.
        id: i64,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file to import (.geojson, .geojsonl, .shp or .zip, .gpkg, .fgb, .csv).
    pub file: PathBuf,
    /// Code of the layer to write; created when it does not exist.
    #[arg(long)]
    pub layer: String,
    /// Owning department of a new layer (an existing layer's must match).
    #[arg(long)]
    pub department: Option<String>,
    /// Kind of a new layer: parcels, utilities, zones or other (an existing layer's must match).
    #[arg(long)]
    pub kind: Option<String>,
    /// The file's CRS, overriding what it declares: EPSG:n or WKT.
    #[arg(long)]
    pub srs: Option<String>,
    /// replace: the layer holds exactly the file's features; append: they are added.
    #[arg(long, default_value = "replace")]
    pub mode: String,
    /// Features with invalid, empty, null or out-of-bounds geometries: reject the import, skip them, or repair what can be.
    #[arg(long, default_value = "reject")]
    pub invalid: String,
    /// Read and check everything, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// A layer this import creates is internal: staff see it, the public does not.
    #[arg(long)]
    pub internal: bool,
    /// The GeoPackage table (or Shapefile in a zip) to read, when there are several.
    #[arg(long)]
    pub source_layer: Option<String>,
    /// The format, when the content and extension do not tell: geojson, geojsonseq, shapefile, gpkg, fgb, csv.
    #[arg(long)]
    pub format: Option<String>,
    /// Parcels: the source field holding cadastral numbers (default: cadastral, cad_num and other usual names).
    #[arg(long)]
    pub cadastral_field: Option<String>,
    /// CSV: the column holding WKT geometries.
    #[arg(long)]
    pub wkt_column: Option<String>,
    /// CSV: the longitude (or easting) column.
    #[arg(long)]
    pub lon_column: Option<String>,
    /// CSV: the latitude (or northing) column.
    #[arg(long)]
    pub lat_column: Option<String>,
    /// The city's bounds, lon/lat degrees: min_lon,min_lat,max_lon,max_lat; features outside are refused.
    #[arg(long, env = "IMGIS_CITY_BBOX", allow_hyphen_values = true)]
    pub city_bbox: Option<String>,
    /// Most features the file may hold; past it the import stops and writes nothing.
    #[arg(long, env = "IMGIS_MAX_IMPORT_FEATURES")]
    pub max_import_features: Option<u64>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Print the report as JSON (the same as POST /layers/{code}/import answers).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct CatalogArgs {
    #[command(subcommand)]
    pub command: CatalogCommand,
}

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Check a catalog file and say what it holds, without storing it.
    Check {
        /// The catalog, TOML (as data/catalog.toml).
        file: PathBuf,
    },
    /// Check a catalog file and store it as the newest revision; servers use it from their next start.
    Load {
        /// The catalog, TOML (as data/catalog.toml).
        file: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Args)]
pub struct TilesArgs {
    #[command(subcommand)]
    pub command: TilesCommand,
}

#[derive(Debug, Subcommand)]
pub enum TilesCommand {
    /// Write the tiles of some layers to a PMTiles v3 archive, for offline use or a CDN.
    Export(ExportArgs),
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Layer codes, comma-separated (one MVT layer each); all public layers when omitted.
    #[arg(long, value_delimiter = ',')]
    pub layers: Vec<String>,
    /// Lowest zoom written.
    #[arg(long, default_value_t = 0)]
    pub minzoom: u8,
    /// Highest zoom written.
    #[arg(long, default_value_t = 14)]
    pub maxzoom: u8,
    /// Area to write, lon/lat degrees (EPSG:4326): min_lon,min_lat,max_lon,max_lat; the layers' extent when omitted.
    #[arg(long, allow_hyphen_values = true)]
    pub bbox: Option<String>,
    /// Archive to write, e.g. tiles/city.pmtiles (written beside it, then renamed: never half-written).
    #[arg(long)]
    pub out: PathBuf,
    /// No progress bar (for scripts and logs).
    #[arg(long)]
    pub quiet: bool,
}

/// Which store to use: PostGIS when `--database` is given, else the GeoPackage.
#[derive(Debug, Args, Default)]
pub struct StoreArgs {
    /// PostgreSQL/PostGIS URL, e.g. postgres://user:pass@host:5432/db. Without it, the embedded GeoPackage is used.
    #[arg(long, env = "IMGIS_DATABASE")]
    pub database: Option<String>,
    /// Path of the embedded GeoPackage (used when no --database is given).
    #[arg(long, env = "IMGIS_GPKG")]
    pub gpkg: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address to listen on.
    #[arg(long, env = "IMGIS_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Parcels of the demo city loaded when the embedded GeoPackage starts empty (0: start empty).
    #[arg(long, env = "IMGIS_DEMO_PARCELS")]
    pub demo_parcels: Option<usize>,
    /// Tile cache size in MB (0 turns the cache off).
    #[arg(long, env = "IMGIS_TILE_CACHE_MB")]
    pub tile_cache_mb: Option<usize>,
    /// Folder of tile archives (*.pmtiles) served under /archives/.
    #[arg(long, env = "IMGIS_TILES_DIR")]
    pub tiles_dir: Option<PathBuf>,
    /// Catalog file (TOML) to use and store as the newest revision; without it, the store's newest catalog.
    #[arg(long, env = "IMGIS_CATALOG")]
    pub catalog: Option<PathBuf>,
    /// The city's bounds, lon/lat degrees: min_lon,min_lat,max_lon,max_lat; imported features outside are refused.
    #[arg(long, env = "IMGIS_CITY_BBOX", allow_hyphen_values = true)]
    pub city_bbox: Option<String>,
    /// Largest file accepted by POST /layers/{code}/import, MB.
    #[arg(long, env = "IMGIS_MAX_UPLOAD_MB")]
    pub max_upload_mb: Option<u64>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// The request limits of `serve` (issue 7); each is also a config file key
/// of the same name. What each answers when exceeded is in README's Limits table.
#[derive(Debug, Args, Default)]
pub struct LimitArgs {
    /// Largest JSON request body, KB (413 body_too_large).
    #[arg(long, env = "IMGIS_MAX_BODY_KB")]
    pub max_body_kb: Option<u64>,
    /// Most features one import file may hold (413 too_many_features).
    #[arg(long, env = "IMGIS_MAX_IMPORT_FEATURES")]
    pub max_import_features: Option<u64>,
    /// Largest page `limit` of /collections/{layer}/items (lowered to it) and /applications.
    #[arg(long, env = "IMGIS_MAX_ITEMS_LIMIT")]
    pub max_items_limit: Option<usize>,
    /// Most layers in one composite tile (400 invalid_tile).
    #[arg(long, env = "IMGIS_MAX_TILE_LAYERS")]
    pub max_tile_layers: Option<usize>,
    /// Most vertices of a drawn plot (413 geometry_too_large).
    #[arg(long, env = "IMGIS_MAX_PLOT_VERTICES")]
    pub max_plot_vertices: Option<usize>,
    /// Seconds a request may take (503 timeout); imports have import_timeout_s.
    #[arg(long, env = "IMGIS_REQUEST_TIMEOUT_S")]
    pub request_timeout_s: Option<u64>,
    /// Seconds an import over HTTP may take, upload included (503 timeout).
    #[arg(long, env = "IMGIS_IMPORT_TIMEOUT_S")]
    pub import_timeout_s: Option<u64>,
    /// Imports running at once; one more is refused at once (429 too_many_requests).
    #[arg(long, env = "IMGIS_MAX_CONCURRENT_IMPORTS")]
    pub max_concurrent_imports: Option<usize>,
    /// Expensive reads running at once: cold tiles, pages, constraints, routing (default 4 per core, at least 8).
    #[arg(long, env = "IMGIS_MAX_CONCURRENT_HEAVY")]
    pub max_concurrent_heavy: Option<usize>,
    /// How long an expensive read waits for its turn before 429 too_many_requests, ms.
    #[arg(long, env = "IMGIS_QUEUE_TIMEOUT_MS")]
    pub queue_timeout_ms: Option<u64>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Number of parcels to generate.
    #[arg(long, env = "IMGIS_DEMO_PARCELS")]
    pub parcels: Option<usize>,
    /// Seed of the generator: the same seed and size give the same city.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// The config file: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub database: Option<String>,
    pub gpkg: Option<PathBuf>,
    pub demo_parcels: Option<usize>,
    /// The city's metric CRS for areas and buffers (default EPSG:32639).
    pub metric_srs: Option<String>,
    /// Overlaps below this many m² are slivers, not constraints (default 0.5).
    pub sliver_tolerance_m2: Option<f64>,
    /// Largest applicant-drawn plot accepted for constraints, m² (default 1 000 000).
    pub max_plot_area_m2: Option<f64>,
    pub tile_cache_mb: Option<usize>,
    pub tiles_dir: Option<PathBuf>,
    /// Catalog file to use (stored as the newest revision when it changed).
    pub catalog: Option<PathBuf>,
    /// The city's bounds, "min_lon,min_lat,max_lon,max_lat" in degrees;
    /// imported features outside are refused (default: the whole world).
    pub city_bbox: Option<String>,
    /// Largest import upload over HTTP, MB (default 1024).
    pub max_upload_mb: Option<u64>,
    /// Largest JSON request body, KB (default 2048).
    pub max_body_kb: Option<u64>,
    /// Most features one import file may hold (default 5 000 000).
    pub max_import_features: Option<u64>,
    /// Largest page `limit` (default 10 000).
    pub max_items_limit: Option<usize>,
    /// Most layers in one composite tile (default 32).
    pub max_tile_layers: Option<usize>,
    /// Most vertices of an applicant-drawn plot (default 1 000).
    pub max_plot_vertices: Option<usize>,
    /// Seconds a request may take (default 30).
    pub request_timeout_s: Option<u64>,
    /// Seconds an import over HTTP may take (default 3 600).
    pub import_timeout_s: Option<u64>,
    /// Imports running at once (default 2).
    pub max_concurrent_imports: Option<usize>,
    /// Expensive reads running at once (default 4 per core, at least 8).
    pub max_concurrent_heavy: Option<usize>,
    /// How long an expensive read waits for its turn, ms (default 2 000).
    pub queue_timeout_ms: Option<u64>,
    /// Zoom range per layer code, overriding the default of the layer's kind:
    /// `[layer_zoom.parcels]` with `minzoom = 15`, `maxzoom = 20`.
    #[serde(default)]
    pub layer_zoom: BTreeMap<String, ZoomRange>,
}

impl FileConfig {
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: name.clone(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: name,
            message: e.to_string(),
        })
    }
}

/// Which store, resolved.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreConfig {
    Postgis { url: String },
    Gpkg { path: PathBuf },
}

impl std::fmt::Debug for StoreConfig {
    /// The URL is redacted: configs end up in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Postgis { url } => write!(f, "Postgis({})", redact_url(url)),
            Self::Gpkg { path } => write!(f, "Gpkg({})", path.display()),
        }
    }
}

impl StoreConfig {
    pub fn resolve(args: StoreArgs, file: &FileConfig) -> Self {
        let StoreArgs { database, gpkg } = args;
        match database.or_else(|| file.database.clone()) {
            Some(url) => Self::Postgis { url },
            None => Self::Gpkg {
                path: gpkg
                    .or_else(|| file.gpkg.clone())
                    .unwrap_or_else(|| PathBuf::from(DEFAULT_GPKG)),
            },
        }
    }

    pub fn is_embedded(&self) -> bool {
        matches!(self, Self::Gpkg { .. })
    }
}

/// Everything `serve` needs, resolved.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub store: StoreConfig,
    /// Parcels of the demo city to load when the embedded store starts empty; 0 = none.
    pub demo_parcels: usize,
    /// The city's metric CRS (areas, buffers, distances in metres).
    pub metric_srs: String,
    /// Overlaps of a plot and a zone below this many m² are slivers, not constraints.
    pub sliver_tolerance_m2: f64,
    /// Largest applicant-drawn plot accepted for constraints, m² in the metric CRS.
    pub max_plot_area_m2: f64,
    /// Tile cache budget in MB; 0 = no cache.
    pub tile_cache_mb: usize,
    /// Folder of tile archives served under /archives/.
    pub tiles_dir: PathBuf,
    /// Catalog file given by the operator; none: the store's newest (or the built-in one).
    pub catalog: Option<PathBuf>,
    /// Zoom ranges of particular layers (the rest follow their kind).
    pub layer_zoom: BTreeMap<String, ZoomRange>,
    /// The city's bounds, lon/lat degrees (EPSG:4326): imports refuse features outside.
    pub city_bbox: geo_types::Rect<f64>,
    /// Largest import upload over HTTP, bytes.
    pub max_upload_bytes: u64,
    /// Request sizes, timeouts and concurrency.
    pub limits: Limits,
}

/// Request limits, resolved (issue 7): each refuses with a JSON error that
/// says which config key to raise, and a refused request changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest JSON request body, bytes (`max_body_kb`).
    pub max_body_bytes: usize,
    /// Most features one import file may hold.
    pub max_import_features: u64,
    /// Largest page `limit`.
    pub max_items_limit: usize,
    /// Most layers in one composite tile.
    pub max_tile_layers: usize,
    /// Most vertices of an applicant-drawn plot.
    pub max_plot_vertices: usize,
    /// How long a request may take (`request_timeout_s`; tests set milliseconds).
    pub request_timeout: Duration,
    /// How long an import over HTTP may take (`import_timeout_s`).
    pub import_timeout: Duration,
    /// Imports running at once.
    pub max_concurrent_imports: usize,
    /// Expensive reads running at once.
    pub max_concurrent_heavy: usize,
    /// How long an expensive read waits for its turn (`queue_timeout_ms`).
    pub queue_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: (DEFAULT_MAX_BODY_KB as usize) << 10,
            max_import_features: DEFAULT_MAX_IMPORT_FEATURES,
            max_items_limit: DEFAULT_MAX_ITEMS_LIMIT,
            max_tile_layers: DEFAULT_MAX_TILE_LAYERS,
            max_plot_vertices: crate::constraints::MAX_PLOT_VERTICES,
            request_timeout: Duration::from_secs(DEFAULT_REQUEST_TIMEOUT_S),
            import_timeout: Duration::from_secs(DEFAULT_IMPORT_TIMEOUT_S),
            max_concurrent_imports: DEFAULT_MAX_CONCURRENT_IMPORTS,
            max_concurrent_heavy: default_max_concurrent_heavy(),
            queue_timeout: Duration::from_millis(DEFAULT_QUEUE_TIMEOUT_MS),
        }
    }
}

impl Limits {
    /// Flags (and environment) over the file over the defaults; every limit
    /// must be at least 1 (a queue timeout may be 0: no waiting).
    pub fn resolve(args: LimitArgs, file: &FileConfig) -> Result<Self, ConfigError> {
        let LimitArgs {
            max_body_kb,
            max_import_features,
            max_items_limit,
            max_tile_layers,
            max_plot_vertices,
            request_timeout_s,
            import_timeout_s,
            max_concurrent_imports,
            max_concurrent_heavy,
            queue_timeout_ms,
        } = args;
        let d = Self::default();
        let body_kb = at_least(
            "max_body_kb",
            max_body_kb
                .or(file.max_body_kb)
                .unwrap_or(DEFAULT_MAX_BODY_KB),
            1,
        )?;
        let seconds = |what, flag: Option<u64>, file: Option<u64>, default: u64| {
            at_least(what, flag.or(file).unwrap_or(default), 1).map(Duration::from_secs)
        };
        let count = |what, flag: Option<usize>, file: Option<usize>, default: usize| {
            at_least(what, flag.or(file).unwrap_or(default), 1)
        };
        Ok(Self {
            max_body_bytes: usize::try_from(body_kb.saturating_mul(1024)).unwrap_or(usize::MAX),
            max_import_features: resolve_max_import_features(max_import_features, file)?,
            max_items_limit: count(
                "max_items_limit",
                max_items_limit,
                file.max_items_limit,
                d.max_items_limit,
            )?,
            max_tile_layers: count(
                "max_tile_layers",
                max_tile_layers,
                file.max_tile_layers,
                d.max_tile_layers,
            )?,
            max_plot_vertices: count(
                "max_plot_vertices",
                max_plot_vertices,
                file.max_plot_vertices,
                d.max_plot_vertices,
            )?,
            request_timeout: seconds(
                "request_timeout_s",
                request_timeout_s,
                file.request_timeout_s,
                DEFAULT_REQUEST_TIMEOUT_S,
            )?,
            import_timeout: seconds(
                "import_timeout_s",
                import_timeout_s,
                file.import_timeout_s,
                DEFAULT_IMPORT_TIMEOUT_S,
            )?,
            max_concurrent_imports: count(
                "max_concurrent_imports",
                max_concurrent_imports,
                file.max_concurrent_imports,
                d.max_concurrent_imports,
            )?,
            max_concurrent_heavy: count(
                "max_concurrent_heavy",
                max_concurrent_heavy,
                file.max_concurrent_heavy,
                d.max_concurrent_heavy,
            )?,
            queue_timeout: Duration::from_millis(
                queue_timeout_ms
                    .or(file.queue_timeout_ms)
                    .unwrap_or(DEFAULT_QUEUE_TIMEOUT_MS),
            ),
        })
    }
}

impl Config {
    /// A config for tests and embedding: the given store, port 0, no demo.
    pub fn for_store(store: StoreConfig) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            store,
            demo_parcels: 0,
            metric_srs: crate::crs::KAZAN_METRIC_SRS.to_owned(),
            sliver_tolerance_m2: DEFAULT_SLIVER_TOLERANCE_M2,
            max_plot_area_m2: DEFAULT_MAX_PLOT_AREA_M2,
            tile_cache_mb: DEFAULT_TILE_CACHE_MB,
            tiles_dir: PathBuf::from(DEFAULT_TILES_DIR),
            catalog: None,
            layer_zoom: BTreeMap::new(),
            city_bbox: world(),
            max_upload_bytes: DEFAULT_MAX_UPLOAD_MB << 20,
            limits: Limits::default(),
        }
    }

    pub fn resolve_serve(args: ServeArgs, file: &FileConfig) -> Result<Self, ConfigError> {
        let ServeArgs {
            store,
            listen,
            demo_parcels,
            tile_cache_mb,
            tiles_dir,
            catalog,
            city_bbox,
            max_upload_mb,
            limits,
        } = args;
        for (code, zoom) in &file.layer_zoom {
            if zoom.minzoom > zoom.maxzoom || zoom.maxzoom > crate::tiles::MAX_ZOOM {
                return Err(ConfigError::Invalid {
                    what: "layer_zoom",
                    value: format!("{code}: {}..{}", zoom.minzoom, zoom.maxzoom),
                    reason: format!(
                        "minzoom must not exceed maxzoom, and maxzoom must not exceed {}",
                        crate::tiles::MAX_ZOOM
                    ),
                });
            }
        }
        let sliver_tolerance_m2 = file
            .sliver_tolerance_m2
            .unwrap_or(DEFAULT_SLIVER_TOLERANCE_M2);
        if !(sliver_tolerance_m2.is_finite() && sliver_tolerance_m2 >= 0.0) {
            return Err(ConfigError::Invalid {
                what: "sliver_tolerance_m2",
                value: sliver_tolerance_m2.to_string(),
                reason: "must be a number of m², zero or more".into(),
            });
        }
        let max_plot_area_m2 = file.max_plot_area_m2.unwrap_or(DEFAULT_MAX_PLOT_AREA_M2);
        if !(max_plot_area_m2.is_finite() && max_plot_area_m2 > 0.0) {
            return Err(ConfigError::Invalid {
                what: "max_plot_area_m2",
                value: max_plot_area_m2.to_string(),
                reason: "must be a number of m² above zero".into(),
            });
        }
        let listen = match listen.or(file.listen) {
            Some(a) => a,
            None => DEFAULT_LISTEN
                .parse()
                .map_err(|e: std::net::AddrParseError| ConfigError::Invalid {
                    what: "listen address",
                    value: DEFAULT_LISTEN.into(),
                    reason: e.to_string(),
                })?,
        };
        Ok(Self {
            listen,
            store: StoreConfig::resolve(store, file),
            demo_parcels: demo_parcels
                .or(file.demo_parcels)
                .unwrap_or(DEFAULT_DEMO_PARCELS),
            metric_srs: file
                .metric_srs
                .clone()
                .unwrap_or_else(|| crate::crs::KAZAN_METRIC_SRS.to_owned()),
            sliver_tolerance_m2,
            max_plot_area_m2,
            tile_cache_mb: tile_cache_mb
                .or(file.tile_cache_mb)
                .unwrap_or(DEFAULT_TILE_CACHE_MB),
            tiles_dir: tiles_dir
                .or_else(|| file.tiles_dir.clone())
                .unwrap_or_else(|| PathBuf::from(DEFAULT_TILES_DIR)),
            catalog: catalog.or_else(|| file.catalog.clone()),
            layer_zoom: file.layer_zoom.clone(),
            city_bbox: resolve_city_bbox(city_bbox, file)?,
            max_upload_bytes: max_upload_mb
                .or(file.max_upload_mb)
                .unwrap_or(DEFAULT_MAX_UPLOAD_MB)
                .saturating_mul(1 << 20),
            limits: Limits::resolve(limits, file)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_file_and_file_over_defaults() {
        let file: FileConfig =
            toml::from_str("listen = '0.0.0.0:9000'\ngpkg = 'city.gpkg'\ndemo_parcels = 7")
                .unwrap();
        let c = Config::resolve_serve(
            ServeArgs {
                store: StoreArgs::default(),
                listen: Some("127.0.0.1:1234".parse().unwrap()),
                demo_parcels: None,
                tile_cache_mb: None,
                tiles_dir: None,
                catalog: None,
                city_bbox: None,
                max_upload_mb: None,
                limits: LimitArgs::default(),
            },
            &file,
        )
        .unwrap();
        assert_eq!(c.listen.port(), 1234);
        assert_eq!(c.demo_parcels, 7);
        assert_eq!(
            c.store,
            StoreConfig::Gpkg {
                path: "city.gpkg".into()
            }
        );

        let c = Config::resolve_serve(
            ServeArgs {
                store: StoreArgs {
                    database: Some("postgres://u:pw@h/db".into()),
                    gpkg: None,
                },
                listen: None,
                demo_parcels: None,
                tile_cache_mb: Some(0),
                tiles_dir: None,
                catalog: None,
                city_bbox: None,
                max_upload_mb: None,
                limits: LimitArgs::default(),
            },
            &FileConfig::default(),
        )
        .unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert!(
            !format!("{c:?}").contains("pw"),
            "the password never reaches Debug output"
        );
    }

    #[test]
    fn constraint_limits_come_from_the_file_and_are_checked() {
        let args = || ServeArgs {
            store: StoreArgs::default(),
            listen: None,
            demo_parcels: None,
            tile_cache_mb: None,
            tiles_dir: None,
            catalog: None,
            city_bbox: None,
            max_upload_mb: None,
            limits: LimitArgs::default(),
        };
        let c = Config::resolve_serve(args(), &FileConfig::default()).unwrap();
        assert_eq!(
            (c.sliver_tolerance_m2, c.max_plot_area_m2),
            (DEFAULT_SLIVER_TOLERANCE_M2, DEFAULT_MAX_PLOT_AREA_M2)
        );
        let file: FileConfig =
            toml::from_str("sliver_tolerance_m2 = 2.0\nmax_plot_area_m2 = 50000").unwrap();
        let c = Config::resolve_serve(args(), &file).unwrap();
        assert_eq!((c.sliver_tolerance_m2, c.max_plot_area_m2), (2.0, 50_000.0));
        assert_eq!(c.city_bbox, world());
        let file: FileConfig = toml::from_str("city_bbox = '48.8, 55.6, 49.4, 55.95'").unwrap();
        let c = Config::resolve_serve(args(), &file).unwrap();
        assert_eq!(
            c.city_bbox,
            geo_types::Rect::new((48.8, 55.6), (49.4, 55.95))
        );
        for bad in [
            "sliver_tolerance_m2 = -1.0",
            "max_plot_area_m2 = 0",
            "city_bbox = '49.4, 55.6, 48.8, 55.95'",
            "city_bbox = '1,2,3'",
            "city_bbox = '0,0,200,10'",
        ] {
            let file: FileConfig = toml::from_str(bad).unwrap();
            assert!(Config::resolve_serve(args(), &file).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits_come_from_flags_then_file_then_defaults_and_are_checked() {
        let resolve = |args: LimitArgs, file: &str| {
            Limits::resolve(args, &toml::from_str::<FileConfig>(file).unwrap())
        };
        let d = resolve(LimitArgs::default(), "").unwrap();
        assert_eq!(d, Limits::default());
        assert_eq!(d.max_body_bytes, 2048 * 1024);
        assert_eq!(d.max_import_features, 5_000_000);
        assert_eq!((d.max_items_limit, d.max_tile_layers), (10_000, 32));
        assert_eq!(d.request_timeout, Duration::from_secs(30));
        assert_eq!(d.import_timeout, Duration::from_secs(3_600));
        assert_eq!(d.max_concurrent_imports, 2);
        assert!(d.max_concurrent_heavy >= 8);
        assert_eq!(d.queue_timeout, Duration::from_millis(2_000));

        let file = "max_body_kb = 16\nmax_import_features = 1000\nmax_items_limit = 50\n\
                    max_tile_layers = 4\nmax_plot_vertices = 200\nrequest_timeout_s = 5\n\
                    import_timeout_s = 60\nmax_concurrent_imports = 1\n\
                    max_concurrent_heavy = 3\nqueue_timeout_ms = 0";
        let l = resolve(LimitArgs::default(), file).unwrap();
        assert_eq!(
            l,
            Limits {
                max_body_bytes: 16 * 1024,
                max_import_features: 1000,
                max_items_limit: 50,
                max_tile_layers: 4,
                max_plot_vertices: 200,
                request_timeout: Duration::from_secs(5),
                import_timeout: Duration::from_secs(60),
                max_concurrent_imports: 1,
                max_concurrent_heavy: 3,
                queue_timeout: Duration::ZERO,
            }
        );
        let flags = LimitArgs {
            max_body_kb: Some(8),
            max_concurrent_heavy: Some(12),
            queue_timeout_ms: Some(250),
            ..LimitArgs::default()
        };
        let l = resolve(flags, file).unwrap();
        assert_eq!(l.max_body_bytes, 8 * 1024);
        assert_eq!(l.max_concurrent_heavy, 12);
        assert_eq!(l.queue_timeout, Duration::from_millis(250));
        assert_eq!(
            l.max_items_limit, 50,
            "what no flag gives comes from the file"
        );

        for bad in [
            "max_body_kb = 0",
            "max_import_features = 0",
            "max_items_limit = 0",
            "max_tile_layers = 0",
            "max_plot_vertices = 0",
            "request_timeout_s = 0",
            "import_timeout_s = 0",
            "max_concurrent_imports = 0",
            "max_concurrent_heavy = 0",
        ] {
            let e = resolve(LimitArgs::default(), bad).unwrap_err();
            let key = bad.split(' ').next().unwrap();
            assert!(e.to_string().contains(key), "{bad}: {e}");
        }
        assert!(toml::from_str::<FileConfig>("max_body_kb = -1").is_err());
        assert_eq!(
            resolve_max_import_features(Some(7), &FileConfig::default()).unwrap(),
            7
        );
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        assert!(toml::from_str::<FileConfig>("listen_addr = 'x'").is_err());
    }
}
