//! `imgis tiles export`: the tiles of some layers over an area and a zoom range,
//! written once into a PMTiles v3 archive.
//!
//! 1. Check the request before touching any file (zooms, layers, output path);
//!    the area is a [`LonLatBbox`], checked when it was made.
//! 2. List each zoom's tiles over the area and sort them by PMTiles tile id
//!    (zoom by zoom, Hilbert order within a zoom): the writer wants them so.
//! 3. Render and gzip on every core; the calling thread writes the results in
//!    tile-id order, holding the few that arrive early.
//! 4. Write into a hidden file beside the output, then rename it over the
//!    output: a failed or interrupted export never leaves a half-written archive
//!    where readers look, and the server, which keeps its archives open, goes on
//!    reading the old file until it reopens the folder.

use std::collections::BTreeMap;
use std::f64::consts::PI;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::Instant;

use flate2::write::GzEncoder;
use geo_types::Rect;
use pmtiles::{Compression, PmTilesStreamWriter, PmTilesWriter, TileId, TileType};
use serde_json::{json, Value};

use super::{is_archive_name, ArchiveError};
use crate::index::LayerIndex;
use crate::model::{Layer, LayerCode};
use crate::tiles::coord::mercator_y_unit;
use crate::tiles::{render, TileCoord, TileError, TileOptions, ZoomRange, MAX_LAT_DEG, MAX_ZOOM};

/// An area in EPSG:4326 lon/lat degrees: west, south, east, north. Checked when
/// made: finite, longitudes in −180 ..= 180, latitudes in −90 ..= 90, and west
/// ≤ east, south ≤ north (an area across the antimeridian is not supported).
///
/// # Examples
/// ```
/// use imgis::tiles::archive::LonLatBbox;
/// let b: LonLatBbox = "49.0,55.7,49.3,55.9".parse().unwrap();
/// assert_eq!(b.to_array(), [49.0, 55.7, 49.3, 55.9]);
/// assert!("49.3,55.7,49.0,55.9".parse::<LonLatBbox>().is_err(), "west of east");
/// assert!("49,55.7,49.3".parse::<LonLatBbox>().is_err(), "three numbers");
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LonLatBbox {
    /// West edge, longitude degrees.
    min_lon: f64,
    /// South edge, latitude degrees.
    min_lat: f64,
    /// East edge, longitude degrees.
    max_lon: f64,
    /// North edge, latitude degrees.
    max_lat: f64,
}

impl LonLatBbox {
    /// A checked area from its edges, lon/lat degrees.
    ///
    /// # Errors
    /// [`ArchiveError::InvalidBbox`] when an edge is not finite, out of range, or
    /// the edges are swapped.
    pub fn new(
        min_lon: f64,
        min_lat: f64,
        max_lon: f64,
        max_lat: f64,
    ) -> Result<Self, ArchiveError> {
        let invalid = |reason: &str| ArchiveError::InvalidBbox {
            value: format!("{min_lon},{min_lat},{max_lon},{max_lat}"),
            reason: reason.to_owned(),
        };
        let edges = [min_lon, min_lat, max_lon, max_lat];
        if !edges.iter().all(|v| v.is_finite()) {
            return Err(invalid("every edge must be a finite number"));
        }
        if !(-180.0..=180.0).contains(&min_lon) || !(-180.0..=180.0).contains(&max_lon) {
            return Err(invalid("longitudes must lie in -180..180"));
        }
        if !(-90.0..=90.0).contains(&min_lat) || !(-90.0..=90.0).contains(&max_lat) {
            return Err(invalid("latitudes must lie in -90..90"));
        }
        if min_lon > max_lon || min_lat > max_lat {
            return Err(invalid(
                "the order is min_lon,min_lat,max_lon,max_lat (west, south, east, north)",
            ));
        }
        Ok(Self {
            min_lon,
            min_lat,
            max_lon,
            max_lat,
        })
    }

    /// `[west, south, east, north]`, lon/lat degrees.
    pub fn to_array(self) -> [f64; 4] {
        [self.min_lon, self.min_lat, self.max_lon, self.max_lat]
    }

    /// The area of a lon/lat rectangle (an index extent, always well-formed).
    fn of_rect(r: Rect<f64>) -> Result<Self, ArchiveError> {
        Self::new(r.min().x, r.min().y, r.max().x, r.max().y)
    }

    /// The columns and rows of the tiles at zoom `z` that the area touches
    /// (XYZ numbering; latitudes beyond Web Mercator's ±85.05° are clamped).
    fn tiles_at(self, z: u8) -> TileSpan {
        let n = 1u32 << z;
        let last = f64::from(n - 1);
        let size = f64::from(n);
        // Truncation is the floor here: the clamp keeps the values in 0 ..= n−1.
        let col = |lon: f64| ((lon + 180.0) / 360.0 * size).floor().clamp(0.0, last) as u32;
        let row = |lat: f64| {
            ((PI - mercator_y_unit(lat)) / (2.0 * PI) * size)
                .floor()
                .clamp(0.0, last) as u32
        };
        TileSpan {
            z,
            x: (col(self.min_lon), col(self.max_lon)),
            // The northern edge has the smaller row.
            y: (row(self.max_lat), row(self.min_lat)),
        }
    }
}

impl FromStr for LonLatBbox {
    type Err = ArchiveError;

    /// `min_lon,min_lat,max_lon,max_lat` in degrees, as `--bbox` takes it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let numbers: Vec<f64> = s
            .split(',')
            .map(|v| v.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| ArchiveError::InvalidBbox {
                value: s.chars().take(100).collect(),
                reason: "expected four numbers: min_lon,min_lat,max_lon,max_lat".into(),
            })?;
        match numbers[..] {
            // The message quotes the text as given, not the numbers read from it.
            [min_lon, min_lat, max_lon, max_lat] => Self::new(min_lon, min_lat, max_lon, max_lat)
                .map_err(|e| match e {
                    ArchiveError::InvalidBbox { reason, .. } => ArchiveError::InvalidBbox {
                        value: s.chars().take(100).collect(),
                        reason,
                    },
                    e => e,
                }),
            _ => Err(ArchiveError::InvalidBbox {
                value: s.chars().take(100).collect(),
                reason: format!(
                    "expected four numbers (min_lon,min_lat,max_lon,max_lat), not {}",
                    numbers.len()
                ),
            }),
        }
    }
}

/// The tiles of one zoom over an area: inclusive column and row ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TileSpan {
    z: u8,
    /// First and last column.
    x: (u32, u32),
    /// First (northern) and last row.
    y: (u32, u32),
}

impl TileSpan {
    fn count(&self) -> u64 {
        u64::from(self.x.1 - self.x.0 + 1) * u64::from(self.y.1 - self.y.0 + 1)
    }

    /// The tiles in the order of their PMTiles ids (Hilbert order in a zoom),
    /// each with its id and its address in both crates' types.
    fn in_id_order(&self) -> Vec<SpanTile> {
        let mut tiles = Vec::with_capacity(usize::try_from(self.count()).unwrap_or(0));
        for x in self.x.0..=self.x.1 {
            for y in self.y.0..=self.y.1 {
                // z ≤ MAX_ZOOM (24) < PMTiles' 31, and x, y < 2^z: always valid.
                let pmtiles = pmtiles::TileCoord::new(self.z, x, y)
                    .expect("a tile of the WebMercatorQuad pyramid is a PMTiles tile");
                tiles.push(SpanTile {
                    id: TileId::from(pmtiles).value(),
                    pmtiles,
                    tile: TileCoord { z: self.z, x, y },
                });
            }
        }
        tiles.sort_unstable_by_key(|t| t.id);
        tiles
    }
}

/// One tile of a [`TileSpan`].
#[derive(Debug, Clone, Copy)]
struct SpanTile {
    /// PMTiles tile id.
    id: u64,
    pmtiles: pmtiles::TileCoord,
    tile: TileCoord,
}

/// What to export.
#[derive(Clone)]
pub struct ExportRequest {
    /// The layers, one MVT layer each in this order, with the zooms each is
    /// drawn at (tiles outside a layer's range leave it out).
    pub layers: Vec<(Arc<LayerIndex>, ZoomRange)>,
    /// Lowest zoom written, 0 ..= `maxzoom`.
    pub minzoom: u8,
    /// Highest zoom written, `minzoom` ..= [`MAX_ZOOM`].
    pub maxzoom: u8,
    /// The area whose tiles are written; the union of the layers' extents when `None`.
    pub bbox: Option<LonLatBbox>,
    /// How tiles are cut (the server's defaults suit every client).
    pub options: TileOptions,
    /// The archive to write (usually `tiles/<name>.pmtiles`); its folder is
    /// made when missing. Its file stem names the archive.
    pub out: PathBuf,
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportSummary {
    /// The archive written.
    pub path: PathBuf,
    /// Tiles stored (tiles with at least one feature).
    pub tiles: u64,
    /// Tiles of the area where no layer had a feature: not stored.
    pub empty: u64,
    /// Size of the archive, bytes.
    pub bytes: u64,
    /// Wall time of the whole export, seconds.
    pub seconds: f64,
}

/// Checks a zoom range for an export: `minzoom ≤ maxzoom ≤ MAX_ZOOM`.
///
/// # Errors
/// [`ArchiveError::InvalidZoom`] otherwise.
pub fn check_zoom_range(minzoom: u8, maxzoom: u8) -> Result<(), ArchiveError> {
    if minzoom > maxzoom || maxzoom > MAX_ZOOM {
        return Err(ArchiveError::InvalidZoom { minzoom, maxzoom });
    }
    Ok(())
}

/// The layers an export writes, from the store's list: the named ones in the
/// order given, or every public layer (in the store's order) when none is named.
///
/// # Errors
/// [`ArchiveError::UnknownLayer`] for a name the store does not hold,
/// [`ArchiveError::DuplicateLayer`] for a name given twice, and
/// [`ArchiveError::NoLayers`] when nothing is left to export.
pub fn select_layers(available: &[Layer], names: &[String]) -> Result<Vec<Layer>, ArchiveError> {
    let chosen: Vec<Layer> = if names.is_empty() {
        // In the map's stacking order, as /layers lists them.
        let mut public: Vec<Layer> = available
            .iter()
            .filter(|l| l.spec.public)
            .cloned()
            .collect();
        public.sort_by_key(|l| l.spec.draw_rank());
        public
    } else {
        let mut chosen: Vec<Layer> = Vec::with_capacity(names.len());
        for name in names.iter().map(|n| n.trim()) {
            let layer = name
                .parse::<LayerCode>()
                .ok()
                .and_then(|code| available.iter().find(|l| l.code() == &code))
                .ok_or_else(|| ArchiveError::UnknownLayer {
                    name: name.chars().take(64).collect(),
                    known: available
                        .iter()
                        .map(|l| l.code().as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
            if chosen.iter().any(|c| c.code() == layer.code()) {
                return Err(ArchiveError::DuplicateLayer(name.to_owned()));
            }
            // Archives are served to everyone (`/archives`): an internal
            // layer in one would be published behind its department's back.
            if !layer.spec.public {
                return Err(ArchiveError::InternalLayer(layer.code().to_string()));
            }
            chosen.push(layer.clone());
        }
        chosen
    };
    if chosen.is_empty() {
        return Err(ArchiveError::NoLayers);
    }
    Ok(chosen)
}

/// Writes the tiles of `request.layers` at `minzoom ..= maxzoom` over the area
/// into a PMTiles v3 archive at `request.out`: MVT tiles, gzipped, in tile-id
/// order (clustered), identical tiles stored once; the header carries the zoom
/// range, bounds and centre, and the metadata the TileJSON `vector_layers`.
/// Tiles with no feature are not stored (readers answer them as empty).
///
/// `progress(done, total)` is called on the calling thread as tiles are
/// written, `total` being every tile of the area over the zoom range.
///
/// Synchronous and CPU-bound: it renders on every core, so async callers run it
/// with `spawn_blocking`.
///
/// # Errors
/// Before any file is touched: [`ArchiveError::InvalidZoom`],
/// [`ArchiveError::NoLayers`], [`ArchiveError::DuplicateLayer`],
/// [`ArchiveError::Tile`] for bad options, [`ArchiveError::EmptyLayers`] when
/// no area is given and the layers hold nothing, [`ArchiveError::NothingDrawn`]
/// when no layer is drawn at any of the zooms, [`ArchiveError::InvalidOut`].
/// While writing: [`ArchiveError::Io`], [`ArchiveError::Write`],
/// [`ArchiveError::Render`]; the output path is then left as it was.
pub fn export(
    request: &ExportRequest,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<ExportSummary, ArchiveError> {
    let started = Instant::now();
    let ExportRequest {
        layers,
        minzoom,
        maxzoom,
        bbox,
        options,
        out,
    } = request;
    let (minzoom, maxzoom) = (*minzoom, *maxzoom);
    // 1. Check everything that can be checked before a file is touched.
    check_zoom_range(minzoom, maxzoom)?;
    if layers.is_empty() {
        return Err(ArchiveError::NoLayers);
    }
    for (i, (layer, _)) in layers.iter().enumerate() {
        if layers[..i].iter().any(|(l, _)| l.code() == layer.code()) {
            return Err(ArchiveError::DuplicateLayer(layer.code().to_string()));
        }
    }
    options.validate()?;
    let bbox = match bbox {
        Some(b) => *b,
        None => layers
            .iter()
            .filter_map(|(l, _)| l.extent())
            .reduce(union)
            .ok_or(ArchiveError::EmptyLayers)
            .and_then(LonLatBbox::of_rect)?,
    };
    let name = archive_name(out)?;
    let outside: Vec<String> = layers
        .iter()
        .filter(|(_, zoom)| drawn_zooms(*zoom, minzoom, maxzoom).is_none())
        .map(|(l, zoom)| format!("{} (z{}–z{})", l.code(), zoom.minzoom, zoom.maxzoom))
        .collect();
    if outside.len() == layers.len() {
        return Err(ArchiveError::NothingDrawn {
            minzoom,
            maxzoom,
            layers: outside.join(", "),
        });
    }
    if !outside.is_empty() {
        tracing::warn!(
            "drawn only outside z{minzoom}–z{maxzoom}, so in no tile: {}",
            outside.join(", ")
        );
    }
    if !(is_archive_name(&name) && out.extension().is_some_and(|e| e == "pmtiles")) {
        tracing::warn!(
            "the server's tiles folder serves only files named like 'city.pmtiles' \
             (lower-case letters, digits, '_' and '-'), not {}",
            out.display()
        );
    }

    let spans: Vec<TileSpan> = (minzoom..=maxzoom).map(|z| bbox.tiles_at(z)).collect();
    let total: u64 = spans.iter().map(TileSpan::count).sum();
    let mut count = Counts {
        total,
        ..Counts::default()
    };
    progress(0, total);

    let file = TempFile::create(out)?;
    let write_err = |error| ArchiveError::Write {
        path: file.path.display().to_string(),
        error,
    };
    let [west, south, east, north] = clamp_to_mercator(bbox).to_array();
    let mut writer = PmTilesWriter::new(TileType::Mvt)
        // Gzipped by the render threads, so that compression runs on every core.
        .precompressed(Compression::Gzip)
        .min_zoom(minzoom)
        .max_zoom(maxzoom)
        .bounds(west, south, east, north)
        .center((west + east) / 2.0, (south + north) / 2.0)
        .center_zoom(center_zoom(bbox, minzoom, maxzoom))
        .metadata(metadata(&name, layers, minzoom, maxzoom).to_string())
        .create(&file.file)
        .map_err(write_err)?;

    // 2–3. Zoom by zoom (tile ids grow with the zoom), in id order within it.
    for span in spans {
        let drawn: Vec<(&str, &LayerIndex)> = layers
            .iter()
            .filter(|(_, zoom)| zoom.contains(span.z))
            .map(|(l, _)| (l.code().as_str(), l.as_ref()))
            .collect();
        if drawn.is_empty() {
            // No layer at this zoom: every tile is empty, nothing to render.
            count.empty += span.count();
            count.done += span.count();
            progress(count.done, total);
            continue;
        }
        write_zoom(
            &mut writer,
            &span.in_id_order(),
            &drawn,
            options,
            &mut count,
            progress,
        )
        .map_err(|e| match e {
            ZoomError::Pmtiles(error) => write_err(error),
            ZoomError::Archive(e) => e,
        })?;
    }
    writer.finalize().map_err(write_err)?;

    // 4. Durable first, then in place in one step.
    let bytes = file.persist(out)?;
    Ok(ExportSummary {
        path: out.clone(),
        tiles: count.written,
        empty: count.empty,
        bytes,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The archive's name: the output's file stem, which is also the name the
/// server serves it under.
fn archive_name(out: &Path) -> Result<String, ArchiveError> {
    let invalid = |reason: &str| ArchiveError::InvalidOut {
        path: out.display().to_string(),
        reason: reason.to_owned(),
    };
    if out.is_dir() {
        return Err(invalid("it is a folder; give the archive's file name"));
    }
    out.file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| invalid("it names no file"))
}

fn union(a: Rect<f64>, b: Rect<f64>) -> Rect<f64> {
    Rect::new(
        (a.min().x.min(b.min().x), a.min().y.min(b.min().y)),
        (a.max().x.max(b.max().x), a.max().y.max(b.max().y)),
    )
}

/// The area cut to the Web Mercator world (latitudes ±85.05°), as the header's
/// bounds: no tile covers more.
fn clamp_to_mercator(b: LonLatBbox) -> LonLatBbox {
    LonLatBbox {
        min_lat: b.min_lat.clamp(-MAX_LAT_DEG, MAX_LAT_DEG),
        max_lat: b.max_lat.clamp(-MAX_LAT_DEG, MAX_LAT_DEG),
        ..b
    }
}

/// The zoom a map opens at: the deepest at which the area's width still fits
/// in one tile, within the exported zooms.
fn center_zoom(b: LonLatBbox, minzoom: u8, maxzoom: u8) -> u8 {
    let width_deg = (b.max_lon - b.min_lon).max(1e-9);
    // log2(360 / width) lies in 0 ..= 39 for widths of 1e-9 ..= 360 degrees.
    let fits = (360.0 / width_deg)
        .log2()
        .floor()
        .clamp(0.0, f64::from(MAX_ZOOM)) as u8;
    fits.clamp(minzoom, maxzoom)
}

/// The zooms of `minzoom ..= maxzoom` at which a layer of range `zoom` is
/// drawn, as (first, last); `None` when it is drawn at none of them.
fn drawn_zooms(zoom: ZoomRange, minzoom: u8, maxzoom: u8) -> Option<(u8, u8)> {
    let (first, last) = (zoom.minzoom.max(minzoom), zoom.maxzoom.min(maxzoom));
    (first <= last).then_some((first, last))
}

/// The archive's JSON metadata: TileJSON's `name`, `description` and
/// `vector_layers` (each layer's zooms within the export's, and its fields;
/// a layer drawn at none of the export's zooms is in no tile, so not listed).
fn metadata(
    name: &str,
    layers: &[(Arc<LayerIndex>, ZoomRange)],
    minzoom: u8,
    maxzoom: u8,
) -> Value {
    let vector_layers: Vec<Value> = layers
        .iter()
        .filter_map(|(l, zoom)| Some((l, drawn_zooms(*zoom, minzoom, maxzoom)?)))
        .map(|(l, (first, last))| {
            let spec = &l.layer().spec;
            let description = if spec.description.is_empty() {
                spec.title.clone()
            } else {
                format!("{}: {}", spec.title, spec.description)
            };
            json!({
                "id": l.code(),
                "description": description,
                "minzoom": first,
                "maxzoom": last,
                "fields": l.fields(),
            })
        })
        .collect();
    let codes: Vec<&str> = layers.iter().map(|(l, _)| l.code().as_str()).collect();
    json!({
        "name": name,
        "description": format!(
            "imgis vector tiles, z{minzoom}–z{maxzoom}: {}",
            codes.join(", ")
        ),
        "version": "1.0.0",
        "type": "overlay",
        "format": "pbf",
        "generator": concat!("imgis ", env!("CARGO_PKG_VERSION")),
        "vector_layers": vector_layers,
    })
}

/// Where an export stands.
#[derive(Debug, Default)]
struct Counts {
    /// Tiles of the area over all zooms.
    total: u64,
    /// Tiles dealt with (written or found empty).
    done: u64,
    /// Tiles stored.
    written: u64,
    /// Tiles found empty.
    empty: u64,
}

/// How far the render threads may run ahead of the writer, in tiles: enough to
/// keep them busy past a slow tile, few enough to bound the tiles held.
const AHEAD: usize = 256;

/// What one render thread hands the writer for a tile: its gzipped MVT, or
/// `None` when nothing is drawn there.
type Rendered = Result<Option<Vec<u8>>, ArchiveError>;

/// How writing a zoom fails: the archive writer (the caller names the file)
/// or a tile.
enum ZoomError {
    Pmtiles(pmtiles::PmtError),
    Archive(ArchiveError),
}

/// The state the render threads share with the writer.
struct Shared {
    /// Index of the next tile to take.
    next: AtomicUsize,
    /// Tiles written so far; a thread takes tile `i` only once `i < written + AHEAD`.
    written: Mutex<usize>,
    advanced: Condvar,
    /// Set when the writer gives up: the threads stop taking tiles.
    stop: AtomicBool,
}

impl Shared {
    /// Waits until tile `i` is within reach of the writer; false when stopped.
    fn wait_for_room(&self, i: usize) -> bool {
        let mut written = self
            .written
            .lock()
            .expect("the writer never panics while holding this lock");
        while i >= *written + AHEAD && !self.stop.load(Ordering::Relaxed) {
            written = self
                .advanced
                .wait(written)
                .expect("the writer never panics while holding this lock");
        }
        !self.stop.load(Ordering::Relaxed)
    }

    fn set_written(&self, n: usize) {
        *self
            .written
            .lock()
            .expect("the writer never panics while holding this lock") = n;
        self.advanced.notify_all();
    }
}

/// Stops the render threads however the writer leaves (done, error or panic),
/// so that none waits for room forever and the thread scope can end.
struct StopOnDrop<'a>(&'a Shared);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::Relaxed);
        // Taking the lock orders the flag before any thread's next check.
        drop(self.0.written.lock());
        self.0.advanced.notify_all();
    }
}

/// Renders the tiles of one zoom on every core and writes them in the order given.
fn write_zoom<W: std::io::Write + std::io::Seek>(
    writer: &mut PmTilesStreamWriter<W>,
    tiles: &[SpanTile],
    layers: &[(&str, &LayerIndex)],
    options: &TileOptions,
    count: &mut Counts,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<(), ZoomError> {
    let shared = Shared {
        next: AtomicUsize::new(0),
        written: Mutex::new(0),
        advanced: Condvar::new(),
        stop: AtomicBool::new(false),
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(tiles.len());
    std::thread::scope(|scope| {
        let _stop = StopOnDrop(&shared);
        let (results, received) = mpsc::channel::<(usize, Rendered)>();
        for _ in 0..threads {
            let results = results.clone();
            let shared = &shared;
            scope.spawn(move || loop {
                let i = shared.next.fetch_add(1, Ordering::Relaxed);
                if i >= tiles.len() || !shared.wait_for_room(i) {
                    break;
                }
                let tile = tiles[i].tile;
                // A panic in one tile must not leave the writer waiting for it.
                // Unwind safety: after a panic the export stops and its tiles
                // are thrown away, so nothing half-updated is looked at again.
                let rendered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    render_gzip(layers, tile, options)
                }))
                .unwrap_or_else(|_| {
                    Err(ArchiveError::Render {
                        tile: tile.to_string(),
                        error: TileError::Render("the renderer panicked".into()),
                    })
                });
                if results.send((i, rendered)).is_err() {
                    break; // The writer has given up.
                }
            });
        }
        drop(results);
        // Tiles that arrived before the ones ahead of them.
        let mut early: BTreeMap<usize, Rendered> = BTreeMap::new();
        let mut next = 0;
        while next < tiles.len() {
            // Every thread sends each tile it takes until the writer stops it,
            // so the channel closes early only if a thread died outside a tile.
            let (i, rendered) = received.recv().map_err(|_| {
                ZoomError::Archive(ArchiveError::Render {
                    tile: tiles[next].tile.to_string(),
                    error: TileError::Render("a render thread stopped".into()),
                })
            })?;
            early.insert(i, rendered);
            while let Some(rendered) = early.remove(&next) {
                match rendered.map_err(ZoomError::Archive)? {
                    Some(gzip) => {
                        writer
                            .add_tile(tiles[next].pmtiles, &gzip)
                            .map_err(ZoomError::Pmtiles)?;
                        count.written += 1;
                    }
                    None => count.empty += 1,
                }
                next += 1;
                count.done += 1;
                progress(count.done, count.total);
            }
            shared.set_written(next);
        }
        Ok(())
    })
}

/// One tile, rendered and gzipped; `None` when nothing is drawn in it.
fn render_gzip(layers: &[(&str, &LayerIndex)], tile: TileCoord, options: &TileOptions) -> Rendered {
    let mvt = render(layers, tile, options).map_err(|error| ArchiveError::Render {
        tile: tile.to_string(),
        error,
    })?;
    if mvt.is_empty() {
        return Ok(None);
    }
    // The default level (6): an archive is written once and sent many times.
    // On the demo city its tiles come out 7% smaller than at the fastest
    // level, for about a fifth more export time (deflate is a third of it).
    let mut gz = GzEncoder::new(
        Vec::with_capacity(mvt.len() / 2 + 64),
        flate2::Compression::default(),
    );
    gz.write_all(&mvt).expect("writing into a Vec cannot fail");
    Ok(Some(gz.finish().expect("writing into a Vec cannot fail")))
}

/// The archive being written: a hidden file beside the output, removed on drop
/// unless it has been renamed over the output.
struct TempFile {
    path: PathBuf,
    file: File,
    kept: bool,
}

impl TempFile {
    /// Creates `.<name>.<pid>.part` in the output's folder (made when missing):
    /// the same file system, so the final rename is atomic; a name no reader
    /// takes for an archive; and one per process, so two exports do not collide.
    fn create(out: &Path) -> Result<Self, ArchiveError> {
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |error| ArchiveError::Io { path, error }
        };
        let folder = out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(folder).map_err(io(folder))?;
        let file_name = out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let path = folder.join(format!(".{file_name}.{}.part", std::process::id()));
        let file = File::create(&path).map_err(io(&path))?;
        Ok(Self {
            path,
            file,
            kept: false,
        })
    }

    /// Flushes the file to disk and renames it to `out`; returns its size.
    fn persist(mut self, out: &Path) -> Result<u64, ArchiveError> {
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |error| ArchiveError::Io { path, error }
        };
        self.file.sync_all().map_err(io(&self.path))?;
        let bytes = self.file.metadata().map_err(io(&self.path))?.len();
        std::fs::rename(&self.path, out).map_err(io(out))?;
        self.kept = true;
        Ok(bytes)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.kept {
            // Best effort: the export is failing already, with its own error.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bbox(s: &str) -> LonLatBbox {
        s.parse().unwrap()
    }

    #[test]
    fn a_bbox_is_four_ordered_numbers_in_range() {
        assert_eq!(
            bbox(" 49 , 55.7,49.3,55.9").to_array(),
            [49.0, 55.7, 49.3, 55.9]
        );
        for bad in [
            "",
            "49,55.7,49.3",
            "49,55.7,49.3,55.9,1",
            "49,55.7,east,55.9",
            "49.3,55.7,49.0,55.9",
            "49,55.9,49.3,55.7",
            "-181,0,0,1",
            "0,-91,1,0",
            "NaN,0,1,1",
            "0,0,inf,1",
        ] {
            assert!(
                matches!(
                    bad.parse::<LonLatBbox>(),
                    Err(ArchiveError::InvalidBbox { .. })
                ),
                "{bad:?} must be refused"
            );
        }
    }

    #[test]
    fn the_tiles_of_an_area_are_those_of_the_slippy_map_formulas() {
        // The whole world is one tile at z0 and 2 × 2 at z1.
        let world = bbox("-180,-90,180,90");
        assert_eq!(world.tiles_at(0).count(), 1);
        assert_eq!(
            world.tiles_at(1),
            TileSpan {
                z: 1,
                x: (0, 1),
                y: (0, 1)
            }
        );
        // The Kazan Kremlin (49.1056 E, 55.7989 N) is tile 14/10426/5118.
        let kremlin = bbox("49.1056,55.7989,49.1056,55.7989").tiles_at(14);
        assert_eq!((kremlin.x, kremlin.y), ((10_426, 10_426), (5_118, 5_118)));
        // Tiles are listed in PMTiles id order, which is not row order.
        let span = bbox("49.0,55.7,49.3,55.9").tiles_at(12);
        let tiles = span.in_id_order();
        assert_eq!(tiles.len() as u64, span.count());
        assert!(tiles.windows(2).all(|w| w[0].id < w[1].id));
    }

    #[test]
    fn zoom_ranges_are_checked() {
        assert!(check_zoom_range(0, 0).is_ok());
        assert!(check_zoom_range(12, 24).is_ok());
        assert!(check_zoom_range(15, 14).is_err());
        assert!(check_zoom_range(0, 25).is_err());
    }

    #[test]
    fn the_center_zoom_fits_the_area_within_the_exported_zooms() {
        // 0.3° of longitude fits in one tile up to z10 (360 / 2^10 = 0.35°).
        let city = bbox("49.0,55.7,49.3,55.9");
        assert_eq!(center_zoom(city, 0, 20), 10);
        assert_eq!(center_zoom(city, 12, 16), 12);
        assert_eq!(center_zoom(city, 0, 8), 8);
    }
}
