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
use crate::model::{props, Properties};

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

/// What a network's rule knows of a street section.
struct Site {
    /// On a main street.
    main: bool,
    /// Distance of the section's middle from the centre, metres.
    centre_m: f64,
}

/// A network's rule: the attributes of its line on a section, or `None` where
/// the network does not run. Each network draws from its own generator.
type Rule = fn(&Site, &mut ChaCha8Rng) -> Option<Properties>;

/// The networks in layer order, with their offset from the street centre line,
/// metres, and their rule.
const RULES: [(&str, f64, Rule); 6] = [
    ("water", WATER_M, water),
    ("sewer", SEWER_M, sewer),
    ("gas", GAS_M, gas),
    ("power", POWER_M, power),
    ("heat", HEAT_M, heat),
    ("telecom", TELECOM_M, telecom),
];

/// Builds every network over the street sections. `city` (metres) bounds the
/// high-voltage lines; `radius_m` is how far the built city reaches from the
/// centre. Every network has its own generator (`rng(k)`), so one network's
/// rules never shift another's choices.
pub(super) fn networks(
    grid: &Grid,
    streets: &Streets,
    city: &MultiPolygon<f64>,
    radius_m: f64,
    rng: &dyn Fn(u64) -> ChaCha8Rng,
) -> Networks {
    let mut rngs: Vec<ChaCha8Rng> = (0..=RULES.len() as u64).map(rng).collect();
    let mut lines: [Vec<Draft>; 6] = Default::default();
    let mut gas_stations = Vec::new();
    for section in streets.sections() {
        let run = &streets.runs[section.run];
        let centre_line = run.line_string(grid, section.from, section.to, 0.0);
        let (a, b) = (centre_line.0[0], centre_line.0[centre_line.0.len() - 1]);
        let site = Site {
            main: run.main(),
            centre_m: (f64::midpoint(a.x, b.x) - grid.centre.x)
                .hypot(f64::midpoint(a.y, b.y) - grid.centre.y),
        };
        for (k, (name, offset_m, rule)) in RULES.iter().enumerate() {
            let Some(properties) = rule(&site, &mut rngs[k]) else {
                continue;
            };
            let line = run.line_string(grid, section.from, section.to, *offset_m);
            // A pressure-reducing station feeds the low-pressure streets from a
            // third of the higher-pressure sections; it stands on the pipe at the
            // section's start.
            if *name == "gas" && properties["pressure"] != "low" && rngs[k].random::<f64>() < 0.35 {
                gas_stations.push(Draft::new(
                    Geometry::Point(Point(line.0[0])),
                    props([
                        ("network", json!("gas")),
                        ("kind", json!("ГРП")),
                        ("name", json!(format!("ГРП № {}", gas_stations.len() + 1))),
                        ("pressure", properties["pressure"].clone()),
                    ]),
                ));
            }
            lines[k].push(Draft::new(Geometry::LineString(line), properties));
        }
    }
    let [water, sewer, gas, mut power, heat, telecom] = lines;
    power.extend(high_voltage(grid, city, radius_m, &mut rngs[RULES.len()]));
    Networks {
        water,
        sewer,
        gas,
        gas_stations,
        power,
        heat,
        telecom,
    }
}

/// Water: on every main street (mains of 800–1400 mm) and most local ones.
fn water(site: &Site, rng: &mut ChaCha8Rng) -> Option<Properties> {
    if rng.random::<f64>() >= if site.main { 1.0 } else { 0.8 } {
        return None;
    }
    let (diameter, material) = if site.main {
        (
            pick(rng, &[800, 1000, 1200, 1400]),
            pick(rng, &["steel", "ductile iron"]),
        )
    } else {
        (
            pick(rng, &[100, 150, 200, 250, 300, 400, 500, 600]),
            pick(rng, &["cast iron", "ductile iron", "polyethylene", "steel"]),
        )
    };
    // Below Kazan's frost depth (about 1.8 m).
    let depth = f64::from(rng.random_range(20..=35u8)) / 10.0;
    Some(props([
        ("network", json!("water")),
        ("diameter_mm", json!(diameter)),
        ("material", json!(material)),
        ("depth_m", json!(depth)),
    ]))
}

/// Sewer: mostly gravity; pressure mains more often under main streets.
fn sewer(site: &Site, rng: &mut ChaCha8Rng) -> Option<Properties> {
    if rng.random::<f64>() >= if site.main { 0.9 } else { 0.7 } {
        return None;
    }
    let pressure = rng.random::<f64>() < if site.main { 0.4 } else { 0.15 };
    let diameter = if site.main {
        pick(rng, &[600, 800, 1000, 1200])
    } else {
        pick(rng, &[150, 200, 250, 300, 400, 500])
    };
    Some(props([
        ("network", json!("sewer")),
        ("flow", json!(if pressure { "pressure" } else { "gravity" })),
        ("diameter_mm", json!(diameter)),
    ]))
}

/// Gas: medium and high pressure under main streets, mostly low pressure under
/// local ones; steel for the higher pressures, mostly polyethylene for low.
fn gas(site: &Site, rng: &mut ChaCha8Rng) -> Option<Properties> {
    if rng.random::<f64>() >= if site.main { 0.7 } else { 0.55 } {
        return None;
    }
    let r: f64 = rng.random();
    let (pressure, mpa) = match (site.main, r) {
        (true, r) if r < 0.3 => ("high", 0.6),
        (false, r) if r < 0.75 => ("low", 0.003),
        _ => ("medium", 0.3),
    };
    let steel = rng.random::<f64>() < if pressure == "low" { 0.3 } else { 0.8 };
    let diameter = if steel {
        pick(rng, &[108, 159, 219, 273, 325, 426, 530])
    } else {
        pick(rng, &[63, 90, 110, 160, 225])
    };
    Some(props([
        ("network", json!("gas")),
        ("pressure", json!(pressure)),
        ("pressure_mpa", json!(mpa)),
        (
            "material",
            json!(if steel { "steel" } else { "polyethylene" }),
        ),
        ("diameter_mm", json!(diameter)),
    ]))
}

/// Power: 10 kV (some 35 kV) along main streets, 0.4 kV (some 10 kV) along
/// local ones; cables in the centre, mostly overhead lines outside it.
fn power(site: &Site, rng: &mut ChaCha8Rng) -> Option<Properties> {
    if rng.random::<f64>() >= if site.main { 0.9 } else { 0.75 } {
        return None;
    }
    let r: f64 = rng.random();
    let voltage = match (site.main, r) {
        (true, r) if r < 0.1 => json!(35),
        (true, _) => json!(10),
        (false, r) if r < 0.2 => json!(10),
        (false, _) => json!(0.4),
    };
    let underground = site.centre_m < CENTRE_M || rng.random::<f64>() < 0.3;
    Some(props([
        ("network", json!("power")),
        ("voltage_kv", voltage),
        (
            "placement",
            json!(if underground {
                "underground"
            } else {
                "overhead"
            }),
        ),
    ]))
}

/// Heat: district heating everywhere in the centre, on most streets of the
/// middle ring, on few outside; now and then overhead outside the centre.
fn heat(site: &Site, rng: &mut ChaCha8Rng) -> Option<Properties> {
    let share = match (site.centre_m, site.main) {
        (d, _) if d < CENTRE_M => 1.0,
        (d, true) if d < HEATED_M => 0.9,
        (d, false) if d < HEATED_M => 0.6,
        _ => 0.3,
    };
    if rng.random::<f64>() >= share {
        return None;
    }
    let diameter = if site.main {
        pick(rng, &[400, 500, 600, 700, 800, 1000])
    } else {
        pick(rng, &[80, 100, 125, 150, 200, 250, 300])
    };
    let overhead = site.centre_m >= CENTRE_M && rng.random::<f64>() < 0.15;
    Some(props([
        ("network", json!("heat")),
        ("diameter_mm", json!(diameter)),
        (
            "placement",
            json!(if overhead { "overhead" } else { "underground" }),
        ),
    ]))
}

/// Telecom: cables of several operators, mostly fibre.
fn telecom(site: &Site, rng: &mut ChaCha8Rng) -> Option<Properties> {
    if rng.random::<f64>() >= if site.main { 0.9 } else { 0.6 } {
        return None;
    }
    let fibre = rng.random::<f64>() < 0.7;
    Some(props([
        ("network", json!("telecom")),
        ("cable", json!(if fibre { "fibre" } else { "copper" })),
        ("operator", json!(pick(rng, &TELECOM_OPERATORS))),
    ]))
}

/// Two 110 kV overhead lines across the outer city, and a 220 kV one when the
/// city reaches far enough: chords of the built circle, slightly bent at the
/// towers, cut to the city outline (the longest piece is kept).
fn high_voltage(
    grid: &Grid,
    city: &MultiPolygon<f64>,
    radius_m: f64,
    rng: &mut ChaCha8Rng,
) -> Vec<Draft> {
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
                let off = if t == 0 || t == 4 {
                    0.0
                } else {
                    bends[(k * 3 + usize::try_from(t).expect("t in 0..=4")) % 8] * 0.03 * radius_m
                };
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
