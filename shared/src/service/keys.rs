//! The API keys a function accepts, read from the table and kept in memory, so that a keyed
//! call costs no DynamoDB request on a warm function.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::domain::{ApiKey, ApiKeyId, ApiKeyRecord};

use super::{Core, ServiceError};

/// How soon an unknown key id may make the list be read again, in milliseconds: a new key
/// works within this time, and a flood of made-up keys costs at most one read per period.
pub const UNKNOWN_KEY_REFRESH_MS: i64 = 5_000;

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No `Authorization`: a browser or a plain form.
    Anonymous,
    /// A server with a valid API key.
    Keyed(ApiKeyId),
}

impl Caller {
    /// The key's id, for a keyed caller.
    pub fn key_id(&self) -> Option<&ApiKeyId> {
        match self {
            Self::Anonymous => None,
            Self::Keyed(id) => Some(id),
        }
    }
}

#[derive(Debug, Clone)]
struct Loaded {
    at: i64,
    keys: HashMap<ApiKeyId, ApiKeyRecord>,
}

/// The cached key list.
#[derive(Debug, Default)]
pub struct KeyRing {
    loaded: Mutex<Option<Arc<Loaded>>>,
}

impl KeyRing {
    /// An empty ring: the list is read on the first keyed call.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks a presented key: [`ServiceError::InvalidKey`] unless it is a known, unrevoked
    /// key. Reads the list when it is older than `API_KEY_CACHE_SECONDS`, or when the key's id
    /// is unknown and the list is older than [`UNKNOWN_KEY_REFRESH_MS`]. If a read fails, the
    /// list in memory (if any) still answers.
    pub async fn authenticate(&self, core: &Core, key: &ApiKey) -> Result<Caller, ServiceError> {
        let now = core.clock.now_ms();
        let max_age = i64::from(core.config.api_key_cache_seconds) * 1_000;
        let cached = self.snapshot();
        let fresh = |l: &Loaded| now - l.at < max_age;
        let known = |l: &Loaded| l.keys.contains_key(key.id());
        let reread = match &cached {
            None => true,
            Some(l) if !fresh(l) => true,
            Some(l) => !known(l) && now - l.at >= UNKNOWN_KEY_REFRESH_MS,
        };
        let list = if reread {
            match core.store.api_keys().await {
                Ok(records) => {
                    let loaded = Arc::new(Loaded {
                        at: now,
                        keys: records.into_iter().map(|r| (r.id.clone(), r)).collect(),
                    });
                    self.store(loaded.clone());
                    loaded
                }
                Err(e) => match cached {
                    Some(stale) => {
                        tracing::warn!(error = %e, "API keys not read again; using the list in memory");
                        stale
                    }
                    None => return Err(e.into()),
                },
            }
        } else {
            // Never empty here: nothing cached means `reread`.
            cached.unwrap_or_else(|| {
                Arc::new(Loaded {
                    at: now,
                    keys: HashMap::new(),
                })
            })
        };
        match list.keys.get(key.id()) {
            Some(record) if record.accepts(key) => Ok(Caller::Keyed(key.id().clone())),
            _ => {
                tracing::info!(key_id = %key.id(), "API key refused");
                Err(ServiceError::InvalidKey)
            }
        }
    }

    fn snapshot(&self) -> Option<Arc<Loaded>> {
        self.loaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn store(&self, loaded: Arc<Loaded>) {
        *self
            .loaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(loaded);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicI64, Ordering};

    use super::*;
    use crate::events::NoEvents;
    use crate::metrics::RecordingMetrics;
    use crate::store::KeyStore;
    use crate::store::memory::MemoryStore;
    use crate::time::testing::TestClock;

    fn core(store: Arc<MemoryStore>, clock: Arc<TestClock>) -> Core {
        Core {
            config: Arc::new(crate::config::testing::test_config(&[(
                "API_KEY_CACHE_SECONDS",
                "60",
            )])),
            store,
            clock,
            metrics: Arc::new(RecordingMetrics::default()),
            events: Arc::new(NoEvents),
        }
    }

    async fn add(store: &MemoryStore, name: &str) -> ApiKey {
        let key = ApiKey::generate().expect("os rng");
        store
            .add_api_key(&ApiKeyRecord::new(&key, name, 0))
            .await
            .expect("added");
        key
    }

    #[tokio::test]
    async fn keys_are_read_once_per_cache_period_and_revocation_shows_after_it() {
        let store = Arc::new(MemoryStore::new());
        let clock = Arc::new(TestClock(AtomicI64::new(1_000_000)));
        let core = core(store.clone(), clock.clone());
        let ring = KeyRing::new();
        let key = add(&store, "ivr").await;
        assert_eq!(
            ring.authenticate(&core, &key).await.expect("valid"),
            Caller::Keyed(key.id().clone())
        );
        store.revoke_api_key(key.id(), 1).await.expect("revoked");
        // The list in memory still answers, without a read: a failing store shows it.
        store.fail_next_call("no read expected");
        ring.authenticate(&core, &key).await.expect("cached");
        clock.0.fetch_add(60_000, Ordering::SeqCst);
        store.fail_next_call("a failing re-read keeps the list in memory");
        ring.authenticate(&core, &key)
            .await
            .expect("stale list answers");
        let refused = ring.authenticate(&core, &key).await;
        assert!(
            matches!(refused, Err(ServiceError::InvalidKey)),
            "{refused:?}"
        );
    }

    #[tokio::test]
    async fn an_unknown_key_rereads_the_list_at_most_every_five_seconds() {
        let store = Arc::new(MemoryStore::new());
        let clock = Arc::new(TestClock(AtomicI64::new(1_000_000)));
        let core = core(store.clone(), clock.clone());
        let ring = KeyRing::new();
        let first = add(&store, "first").await;
        ring.authenticate(&core, &first).await.expect("valid");
        let made_up = ApiKey::generate().expect("os rng");
        let refused = ring.authenticate(&core, &made_up).await;
        assert!(
            matches!(refused, Err(ServiceError::InvalidKey)),
            "{refused:?}"
        );
        let new = add(&store, "new").await;
        clock
            .0
            .fetch_add(UNKNOWN_KEY_REFRESH_MS - 1, Ordering::SeqCst);
        assert!(
            ring.authenticate(&core, &new).await.is_err(),
            "no re-read yet"
        );
        clock.0.fetch_add(1, Ordering::SeqCst);
        ring.authenticate(&core, &new)
            .await
            .expect("read again: a new key works");
    }

    #[tokio::test]
    async fn without_a_list_an_unreadable_store_is_unavailable_not_invalid() {
        let store = Arc::new(MemoryStore::new());
        let core = core(store.clone(), Arc::new(TestClock(AtomicI64::new(0))));
        let key = add(&store, "ivr").await;
        store.fail_next_call("throttled");
        let r = KeyRing::new().authenticate(&core, &key).await;
        assert!(matches!(r, Err(ServiceError::Unavailable(_))), "{r:?}");
    }
}
