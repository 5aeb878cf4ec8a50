//! The deterministic generator of a Kazan-like demo city, inside the real
//! outlines of Kazan's seven districts (`data/kazan_districts.geojson`).
//!
//! [`generate`] is pure: the same [`DemoOptions`] always give byte-identical
//! layers. It works in EPSG:32639 (UTM 39N, metres) and hands every geometry
//! out in EPSG:4326 lon/lat degrees. The steps:
//! 1. Outline: the districts, their union (the city), and a region index of each.
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

use std::collections::{BTreeMap, BTreeSet};

use geo::{Area, BooleanOps};
use geo_types::{Coord, Geometry, MultiPolygon};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use crate::catalog::Catalog;
use crate::crs::{CrsError, Transformer, KAZAN_METRIC_SRS};
use crate::model::{props, Cadastral, GeometryType, LayerKind, LayerSpec, NewFeature, Properties};
use crate::store::{Store, StoreError};

/// The Kazan Kremlin, EPSG:4326 lon/lat degrees: the centre the city grows from.
pub const CENTRE_LONLAT: Coord<f64> = Coord {
    x: 49.1056,
    y: 55.7989,
};

pub type Result<T, E = DemoError> = std::result::Result<T, E>;

/// What city to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoOptions {
    /// Exactly this many land plots: 1 up to about 2.5 million (blocks are cut
    /// into narrower plots beyond about 500 000).
    pub parcels: usize,
    /// Seed of every random choice; the same seed gives the same city.
    pub seed: u64,
}

impl Default for DemoOptions {
    /// A small city for the first run: 5 000 plots, a dense centre of a few km².
    fn default() -> Self {
        Self {
            parcels: 5000,
            seed: 42,
        }
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
    #[must_use]
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
struct Draft {
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

/// What a layer of the demo city is.
struct LayerDef {
    code: &'static str,
    /// Cyrillic, as the city names the layer.
    title: &'static str,
    /// One English sentence.
    description: &'static str,
    kind: LayerKind,
    /// Owning department's code in the catalog.
    department: &'static str,
    geometry_type: GeometryType,
}

impl LayerDef {
    fn spec(&self) -> LayerSpec {
        LayerSpec {
            code: self.code.parse().expect("the demo's layer codes are valid"),
            title: self.title.to_owned(),
            description: self.description.to_owned(),
            kind: self.kind,
            department: Some(self.department.to_owned()),
            geometry_type: self.geometry_type,
            public: true,
        }
    }
}

/// Shorthand for the table below.
const fn def(
    code: &'static str,
    title: &'static str,
    description: &'static str,
    kind: LayerKind,
    department: &'static str,
    geometry_type: GeometryType,
) -> LayerDef {
    LayerDef {
        code,
        title,
        description,
        kind,
        department,
        geometry_type,
    }
}

/// The layers, in the order they are loaded and drawn: areas first, then plots,
/// streets, networks and overlays. Codes and property names are an interface:
/// routing rules and map styles refer to them.
const LAYERS: [LayerDef; 17] = {
    use GeometryType as G;
    use LayerKind as K;
    [
        def(
            "districts",
            "Административные районы",
            "The seven administrative districts of Kazan, real outlines from OpenStreetMap.",
            K::Other,
            "UAIG",
            G::MultiPolygon,
        ),
        def(
            "rivers",
            "Водные объекты",
            "Rivers of the demo city: the Kazanka and the Noksa.",
            K::Other,
            "UAIG",
            G::MultiPolygon,
        ),
        def(
            "water_protection_zones",
            "Водоохранные зоны и прибрежные защитные полосы",
            "Water protection zones and shore strips of the rivers (Water Code art. 65).",
            K::Zones,
            "FISHERIES",
            G::MultiPolygon,
        ),
        def(
            "territorial_zones",
            "Территориальные зоны",
            "Territorial zones of the land-use rules (ПЗЗ) over groups of blocks.",
            K::Zones,
            "UAIG",
            G::Polygon,
        ),
        def(
            "quarters",
            "Кадастровые кварталы",
            "Cadastral quarters, one per street block.",
            K::Other,
            "KZIO",
            G::Polygon,
        ),
        def(
            "parcels",
            "Земельные участки",
            "Land plots with cadastral numbers, addresses and permitted use.",
            K::Parcels,
            "KZIO",
            G::Polygon,
        ),
        def(
            "streets",
            "Улично-дорожная сеть",
            "Street centre lines, one feature per named street.",
            K::Other,
            "KVB",
            G::LineString,
        ),
        def(
            "water",
            "Водопровод",
            "Water mains and distribution pipes along the streets.",
            K::Utilities,
            "VODOKANAL",
            G::LineString,
        ),
        def(
            "sewer",
            "Канализация",
            "Gravity and pressure sewers along the streets.",
            K::Utilities,
            "VODOKANAL",
            G::LineString,
        ),
        def(
            "gas",
            "Газопроводы",
            "Gas distribution pipes of low, medium and high pressure.",
            K::Utilities,
            "GAS",
            G::LineString,
        ),
        def(
            "gas_stations",
            "Газорегуляторные пункты",
            "Pressure-reducing stations (ГРП) on the gas network.",
            K::Utilities,
            "GAS",
            G::Point,
        ),
        def(
            "power",
            "Электрические сети",
            "Power lines and cables from 0.4 to 220 kV.",
            K::Utilities,
            "POWER",
            G::LineString,
        ),
        def(
            "heat",
            "Тепловые сети",
            "District heating pipes along the streets.",
            K::Utilities,
            "HEAT",
            G::LineString,
        ),
        def(
            "telecom",
            "Сети связи",
            "Communication cables of the telecom operators.",
            K::Utilities,
            "TELECOM",
            G::LineString,
        ),
        def(
            "heritage_objects",
            "Объекты культурного наследия",
            "Protected historic buildings of the centre (invented names).",
            K::Other,
            "HERITAGE",
            G::Polygon,
        ),
        def(
            "heritage_zones",
            "Зоны охраны объектов культурного наследия",
            "Protection zones of the heritage objects (Federal Law 73-FZ).",
            K::Zones,
            "HERITAGE",
            G::Polygon,
        ),
        def(
            "sanitary_zones",
            "Санитарно-защитные зоны",
            "Sanitary protection zones of industrial enterprises, by hazard class.",
            K::Zones,
            "SANITARY",
            G::Polygon,
        ),
    ]
};

/// The generator of step `step`'s randomness: one ChaCha8 stream of the seed each.
fn rng(seed: u64, step: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(step);
    r
}

/// Makes the demo city described by `opts`.
///
/// Pure and synchronous (CPU only): the same options always give byte-identical
/// output. Geometries are EPSG:4326 lon/lat degrees. A release build makes
/// 300 000 plots in one to two seconds.
///
/// # Errors
/// [`DemoError::Parcels`] when `opts.parcels` is 0 or more than the district
/// outlines can hold at the finest subdivision (about 2.5 million);
/// [`DemoError::Crs`] if PROJ cannot transform between EPSG:4326 and EPSG:32639.
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
    let Drafts {
        districts,
        layers: mut drafts,
    } = draft(opts, &to_metric)?;
    let mut districts = Some(districts);
    let mut layers = Vec::with_capacity(LAYERS.len());
    for def in &LAYERS {
        // 7. Out in lon/lat; the districts are already, as read.
        let features = match (def.code, drafts.remove(def.code)) {
            ("districts", _) => districts.take().unwrap_or_default(),
            (_, Some(features)) => features
                .into_iter()
                .map(|d| {
                    Ok(NewFeature {
                        geometry: from_metric.geometry(&d.geometry)?,
                        cadastral: d.cadastral,
                        properties: d.properties,
                    })
                })
                .collect::<Result<Vec<_>>>()?,
            (code, None) => unreachable!("layer {code} is drafted by `draft`"),
        };
        layers.push(DemoLayer {
            spec: def.spec(),
            features,
        });
    }
    debug_assert!(drafts.is_empty(), "every drafted layer is in LAYERS");
    Ok(DemoCity { layers })
}

/// The city before its last step.
struct Drafts {
    /// The districts layer, final already: it keeps the source's lon/lat outlines.
    districts: Vec<NewFeature>,
    /// Every other layer by code, in EPSG:32639 metres.
    layers: BTreeMap<&'static str, Vec<Draft>>,
}

/// Steps 1 to 6 of [`generate`].
fn draft(opts: &DemoOptions, to_metric: &Transformer) -> Result<Drafts> {
    let rng = |step: u64| rng(opts.seed, step);

    // 1. Outline.
    let districts = outline::districts(to_metric)?;
    let city = geo::unary_union(districts.iter().map(|d| &d.metric));
    let city_region = outline::Region::new(&city);
    let district_regions: Vec<_> = districts
        .iter()
        .map(|d| outline::Region::new(&d.metric))
        .collect();

    // 2. Rivers; they overlap at a mouth, so one union answers "is this water".
    let rivers = rivers::rivers(to_metric, &city, &mut rng(1))?;
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
    let blocks = grid::number_blocks(
        &grid,
        cells,
        &districts,
        &district_regions,
        per_block,
        opts.parcels,
    );
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
    let parcels = parcel_drafts(
        &blocks,
        &shapes,
        &streets,
        &zoning,
        &districts,
        columns,
        &mut rng(4),
    );

    // 6. Networks and overlays.
    let nets = networks::networks(&grid, &streets, &city, radius_m, &|k| rng(10 + k));
    let (heritage_objects, heritage_zones) = zones::heritage(&grid, &shapes, &mut rng(5));

    let district_features = districts
        .iter()
        .enumerate()
        .map(|(n, d)| {
            NewFeature::new(
                Geometry::MultiPolygon(d.lonlat.clone()),
                props([("name", json!(d.name)), ("district_no", json!(n + 1))]),
            )
        })
        .collect();
    let layers = BTreeMap::from([
        ("rivers", rivers::river_drafts(&rivers)),
        (
            "water_protection_zones",
            rivers::protection_drafts(&rivers, &water, &city),
        ),
        (
            "territorial_zones",
            zones::territorial(&grid, &zoning, &groups),
        ),
        ("quarters", grid::quarter_drafts(&blocks, &districts)),
        ("parcels", parcels),
        ("streets", streets.drafts(&grid)),
        ("water", nets.water),
        ("sewer", nets.sewer),
        ("gas", nets.gas),
        ("gas_stations", nets.gas_stations),
        ("power", nets.power),
        ("heat", nets.heat),
        ("telecom", nets.telecom),
        ("heritage_objects", heritage_objects),
        ("heritage_zones", heritage_zones),
        (
            "sanitary_zones",
            zones::sanitary(&grid, &zoning, &groups, &blocks, &mut rng(6)),
        ),
    ]);
    Ok(Drafts {
        districts: district_features,
        layers,
    })
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
            let along = usize::try_from(b.i - street.start)
                .expect("a street starts at or before its blocks")
                * columns
                + s.col;
            let house = if s.row == 0 {
                2 * along + 1
            } else {
                2 * along + 2
            };
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
                    (
                        "permitted_use",
                        json!(zoning.cell(b.i, b.j).permitted_use()),
                    ),
                    (
                        "address",
                        json!(format!("г. Казань, {}, д. {house}", street.name)),
                    ),
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
    /// Layers created or replaced.
    pub layers: usize,
    /// Features written, over all layers.
    pub features: usize,
}

/// Writes the city into a store: upserts the built-in catalog's departments,
/// then for every layer creates it if missing, updates its spec if it exists
/// with the same kind and geometry type (or deletes and recreates it if those
/// differ), and replaces its features (one transaction per layer).
///
/// # Errors
/// [`DemoError::Store`] with the first write the store refused; layers
/// written before it stay written.
pub async fn load(store: &dyn Store, city: DemoCity) -> Result<LoadSummary> {
    store
        .upsert_departments(&Catalog::builtin().departments)
        .await?;
    let mut summary = LoadSummary {
        layers: 0,
        features: 0,
    };
    for DemoLayer { spec, features } in city.layers {
        match store.layer(&spec.code).await? {
            None => {
                store.create_layer(&spec).await?;
            }
            Some(old)
                if old.spec.kind == spec.kind && old.spec.geometry_type == spec.geometry_type =>
            {
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
