//! Index benchmarks on the demo city's parcels (deterministic: same seed, same city).
//!
//! Measures, for `IMGIS_BENCH_PARCELS` parcels (default 300 000):
//! - heap memory of the built index, from a counting allocator (real bytes, not an estimate);
//! - `LayerIndex::build` (R-tree bulk load plus id and cadastral maps);
//! - bbox queries: a 250 m × 250 m window (about a city block and a half), exact intersection;
//! - point queries: which parcel is at a point (envelope lookup + exact point-in-polygon).
//!
//! Run: `cargo bench --bench index`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use criterion::{black_box, BatchSize, Criterion};
use geo_types::{Coord, Rect};
use rand::{Rng, SeedableRng};

use imgis::demo::{self, DemoOptions};
use imgis::index::LayerIndex;
use imgis::model::{Feature, Layer};

/// Counts live heap bytes, so the index's real footprint can be read off.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The demo city's parcels with store-like ids, and their layer.
fn parcels(n: usize) -> (Layer, Vec<Feature>) {
    let city = demo::generate(&DemoOptions {
        parcels: n,
        seed: 42,
    })
    .expect("the demo city generates");
    let parcels = city
        .layers
        .into_iter()
        .find(|l| l.spec.code.as_str() == "parcels")
        .expect("the demo city has a parcels layer");
    let layer = Layer {
        spec: parcels.spec,
        version: 1,
        updated_at: chrono::Utc::now(),
        feature_count: parcels.features.len() as i64,
    };
    let features = parcels
        .features
        .into_iter()
        .enumerate()
        .map(|(i, f)| f.into_feature(i as i64 + 1))
        .collect();
    (layer, features)
}

/// A square window of `size_deg` degrees at a random spot inside `extent`.
fn window(rng: &mut impl Rng, extent: Rect<f64>, w_deg: f64, h_deg: f64) -> Rect<f64> {
    let x = rng.random_range(extent.min().x..extent.max().x - w_deg);
    let y = rng.random_range(extent.min().y..extent.max().y - h_deg);
    Rect::new(
        Coord { x, y },
        Coord {
            x: x + w_deg,
            y: y + h_deg,
        },
    )
}

fn main() {
    let n: usize = std::env::var("IMGIS_BENCH_PARCELS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300_000);
    let (layer, features) = parcels(n);

    // Memory: live heap bytes before copying the input and after building. The copy's
    // geometries and properties move into the index and its vector is freed inside
    // `build`, so the difference is everything the index holds: geometries,
    // properties, R-tree, id and cadastral maps.
    let before = LIVE.load(Ordering::Relaxed);
    let input = features.clone();
    let started = Instant::now();
    let index = LayerIndex::build(layer.clone(), input);
    let build = started.elapsed();
    let bytes = LIVE.load(Ordering::Relaxed) - before;
    let estimate = index.memory().bytes;
    println!(
        "index of {} parcels: built in {:.0} ms; heap {:.1} MB ({} bytes/feature; the index's own estimate {} bytes/feature)",
        index.len(),
        build.as_secs_f64() * 1e3,
        bytes as f64 / 1_048_576.0,
        bytes / index.len().max(1),
        estimate / index.len().max(1),
    );

    let extent = index.extent().expect("parcels exist");
    // 250 m in degrees at Kazan's latitude (55.8° N): 1° lat ≈ 111.3 km, 1° lon ≈ 62.6 km.
    let (w_deg, h_deg) = (250.0 / 62_600.0, 250.0 / 111_300.0);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let windows: Vec<Rect<f64>> = (0..1024)
        .map(|_| window(&mut rng, extent, w_deg, h_deg))
        .collect();
    // Points on parcels (their first vertex nudged inwards is not guaranteed inside,
    // so use the centre of random windows: some hit a parcel, some a street).
    let points: Vec<Coord<f64>> = windows.iter().map(|w| w.center()).collect();
    let hits: usize = windows.iter().map(|w| index.intersecting(*w).count()).sum();
    let point_hits = points
        .iter()
        .filter(|p| index.at_point(p.x, p.y).next().is_some())
        .count();
    println!(
        "bbox 250 m: {:.1} parcels per window on average; points on a parcel: {} of {}",
        hits as f64 / windows.len() as f64,
        point_hits,
        points.len()
    );

    let mut c = Criterion::default().configure_from_args().sample_size(20);
    c.bench_function(&format!("index/build/{n}"), |b| {
        b.iter_batched(
            || features.clone(),
            |f| black_box(LayerIndex::build(layer.clone(), f)),
            BatchSize::LargeInput,
        )
    });
    let mut c = c.sample_size(100);
    let mut i = 0usize;
    c.bench_function(&format!("index/bbox_250m/{n}"), |b| {
        b.iter(|| {
            i = (i + 1) % windows.len();
            black_box(index.intersecting(windows[i]).count())
        })
    });
    c.bench_function(&format!("index/point/{n}"), |b| {
        b.iter(|| {
            i = (i + 1) % points.len();
            black_box(
                index
                    .at_point(points[i].x, points[i].y)
                    .next()
                    .map(|f| f.id),
            )
        })
    });
    c.final_summary();
}
