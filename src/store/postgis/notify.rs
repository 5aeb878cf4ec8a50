//! Change notifications (`migrations/postgis/0004_layer_changes.sql`): a task
//! that `LISTEN`s on [`CHANNEL`] over a connection of its own and turns each
//! notification into a [`StoreEvent`].
//!
//! PostgreSQL keeps no notification for a listener that is not connected, so
//! every connection, the first one and each one made again after the database
//! went away, is followed by [`StoreEvent::Resync`]: the reader compares every
//! layer with the store. The `LISTEN` is in place before the `Resync` is sent,
//! so whatever commits after the reader's compare is told.
//!
//! On a lost connection the listener is dropped whole and made anew rather
//! than left to `PgListener`'s own reconnection, which keeps a connection
//! that failed with an error it does not expect; the pool tests a connection
//! before handing it out, so a dead one is replaced.

use std::time::Duration;

use serde::Deserialize;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::PgPool;
use tokio::sync::mpsc;
use tracing::debug;

use crate::model::LayerCode;
use crate::store::{StoreEvent, StoreWatch};

/// The channel the trigger of `layers` notifies.
pub(super) const CHANNEL: &str = "imgis_layers";

/// Events the reader has not taken yet. Beyond this the watcher waits, and
/// the connection buffers what PostgreSQL sends meanwhile.
const QUEUE: usize = 1024;

/// How long one attempt at connecting waits for the database, and the pause
/// between attempts while it is down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// A notification's payload, as the trigger writes it.
#[derive(Deserialize)]
struct Payload {
    code: LayerCode,
    /// `null` when the layer no longer exists.
    version: Option<i64>,
}

/// Starts a watcher over its own small pool; it stops when the receiver is dropped.
pub(super) fn watch(options: &PgConnectOptions) -> StoreWatch {
    let pool = PgPoolOptions::new()
        // One listening; a second while a dropped listener's connection is
        // still being handed back.
        .max_connections(2)
        .acquire_timeout(CONNECT_TIMEOUT)
        .test_before_acquire(true)
        // A listening connection is held for good, never reaped as idle.
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_lazy_with(options.clone());
    let (tx, rx) = mpsc::channel(QUEUE);
    tokio::spawn(async move {
        tokio::select! {
            () = follow(&pool, &tx) => {}
            () = tx.closed() => {}
        }
        pool.close().await;
    });
    rx
}

/// Listens, sends the events, and connects again after every loss, until the
/// receiver is gone.
async fn follow(pool: &PgPool, tx: &mpsc::Sender<StoreEvent>) {
    loop {
        let mut listener = match listen(pool).await {
            Ok(l) => l,
            Err(e) => {
                debug!(error = %e, "cannot listen for store changes yet; retrying");
                tokio::time::sleep(RETRY_PAUSE).await;
                continue;
            }
        };
        debug!(channel = CHANNEL, "listening for store changes");
        if tx.send(StoreEvent::Resync).await.is_err() {
            return;
        }
        let reason = loop {
            let event = match listener.try_recv().await {
                Ok(Some(n)) => event_of(n.payload()),
                // Closed by the server (a shutdown, a restart, a terminated backend).
                Ok(None) => break "the database closed the connection".to_owned(),
                Err(e) => break e.to_string(),
            };
            if tx.send(event).await.is_err() {
                return;
            }
        };
        drop(listener);
        debug!(%reason, "lost the connection listening for store changes");
        if tx.send(StoreEvent::Lost(reason)).await.is_err() {
            return;
        }
    }
}

/// A listener on [`CHANNEL`]; the `LISTEN` is a round trip, so it proves the
/// connection alive.
async fn listen(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    // A lost connection ends `try_recv` at once; `follow` makes a new listener.
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// The event a payload tells; one that cannot be read (written by a newer
/// imgis?) asks for a full compare, which cannot miss what it was about.
fn event_of(payload: &str) -> StoreEvent {
    match serde_json::from_str::<Payload>(payload) {
        Ok(Payload { code, version }) => StoreEvent::LayerChanged { code, version },
        Err(e) => {
            debug!(%payload, error = %e, "unreadable change notification; comparing every layer");
            StoreEvent::Resync
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_of_the_trigger_become_events() {
        // As json_build_object writes them.
        assert_eq!(
            event_of(r#"{"code" : "parcels", "version" : 7}"#),
            StoreEvent::LayerChanged {
                code: "parcels".parse().unwrap(),
                version: Some(7)
            }
        );
        assert_eq!(
            event_of(r#"{"code" : "roads", "version" : null}"#),
            StoreEvent::LayerChanged {
                code: "roads".parse().unwrap(),
                version: None
            }
        );
        assert_eq!(event_of("{}"), StoreEvent::Resync);
        assert_eq!(
            event_of(r#"{"code" : "Not A Code", "version" : 1}"#),
            StoreEvent::Resync
        );
    }
}
