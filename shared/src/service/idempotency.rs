//! `Idempotency-Key`: a retried sign-up gets its first answer, and sends nothing again.

use crate::domain::{IdempotencyKey, sha256_hex};
use crate::store::{KeyClaim, KeyRecord, StoredReply};

use super::{Core, ServiceError};

/// How long an `Idempotency-Key` keeps its first answer.
pub const IDEMPOTENCY_WINDOW_MS: i64 = 24 * 3_600_000;
/// A claim this old without an answer belongs to a request that died (the functions time
/// out after 10 s): a retry may take the key over.
const IDEMPOTENCY_STALE_MS: i64 = 60_000;

/// How a key is stored: hashed, so the table never holds the client's key. A keyed
/// caller's keys are its own (`scope`, its API key's id): two servers cannot collide.
fn key_hash(scope: Option<&str>, key: &IdempotencyKey) -> String {
    match scope {
        None => sha256_hex(&["signup", key.as_str()]),
        Some(scope) => sha256_hex(&["signup", scope, key.as_str()]),
    }
}

/// The request's fingerprint: a hash of its fields in a fixed order.
pub fn fingerprint<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut pairs: Vec<(&str, &str)> = fields.into_iter().collect();
    pairs.sort_unstable();
    let flat: Vec<&str> = pairs.iter().flat_map(|(k, v)| [*k, *v]).collect();
    sha256_hex(&flat)
}

/// Claims `key` for a request with `fingerprint`. `Ok(None)`: run the request, then
/// [`settle_idempotency_key`]. `Ok(Some(reply))`: the first answer, to return as it is.
/// The same key with another request is [`ServiceError::IdempotencyKeyReused`]; while the
/// first request runs, [`ServiceError::IdempotencyKeyInUse`].
pub async fn claim_idempotency_key(
    core: &Core,
    scope: Option<&str>,
    key: &IdempotencyKey,
    fingerprint: &str,
) -> Result<Option<StoredReply>, ServiceError> {
    let now = core.clock.now_ms();
    let claim = KeyRecord {
        key_hash: key_hash(scope, key),
        fingerprint: fingerprint.to_owned(),
        started_at: now,
        expires_at: now + IDEMPOTENCY_WINDOW_MS,
    };
    match core
        .store
        .claim_key(&claim, now - IDEMPOTENCY_STALE_MS)
        .await?
    {
        KeyClaim::Claimed => Ok(None),
        KeyClaim::Replay(reply) => Ok(Some(reply)),
        KeyClaim::Mismatch => Err(ServiceError::IdempotencyKeyReused),
        KeyClaim::InFlight => Err(ServiceError::IdempotencyKeyInUse),
    }
}

/// Ends a claim: a success is remembered for the key's window; after an error (nothing was
/// sent) the key is freed, so that a retry runs again. Never fails the request: if the
/// store cannot be written, the claim ends by itself after a minute.
pub async fn settle_idempotency_key(
    core: &Core,
    scope: Option<&str>,
    key: &IdempotencyKey,
    reply: Option<&StoredReply>,
) {
    let hash = key_hash(scope, key);
    let result = match reply {
        Some(reply) => core.store.record_reply(&hash, reply).await,
        None => core.store.release_key(&hash).await,
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "idempotency key not settled");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::testing::Harness;

    #[tokio::test]
    async fn an_idempotency_key_replays_its_first_success_and_refuses_another_request() {
        let h = Harness::new(&[]);
        let key = IdempotencyKey::parse("order-42").expect("key");
        let first = fingerprint([("phone", "+4989202451100")]);
        assert_eq!(
            claim_idempotency_key(&h.core, None, &key, &first)
                .await
                .expect("free"),
            None
        );
        let busy = claim_idempotency_key(&h.core, None, &key, &first).await;
        assert!(
            matches!(busy, Err(ServiceError::IdempotencyKeyInUse)),
            "{busy:?}"
        );
        let reply = StoredReply {
            status: 202,
            body: "{}".to_owned(),
        };
        settle_idempotency_key(&h.core, None, &key, Some(&reply)).await;
        h.advance(23 * 3_600);
        let again = claim_idempotency_key(&h.core, None, &key, &first)
            .await
            .expect("claim");
        assert_eq!(again, Some(reply));
        let other = fingerprint([("phone", "+4989202451101")]);
        let reused = claim_idempotency_key(&h.core, None, &key, &other).await;
        assert!(
            matches!(reused, Err(ServiceError::IdempotencyKeyReused)),
            "{reused:?}"
        );
        h.advance(3_600);
        assert_eq!(
            claim_idempotency_key(&h.core, None, &key, &other)
                .await
                .expect("expired"),
            None,
            "after 24 hours the key is free"
        );
    }

    #[tokio::test]
    async fn an_idempotency_key_is_freed_by_an_error_and_by_a_request_that_died() {
        let h = Harness::new(&[]);
        let key = IdempotencyKey::parse("k").expect("key");
        let fp = fingerprint([("email", "a@example.com")]);
        assert_eq!(
            claim_idempotency_key(&h.core, None, &key, &fp)
                .await
                .expect("free"),
            None
        );
        settle_idempotency_key(&h.core, None, &key, None).await;
        assert_eq!(
            claim_idempotency_key(&h.core, None, &key, &fp)
                .await
                .expect("freed"),
            None,
            "an error keeps nothing"
        );
        h.advance(61);
        assert_eq!(
            claim_idempotency_key(&h.core, None, &key, &fp)
                .await
                .expect("stale"),
            None,
            "a claim left without an answer is taken over after a minute"
        );
    }

    #[test]
    fn a_fingerprint_ignores_field_order_but_not_values() {
        let a = fingerprint([("phone", "1"), ("locale", "de")]);
        assert_eq!(a, fingerprint([("locale", "de"), ("phone", "1")]));
        assert_ne!(a, fingerprint([("locale", "de"), ("phone", "2")]));
        assert_ne!(fingerprint([("ab", "c")]), fingerprint([("a", "bc")]));
    }
}
