//! Edits of single features (OGC API – Features Part 4): store first, in one
//! transaction, then the index and the tile cache, under the layer's write
//! lock, as the bulk writes do; a utility layer's edit remakes the derived
//! protection zones.

use super::{App, AppError};
use crate::model::{Feature, FeatureId, Layer, LayerCode, NewFeature};
use crate::store::{StoreError, WriteOutcome};
use crate::zones;

impl App {
    /// Derived layers are made by imgis, never edited by hand: an edit would
    /// be lost at the next derivation.
    fn check_editable(&self, code: &LayerCode) -> Result<(), AppError> {
        if code.as_str() == zones::LAYER_CODE {
            return Err(AppError::DerivedLayer(code.clone()));
        }
        Ok(())
    }

    /// Adds one feature; returns the layer's new state and the feature with its id.
    pub async fn create_feature(
        &self,
        code: &LayerCode,
        feature: NewFeature,
    ) -> Result<(Layer, Feature), AppError> {
        self.check_editable(code)?;
        let (layer, ids) = self.append_with_ids(code, vec![feature]).await?;
        let id = ids[0];
        let created = self
            .index
            .layer(code)
            .and_then(|l| l.feature(id))
            .ok_or_else(|| {
                // Deleted by another request in the meantime.
                AppError::Store(StoreError::UnknownFeature {
                    layer: code.clone(),
                    id,
                })
            })?;
        Ok((layer, Feature::clone(&created)))
    }

    /// Replaces feature `id` (geometry, cadastral number, properties).
    pub async fn replace_feature(
        &self,
        code: &LayerCode,
        id: FeatureId,
        feature: NewFeature,
    ) -> Result<(Layer, Feature), AppError> {
        let outcome = self.edit_one(code, id, Some(feature)).await?;
        let stored = outcome
            .features
            .into_iter()
            .next()
            .expect("a replace returns the feature it stored");
        Ok((outcome.layer, stored))
    }

    /// Deletes feature `id`.
    pub async fn delete_feature(&self, code: &LayerCode, id: FeatureId) -> Result<Layer, AppError> {
        Ok(self.edit_one(code, id, None).await?.layer)
    }

    /// Replaces (`put`) or deletes feature `id`: store, index, tiles under the
    /// layer's lock; then the derived zones, when the layer is a source.
    async fn edit_one(
        &self,
        code: &LayerCode,
        id: FeatureId,
        put: Option<NewFeature>,
    ) -> Result<WriteOutcome, AppError> {
        self.check_editable(code)?;
        let outcome = {
            let _guard = self.lock_for_write(code).await?;
            let outcome = match put {
                Some(feature) => self.store.replace_feature(code, id, feature).await,
                None => self.store.delete_feature(code, id).await,
            }
            .map_err(|e| self.noted(e))?;
            let applied =
                self.index
                    .edit(outcome.layer.clone(), id, outcome.features.first().cloned());
            self.indexed(code, applied).await?;
            outcome
        };
        self.source_changed(code).await?;
        Ok(outcome)
    }
}
