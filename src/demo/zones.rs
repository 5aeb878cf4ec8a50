//! Planning overlays of the demo city: territorial zones (ПЗЗ) over groups of
//! blocks, the industrial enterprises in П1 zones with their sanitary protection
//! zones, and the heritage objects of the centre with their protection zones.
//! Geometries in EPSG:32639 metres.

use geo::{Area, Buffer, Centroid};
use geo_types::{coord, Geometry, Polygon, Rect};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::grid::{Block, Grid, ParcelShape};
use super::names::{ENTERPRISES, HERITAGE_NAMES};
use super::Draft;
use crate::model::props;

/// A territorial zone of the city's land-use rules (ПЗЗ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Zone {
    /// Ж1: detached houses.
    Houses,
    /// Ж2: apartment blocks.
    Apartments,
    /// Д1: business and public uses.
    Business,
    /// П1: industry.
    Industry,
    /// Р1: recreation.
    Recreation,
}

impl Zone {
    pub fn code(self) -> &'static str {
        match self {
            Self::Houses => "Ж1",
            Self::Apartments => "Ж2",
            Self::Business => "Д1",
            Self::Industry => "П1",
            Self::Recreation => "Р1",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Houses => "Зона индивидуальной жилой застройки",
            Self::Apartments => "Зона многоэтажной жилой застройки",
            Self::Business => "Зона делового, общественного и коммерческого назначения",
            Self::Industry => "Производственная зона",
            Self::Recreation => "Зона рекреационного назначения",
        }
    }

    /// The main permitted use of a plot in this zone (land-use classifier wording).
    pub fn permitted_use(self) -> &'static str {
        match self {
            Self::Houses => "индивидуальное жилищное строительство",
            Self::Apartments => "многоэтажная жилая застройка",
            Self::Business => "деловое управление",
            Self::Industry => "производственная деятельность",
            Self::Recreation => "отдых (рекреация)",
        }
    }

    /// The zone of a group of blocks `d_m` metres from the centre, given a uniform
    /// draw `u` in 0..1: about 8 % industry (not in the historic centre), 7 %
    /// recreation, the rest by distance — business and apartments in the centre,
    /// apartments in the middle ring, houses outside.
    fn pick(d_m: f64, u: f64) -> Self {
        if u < 0.08 && d_m > 1200.0 {
            Self::Industry
        } else if (0.08..0.15).contains(&u) {
            Self::Recreation
        } else if d_m < 1500.0 {
            if u < 0.65 {
                Self::Business
            } else {
                Self::Apartments
            }
        } else if d_m < 4500.0 {
            if u > 0.92 {
                Self::Business
            } else {
                Self::Apartments
            }
        } else if u > 0.85 {
            Self::Apartments
        } else {
            Self::Houses
        }
    }
}

/// Cells per side of a territorial zone.
pub(super) const GROUP: i64 = 4;

/// The zone group of cell `(i, j)`.
pub(super) fn group_of(i: i64, j: i64) -> (i64, i64) {
    (i.div_euclid(GROUP), j.div_euclid(GROUP))
}

/// The zone of every group of the grid. Drawn over the whole grid in a fixed
/// order, so a group's zone does not depend on how much of the city is built.
pub(super) struct Zoning {
    gi0: i64,
    gj0: i64,
    width: usize,
    zones: Vec<Zone>,
}

impl Zoning {
    pub fn new(grid: &Grid, rng: &mut ChaCha8Rng) -> Self {
        let (gi0, gj0) = group_of(grid.i0, grid.j0);
        let (gi1, gj1) = group_of(grid.i1 - 1, grid.j1 - 1);
        let width = usize::try_from(gi1 - gi0 + 1).expect("a grid has at least one group");
        let mut zones = Vec::new();
        for gj in gj0..=gj1 {
            for gi in gi0..=gi1 {
                let c = group_rect(grid, (gi, gj)).center();
                let d = (c.x - grid.centre.x).hypot(c.y - grid.centre.y);
                zones.push(Zone::pick(d, rng.random::<f64>()));
            }
        }
        Self {
            gi0,
            gj0,
            width,
            zones,
        }
    }

    fn slot(&self, (gi, gj): (i64, i64)) -> usize {
        let (di, dj) = (
            usize::try_from(gi - self.gi0),
            usize::try_from(gj - self.gj0),
        );
        let (di, dj) = (
            di.expect("group within the grid"),
            dj.expect("group within the grid"),
        );
        dj * self.width + di
    }

    pub fn group(&self, g: (i64, i64)) -> Zone {
        self.zones[self.slot(g)]
    }

    /// The zone of cell `(i, j)`.
    pub fn cell(&self, i: i64, j: i64) -> Zone {
        self.group(group_of(i, j))
    }

    /// A city of a dozen zones or more gets at least three industrial ones, a
    /// smaller one (two zones or more) at least one: its outermost housing or
    /// business groups turn industrial, so that every demo city, however small,
    /// has an enterprise with a sanitary protection zone to route applications by.
    pub fn ensure_industry(&mut self, grid: &Grid, built: &[(i64, i64)]) {
        let at_least = match built.len() {
            0..=1 => 0,
            2..=11 => 1,
            _ => 3,
        };
        let have = built
            .iter()
            .filter(|&&g| self.group(g) == Zone::Industry)
            .count();
        if have >= at_least {
            return;
        }
        let mut outer: Vec<(f64, (i64, i64))> = built
            .iter()
            .filter(|&&g| !matches!(self.group(g), Zone::Industry | Zone::Recreation))
            .map(|&g| {
                let c = group_rect(grid, g).center();
                ((c.x - grid.centre.x).hypot(c.y - grid.centre.y), g)
            })
            .collect();
        outer.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        for (_, g) in outer.into_iter().take(at_least - have) {
            let slot = self.slot(g);
            self.zones[slot] = Zone::Industry;
        }
    }
}

/// A group's rectangle, from street centre line to street centre line, metres.
pub(super) fn group_rect(grid: &Grid, (gi, gj): (i64, i64)) -> Rect<f64> {
    Rect::new(
        coord! { x: grid.x(gi * GROUP), y: grid.y(gj * GROUP) },
        coord! { x: grid.x((gi + 1) * GROUP), y: grid.y((gj + 1) * GROUP) },
    )
}

/// One zone per built group.
pub(super) fn territorial(grid: &Grid, zoning: &Zoning, built: &[(i64, i64)]) -> Vec<Draft> {
    built
        .iter()
        .map(|&g| {
            let zone = zoning.group(g);
            Draft::new(
                Geometry::Polygon(group_rect(grid, g).to_polygon()),
                props([
                    ("zone_type", json!("territorial")),
                    ("code", json!(zone.code())),
                    ("name", json!(zone.name())),
                ]),
            )
        })
        .collect()
}

/// Sanitary protection zone width by hazard class (SanPiN 2.2.1/2.1.1.1200-03), metres.
fn sanitary_width_m(class: &str) -> f64 {
    match class {
        "I" => 1000.0,
        "II" => 500.0,
        "III" => 300.0,
        "IV" => 100.0,
        _ => 50.0,
    }
}

/// Three to six enterprises spread over the built industrial groups, each on the
/// built block nearest its group's centre, with its sanitary protection zone.
pub(super) fn sanitary(
    grid: &Grid,
    zoning: &Zoning,
    built: &[(i64, i64)],
    blocks: &[Block],
    rng: &mut ChaCha8Rng,
) -> Vec<Draft> {
    let industrial: Vec<(i64, i64)> = built
        .iter()
        .copied()
        .filter(|&g| zoning.group(g) == Zone::Industry)
        .collect();
    let n = industrial.len().min((industrial.len() / 4).clamp(3, 6));
    let mut out = Vec::with_capacity(n);
    for k in 0..n {
        // Evenly through the list (centre outward), so enterprises do not bunch up.
        let g = industrial[k * industrial.len() / n];
        let centre = group_rect(grid, g).center();
        let site = blocks
            .iter()
            .filter(|b| group_of(b.i, b.j) == g)
            .min_by(|a, b| {
                let da = (a.rect.center().x - centre.x).hypot(a.rect.center().y - centre.y);
                let db = (b.rect.center().x - centre.x).hypot(b.rect.center().y - centre.y);
                da.total_cmp(&db).then((a.j, a.i).cmp(&(b.j, b.i)))
            })
            .expect("a built group has a built block");
        // Mostly classes III–V so that zones stay local; now and then a class II.
        let u: f64 = rng.random();
        let class = match u {
            u if u < 0.1 => "II",
            u if u < 0.4 => "III",
            u if u < 0.75 => "IV",
            _ => "V",
        };
        let width = sanitary_width_m(class);
        out.push(Draft::new(
            Geometry::Polygon(one_polygon(&site.rect.to_polygon(), width)),
            props([
                ("zone_type", json!("sanitary_protection")),
                ("enterprise", json!(ENTERPRISES[k % ENTERPRISES.len()])),
                ("hazard_class", json!(class)),
                ("width_m", json!(width)),
                ("basis", json!("СанПиН 2.2.1/2.1.1.1200-03")),
            ]),
        ));
    }
    out
}

/// The buffer of a convex polygon by a positive distance, as the one polygon it is.
fn one_polygon(p: &Polygon<f64>, distance_m: f64) -> Polygon<f64> {
    p.buffer(distance_m)
        .0
        .into_iter()
        .next()
        .expect("a positive buffer of a non-empty convex polygon is one polygon")
}

/// Heritage objects: 20–40 building footprints on plots within 1.5 km of the
/// centre (fewer if the city is smaller), and a protection zone around each.
pub(super) fn heritage(
    grid: &Grid,
    parcels: &[ParcelShape],
    rng: &mut ChaCha8Rng,
) -> (Vec<Draft>, Vec<Draft>) {
    /// How far from the centre the historic town reaches, metres.
    const HERITAGE_RADIUS_M: f64 = 1500.0;
    let mut candidates: Vec<(usize, Rect<f64>)> = parcels
        .iter()
        .enumerate()
        .filter(|(_, p)| {
            p.polygon.centroid().is_some_and(|c| {
                (c.x() - grid.centre.x).hypot(c.y() - grid.centre.y) <= HERITAGE_RADIUS_M
            })
        })
        .filter_map(|(n, p)| footprint(p).map(|f| (n, f)))
        .collect();
    let wanted = rng.random_range(20..=40usize);
    candidates.shuffle(rng);
    candidates.truncate(wanted);
    candidates.sort_by_key(|&(n, _)| n);
    let mut names = HERITAGE_NAMES.to_vec();
    names.shuffle(rng);
    let (mut objects, mut zones) = (Vec::new(), Vec::new());
    for (k, (_, rect)) in candidates.into_iter().enumerate() {
        let name = names[k % names.len()];
        let significance = match rng.random_range(0..20) {
            0..=2 => "federal",
            3..=9 => "regional",
            _ => "local",
        };
        // Register numbers of the unified state register: 15 digits, region 16 first.
        let reg_number = format!(
            "16{:09}0006",
            161_000_000 + k * 1_733 + rng.random_range(0..1_000usize)
        );
        let footprint = rect.to_polygon();
        objects.push(Draft::new(
            Geometry::Polygon(footprint.clone()),
            props([
                ("name", json!(name)),
                ("significance", json!(significance)),
                ("reg_number", json!(reg_number)),
                (
                    "area_m2",
                    json!((footprint.unsigned_area() * 10.0).round() / 10.0),
                ),
            ]),
        ));
        let width = f64::from(rng.random_range(5..=15u8)) * 10.0;
        zones.push(Draft::new(
            Geometry::Polygon(one_polygon(&footprint, width)),
            props([
                ("zone_type", json!("heritage_protection")),
                ("object", json!(name)),
                ("reg_number", json!(reg_number)),
                ("width_m", json!(width)),
                ("basis", json!("73-ФЗ")),
            ]),
        ));
    }
    (objects, zones)
}

/// A building footprint on a plot: the width of the plot less 2 m each side,
/// 3 m back from the street, at most 16 m deep and 30 m wide; `None` if the
/// plot is too narrow to hold one 6 m wide.
fn footprint(p: &ParcelShape) -> Option<Rect<f64>> {
    let c: Vec<_> = p.polygon.exterior().coords().copied().collect();
    // Rings are [front-left, front-right, back-right, back-left] for row 0 and
    // [back-left, back-right, front-right, front-left] for row 1 (see grid::parcels).
    let (x0, x1) = (c[0].x.max(c[3].x) + 2.0, c[1].x.min(c[2].x) - 2.0);
    let x1 = x1.min(x0 + 30.0);
    let (front, back, dir) = if p.row == 0 {
        (c[0].y, c[2].y.min(c[3].y), 1.0)
    } else {
        (c[2].y, c[0].y.max(c[1].y), -1.0)
    };
    let depth = ((back - front).abs() - 6.0).min(16.0);
    if x1 - x0 < 6.0 || depth < 6.0 {
        return None;
    }
    let (y0, y1) = (front + dir * 3.0, front + dir * (3.0 + depth));
    Some(Rect::new(coord! { x: x0, y: y0 }, coord! { x: x1, y: y1 }))
}
