//! Layer imports (issue 5): the file is read and checked on blocking threads
//! while the store writes its batches in one transaction; the index and the
//! tile cache take the new version only after the commit.
//!
//! [`import_into_store`] is the whole import against a store (what `imgis
//! import` runs); [`App::import`] adds the running server's part: the layer's
//! write lock, cadastral numbers checked against the index, the index, tiles
//! and derived zones.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use futures::StreamExt;
use tracing::info;

use super::{App, AppError};
use crate::import::pipeline::{self, Progress, Target};
use crate::import::{ImportOptions, Mode, Outcome, Report};
use crate::model::{Cadastral, GeometryType, Layer, LayerKind, LayerSpec};
use crate::store::{DynStore, ImportWrite, StoreError, WriteOutcome};
use crate::zones;

/// Batches waiting for the store: the reader runs at most this far ahead.
const BATCHES_IN_FLIGHT: usize = 4;

/// A progress callback, called from the import's threads.
pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// Imports `path` into `store`: the report, and what was written (`None` for
/// a dry run or a rejected import, which write nothing). `bounds` are the
/// city's (lon/lat degrees); `max_features` is the most the file may hold
/// (config `max_import_features`); `taken` are the cadastral numbers other
/// layers use, when the caller knows them (the store refuses duplicates at
/// commit anyway, but then cannot name the feature).
///
/// Dropped before it returns (a request timeout, a client gone), the import
/// rolls back: nothing commits behind the caller's back.
pub async fn import_into_store(
    store: &DynStore,
    path: PathBuf,
    options: ImportOptions,
    bounds: geo_types::Rect<f64>,
    max_features: u64,
    taken: HashMap<Cadastral, String>,
    progress: ProgressFn,
) -> Result<(Report, Option<WriteOutcome>), AppError> {
    if options.layer.as_str() == zones::LAYER_CODE {
        return Err(AppError::DerivedLayer(options.layer.clone()));
    }
    let existing = store.layer(&options.layer).await?;
    let create = match &existing {
        Some(layer) => {
            check_target(layer, &options)?;
            None
        }
        None => Some(new_layer_spec(&options)),
    };
    let kind = existing
        .as_ref()
        .map(|l| l.spec.kind)
        .or(options.kind)
        .unwrap_or(LayerKind::Other);
    let target = Target {
        expected: existing
            .as_ref()
            .map_or(GeometryType::Geometry, |l| l.spec.geometry_type),
        parcels: kind == LayerKind::Parcels,
        bounds,
        taken,
        max_features,
    };

    if options.dry_run {
        let report = tokio::task::spawn_blocking(move || {
            pipeline::run(&path, &options, &target, None, &*progress)
        })
        .await??;
        return Ok((with_target(report, create.is_some()), None));
    }

    let (tx, rx) = tokio::sync::mpsc::channel(BATCHES_IN_FLIGHT);
    let tx = AbortUnlessReleased(Some(tx));
    let write = ImportWrite {
        code: options.layer.clone(),
        create: create.clone(),
        replace: options.mode == Mode::Replace,
    };
    let batches = tokio_stream_of(rx);
    let store_task = {
        let store = store.clone();
        tokio::spawn(async move { store.import_features(&write, batches).await })
    };
    // The app keeps a sender of its own: the store commits only when this one
    // is dropped too, after the report has been looked at.
    let pipeline_tx = tx.sender().clone();
    let had_features = existing.as_ref().is_some_and(|l| l.feature_count > 0);
    let replace = options.mode == Mode::Replace;
    let read = tokio::task::spawn_blocking(move || {
        pipeline::run(&path, &options, &target, Some(pipeline_tx), &*progress)
    })
    .await?;
    let verdict = match &read {
        Ok(report) if report.outcome == Outcome::Rejected => None,
        Ok(report) if report.imported == 0 && replace && had_features => Some(
            "the file has no feature to import; replacing would empty the layer \
             (delete the layer instead if that is meant)",
        ),
        Ok(_) | Err(_) => None,
    };
    let tx = tx.release();
    if let Some(reason) = verdict {
        let _ = tx.send(Err(StoreError::ImportAborted(reason.into()))).await;
        drop(tx);
        let _ = store_task.await?;
        return Err(AppError::ImportTarget(reason.into()));
    }
    drop(tx);
    let written = store_task.await?;
    let created = create.is_some();
    match (read, written) {
        // The store's own refusal (a duplicate number, a lost connection)
        // says more than "the store stopped reading".
        (Err(pipeline::ImportError::Stopped(_)), Err(e)) => Err(e.into()),
        (Err(e), _) => Err(e.into()),
        (Ok(report), _) if report.outcome == Outcome::Rejected => {
            Ok((with_target(report, created), None))
        }
        (Ok(_), Err(e)) => Err(e.into()),
        (Ok(report), Ok(outcome)) => {
            let mut report = with_target(report, created);
            report.layer_version = Some(outcome.layer.version);
            report.layer_features = Some(outcome.layer.feature_count);
            Ok((report, Some(outcome)))
        }
    }
}

type BatchSender = tokio::sync::mpsc::Sender<Result<Vec<crate::model::NewFeature>, StoreError>>;

/// The app's own sender of an import's batches. The store commits when every
/// sender is gone; were this one simply dropped with the import's future (a
/// timeout, a client gone), the store would commit what the pipeline goes on
/// sending, unseen by anyone. Dropped unreleased, it sends the store an
/// error instead, so the store rolls back.
struct AbortUnlessReleased(Option<BatchSender>);

impl AbortUnlessReleased {
    fn sender(&self) -> &BatchSender {
        self.0.as_ref().expect("present until released")
    }

    /// The sender, for the caller to decide with.
    fn release(mut self) -> BatchSender {
        self.0.take().expect("present until released")
    }
}

impl Drop for AbortUnlessReleased {
    fn drop(&mut self) {
        let Some(tx) = self.0.take() else { return };
        // Drop cannot wait; the error goes after the batches already queued.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = tx
                    .send(Err(StoreError::ImportAborted(
                        "the import was abandoned before it finished".into(),
                    )))
                    .await;
            });
        }
    }
}

fn with_target(mut report: Report, created: bool) -> Report {
    report.created = created;
    report
}

/// The batches a pipeline sends, as the stream the store reads.
fn tokio_stream_of(
    rx: tokio::sync::mpsc::Receiver<Result<Vec<crate::model::NewFeature>, StoreError>>,
) -> crate::store::FeatureBatches {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) }).boxed()
}

/// An existing layer must be of the kind and department the import names.
fn check_target(layer: &Layer, options: &ImportOptions) -> Result<(), AppError> {
    if let Some(kind) = options.kind {
        if kind != layer.spec.kind {
            return Err(AppError::ImportTarget(format!(
                "layer '{}' is a {} layer, not {kind}",
                layer.spec.code, layer.spec.kind
            )));
        }
    }
    if let (Some(asked), Some(owner)) = (&options.department, &layer.spec.department) {
        if asked != owner {
            return Err(AppError::ImportTarget(format!(
                "layer '{}' belongs to department {owner}, not {asked}",
                layer.spec.code
            )));
        }
    }
    Ok(())
}

/// The layer an import creates: named after its code until someone titles it.
fn new_layer_spec(options: &ImportOptions) -> LayerSpec {
    LayerSpec {
        code: options.layer.clone(),
        title: options.layer.to_string(),
        description: String::new(),
        kind: options.kind.unwrap_or(LayerKind::Other),
        department: options.department.clone(),
        geometry_type: GeometryType::Geometry,
        public: !options.internal,
    }
}

impl App {
    /// Imports a file into a layer of the running server: under the layer's
    /// write lock, store first, then the index and tiles; a utility layer's
    /// import remakes the derived protection zones.
    pub async fn import(
        &self,
        path: PathBuf,
        options: ImportOptions,
        progress: ProgressFn,
    ) -> Result<Report, AppError> {
        let code = options.layer.clone();
        // Counted as failed unless it gets as far as its report (also when
        // dropped midway: the client gone, a request timeout).
        let counted = self.metrics().import_started();
        let report = {
            let _guard = self.lock_for_write(&code).await?;
            let taken = self.cadastral_numbers_besides(&options);
            let append = options.mode == Mode::Append;
            let (report, written) = import_into_store(
                &self.store,
                path,
                options,
                self.config.city_bbox,
                self.config.limits.max_import_features,
                taken,
                progress,
            )
            .await
            .map_err(|e| self.noted(e))?;
            counted.finished(report.outcome);
            match written {
                // An append's outcome holds the new features only: the index
                // adds them to what it has (or reloads, when out of step).
                Some(outcome) if append && !report.created => {
                    let applied = self.index.append(outcome.layer, outcome.features);
                    self.indexed(&code, applied).await?;
                }
                Some(outcome) => self.publish_layer(outcome.layer, outcome.features).await?,
                None => {}
            }
            report
        };
        if report.outcome == Outcome::Imported {
            self.source_changed(&code).await?;
        }
        info!(
            layer = %code,
            file = %report.file,
            read = report.read,
            imported = report.imported,
            skipped = report.skipped,
            repaired = report.repaired,
            rejected = report.rejected,
            seconds = report.seconds,
            "import: {}",
            report.summary()
        );
        Ok(report)
    }

    /// The cadastral numbers the index knows outside what this import
    /// replaces: every other layer's, and the layer's own when appending.
    fn cadastral_numbers_besides(&self, options: &ImportOptions) -> HashMap<Cadastral, String> {
        let mut taken = HashMap::new();
        for (code, layer) in self.index.snapshot().iter() {
            if code == &options.layer && options.mode == Mode::Replace {
                continue;
            }
            for f in layer.features() {
                if let Some(c) = &f.cadastral {
                    taken.insert(c.clone(), code.to_string());
                }
            }
        }
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An import abandoned midway tells the store to roll back, after the
    /// batches already sent; a released sender says nothing of the kind.
    #[tokio::test]
    async fn an_abandoned_import_sends_the_store_an_error() {
        let (tx, mut rx) = tokio::sync::mpsc::channel(BATCHES_IN_FLIGHT);
        let guard = AbortUnlessReleased(Some(tx));
        guard.sender().send(Ok(Vec::new())).await.unwrap();
        drop(guard);
        assert!(matches!(rx.recv().await, Some(Ok(batch)) if batch.is_empty()));
        assert!(matches!(
            rx.recv().await,
            Some(Err(StoreError::ImportAborted(_)))
        ));
        assert!(rx.recv().await.is_none(), "then the stream ends");

        let (tx, mut rx) = tokio::sync::mpsc::channel(BATCHES_IN_FLIGHT);
        drop(AbortUnlessReleased(Some(tx)).release());
        assert!(rx.recv().await.is_none(), "a released sender just ends");
    }
}
