//! The in-memory spatial index: every layer in an R-tree, answering every read
//! (tiles, queries, lookups) without a database round trip.
//!
//! Readers take a snapshot ([`Index::snapshot`], an `Arc` load: no lock) and keep
//! it for the whole request; writers build the new state of a layer aside and
//! publish it with one atomic pointer swap. So readers never wait for writers,
//! and a reader never sees half a write.
//!
//! The index is derived: the store is the truth, and the index is rebuilt from it
//! at every start. All coordinates are EPSG:4326, lon/lat degrees.

mod layer;

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

pub use layer::{FieldType, LayerIndex, MemoryEstimate};

use crate::model::{Cadastral, Feature, FeatureId, Layer, LayerCode};

/// All layers at one moment, by code.
pub type Snapshot = BTreeMap<LayerCode, Arc<LayerIndex>>;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("layer '{0}' is not in the index")]
    UnknownLayer(LayerCode),
    /// An append arrived for a version that does not follow the indexed one
    /// (another write was applied out of order); the caller reloads the layer.
    #[error("layer '{layer}': index holds version {indexed}, append is version {appended}")]
    VersionGap {
        layer: LayerCode,
        indexed: i64,
        appended: i64,
    },
}

#[derive(Default)]
pub struct Index {
    layers: ArcSwap<Snapshot>,
}

impl Index {
    pub fn new() -> Self {
        Self::default()
    }

    /// The current state of every layer; cheap, lock-free, consistent.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.layers.load_full()
    }

    pub fn layer(&self, code: &LayerCode) -> Option<Arc<LayerIndex>> {
        self.layers.load().get(code).cloned()
    }

    /// Publishes a layer with exactly these features (a start-up load, or a
    /// replace that the store has committed). A version older than the one
    /// indexed is ignored: a slower writer must not roll the layer back.
    pub fn replace_layer(&self, layer: Layer, features: Vec<Feature>) {
        self.publish(LayerIndex::build(layer, features));
    }

    /// Publishes a layer built aside (see [`Index::replace_layer`]).
    pub fn publish(&self, built: LayerIndex) {
        let built = Arc::new(built);
        self.layers.rcu(|current| {
            let mut next = Snapshot::clone(current);
            match next.get(built.code()) {
                Some(old) if old.layer().version > built.layer().version => {}
                _ => {
                    next.insert(built.code().clone(), built.clone());
                }
            }
            next
        });
    }

    /// Adds committed features to an indexed layer. The new state is built
    /// beside the old one (sharing its features), then swapped in.
    pub fn append(&self, layer: Layer, features: Vec<Feature>) -> Result<(), IndexError> {
        self.next_version(layer, |current, layer| {
            current.with_appended(layer, features)
        })
    }

    /// Applies a committed edit of one feature (see `LayerIndex::with_edit`):
    /// `layer` must be the version after the indexed one, as for appends.
    pub fn edit(
        &self,
        layer: Layer,
        id: FeatureId,
        put: Option<Feature>,
    ) -> Result<(), IndexError> {
        self.next_version(layer, |current, layer| current.with_edit(layer, id, put))
    }

    /// Swaps in the layer's next version, made from the indexed one by
    /// `make`; refused unless `layer` is exactly one version ahead (a write
    /// applied out of order: the caller reloads the layer from the store).
    fn next_version(
        &self,
        layer: Layer,
        make: impl FnOnce(&LayerIndex, Layer) -> LayerIndex,
    ) -> Result<(), IndexError> {
        let code = layer.code().clone();
        let current = self
            .layer(&code)
            .ok_or_else(|| IndexError::UnknownLayer(code.clone()))?;
        if layer.version != current.layer().version + 1 {
            return Err(IndexError::VersionGap {
                layer: code,
                indexed: current.layer().version,
                appended: layer.version,
            });
        }
        let next = Arc::new(make(&current, layer));
        self.layers.rcu(|snap| {
            let mut s = Snapshot::clone(snap);
            s.insert(code.clone(), next.clone());
            s
        });
        Ok(())
    }

    /// Changes a layer's metadata (title, public flag …) without touching its features.
    pub fn update_meta(&self, layer: Layer) {
        if let Some(current) = self.layer(layer.code()) {
            let next = Arc::new(current.with_meta(layer));
            self.layers.rcu(|snap| {
                let mut s = Snapshot::clone(snap);
                s.insert(next.code().clone(), next.clone());
                s
            });
        }
    }

    pub fn remove_layer(&self, code: &LayerCode) {
        self.layers.rcu(|snap| {
            let mut s = Snapshot::clone(snap);
            s.remove(code);
            s
        });
    }

    /// The parcel with this cadastral number, from whichever layer holds it.
    pub fn parcel(&self, cadastral: &Cadastral) -> Option<(Arc<LayerIndex>, Arc<Feature>)> {
        self.layers
            .load()
            .values()
            .find_map(|l| l.by_cadastral(cadastral).map(|f| (l.clone(), f)))
    }

    pub fn feature_count(&self) -> usize {
        self.layers.load().values().map(|l| l.len()).sum()
    }

    pub fn memory(&self) -> MemoryEstimate {
        self.layers
            .load()
            .values()
            .map(|l| l.memory())
            .fold(MemoryEstimate::default(), |a, b| a + b)
    }
}

/// Convenience for callers holding a snapshot.
pub fn find_feature(snapshot: &Snapshot, code: &LayerCode, id: FeatureId) -> Option<Arc<Feature>> {
    snapshot.get(code).and_then(|l| l.feature(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{GeometryType, LayerKind, LayerSpec};

    fn layer(version: i64) -> Layer {
        Layer {
            spec: LayerSpec {
                code: "zones".parse().unwrap(),
                title: "t".into(),
                description: String::new(),
                kind: LayerKind::Zones,
                department: None,
                geometry_type: GeometryType::Point,
                public: true,
            },
            version,
            updated_at: chrono::Utc::now(),
            feature_count: 1,
        }
    }

    fn point(id: FeatureId) -> Feature {
        Feature {
            id,
            geometry: geo_types::Point::new(1.0, 2.0).into(),
            cadastral: None,
            properties: Default::default(),
        }
    }

    #[test]
    fn an_older_replace_never_rolls_a_layer_back() {
        let index = Index::new();
        index.replace_layer(layer(3), vec![point(1), point(2)]);
        index.replace_layer(layer(2), vec![point(9)]);
        let l = index.layer(&"zones".parse().unwrap()).unwrap();
        assert_eq!((l.layer().version, l.len()), (3, 2));
    }

    #[test]
    fn an_append_out_of_order_is_refused_and_a_reader_keeps_its_snapshot() {
        let index = Index::new();
        index.replace_layer(layer(1), vec![point(1)]);
        let before = index.snapshot();
        assert!(matches!(
            index.append(layer(3), vec![point(5)]),
            Err(IndexError::VersionGap { .. })
        ));
        index.append(layer(2), vec![point(2)]).unwrap();
        let code: LayerCode = "zones".parse().unwrap();
        assert_eq!(
            before[&code].len(),
            1,
            "a snapshot taken before the write does not change"
        );
        assert_eq!(index.layer(&code).unwrap().len(), 2);
    }
}
