//! Protection zones derived from utility layers by the catalog's buffer rules.
//!
//! For each feature of a source layer (`power`, `gas`, `gas_stations` …):
//! 1. pick the first buffer rule of that layer whose conditions the feature
//!    meets ([`Catalog::buffer_rule_for`]);
//! 2. project the feature from storage lon/lat (EPSG:4326) into the city's
//!    metric CRS (config `metric_srs`; Kazan and the demo: EPSG:32639, metres);
//! 3. buffer it there by the rule's width: lines as strips `width_m` each side
//!    with round joins and the rule's ends (flat by default), points as circles
//!    of radius `width_m`, polygons grown by `width_m`;
//! 4. project the zone back to EPSG:4326 lon/lat, with properties naming its
//!    zone type, width, source feature, the rule's condition and legal basis.
//!
//! Pure: no store, no I/O. The zones go into one layer, [`layer_spec`], which
//! the app replaces whole when a source layer changes ([`Catalog::is_buffer_source`]).

use std::collections::BTreeSet;
use std::sync::Arc;

use geo::algorithm::buffer::{BufferStyle, LineCap, LineJoin};
use geo::Buffer;
use geo_types::{Geometry, MultiPolygon};
use serde_json::{json, Value};

use crate::catalog::{BufferRule, Catalog, LineEnds};
use crate::crs::{CrsError, Transformer};
use crate::index::{LayerIndex, Snapshot};
use crate::model::{
    props, Feature, FeatureId, GeometryType, LayerCode, LayerKind, LayerSpec, NewFeature,
};

/// The code of the layer derived zones are stored in.
pub const LAYER_CODE: &str = "utility_protection_zones";

/// The angle between successive vertices of round joins, ends and circles,
/// radians. The vertices lie on the true arc, so the drawn arc falls inside it
/// by at most `width × (1 − cos(angle / 2))`: 2.5 cm for a 20 m zone, and a
/// circle's area comes out 0.03 % small. Coarser angles save vertices but miss
/// land at corners; finer ones buy nothing a survey could tell.
const ARC_STEP_RAD: f64 = 0.1;

/// Below this many features a layer is buffered on the calling thread:
/// making a thread and its PROJ contexts costs more than it saves.
const PARALLEL_MIN_FEATURES: usize = 2000;

#[derive(Debug, thiserror::Error)]
pub enum ZoneError {
    /// The metric CRS of the config is not one PROJ can use.
    #[error("deriving protection zones: {0}")]
    Crs(#[from] CrsError),
    #[error("deriving protection zones from layer {layer}, feature {feature}: {source}")]
    Transform {
        layer: LayerCode,
        feature: FeatureId,
        #[source]
        source: CrsError,
    },
    /// A rule names a zone type the catalog lacks (a catalog changed after
    /// validation; a parsed catalog cannot have this).
    #[error("buffer rule for layer {layer} produces zone type '{zone_type}', which the catalog does not define")]
    UnknownZoneType { layer: LayerCode, zone_type: String },
}

pub type Result<T, E = ZoneError> = std::result::Result<T, E>;

/// Why a feature of a source layer got no zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// No buffer rule of its layer matches its properties (a missing
    /// `voltage_kv`, an unknown `flow`): fix the data or add a rule.
    NoRule,
    /// The buffer came out empty: an empty geometry, or a line of zero
    /// length under a rule with flat ends.
    EmptyBuffer,
}

/// A source feature that got no zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub layer: LayerCode,
    pub feature: FeatureId,
    pub reason: SkipReason,
}

/// A source layer as the zones were derived from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub layer: LayerCode,
    /// The layer's version the features were read at.
    pub version: i64,
    /// Its feature count at that version.
    pub features: usize,
}

/// The outcome of a derivation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Derived {
    /// One zone per source feature that a rule matched, in source layer then
    /// feature id order; EPSG:4326 lon/lat degrees.
    pub zones: Vec<NewFeature>,
    /// Source features that got no zone, with why.
    pub skipped: Vec<Skipped>,
    /// The source layers read, with their versions.
    pub sources: Vec<Source>,
}

/// The layer the derived zones go into: kind `zones`, so constraint queries
/// read it with every other zone layer.
///
/// One layer for every network, owned by UAIG: the zones are the city's
/// derived planning overlay, not an operator's own data. Regenerating it is
/// the system's job, never an edit by hand, and each zone names its approving
/// department in the property `department` (from its zone type), which is
/// what routing reads.
///
/// # Panics
/// Never: [`LAYER_CODE`] is a valid layer code (a unit test builds the spec).
#[must_use]
pub fn layer_spec() -> LayerSpec {
    LayerSpec {
        code: LAYER_CODE.parse().expect("the zones layer code is valid"),
        title: "Охранные зоны инженерных сетей".to_owned(),
        description: "Protection zones derived from the utility layers by the catalog's buffer rules; regenerated when a source layer changes.".to_owned(),
        kind: LayerKind::Zones,
        department: Some("UAIG".to_owned()),
        geometry_type: GeometryType::MultiPolygon,
        public: true,
    }
}

/// Derives the zones of every layer that a buffer rule names and `snapshot`
/// holds, in the order the rules first name them. The result replaces the
/// whole [`LAYER_CODE`] layer.
///
/// # Errors
/// As [`derive_zones`].
pub fn derive_all(snapshot: &Snapshot, catalog: &Catalog, metric_srs: &str) -> Result<Derived> {
    let mut seen = BTreeSet::new();
    let mut all = Derived::default();
    for rule in &catalog.buffer_rules {
        if !seen.insert(&rule.layer) {
            continue;
        }
        if let Some(layer) = snapshot.get(&rule.layer) {
            let d = derive_zones(layer, catalog, metric_srs)?;
            all.zones.extend(d.zones);
            all.skipped.extend(d.skipped);
            all.sources.extend(d.sources);
        }
    }
    Ok(all)
}

/// Derives a protection zone for every feature of `layer` that one of the
/// catalog's buffer rules for it matches. Buffers are computed in
/// `metric_srs` (metres), and the zones are returned in EPSG:4326 lon/lat.
/// Large layers are split across the machine's cores.
///
/// Each zone carries `zone_type`, `name` (the zone type's), `width_m`,
/// `source_layer`, `source_feature` (the source's id), `condition` (the rule's
/// conditions in words), `note` (the rule's, when it has one), `basis` (the
/// zone type's legal basis, under the key the imported zone layers use) and
/// `department` (the zone type's approving department).
///
/// # Errors
/// [`ZoneError::Crs`] when PROJ cannot make the transformations,
/// [`ZoneError::Transform`] when a coordinate cannot be transformed, and
/// [`ZoneError::UnknownZoneType`] for a rule whose zone type the catalog lacks.
///
/// # Panics
/// Only if a worker thread panicked, which buffering and PROJ do not.
///
/// # Examples
/// ```
/// use imgis::catalog::Catalog;
/// use imgis::crs::KAZAN_METRIC_SRS;
/// use imgis::demo::{generate, DemoOptions};
/// use imgis::index::LayerIndex;
/// use imgis::model::{Layer, LayerSpec};
/// use imgis::zones::derive_zones;
///
/// let city = generate(&DemoOptions { parcels: 24, seed: 1 }).unwrap();
/// let gas = city.layer("gas").unwrap();
/// let features = gas.features.iter().cloned().enumerate()
///     .map(|(id, f)| f.into_feature(id as i64 + 1)).collect::<Vec<_>>();
/// let layer = Layer { spec: gas.spec.clone(), version: 1, updated_at: chrono::Utc::now(),
///                     feature_count: features.len() as i64 };
/// let index = LayerIndex::build(layer, features);
/// let derived = derive_zones(&index, &Catalog::builtin(), KAZAN_METRIC_SRS).unwrap();
/// assert_eq!(derived.zones.len(), index.len());
/// assert!(derived.zones.iter().all(|z| z.properties["zone_type"] == "gas_protection"));
/// ```
pub fn derive_zones(layer: &LayerIndex, catalog: &Catalog, metric_srs: &str) -> Result<Derived> {
    let code = layer.code();
    let mut features: Vec<&Arc<Feature>> = match layer.extent() {
        Some(extent) => layer.in_envelope(extent).collect(),
        None => Vec::new(),
    };
    features.sort_unstable_by_key(|f| f.id);
    let source = Source {
        layer: code.clone(),
        version: layer.layer().version,
        features: features.len(),
    };
    // Check every rule of the layer up front, so a worker never meets an
    // unknown zone type half-way through.
    for rule in catalog.buffer_rules.iter().filter(|r| &r.layer == code) {
        if catalog.zone_type(&rule.zone_type).is_none() {
            return Err(ZoneError::UnknownZoneType {
                layer: code.clone(),
                zone_type: rule.zone_type.clone(),
            });
        }
    }
    let threads = if features.len() < PARALLEL_MIN_FEATURES {
        1
    } else {
        std::thread::available_parallelism().map_or(1, usize::from)
    };
    let outcomes: Vec<Result<Vec<Outcome>>> = if threads == 1 {
        vec![derive_chunk(&features, code, catalog, metric_srs)]
    } else {
        // PROJ contexts are not Sync: each worker makes its own transformers.
        let chunk = features.len().div_ceil(threads);
        std::thread::scope(|s| {
            let workers: Vec<_> = features
                .chunks(chunk)
                .map(|part| s.spawn(move || derive_chunk(part, code, catalog, metric_srs)))
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("a zone worker does not panic"))
                .collect()
        })
    };
    let mut derived = Derived {
        sources: vec![source],
        ..Derived::default()
    };
    for outcome in outcomes {
        for o in outcome? {
            match o {
                Outcome::Zone(z) => derived.zones.push(z),
                Outcome::Skipped(feature, reason) => derived.skipped.push(Skipped {
                    layer: code.clone(),
                    feature,
                    reason,
                }),
            }
        }
    }
    Ok(derived)
}

/// What became of one source feature.
enum Outcome {
    Zone(NewFeature),
    Skipped(FeatureId, SkipReason),
}

/// Derives the zones of `features` (all of layer `code`) on this thread.
fn derive_chunk(
    features: &[&Arc<Feature>],
    code: &LayerCode,
    catalog: &Catalog,
    metric_srs: &str,
) -> Result<Vec<Outcome>> {
    let to_metric = Transformer::to_metric(metric_srs)?;
    let from_metric = Transformer::from_metric(metric_srs)?;
    let transform_error = |feature: FeatureId| {
        move |source| ZoneError::Transform {
            layer: code.clone(),
            feature,
            source,
        }
    };
    let mut out = Vec::with_capacity(features.len());
    for f in features {
        let Some(rule) = catalog.buffer_rule_for(code, &f.properties) else {
            out.push(Outcome::Skipped(f.id, SkipReason::NoRule));
            continue;
        };
        let metric = to_metric
            .geometry(&f.geometry)
            .map_err(transform_error(f.id))?;
        let zone = buffer(&metric, rule);
        if zone.0.is_empty() {
            out.push(Outcome::Skipped(f.id, SkipReason::EmptyBuffer));
            continue;
        }
        let zone = match zone.0.len() {
            1 => Geometry::Polygon(zone.0.into_iter().next().expect("one part")),
            _ => Geometry::MultiPolygon(zone),
        };
        let lonlat = from_metric.geometry(&zone).map_err(transform_error(f.id))?;
        let zone_type = catalog
            .zone_type(&rule.zone_type)
            .expect("checked by derive_zones");
        let mut properties = props([
            ("zone_type", json!(zone_type.code)),
            ("name", json!(zone_type.name)),
            ("width_m", json!(rule.width_m)),
            ("source_layer", json!(code.as_str())),
            ("source_feature", json!(f.id)),
            ("condition", json!(rule.condition_text())),
            ("basis", json!(zone_type.legal_basis)),
            ("department", json!(zone_type.department)),
        ]);
        if let Some(note) = &rule.note {
            properties.insert("note".to_owned(), Value::String(note.clone()));
        }
        out.push(Outcome::Zone(NewFeature::new(lonlat, properties)));
    }
    Ok(out)
}

/// The zone `rule` draws around `geometry`; both in metres of one metric CRS.
#[must_use]
pub fn buffer(geometry: &Geometry<f64>, rule: &BufferRule) -> MultiPolygon<f64> {
    let ends = match rule.ends {
        LineEnds::Flat => LineCap::Butt,
        LineEnds::Round => LineCap::Round(ARC_STEP_RAD),
    };
    match geometry {
        // A point has no direction to cut flat across: always a circle.
        Geometry::Point(_) | Geometry::MultiPoint(_) => geometry.buffer_with_style(
            BufferStyle::new(rule.width_m).line_cap(LineCap::Round(ARC_STEP_RAD)),
        ),
        _ => geometry.buffer_with_style(
            BufferStyle::new(rule.width_m)
                .line_cap(ends)
                .line_join(LineJoin::Round(ARC_STEP_RAD)),
        ),
    }
}

#[cfg(test)]
mod tests;
