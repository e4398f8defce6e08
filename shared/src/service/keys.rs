//! The API keys a function accepts, read from the table and kept in memory, so that a keyed
//! call costs no DynamoDB request on a warm function.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::domain::{ApiKey, ApiKeyId, ApiKeyRecord, Scope, Scopes};

use super::{Core, ServiceError};

/// How soon an unknown key id may make the list be read again, in milliseconds: a new key
/// works within this time, and a flood of made-up keys costs at most one read per period.
pub const UNKNOWN_KEY_REFRESH_MS: i64 = 5_000;

/// What a valid key lets its caller do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The key's id.
    pub id: ApiKeyId,
    /// Its scopes.
    pub scopes: Scopes,
    /// Its own send limit per `SEND_WINDOW_SECONDS`, if it has one.
    pub max_sends: Option<u32>,
}

impl Grant {
    /// Every scope and no send limit of its own: a key made without `--scopes`.
    pub fn full(id: ApiKeyId) -> Self {
        Self {
            id,
            scopes: Scopes::ALL,
            max_sends: None,
        }
    }

    fn of(record: &ApiKeyRecord) -> Self {
        Self {
            id: record.id.clone(),
            scopes: record.scopes,
            max_sends: record.max_sends,
        }
    }
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No `Authorization`: a browser or a plain form.
    Anonymous,
    /// A server with a valid API key.
    Keyed(Grant),
}

impl Caller {
    /// The key's id, for a keyed caller.
    pub fn key_id(&self) -> Option<&ApiKeyId> {
        match self {
            Self::Anonymous => None,
            Self::Keyed(grant) => Some(&grant.id),
        }
    }

    /// Refuses a keyed caller whose key lacks `scope` ([`ServiceError::ScopeRequired`]); an
    /// anonymous caller passes (what it may do is the route's own rule).
    pub fn require_scope(&self, scope: Scope) -> Result<(), ServiceError> {
        match self {
            Self::Keyed(grant) if !grant.scopes.contains(scope) => {
                tracing::info!(key_id = %grant.id, scope = scope.as_str(), "API key lacks the scope");
                Err(ServiceError::ScopeRequired(scope))
            }
            _ => Ok(()),
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

    /// Checks a presented key for a call that needs `scope`: [`ServiceError::InvalidKey`]
    /// unless it is a known, unrevoked key, [`ServiceError::ScopeRequired`] unless it has
    /// the scope. Reads the list when it is older than `API_KEY_CACHE_SECONDS`, or when the key's id
    /// is unknown and the list is older than [`UNKNOWN_KEY_REFRESH_MS`]. If a read fails, the
    /// list in memory (if any) still answers.
    pub async fn authenticate(
        &self,
        core: &Core,
        key: &ApiKey,
        scope: Scope,
    ) -> Result<Caller, ServiceError> {
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
            Some(record) if record.accepts(key) => {
                let caller = Caller::Keyed(Grant::of(record));
                caller.require_scope(scope)?;
                Ok(caller)
            }
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
            ring.authenticate(&core, &key, Scope::Send)
                .await
                .expect("valid"),
            Caller::Keyed(Grant::full(key.id().clone()))
        );
        store.revoke_api_key(key.id(), 1).await.expect("revoked");
        // The list in memory still answers, without a read: a failing store shows it.
        store.fail_next_call("no read expected");
        ring.authenticate(&core, &key, Scope::Send)
            .await
            .expect("cached");
        clock.0.fetch_add(60_000, Ordering::SeqCst);
        store.fail_next_call("a failing re-read keeps the list in memory");
        ring.authenticate(&core, &key, Scope::Send)
            .await
            .expect("stale list answers");
        let refused = ring.authenticate(&core, &key, Scope::Send).await;
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
        ring.authenticate(&core, &first, Scope::Send)
            .await
            .expect("valid");
        let made_up = ApiKey::generate().expect("os rng");
        let refused = ring.authenticate(&core, &made_up, Scope::Send).await;
        assert!(
            matches!(refused, Err(ServiceError::InvalidKey)),
            "{refused:?}"
        );
        let new = add(&store, "new").await;
        clock
            .0
            .fetch_add(UNKNOWN_KEY_REFRESH_MS - 1, Ordering::SeqCst);
        assert!(
            ring.authenticate(&core, &new, Scope::Send).await.is_err(),
            "no re-read yet"
        );
        clock.0.fetch_add(1, Ordering::SeqCst);
        ring.authenticate(&core, &new, Scope::Send)
            .await
            .expect("read again: a new key works");
    }

    #[tokio::test]
    async fn a_key_answers_only_for_its_scopes_and_carries_its_send_limit() {
        let store = Arc::new(MemoryStore::new());
        let core = core(store.clone(), Arc::new(TestClock(AtomicI64::new(0))));
        let key = ApiKey::generate().expect("os rng");
        let record = ApiKeyRecord {
            scopes: Scopes::parse("check,status").expect("scopes"),
            max_sends: Some(3),
            ..ApiKeyRecord::new(&key, "ivr", 0)
        };
        store.add_api_key(&record).await.expect("added");
        let ring = KeyRing::new();
        for scope in [Scope::Check, Scope::Status] {
            let caller = ring
                .authenticate(&core, &key, scope)
                .await
                .expect("in scope");
            let Caller::Keyed(grant) = caller else {
                panic!("keyed")
            };
            assert_eq!((grant.scopes, grant.max_sends), (record.scopes, Some(3)));
        }
        for scope in [Scope::Send, Scope::Cancel, Scope::Lookup, Scope::Options] {
            let r = ring.authenticate(&core, &key, scope).await;
            assert!(
                matches!(r, Err(ServiceError::ScopeRequired(s)) if s == scope),
                "{scope:?}: {r:?}"
            );
        }
        assert!(Caller::Anonymous.require_scope(Scope::Lookup).is_ok());
    }

    #[tokio::test]
    async fn without_a_list_an_unreadable_store_is_unavailable_not_invalid() {
        let store = Arc::new(MemoryStore::new());
        let core = core(store.clone(), Arc::new(TestClock(AtomicI64::new(0))));
        let key = add(&store, "ivr").await;
        store.fail_next_call("throttled");
        let r = KeyRing::new().authenticate(&core, &key, Scope::Send).await;
        assert!(matches!(r, Err(ServiceError::Unavailable(_))), "{r:?}");
    }
}
