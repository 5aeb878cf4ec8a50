//! Who a presented token is: checked against the store, remembered for a few
//! seconds so a busy map client costs one lookup per [`TOKEN_TTL`], and kept
//! usable while the store is down (reads go on from the index).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tracing::warn;

use super::{App, AppError};
use crate::auth::{hash_token, looks_like_token, AuthError, Principal, TokenInfo};
use crate::store::StoreError;

/// How long a token checked against the store is trusted without asking again:
/// a revoked token stops working on every instance within this time.
pub const TOKEN_TTL: Duration = Duration::from_secs(5);

/// How long a request with a token seen before waits for the store to
/// confirm it again before trusting it as last seen.
const STALE_LOOKUP_WAIT: Duration = Duration::from_millis(500);

/// Tokens recently found in the store, by hash.
#[derive(Default)]
pub(super) struct TokenCache {
    entries: std::sync::Mutex<HashMap<String, (TokenInfo, Instant)>>,
}

impl TokenCache {
    fn get(&self, hash: &str) -> Option<(TokenInfo, Instant)> {
        self.entries
            .lock()
            .expect("token cache lock is never held across a panic")
            .get(hash)
            .cloned()
    }

    fn put(&self, hash: String, info: TokenInfo) {
        let mut entries = self
            .entries
            .lock()
            .expect("token cache lock is never held across a panic");
        // Bounded by the number of tokens the city made; drop long-unused ones
        // so the table cannot grow without end.
        if entries.len() > 10_000 {
            entries.retain(|_, (_, at)| at.elapsed() < TOKEN_TTL * 12);
        }
        entries.insert(hash, (info, Instant::now()));
    }

    fn forget(&self, hash: &str) {
        self.entries
            .lock()
            .expect("token cache lock is never held across a panic")
            .remove(hash);
    }
}

impl App {
    /// The caller a bearer token stands for. An unknown, malformed or revoked
    /// token is refused ([`AuthError::InvalidToken`]); a store that cannot be
    /// asked is an error, unless the token was seen valid before, which then
    /// keeps working until the store answers again.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, AppError> {
        if !looks_like_token(token) {
            return Err(AuthError::InvalidToken.into());
        }
        let hash = hash_token(token);
        let cached = self.tokens.get(&hash);
        if let Some((info, at)) = &cached {
            if at.elapsed() < TOKEN_TTL {
                return valid(info);
            }
        }
        // A token seen before need not wait out the pool's acquire timeout
        // when the store is down: after a short wait it is trusted as last seen.
        let lookup = self.store.token_by_hash(&hash);
        let looked_up = match &cached {
            Some(_) => tokio::time::timeout(STALE_LOOKUP_WAIT, lookup)
                .await
                .unwrap_or_else(|_| {
                    Err(StoreError::Connect {
                        target: "the store".into(),
                        reason: "no answer to a token lookup".into(),
                    })
                }),
            None => lookup.await,
        };
        match looked_up {
            Ok(Some(info)) => {
                let principal = valid(&info);
                self.tokens.put(hash, info);
                principal
            }
            Ok(None) => {
                self.tokens.forget(&hash);
                Err(AuthError::InvalidToken.into())
            }
            Err(e) if e.is_unavailable() => match cached {
                Some((info, _)) => {
                    warn!(
                        token = info.id,
                        "store unreachable; trusting the token as last seen"
                    );
                    valid(&info)
                }
                None => Err(e.into()),
            },
            Err(e) => Err(e.into()),
        }
    }
}

fn valid(info: &TokenInfo) -> Result<Principal, AppError> {
    if info.revoked_at.is_some() {
        return Err(AuthError::InvalidToken.into());
    }
    Ok(info.principal())
}
