//! The deterministic generator of a Kazan-like demo city, inside the real
//! outlines of Kazan's seven districts (`data/kazan_districts.geojson`).
//!
//! [`generate`] is pure: the same [`DemoOptions`] always give byte-identical
//! layers. It works in EPSG:32639 (UTM 39N, metres) and hands every geometry
//! out in EPSG:4326 lon/lat degrees. The steps:
//! 1. Outline: the districts, their union (the city) and a [`outline::Region`] of each.
//! 2. Rivers: the Kazanka and the Noksa, meandering bands of water cut to the city.
//! 3. Grid: cells between street centre lines, from the Kremlin outward; a cell is
//!    buildable when it lies inside the city and clear of the rivers. The first
//!    cells take one block each until the blocks hold exactly `parcels` plots
//!    (blocks are cut more finely when the outlines cannot hold them otherwise).
//! 4. Zoning: a territorial zone per group of 4 × 4 cells, drawn over the whole grid.
//! 5. Streets: grid lines along built blocks, merged into named runs; plots take
//!    their addresses from the street they face.
//! 6. Networks along street sections; heritage in the centre; enterprises in
//!    industrial zones; protection zones around rivers, monuments and enterprises.
//! 7. Every geometry is transformed to lon/lat.
//!
//! [`load`] writes a generated city into a [`Store`].
//!
//! Randomness comes from one ChaCha8 generator per step (one stream each of the
//! seed), so a change in one step never shifts the choices of another.

mod grid;
mod names;
mod networks;
mod outline;
mod rivers;
mod streets;
mod zones;

use std::collections::BTreeSet;

use geo::{Area, BooleanOps, Buffer};
use geo_types::{Coord, Geometry, MultiPolygon};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use crate::catalog::Catalog;
use crate::crs::{CrsError, Transformer, KAZAN_METRIC_SRS};
use crate::model::{props, Cadastral, GeometryType, LayerKind, LayerSpec, NewFeature, Properties};
use crate::store::{Store, StoreError};

/// The Kazan Kremlin, EPSG:4326 lon/lat degrees: the centre the city grows from.
pub const CENTRE_LONLAT: Coord<f64> = Coord { x: 49.1056, y: 55.7989 };

pub type Result<T, E = DemoError> = std::result::Result<T, E>;

/// What city to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoOptions {
    /// Exactly this many land plots (1 up to about two million).
    pub parcels: usize,
    /// Seed of every random choice; the same seed gives the same city.
    pub seed: u64,
}

impl Default for DemoOptions {
    /// A small city for the first run: 5 000 plots, a dense centre of a few km².
    fn default() -> Self {
        Self { parcels: 5000, seed: 42 }
    }
}

/// One layer of the demo city: what to create, and its features (EPSG:4326 lon/lat).
#[derive(Debug, Clone, PartialEq)]
pub struct DemoLayer {
    pub spec: LayerSpec,
    pub features: Vec<NewFeature>,
}

/// A generated city: its layers, in the order they are best loaded and drawn
/// (areas first, then plots, streets, networks and overlays).
#[derive(Debug, Clone, PartialEq)]
pub struct DemoCity {
    pub layers: Vec<DemoLayer>,
}

impl DemoCity {
    /// The layer with this code.
    pub fn layer(&self, code: &str) -> Option<&DemoLayer> {
        self.layers.iter().find(|l| l.spec.code.as_str() == code)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("the embedded district outlines: {0}")]
    Outline(String),
    #[error("the demo city holds 1 to {capacity} parcels within the district outlines; {requested} were asked for")]
    Parcels { requested: usize, capacity: usize },
    #[error("transforming the demo city's coordinates: {0}")]
    Crs(#[from] CrsError),
    #[error("writing the demo city: {0}")]
    Store(#[from] StoreError),
}

/// A feature in the making: geometry in EPSG:32639 metres until [`generate`]'s last step.
pub(crate) struct Draft {
    geometry: Geometry<f64>,
    cadastral: Option<Cadastral>,
    properties: Properties,
}

impl Draft {
    fn new(geometry: Geometry<f64>, properties: Properties) -> Self {
        Self {
            geometry,
            cadastral: None,
            properties,
        }
    }
}

/// Makes the demo city described by `opts`.
///
/// Pure and synchronous (CPU only): the same options always give byte-identical
/// output. Geometries are EPSG:4326 lon/lat degrees. About a second per
/// 300 000 plots in a release build.
///
/// # Examples
/// ```
/// use imgis::demo::{generate, DemoOptions};
/// let city = generate(&DemoOptions { parcels: 24, seed: 1 }).unwrap();
/// assert_eq!(city.layer("parcels").unwrap().features.len(), 24);
/// ```
pub fn generate(opts: &DemoOptions) -> Result<DemoCity> {
    // PROJ contexts are not Sync: one transformer each way, for this call only.
    let to_metric = Transformer::to_metric(KAZAN_METRIC_SRS)?;
    let from_metric = Transformer::from_metric(KAZAN_METRIC_SRS)?;
    let rng = |step: u64| {
        let mut r = ChaCha8Rng::seed_from_u64(opts.seed);
        r.set_stream(step);
        r
    };

    // 1. Outline.
    let districts = outline::districts(&to_metric)?;
    let city = geo::unary_union(districts.iter().map(|d| &d.metric));
    let city_region = outline::Region::new(&city);
    let district_regions: Vec<_> = districts.iter().map(|d| outline::Region::new(&d.metric)).collect();

    // 2. Rivers; overlapping at the mouth, so one union for "is this water".
    let rivers = rivers::rivers(&to_metric, &city, &mut rng(1))?;
    let water = rivers
        .iter()
        .fold(MultiPolygon::new(vec![]), |all, r| all.union(&r.water));
    let water_region = outline::Region::new(&water);

    // 3. Grid and blocks.
    let centre = to_metric.coord(CENTRE_LONLAT)?;
    let bounds = city_region
        .bounds()
        .ok_or_else(|| DemoError::Outline("the districts cover no area".into()))?;
    let grid = grid::Grid::covering(centre, bounds);
    let cells = grid::buildable_cells(&grid, &city_region, &water_region);
    let columns = grid::columns_for(opts.parcels, cells.len())
        .filter(|_| opts.parcels > 0)
        .ok_or(DemoError::Parcels {
            requested: opts.parcels,
            capacity: cells.len() * grid::ROWS * grid::MAX_COLUMNS,
        })?;
    let per_block = grid::ROWS * columns;
    let cells = &cells[..opts.parcels.div_ceil(per_block)];
    let blocks = grid::number_blocks(&grid, cells, &districts, &district_regions, per_block, opts.parcels);
    let mut built = vec![false; grid.width() * grid.height()];
    for b in &blocks {
        built[grid.index(b.i, b.j).expect("blocks lie on the grid")] = true;
    }
    let radius_m = blocks
        .iter()
        .map(|b| (b.rect.center().x - centre.x).hypot(b.rect.center().y - centre.y))
        .fold(0.0, f64::max);

    // 4. Zoning, over the zone groups in the order the city reaches them.
    let mut seen = BTreeSet::new();
    let groups: Vec<(i64, i64)> = blocks
        .iter()
        .map(|b| zones::group_of(b.i, b.j))
        .filter(|&g| seen.insert(g))
        .collect();
    let mut zoning = zones::Zoning::new(&grid, &mut rng(2));
    zoning.ensure_industry(&grid, &groups);

    // 5. Streets and plots.
    let streets = streets::Streets::new(&grid, &built);
    let shapes = grid::parcels(&blocks, columns, &mut rng(3));
    let parcels = parcel_drafts(&blocks, &shapes, &streets, &zoning, &districts, columns, &mut rng(4));

    // 6. Networks and overlays.
    let nets = networks::networks(&grid, &streets, &city, radius_m, &mut rng(5));
    let (heritage_objects, heritage_zones) = zones::heritage(&grid, &shapes, &mut rng(6));
    let sanitary = zones::sanitary(&grid, &zoning, &groups, &blocks, &mut rng(7));

    let quarters = blocks
        .iter()
        .map(|b| {
            Draft::new(
                Geometry::Polygon(b.rect.to_polygon()),
                props([
                    ("quarter", json!(b.quarter)),
                    ("district", json!(districts[b.district].name)),
                ]),
            )
        })
        .collect();
    let street_drafts = streets
        .runs
        .iter()
        .map(|r| {
            Draft::new(
                Geometry::LineString(r.line_string(&grid, r.start, r.end, 0.0)),
                props([
                    ("name", json!(r.name)),
                    ("category", json!(if r.main() { "main" } else { "local" })),
                    ("width_m", json!(grid::street_width_m(r.line))),
                ]),
            )
        })
        .collect();
    let river_drafts = rivers
        .iter()
        .filter(|r| !r.water.0.is_empty())
        .map(|r| {
            Draft::new(
                Geometry::MultiPolygon(r.water.clone()),
                props([("name", json!(r.name)), ("length_km", json!(r.length_km))]),
            )
        })
        .collect();
    let mut protection = Vec::new();
    for r in rivers.iter().filter(|r| !r.water.0.is_empty()) {
        for (zone_type, width) in [
            ("water_protection", rivers::protection_width_m(r.length_km)),
            ("shore_strip", rivers::SHORE_STRIP_M),
        ] {
            // Measured from the water's edge; the water itself is not part of the zone.
            let zone = r.water.buffer(width).difference(&water).intersection(&city);
            if !zone.0.is_empty() {
                protection.push(Draft::new(
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
    let territorial = zones::territorial(&grid, &zoning, &groups);

    // 7. Out in lon/lat.
    use GeometryType as G;
    use LayerKind as K;
    let finish = |code: &str, title: &str, description: &str, kind, department: &str, geometry_type, drafts: Vec<Draft>| {
        let features = drafts
            .into_iter()
            .map(|d| {
                Ok(NewFeature {
                    geometry: from_metric.geometry(&d.geometry)?,
                    cadastral: d.cadastral,
                    properties: d.properties,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok::<_, DemoError>(DemoLayer {
            spec: spec(code, title, description, kind, department, geometry_type),
            features,
        })
    };
    let district_layer = DemoLayer {
        spec: spec(
            "districts",
            "Административные районы",
            "The seven administrative districts of Kazan, real outlines from OpenStreetMap.",
            K::Other,
            "UAIG",
            G::MultiPolygon,
        ),
        features: districts
            .iter()
            .enumerate()
            .map(|(n, d)| {
                NewFeature::new(
                    Geometry::MultiPolygon(d.lonlat.clone()),
                    props([("name", json!(d.name)), ("district_no", json!(n + 1))]),
                )
            })
            .collect(),
    };
    let layers = vec![
        district_layer,
        finish("rivers", "Водные объекты", "Rivers of the demo city: the Kazanka and the Noksa.", K::Other, "UAIG", G::MultiPolygon, river_drafts)?,
        finish(
            "water_protection_zones",
            "Водоохранные зоны и прибрежные защитные полосы",
            "Water protection zones and shore strips of the rivers (Water Code art. 65).",
            K::Zones,
            "FISHERIES",
            G::MultiPolygon,
            protection,
        )?,
        finish(
            "territorial_zones",
            "Территориальные зоны",
            "Territorial zones of the land-use rules (ПЗЗ) over groups of blocks.",
            K::Zones,
            "UAIG",
            G::Polygon,
            territorial,
        )?,
        finish("quarters", "Кадастровые кварталы", "Cadastral quarters, one per street block.", K::Other, "KZIO", G::Polygon, quarters)?,
        finish("parcels", "Земельные участки", "Land plots with cadastral numbers, addresses and permitted use.", K::Parcels, "KZIO", G::Polygon, parcels)?,
        finish("streets", "Улично-дорожная сеть", "Street centre lines, one feature per named street.", K::Other, "KVB", G::LineString, street_drafts)?,
        finish("water", "Водопровод", "Water mains and distribution pipes along the streets.", K::Utilities, "VODOKANAL", G::LineString, nets.water)?,
        finish("sewer", "Канализация", "Gravity and pressure sewers along the streets.", K::Utilities, "VODOKANAL", G::LineString, nets.sewer)?,
        finish("gas", "Газопроводы", "Gas distribution pipes of low, medium and high pressure.", K::Utilities, "GAS", G::LineString, nets.gas)?,
        finish("gas_stations", "Газорегуляторные пункты", "Pressure-reducing stations (ГРП) on the gas network.", K::Utilities, "GAS", G::Point, nets.gas_stations)?,
        finish("power", "Электрические сети", "Power lines and cables from 0.4 to 220 kV.", K::Utilities, "POWER", G::LineString, nets.power)?,
        finish("heat", "Тепловые сети", "District heating pipes along the streets.", K::Utilities, "HEAT", G::LineString, nets.heat)?,
        finish("telecom", "Сети связи", "Communication cables of the telecom operators.", K::Utilities, "TELECOM", G::LineString, nets.telecom)?,
        finish(
            "heritage_objects",
            "Объекты культурного наследия",
            "Protected historic buildings of the centre (invented names).",
            K::Other,
            "HERITAGE",
            G::Polygon,
            heritage_objects,
        )?,
        finish(
            "heritage_zones",
            "Зоны охраны объектов культурного наследия",
            "Protection zones of the heritage objects (Federal Law 73-FZ).",
            K::Zones,
            "HERITAGE",
            G::Polygon,
            heritage_zones,
        )?,
        finish(
            "sanitary_zones",
            "Санитарно-защитные зоны",
            "Sanitary protection zones of industrial enterprises, by hazard class.",
            K::Zones,
            "SANITARY",
            G::Polygon,
            sanitary,
        )?,
    ];
    Ok(DemoCity { layers })
}

fn spec(code: &str, title: &str, description: &str, kind: LayerKind, department: &str, geometry_type: GeometryType) -> LayerSpec {
    LayerSpec {
        code: code.parse().expect("the demo's layer codes are valid"),
        title: title.to_owned(),
        description: description.to_owned(),
        kind,
        department: Some(department.to_owned()),
        geometry_type,
        public: true,
    }
}

/// The plots with their cadastral numbers and attributes.
fn parcel_drafts(
    blocks: &[grid::Block],
    shapes: &[grid::ParcelShape],
    streets: &streets::Streets,
    zoning: &zones::Zoning,
    districts: &[outline::District],
    columns: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<Draft> {
    shapes
        .iter()
        .map(|s| {
            let b = &blocks[s.block];
            let number = format!("{}:{}", b.quarter, s.number);
            let cadastral: Cadastral = number.parse().expect("quarters have 6 or 7 digits");
            // Row 0 faces the street below the block, row 1 the one above; house
            // numbers run from the street's west end, odd on its north side.
            let street = streets
                .east_west_at(b.j + i64::try_from(s.row).expect("row is 0 or 1"), b.i)
                .expect("the streets around a built block exist");
            let along = usize::try_from(b.i - street.start).expect("a street starts at or before its blocks") * columns + s.col;
            let house = if s.row == 0 { 2 * along + 1 } else { 2 * along + 2 };
            let ownership = match rng.random_range(0..20) {
                0..=3 => "municipal",
                4 => "federal",
                _ => "private",
            };
            let area = (s.polygon.unsigned_area() * 10.0).round() / 10.0;
            Draft {
                geometry: Geometry::Polygon(s.polygon.clone()),
                properties: props([
                    ("cadastral", json!(number)),
                    ("area_m2", json!(area)),
                    ("land_category", json!("земли населённых пунктов")),
                    ("permitted_use", json!(zoning.cell(b.i, b.j).permitted_use())),
                    ("address", json!(format!("г. Казань, {}, д. {house}", street.name))),
                    ("district", json!(districts[b.district].name)),
                    ("ownership", json!(ownership)),
                ]),
                cadastral: Some(cadastral),
            }
        })
        .collect()
}

/// How much [`load`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadSummary {
    pub layers: usize,
    pub features: usize,
}

/// Writes the city into a store: upserts the built-in catalog's departments,
/// then for every layer creates it if missing, updates its spec if it exists
/// with the same kind and geometry type (or deletes and recreates it if those
/// differ), and replaces its features (one transaction per layer).
pub async fn load(store: &dyn Store, city: DemoCity) -> Result<LoadSummary> {
    store.upsert_departments(&Catalog::builtin().departments).await?;
    let mut summary = LoadSummary { layers: 0, features: 0 };
    for DemoLayer { spec, features } in city.layers {
        match store.layer(&spec.code).await? {
            None => {
                store.create_layer(&spec).await?;
            }
            Some(old) if old.spec.kind == spec.kind && old.spec.geometry_type == spec.geometry_type => {
                store.update_layer(&spec).await?;
            }
            Some(_) => {
                store.delete_layer(&spec.code).await?;
                store.create_layer(&spec).await?;
            }
        }
        summary.layers += 1;
        summary.features += features.len();
        store.replace_features(&spec.code, features).await?;
    }
    Ok(summary)
}

#[cfg(test)]
mod tests;
