//! Utility networks along the streets: water, sewer, gas (with its
//! pressure-reducing stations), power (with high-voltage lines across the outer
//! city), heat and telecom. Each network lies at its own offset from the street
//! centre line so that networks never coincide; each follows a deterministic
//! subset of the street sections. Geometries in EPSG:32639 metres.

use geo::{BooleanOps, Euclidean, Length};
use geo_types::{Coord, Geometry, LineString, MultiLineString, MultiPolygon, Point};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::grid::Grid;
use super::names::TELECOM_OPERATORS;
use super::streets::Streets;
use super::Draft;
use crate::model::props;

/// Offsets from the street centre line (north of east-west streets, east of
/// north-south ones), metres.
const WATER_M: f64 = 4.0;
const SEWER_M: f64 = -4.0;
const GAS_M: f64 = 7.0;
const POWER_M: f64 = -7.0;
const HEAT_M: f64 = 2.0;
const TELECOM_M: f64 = -2.0;

/// Within this distance of the centre, cables are underground and every
/// street has district heating, metres.
const CENTRE_M: f64 = 2000.0;
/// Heat networks are common out to here; beyond, houses heat themselves.
const HEATED_M: f64 = 4500.0;

/// The features of each network layer.
#[derive(Default)]
pub(super) struct Networks {
    pub water: Vec<Draft>,
    pub sewer: Vec<Draft>,
    pub gas: Vec<Draft>,
    pub gas_stations: Vec<Draft>,
    pub power: Vec<Draft>,
    pub heat: Vec<Draft>,
    pub telecom: Vec<Draft>,
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

/// Builds every network over the street sections. `city` (metres) bounds the
/// high-voltage lines; `radius_m` is how far the built city reaches from the centre.
pub(super) fn networks(grid: &Grid, streets: &Streets, city: &MultiPolygon<f64>, radius_m: f64, rng: &mut ChaCha8Rng) -> Networks {
    let mut n = Networks::default();
    for section in streets.sections() {
        let run = &streets.runs[section.run];
        let main = run.main();
        let line = |offset_m: f64| Geometry::LineString(run.line_string(grid, section.from, section.to, offset_m));
        let mid = run.line_string(grid, section.from, section.to, 0.0);
        let (a, b) = (mid.0[0], mid.0[mid.0.len() - 1]);
        let d = ((a.x + b.x) / 2.0 - grid.centre.x).hypot((a.y + b.y) / 2.0 - grid.centre.y);
        // Every section draws the same amount of randomness, network or not, so
        // one network's rule never shifts another's choices.
        let u: [f64; 6] = std::array::from_fn(|_| rng.random());

        if u[0] < if main { 1.0 } else { 0.8 } {
            let diameter = if main {
                pick(rng, &[800, 1000, 1200, 1400])
            } else {
                pick(rng, &[100, 150, 200, 250, 300, 400, 500, 600])
            };
            let material = if main {
                pick(rng, &["steel", "ductile iron"])
            } else {
                pick(rng, &["cast iron", "ductile iron", "polyethylene", "steel"])
            };
            let depth = f64::from(rng.random_range(20..=35u8)) / 10.0;
            n.water.push(Draft::new(
                line(WATER_M),
                props([
                    ("network", json!("water")),
                    ("diameter_mm", json!(diameter)),
                    ("material", json!(material)),
                    ("depth_m", json!(depth)),
                ]),
            ));
        }

        if u[1] < if main { 0.9 } else { 0.7 } {
            let pressure = rng.random::<f64>() < if main { 0.4 } else { 0.15 };
            let diameter = if main {
                pick(rng, &[600, 800, 1000, 1200])
            } else {
                pick(rng, &[150, 200, 250, 300, 400, 500])
            };
            n.sewer.push(Draft::new(
                line(SEWER_M),
                props([
                    ("network", json!("sewer")),
                    ("flow", json!(if pressure { "pressure" } else { "gravity" })),
                    ("diameter_mm", json!(diameter)),
                ]),
            ));
        }

        if u[2] < if main { 0.7 } else { 0.55 } {
            let r: f64 = rng.random();
            let (pressure, mpa) = if main {
                if r < 0.3 {
                    ("high", 0.6)
                } else {
                    ("medium", 0.3)
                }
            } else if r < 0.75 {
                ("low", 0.003)
            } else {
                ("medium", 0.3)
            };
            // Low pressure is mostly polyethylene, higher pressure mostly steel.
            let steel = rng.random::<f64>() < if pressure == "low" { 0.3 } else { 0.8 };
            let diameter = if steel {
                pick(rng, &[108, 159, 219, 273, 325, 426, 530])
            } else {
                pick(rng, &[63, 90, 110, 160, 225])
            };
            let g = line(GAS_M);
            // A pressure-reducing station feeds the low-pressure streets from the
            // higher-pressure sections; it stands on the pipe at the section start.
            if pressure != "low" && rng.random::<f64>() < 0.35 {
                if let Geometry::LineString(ls) = &g {
                    let number = n.gas_stations.len() + 1;
                    n.gas_stations.push(Draft::new(
                        Geometry::Point(Point(ls.0[0])),
                        props([
                            ("network", json!("gas")),
                            ("kind", json!("ГРП")),
                            ("name", json!(format!("ГРП № {number}"))),
                            ("pressure", json!(pressure)),
                        ]),
                    ));
                }
            }
            n.gas.push(Draft::new(
                g,
                props([
                    ("network", json!("gas")),
                    ("pressure", json!(pressure)),
                    ("pressure_mpa", json!(mpa)),
                    ("material", json!(if steel { "steel" } else { "polyethylene" })),
                    ("diameter_mm", json!(diameter)),
                ]),
            ));
        }

        if u[3] < if main { 0.9 } else { 0.75 } {
            let r: f64 = rng.random();
            let voltage = if main {
                if r < 0.1 {
                    json!(35)
                } else {
                    json!(10)
                }
            } else if r < 0.2 {
                json!(10)
            } else {
                json!(0.4)
            };
            let underground = d < CENTRE_M || rng.random::<f64>() < 0.3;
            n.power.push(Draft::new(
                line(POWER_M),
                props([
                    ("network", json!("power")),
                    ("voltage_kv", voltage),
                    ("placement", json!(if underground { "underground" } else { "overhead" })),
                ]),
            ));
        }

        let heat_share = if d < CENTRE_M {
            1.0
        } else if d < HEATED_M {
            if main {
                0.9
            } else {
                0.6
            }
        } else {
            0.3
        };
        if u[4] < heat_share {
            let diameter = if main {
                pick(rng, &[400, 500, 600, 700, 800, 1000])
            } else {
                pick(rng, &[80, 100, 125, 150, 200, 250, 300])
            };
            let overhead = d >= CENTRE_M && rng.random::<f64>() < 0.15;
            n.heat.push(Draft::new(
                line(HEAT_M),
                props([
                    ("network", json!("heat")),
                    ("diameter_mm", json!(diameter)),
                    ("placement", json!(if overhead { "overhead" } else { "underground" })),
                ]),
            ));
        }

        if u[5] < if main { 0.9 } else { 0.6 } {
            let fibre = rng.random::<f64>() < 0.7;
            n.telecom.push(Draft::new(
                line(TELECOM_M),
                props([
                    ("network", json!("telecom")),
                    ("cable", json!(if fibre { "fibre" } else { "copper" })),
                    ("operator", json!(pick(rng, &TELECOM_OPERATORS))),
                ]),
            ));
        }
    }
    n.power.extend(high_voltage(grid, city, radius_m, rng));
    n
}

/// Two 110 kV overhead lines across the outer city, and a 220 kV one when the
/// city reaches far enough: chords of the built circle, slightly bent at the
/// towers, cut to the city outline (the longest piece is kept).
fn high_voltage(grid: &Grid, city: &MultiPolygon<f64>, radius_m: f64, rng: &mut ChaCha8Rng) -> Vec<Draft> {
    /// Too small a city has no room for a line across it.
    const MIN_RADIUS_M: f64 = 600.0;
    /// A 220 kV line only crosses a city this large.
    const RADIUS_220_M: f64 = 3000.0;
    let base = rng.random_range(0.0..std::f64::consts::TAU);
    let bends: [f64; 8] = std::array::from_fn(|_| rng.random_range(-1.0..1.0));
    if radius_m < MIN_RADIUS_M {
        return Vec::new();
    }
    let mut plans = vec![(110, 0.7, base), (110, 0.82, base + 2.6)];
    if radius_m >= RADIUS_220_M {
        plans.push((220, 0.9, base + 4.4));
    }
    let mut out = Vec::new();
    for (k, (kv, share, angle)) in plans.into_iter().enumerate() {
        // The chord at `share × radius` from the centre, perpendicular to `angle`.
        let (ux, uy) = (angle.cos(), angle.sin());
        let d = share * radius_m;
        let half = (radius_m * radius_m - d * d).sqrt();
        let foot = Coord {
            x: grid.centre.x + ux * d,
            y: grid.centre.y + uy * d,
        };
        let towers: Vec<Coord<f64>> = (0..=4)
            .map(|t| {
                let s = -half + 2.0 * half * f64::from(t) / 4.0;
                // Inner towers stand a little off the straight line, as real routes do.
                let off = if t == 0 || t == 4 { 0.0 } else { bends[(k * 3 + usize::try_from(t).expect("t in 0..=4")) % 8] * 0.03 * radius_m };
                Coord {
                    x: foot.x - uy * s + ux * off,
                    y: foot.y + ux * s + uy * off,
                }
            })
            .collect();
        let clipped = city.clip(&MultiLineString(vec![LineString::new(towers)]), false);
        let longest = clipped
            .0
            .into_iter()
            .max_by(|a, b| Euclidean.length(a).total_cmp(&Euclidean.length(b)));
        if let Some(ls) = longest.filter(|ls| ls.0.len() >= 2) {
            out.push(Draft::new(
                Geometry::LineString(ls),
                props([
                    ("network", json!("power")),
                    ("voltage_kv", json!(kv)),
                    ("placement", json!("overhead")),
                    ("name", json!(format!("ВЛ {kv} кВ № {}", k + 1))),
                ]),
            ));
        }
    }
    out
}
