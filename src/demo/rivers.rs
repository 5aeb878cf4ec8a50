//! The rivers: the Kazanka through the city near the centre, and the smaller
//! Noksa joining it from the east. Each is a meandering centre line buffered to
//! a band of water, in EPSG:32639 metres, cut to the city outline.

use geo::{BooleanOps, Buffer};
use geo_types::{Coord, Geometry, LineString, MultiPolygon};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::{DemoError, Draft};
use crate::crs::Transformer;
use crate::model::props;

/// A river's course and size.
struct Plan {
    name: &'static str,
    /// The whole river's length, kilometres (decides its water protection zone).
    length_km: f64,
    /// Half the width of the water, metres.
    half_width_m: f64,
    /// Meanders added to the course: their amplitude and wavelength, metres.
    amplitude_m: f64,
    wavelength_m: f64,
    /// Course through the city, upstream first, EPSG:4326 lon/lat degrees.
    course: &'static [(f64, f64)],
}

const PLANS: [Plan; 2] = [
    Plan {
        name: "р. Казанка",
        length_km: 142.0,
        half_width_m: 50.0,
        amplitude_m: 120.0,
        wavelength_m: 1800.0,
        // From the north-east edge of the city, past the Kremlin's north side,
        // to the Volga in the south-west.
        course: &[
            (49.330, 55.880),
            (49.280, 55.862),
            (49.235, 55.845),
            (49.190, 55.832),
            (49.150, 55.818),
            (49.118, 55.808),
            (49.095, 55.803),
            (49.060, 55.790),
            (49.020, 55.780),
        ],
    },
    Plan {
        name: "р. Нокса",
        length_km: 40.0,
        half_width_m: 15.0,
        amplitude_m: 60.0,
        wavelength_m: 900.0,
        // From the eastern edge to its mouth on the Kazanka (a point of the Kazanka's course).
        course: &[
            (49.390, 55.830),
            (49.340, 55.835),
            (49.290, 55.840),
            (49.255, 55.848),
            (49.235, 55.845),
        ],
    },
];

/// Width of the shore strip (прибрежная защитная полоса) kept here for every
/// river, metres: the Water Code's minimum, for reverse or zero slopes.
pub(super) const SHORE_STRIP_M: f64 = 20.0;

/// Water protection zone width by the river's length (Water Code art. 65 p. 4), metres.
pub(super) fn protection_width_m(length_km: f64) -> f64 {
    if length_km >= 50.0 {
        200.0
    } else if length_km >= 10.0 {
        100.0
    } else {
        50.0
    }
}

/// A river of the demo city.
pub(super) struct River {
    pub name: &'static str,
    pub length_km: f64,
    /// The water, EPSG:32639 metres, within the city outline.
    pub water: MultiPolygon<f64>,
}

/// Builds the rivers within `city` (metres). `rng` only sets the meanders' phases.
pub(super) fn rivers(
    to_metric: &Transformer,
    city: &MultiPolygon<f64>,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<River>, DemoError> {
    let mut out = Vec::with_capacity(PLANS.len());
    for plan in &PLANS {
        let course = plan
            .course
            .iter()
            .map(|&(x, y)| to_metric.coord(Coord { x, y }))
            .collect::<Result<Vec<_>, _>>()?;
        let phase = rng.random_range(0.0..std::f64::consts::TAU);
        let line = meander(
            &smooth(&course, 40.0),
            plan.amplitude_m,
            plan.wavelength_m,
            phase,
        );
        let water = LineString::new(line)
            .buffer(plan.half_width_m)
            .intersection(city);
        out.push(River {
            name: plan.name,
            length_km: plan.length_km,
            water,
        });
    }
    Ok(out)
}

/// A Catmull-Rom curve through `points`, sampled about every `step_m` metres.
fn smooth(points: &[Coord<f64>], step_m: f64) -> Vec<Coord<f64>> {
    let n = points.len();
    let mut out = Vec::new();
    for s in 0..n.saturating_sub(1) {
        let (p0, p1, p2, p3) = (
            points[s.saturating_sub(1)],
            points[s],
            points[s + 1],
            points[(s + 2).min(n - 1)],
        );
        let len = ((p2.x - p1.x).powi(2) + (p2.y - p1.y).powi(2)).sqrt();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        // a few km / step, positive
        let steps = ((len / step_m).ceil() as usize).max(1);
        for k in 0..steps {
            #[allow(clippy::cast_precision_loss)]
            let t = k as f64 / steps as f64;
            let (t2, t3) = (t * t, t * t * t);
            let f = |a: f64, b: f64, c: f64, d: f64| {
                0.5 * (2.0 * b
                    + (c - a) * t
                    + (2.0 * a - 5.0 * b + 4.0 * c - d) * t2
                    + (3.0 * b - a - 3.0 * c + d) * t3)
            };
            out.push(Coord {
                x: f(p0.x, p1.x, p2.x, p3.x),
                y: f(p0.y, p1.y, p2.y, p3.y),
            });
        }
    }
    out.extend(points.last());
    out
}

/// Displaces a line sideways by a sine wave along its length, tapered to zero
/// over the first and last kilometre so that the ends (a mouth) stay put.
fn meander(
    line: &[Coord<f64>],
    amplitude_m: f64,
    wavelength_m: f64,
    phase: f64,
) -> Vec<Coord<f64>> {
    let mut along = Vec::with_capacity(line.len());
    let mut s = 0.0;
    for (k, c) in line.iter().enumerate() {
        if k > 0 {
            s += ((c.x - line[k - 1].x).powi(2) + (c.y - line[k - 1].y).powi(2)).sqrt();
        }
        along.push(s);
    }
    let total = s;
    line.iter()
        .enumerate()
        .map(|(k, c)| {
            let (a, b) = (line[k.saturating_sub(1)], line[(k + 1).min(line.len() - 1)]);
            let (dx, dy) = (b.x - a.x, b.y - a.y);
            let norm = (dx * dx + dy * dy).sqrt().max(f64::EPSILON);
            let taper = (along[k] / 1000.0)
                .min((total - along[k]) / 1000.0)
                .clamp(0.0, 1.0);
            let off = amplitude_m
                * taper
                * (std::f64::consts::TAU * along[k] / wavelength_m + phase).sin();
            Coord {
                x: c.x - dy / norm * off,
                y: c.y + dx / norm * off,
            }
        })
        .collect()
}

/// The rivers layer: one feature per river that reaches into the city.
pub(super) fn river_drafts(rivers: &[River]) -> Vec<Draft> {
    rivers
        .iter()
        .filter(|r| !r.water.0.is_empty())
        .map(|r| {
            Draft::new(
                Geometry::MultiPolygon(r.water.clone()),
                props([("name", json!(r.name)), ("length_km", json!(r.length_km))]),
            )
        })
        .collect()
}

/// Per river, its water protection zone and its shore strip: bands measured
/// from the water's edge, less all water (`water`), within the `city` (metres).
pub(super) fn protection_drafts(
    rivers: &[River],
    water: &MultiPolygon<f64>,
    city: &MultiPolygon<f64>,
) -> Vec<Draft> {
    let mut out = Vec::new();
    for r in rivers.iter().filter(|r| !r.water.0.is_empty()) {
        for (zone_type, width) in [
            ("water_protection", protection_width_m(r.length_km)),
            ("shore_strip", SHORE_STRIP_M),
        ] {
            let zone = r.water.buffer(width).difference(water).intersection(city);
            if !zone.0.is_empty() {
                out.push(Draft::new(
                    Geometry::MultiPolygon(zone),
                    props([
                        ("zone_type", json!(zone_type)),
                        ("river", json!(r.name)),
                        ("width_m", json!(width)),
                        ("basis", json!("Водный кодекс РФ, ст. 65")),
                    ]),
                ));
            }
        }
    }
    out
}
