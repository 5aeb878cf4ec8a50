use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use geo::{BoundingRect, Intersects};
use geo_types::{Coord, Geometry, Point, Rect};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};

use crate::model::{Cadastral, Feature, FeatureId, Layer, LayerCode};

/// An R-tree entry: a feature's bounding box (lon/lat degrees) and the feature.
type Entry = GeomWithData<Rectangle<[f64; 2]>, Arc<Feature>>;

/// One layer in memory: its metadata as of `layer.version`, an R-tree over
/// feature envelopes, and lookups by id and cadastral number.
pub struct LayerIndex {
    /// The layer's metadata at the version these features belong to.
    layer: Layer,
    tree: RTree<Entry>,
    /// Every feature, ordered by id: lookups by id (binary search) and pages
    /// of features in a stable order (OGC API – Features `offset`).
    by_id: Vec<Arc<Feature>>,
    /// Only parcel layers fill this; empty elsewhere.
    by_cadastral: HashMap<Cadastral, FeatureId>,
    /// Extent of all features, lon/lat degrees; `None` for an empty layer.
    extent: Option<Rect<f64>>,
    /// The attribute schema, worked out on first use (TileJSON, tile archives):
    /// a scan of every feature, too slow to repeat per request on a big layer.
    fields: OnceLock<BTreeMap<String, FieldType>>,
}

/// The type of an attribute as TileJSON's `vector_layers[].fields` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum FieldType {
    String,
    Number,
    Boolean,
}

/// Heap bytes held by the index, estimated from the structures' sizes (the
/// benchmark measures the real figure with a counting allocator).
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct MemoryEstimate {
    pub features: usize,
    pub bytes: usize,
}

impl std::ops::Add for MemoryEstimate {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Self {
            features: self.features + o.features,
            bytes: self.bytes + o.bytes,
        }
    }
}

fn envelope(g: &Geometry<f64>) -> Option<Rect<f64>> {
    g.bounding_rect()
}

fn entry(f: Arc<Feature>) -> Option<Entry> {
    let r = envelope(&f.geometry)?;
    Some(GeomWithData::new(
        Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]),
        f,
    ))
}

fn union(a: Option<Rect<f64>>, b: Option<Rect<f64>>) -> Option<Rect<f64>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(Rect::new(
            Coord {
                x: a.min().x.min(b.min().x),
                y: a.min().y.min(b.min().y),
            },
            Coord {
                x: a.max().x.max(b.max().x),
                y: a.max().y.max(b.max().y),
            },
        )),
        (a, None) => a,
        (None, b) => b,
    }
}

impl LayerIndex {
    /// Builds the index of a layer in one pass; `bulk_load` packs the tree
    /// (faster to build and to query than inserting one by one).
    pub fn build(layer: Layer, features: Vec<Feature>) -> Self {
        let mut by_id = Vec::with_capacity(features.len());
        let mut by_cadastral = HashMap::new();
        let mut entries = Vec::with_capacity(features.len());
        let mut extent = None;
        for f in features {
            let f = Arc::new(f);
            if let Some(c) = &f.cadastral {
                by_cadastral.insert(c.clone(), f.id);
            }
            extent = union(extent, envelope(&f.geometry));
            by_id.push(f.clone());
            // The store refuses empty geometries, so every feature has an envelope.
            entries.extend(entry(f));
        }
        // The store lists features by id; a caller that did not is sorted here.
        if !by_id.is_sorted_by_key(|f| f.id) {
            by_id.sort_by_key(|f| f.id);
        }
        Self {
            layer,
            tree: RTree::bulk_load(entries),
            by_id,
            by_cadastral,
            extent,
            fields: OnceLock::new(),
        }
    }

    /// A copy of this layer with more features (sharing the existing ones).
    pub(super) fn with_appended(&self, layer: Layer, features: Vec<Feature>) -> Self {
        let mut next = Self {
            layer,
            tree: self.tree.clone(),
            by_id: self.by_id.clone(),
            by_cadastral: self.by_cadastral.clone(),
            extent: self.extent,
            fields: OnceLock::new(),
        };
        for f in features {
            let f = Arc::new(f);
            if let Some(c) = &f.cadastral {
                next.by_cadastral.insert(c.clone(), f.id);
            }
            next.extent = union(next.extent, envelope(&f.geometry));
            next.by_id.push(f.clone());
            if let Some(e) = entry(f) {
                next.tree.insert(e);
            }
        }
        // Ids come from a sequence, so appended features sort last; a store
        // that reused ids would be sorted here.
        if !next.by_id.is_sorted_by_key(|f| f.id) {
            next.by_id.sort_by_key(|f| f.id);
        }
        next
    }

    /// A copy of this layer with feature `id` removed, and `put` (if any)
    /// added in its place: an edit of one feature (replace: both; delete:
    /// `put` none). Shares every other feature; the R-tree gets one removal
    /// and one insertion rather than a rebuild.
    pub(super) fn with_edit(&self, layer: Layer, id: FeatureId, put: Option<Feature>) -> Self {
        let mut next = Self {
            layer,
            tree: self.tree.clone(),
            by_id: self.by_id.clone(),
            by_cadastral: self.by_cadastral.clone(),
            extent: self.extent,
            fields: OnceLock::new(),
        };
        if let Ok(k) = next.by_id.binary_search_by_key(&id, |f| f.id) {
            let old = next.by_id.remove(k);
            if let Some(c) = &old.cadastral {
                next.by_cadastral.remove(c);
            }
            if let Some(e) = entry(old) {
                next.tree.remove(&e);
            }
        }
        if let Some(f) = put {
            let f = Arc::new(f);
            if let Some(c) = &f.cadastral {
                next.by_cadastral.insert(c.clone(), f.id);
            }
            let at = next.by_id.partition_point(|x| x.id < f.id);
            next.by_id.insert(at, f.clone());
            if let Some(e) = entry(f) {
                next.tree.insert(e);
            }
        }
        // A removed feature may have set the extent: take the tree's.
        next.extent = (next.tree.size() > 0).then(|| {
            let e = next.tree.root().envelope();
            Rect::new(
                Coord {
                    x: e.lower()[0],
                    y: e.lower()[1],
                },
                Coord {
                    x: e.upper()[0],
                    y: e.upper()[1],
                },
            )
        });
        next
    }

    pub(super) fn with_meta(&self, layer: Layer) -> Self {
        Self {
            layer: Layer {
                version: self.layer.version,
                feature_count: self.layer.feature_count,
                updated_at: self.layer.updated_at,
                ..layer
            },
            tree: self.tree.clone(),
            by_id: self.by_id.clone(),
            by_cadastral: self.by_cadastral.clone(),
            extent: self.extent,
            fields: self.fields.clone(),
        }
    }

    pub fn layer(&self) -> &Layer {
        &self.layer
    }

    pub fn code(&self) -> &LayerCode {
        &self.layer.spec.code
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Every attribute name of the layer with its type, as tiles carry them:
    /// numbers, strings, booleans; arrays and objects travel as JSON text, and an
    /// attribute with values of several types is a string. `cadastral` is
    /// listed when a feature has a cadastral number.
    pub fn fields(&self) -> &BTreeMap<String, FieldType> {
        self.fields.get_or_init(|| {
            let mut fields = BTreeMap::new();
            let mut merge = |name: &str, t: FieldType| {
                fields
                    .entry(name.to_owned())
                    .and_modify(|seen: &mut FieldType| {
                        if *seen != t {
                            *seen = FieldType::String;
                        }
                    })
                    .or_insert(t);
            };
            for f in &self.by_id {
                if f.cadastral.is_some() {
                    merge("cadastral", FieldType::String);
                }
                for (name, value) in &f.properties {
                    let t = match value {
                        serde_json::Value::Null => continue,
                        serde_json::Value::Bool(_) => FieldType::Boolean,
                        serde_json::Value::Number(_) => FieldType::Number,
                        _ => FieldType::String,
                    };
                    merge(name, t);
                }
            }
            fields
        })
    }

    /// Extent of the layer, lon/lat degrees.
    pub fn extent(&self) -> Option<Rect<f64>> {
        self.extent
    }

    pub fn feature(&self, id: FeatureId) -> Option<Arc<Feature>> {
        self.by_id
            .binary_search_by_key(&id, |f| f.id)
            .ok()
            .map(|k| self.by_id[k].clone())
    }

    /// Every feature, ordered by id.
    pub fn features(&self) -> &[Arc<Feature>] {
        &self.by_id
    }

    pub fn by_cadastral(&self, c: &Cadastral) -> Option<Arc<Feature>> {
        self.by_cadastral.get(c).and_then(|id| self.feature(*id))
    }

    /// Features whose envelope intersects `bbox` (lon/lat degrees). A coarse
    /// filter: callers that need exact answers test the geometry.
    pub fn in_envelope(&self, bbox: Rect<f64>) -> impl Iterator<Item = &Arc<Feature>> {
        let aabb = AABB::from_corners([bbox.min().x, bbox.min().y], [bbox.max().x, bbox.max().y]);
        self.tree
            .locate_in_envelope_intersecting(&aabb)
            .map(|e| &e.data)
    }

    /// Features whose geometry intersects `bbox` exactly (lon/lat degrees).
    pub fn intersecting(&self, bbox: Rect<f64>) -> impl Iterator<Item = &Arc<Feature>> {
        let poly = bbox.to_polygon();
        self.in_envelope(bbox)
            .filter(move |f| f.geometry.intersects(&poly))
    }

    /// Features whose geometry contains or touches the point (lon/lat degrees).
    pub fn at_point(&self, lon: f64, lat: f64) -> impl Iterator<Item = &Arc<Feature>> {
        let p = Point::new(lon, lat);
        self.tree
            .locate_all_at_point(&[lon, lat])
            .map(|e| &e.data)
            .filter(move |f| f.geometry.intersects(&p))
    }

    /// Heap bytes of this layer, estimated from structure sizes and vertex counts.
    pub fn memory(&self) -> MemoryEstimate {
        use geo::CoordsIter;
        use std::mem::size_of;
        let mut bytes = 0usize;
        for f in &self.by_id {
            // Arc header + the feature + its coordinates + its properties.
            bytes +=
                16 + size_of::<Feature>() + f.geometry.coords_count() * size_of::<Coord<f64>>();
            bytes += map_heap(&f.properties);
        }
        // R-tree leaves plus about one node per six entries; hash maps with their slack.
        bytes += self.tree.size() * size_of::<Entry>() * 7 / 6;
        bytes += self.by_id.capacity() * size_of::<Arc<Feature>>();
        bytes +=
            self.by_cadastral.capacity() * (size_of::<Cadastral>() + size_of::<FeatureId>() + 24);
        MemoryEstimate {
            features: self.len(),
            bytes,
        }
    }
}

/// Heap bytes of a JSON object: per entry a B-tree slot (key header and value),
/// with a third more for the nodes' spare slots, plus the key's and value's own heap.
fn map_heap(map: &serde_json::Map<String, serde_json::Value>) -> usize {
    use std::mem::size_of;
    map.iter()
        .map(|(k, v)| {
            (size_of::<String>() + size_of::<serde_json::Value>()) * 4 / 3 + k.len() + value_heap(v)
        })
        .sum()
}

fn value_heap(v: &serde_json::Value) -> usize {
    use serde_json::Value;
    match v {
        Value::String(s) => s.len(),
        Value::Array(a) => {
            a.len() * std::mem::size_of::<Value>() + a.iter().map(value_heap).sum::<usize>()
        }
        Value::Object(m) => map_heap(m),
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{GeometryType, LayerKind, LayerSpec};
    use geo_types::polygon;

    fn layer(version: i64) -> Layer {
        Layer {
            spec: LayerSpec {
                code: "parcels".parse().unwrap(),
                title: "t".into(),
                description: String::new(),
                kind: LayerKind::Parcels,
                department: None,
                geometry_type: GeometryType::Polygon,
                public: true,
            },
            version,
            updated_at: chrono::Utc::now(),
            feature_count: 0,
        }
    }

    /// A 1 × 1 degree square with its lower-left corner at (x, y).
    fn square(id: FeatureId, x: f64, y: f64) -> Feature {
        Feature {
            id,
            geometry: polygon![(x: x, y: y), (x: x + 1.0, y: y), (x: x + 1.0, y: y + 1.0), (x: x, y: y + 1.0)].into(),
            cadastral: Some(format!("16:50:000001:{id}").parse().unwrap()),
            properties: Default::default(),
        }
    }

    #[test]
    fn point_and_bbox_queries_are_exact() {
        let features: Vec<_> = (0..100)
            .map(|i| square(i, (i % 10) as f64 * 2.0, (i / 10) as f64 * 2.0))
            .collect();
        let idx = LayerIndex::build(layer(1), features);
        assert_eq!(idx.len(), 100);
        // Inside square 11 (x 2..3, y 2..3); the gap at x 1.5 holds nothing.
        let hits: Vec<_> = idx.at_point(2.5, 2.5).map(|f| f.id).collect();
        assert_eq!(hits, vec![11]);
        assert_eq!(idx.at_point(1.5, 2.5).count(), 0);
        // A box over x 0..4.5, y 0..0.5 touches squares 0, 1 and 2.
        let mut hits: Vec<_> = idx
            .intersecting(Rect::new(
                Coord { x: 0.0, y: 0.0 },
                Coord { x: 4.5, y: 0.5 },
            ))
            .map(|f| f.id)
            .collect();
        hits.sort();
        assert_eq!(hits, vec![0, 1, 2]);
        assert_eq!(
            idx.by_cadastral(&"16:50:000001:42".parse().unwrap())
                .unwrap()
                .id,
            42
        );
        let e = idx.extent().unwrap();
        assert_eq!(
            (e.min().x, e.min().y, e.max().x, e.max().y),
            (0.0, 0.0, 19.0, 19.0)
        );
    }

    #[test]
    fn append_shares_old_features_and_adds_new_ones() {
        let idx = LayerIndex::build(layer(1), vec![square(1, 0.0, 0.0)]);
        let next = idx.with_appended(layer(2), vec![square(2, 5.0, 5.0)]);
        assert_eq!(idx.len(), 1, "the old state is untouched");
        assert_eq!(next.len(), 2);
        assert!(Arc::ptr_eq(
            &idx.feature(1).unwrap(),
            &next.feature(1).unwrap()
        ));
        assert_eq!(next.at_point(5.5, 5.5).next().unwrap().id, 2);
    }
}
