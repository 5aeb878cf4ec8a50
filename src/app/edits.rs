//! Edits of single features (OGC API – Features Part 4): store first, in one
//! transaction, then the index and the tile cache, under the layer's write
//! lock, as the bulk writes do; a utility layer's edit remakes the derived
//! protection zones.

use tracing::warn;

use super::{App, AppError};
use crate::index::IndexError;
use crate::model::{Feature, FeatureId, Layer, LayerCode, NewFeature};
use crate::store::WriteOutcome;
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
        let outcome = {
            let lock = self.write_lock(code);
            let _guard = lock.lock().await;
            let outcome = self.store.append_features(code, vec![feature]).await?;
            match self
                .index
                .append(outcome.layer.clone(), outcome.features.clone())
            {
                Ok(()) => self.layer_changed(code),
                Err(e @ (IndexError::VersionGap { .. } | IndexError::UnknownLayer(_))) => {
                    warn!(error = %e, "index out of step with the store; reloading the layer");
                    self.reload_layer(code).await?;
                }
            }
            outcome
        };
        self.source_changed(code).await?;
        let created = outcome
            .features
            .into_iter()
            .next()
            .expect("an append of one feature returns it");
        Ok((outcome.layer, created))
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
            let lock = self.write_lock(code);
            let _guard = lock.lock().await;
            let outcome = match put {
                Some(feature) => self.store.replace_feature(code, id, feature).await?,
                None => self.store.delete_feature(code, id).await?,
            };
            self.apply_edit(code, id, &outcome).await?;
            outcome
        };
        self.source_changed(code).await?;
        Ok(outcome)
    }

    /// The index takes a committed edit; out of step with the store, it
    /// reloads the layer.
    async fn apply_edit(
        &self,
        code: &LayerCode,
        id: FeatureId,
        outcome: &WriteOutcome,
    ) -> Result<(), AppError> {
        match self
            .index
            .edit(outcome.layer.clone(), id, outcome.features.first().cloned())
        {
            Ok(()) => self.layer_changed(code),
            Err(e @ (IndexError::VersionGap { .. } | IndexError::UnknownLayer(_))) => {
                warn!(error = %e, "index out of step with the store; reloading the layer");
                self.reload_layer(code).await?;
            }
        }
        Ok(())
    }
}
