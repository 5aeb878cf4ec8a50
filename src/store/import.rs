//! What both backends check on an import's batches as they arrive
//! ([`super::Store::import_features`]): the checks of every write
//! ([`super::check_features`]) with feature indexes counted from the start of
//! the import rather than of the batch, cadastral numbers repeated within the
//! import, and the geometry types seen, which a layer created as `GEOMETRY`
//! is narrowed to at commit.

use std::collections::{BTreeSet, HashSet};

use super::{check_features, narrowest_type, Result, StoreError};
use crate::model::{Cadastral, GeometryType, Layer, NewFeature};

/// Features per batch when a write that has all its features in memory
/// (`replace_features`, `append_features`) goes through the import path: big
/// enough to amortise a batch's overhead, small enough that encoding one batch
/// overlaps writing the previous one.
pub(crate) const BATCH: usize = 4096;

/// The checks of one import, fed its batches in order.
#[derive(Debug)]
pub(crate) struct ImportChecks {
    /// The layer written, as it was when the import started (its type decides
    /// which geometries are accepted).
    layer: Layer,
    /// Features checked so far: the import-wide index of the next batch's first one.
    seen: usize,
    /// Every cadastral number of the import so far.
    numbers: HashSet<Cadastral>,
    /// The OGC names of the geometry types seen (`POLYGON`, …).
    kinds: BTreeSet<&'static str>,
}

impl ImportChecks {
    pub(crate) fn new(layer: Layer) -> Self {
        Self {
            layer,
            seen: 0,
            numbers: HashSet::new(),
            kinds: BTreeSet::new(),
        }
    }

    /// Checks the next batch: `GeometryType` / `EmptyGeometry` with the index
    /// of the feature in the whole import, `DuplicateCadastral` for a number
    /// an earlier feature of the import has (numbers held elsewhere in the
    /// store are the backend's to find).
    pub(crate) fn check(&mut self, batch: &[NewFeature]) -> Result<()> {
        let offset = self.seen;
        check_features(&self.layer, batch).map_err(|e| match e {
            StoreError::GeometryType {
                layer,
                index,
                found,
                expected,
            } => StoreError::GeometryType {
                layer,
                index: index + offset,
                found,
                expected,
            },
            StoreError::EmptyGeometry { index } => StoreError::EmptyGeometry {
                index: index + offset,
            },
            other => other,
        })?;
        for f in batch {
            self.kinds.insert(super::geometry_name(&f.geometry));
            if let Some(c) = &f.cadastral {
                if !self.numbers.insert(c.clone()) {
                    return Err(StoreError::DuplicateCadastral(c.to_string()));
                }
            }
        }
        self.seen += batch.len();
        Ok(())
    }

    /// Features checked so far.
    pub(crate) fn count(&self) -> usize {
        self.seen
    }

    /// Whether any feature so far has a cadastral number: if none has, the
    /// store-wide uniqueness check has nothing to look for.
    pub(crate) fn has_numbers(&self) -> bool {
        !self.numbers.is_empty()
    }

    /// The narrowest type holding every geometry seen (`GEOMETRY` for none).
    pub(crate) fn narrowest(&self) -> GeometryType {
        narrowest_type(self.kinds.iter().copied())
    }
}

/// A write's features in [`BATCH`]es, as an import's stream, in input order.
pub(crate) fn in_batches(features: Vec<NewFeature>) -> super::FeatureBatches {
    use futures::StreamExt;
    let mut batches = Vec::with_capacity(features.len().div_ceil(BATCH));
    let mut rest = features.into_iter();
    loop {
        let batch: Vec<NewFeature> = rest.by_ref().take(BATCH).collect();
        if batch.is_empty() {
            break;
        }
        batches.push(Ok(batch));
    }
    futures::stream::iter(batches).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{props, LayerKind, LayerSpec};
    use geo_types::{point, polygon};

    fn layer(geometry_type: GeometryType) -> Layer {
        Layer {
            spec: LayerSpec {
                code: "t".parse().unwrap(),
                title: "t".into(),
                description: String::new(),
                kind: LayerKind::Other,
                department: None,
                geometry_type,
                public: true,
            },
            version: 0,
            updated_at: chrono::Utc::now(),
            feature_count: 0,
        }
    }

    fn square() -> NewFeature {
        NewFeature::new(
            polygon![(x: 0.0, y: 0.0), (x: 1.0, y: 0.0), (x: 1.0, y: 1.0)].into(),
            props([]),
        )
    }

    #[test]
    fn indexes_count_from_the_start_of_the_import() {
        let mut checks = ImportChecks::new(layer(GeometryType::Polygon));
        checks.check(&[square(), square()]).unwrap();
        let point = NewFeature::new(point!(x: 1.0, y: 2.0).into(), props([]));
        match checks.check(&[square(), point]) {
            Err(StoreError::GeometryType { index, found, .. }) => {
                assert_eq!((index, found), (3, "POINT"));
            }
            other => panic!("expected GeometryType, got {other:?}"),
        }
    }

    #[test]
    fn numbers_repeated_across_batches_are_named() {
        let mut checks = ImportChecks::new(layer(GeometryType::Geometry));
        let numbered = |n: &str| square().with_cadastral(n.parse().unwrap());
        checks
            .check(&[numbered("16:50:000001:1"), square()])
            .unwrap();
        assert!(checks.has_numbers());
        match checks.check(&[numbered("16:50:000001:2"), numbered("16:50:000001:1")]) {
            Err(StoreError::DuplicateCadastral(n)) => assert_eq!(n, "16:50:000001:1"),
            other => panic!("expected DuplicateCadastral, got {other:?}"),
        }
    }

    #[test]
    fn narrowest_type_of_what_was_seen() {
        let mut checks = ImportChecks::new(layer(GeometryType::Geometry));
        assert_eq!(checks.narrowest(), GeometryType::Geometry);
        checks.check(&[square()]).unwrap();
        assert_eq!(checks.narrowest(), GeometryType::Polygon);
        let multi = NewFeature::new(
            geo_types::MultiPolygon(vec![
                polygon![(x: 0.0, y: 0.0), (x: 1.0, y: 0.0), (x: 1.0, y: 1.0)],
            ])
            .into(),
            props([]),
        );
        checks.check(&[multi]).unwrap();
        assert_eq!(checks.narrowest(), GeometryType::MultiPolygon);
        assert_eq!(checks.count(), 2);
    }

    #[test]
    fn batches_keep_order_and_size() {
        use futures::StreamExt;
        let features: Vec<NewFeature> = (0..BATCH * 2 + 3).map(|_| square()).collect();
        let batches: Vec<_> = futures::executor::block_on(in_batches(features).collect());
        let sizes: Vec<usize> = batches.iter().map(|b| b.as_ref().unwrap().len()).collect();
        assert_eq!(sizes, [BATCH, BATCH, 3]);
        assert!(futures::executor::block_on(in_batches(Vec::new()).collect::<Vec<_>>()).is_empty());
    }
}
