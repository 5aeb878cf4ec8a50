//! What is at a point, per layer: the planners' click on the map.

use std::sync::Arc;

use geo_types::Coord;
use serde::Serialize;

use super::{LayerRef, Result};
use crate::index::Snapshot;
use crate::model::{Cadastral, Feature, FeatureId, LayerKind};

/// The features of one layer at the point.
#[derive(Debug, Serialize)]
pub struct LayerHits {
    /// The layer and the version answered from.
    pub layer: LayerRef,
    pub kind: LayerKind,
    /// The layer's human title (may be Cyrillic).
    pub title: String,
    /// The owning department's code.
    pub department: Option<String>,
    /// The features at the point, by id.
    pub features: Vec<FeatureHit>,
}

/// One feature at the point.
#[derive(Debug, Serialize)]
pub struct FeatureHit {
    pub id: FeatureId,
    /// Set for parcels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cadastral: Option<Cadastral>,
    /// The feature's attributes.
    #[serde(rename = "properties", serialize_with = "super::serialize_properties")]
    pub feature: Arc<Feature>,
}

/// Every public layer's features whose geometry contains or touches the point
/// (EPSG:4326 lon/lat degrees), in the layers' drawing order from the top
/// (points, then lines, then areas; zones above parcels). Layers with nothing
/// there are left out; private layers are not disclosed, as in tiles.
pub fn identify(snapshot: &Snapshot, at: Coord<f64>) -> Result<Vec<LayerHits>> {
    super::plot::check_lonlat(at)?;
    let mut layers: Vec<_> = snapshot
        .values()
        .filter(|l| l.layer().spec.public)
        .collect();
    layers.sort_by(|a, b| {
        (b.layer().spec.draw_rank(), a.code()).cmp(&(a.layer().spec.draw_rank(), b.code()))
    });
    Ok(layers
        .into_iter()
        .filter_map(|layer| {
            let mut features: Vec<FeatureHit> = layer
                .at_point(at.x, at.y)
                .map(|f| FeatureHit {
                    id: f.id,
                    cadastral: f.cadastral.clone(),
                    feature: f.clone(),
                })
                .collect();
            if features.is_empty() {
                return None;
            }
            features.sort_by_key(|f| f.id);
            let spec = &layer.layer().spec;
            Some(LayerHits {
                layer: LayerRef::of(layer),
                kind: spec.kind,
                title: spec.title.clone(),
                department: spec.department.clone(),
                features,
            })
        })
        .collect())
}
