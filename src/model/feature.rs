use geo_types::Geometry;
use serde_json::{Map, Value};

use super::Cadastral;

/// A feature id: unique within its layer, assigned by the store, stable
/// across restarts (the index and every API answer use the store's id).
pub type FeatureId = i64;

/// A feature's attributes, as a JSON object (keys may be Cyrillic).
pub type Properties = Map<String, Value>;

/// A stored feature.
#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    pub id: FeatureId,
    /// EPSG:4326, lon/lat degrees.
    pub geometry: Geometry<f64>,
    /// Set on parcel layers only; unique across the whole store.
    pub cadastral: Option<Cadastral>,
    pub properties: Properties,
}

/// A feature about to be written; the store assigns its id.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFeature {
    /// EPSG:4326, lon/lat degrees.
    pub geometry: Geometry<f64>,
    pub cadastral: Option<Cadastral>,
    pub properties: Properties,
}

impl NewFeature {
    pub fn new(geometry: Geometry<f64>, properties: Properties) -> Self {
        Self {
            geometry,
            cadastral: None,
            properties,
        }
    }

    pub fn with_cadastral(mut self, cadastral: Cadastral) -> Self {
        self.cadastral = Some(cadastral);
        self
    }

    /// The stored feature this becomes once the store has given it `id`.
    pub fn into_feature(self, id: FeatureId) -> Feature {
        Feature {
            id,
            geometry: self.geometry,
            cadastral: self.cadastral,
            properties: self.properties,
        }
    }
}

/// Shorthand for building property maps in code and tests.
pub fn props<const N: usize>(pairs: [(&str, Value); N]) -> Properties {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}
