//! The product's rules, as plain async functions over the [`Store`] and [`Sender`]
//! traits: one file per use case, and the limits they share in [`limits`].
//!
//! [`Sender`]: crate::channels::Sender

use std::sync::Arc;

use crate::config::Config;
use crate::domain::{InputError, VerificationId};
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};
use crate::time::Clock;

pub mod approve;
pub mod calls;
pub mod cancel;
pub mod check;
pub mod cleanup;
pub mod customers;
pub mod deferred;
pub mod factors;
mod fallback;
pub mod idempotency;
pub mod keys;
pub mod limits;
pub mod lookup;
pub mod outcomes;
pub mod send;
pub mod status;
#[cfg(test)]
pub(crate) mod testing;

pub use approve::approve;
pub use cancel::cancel;
pub use check::{Approval, CheckTarget, check, check_on_keypad};
pub use cleanup::{CleanupReport, cleanup};
pub use idempotency::{
    IDEMPOTENCY_WINDOW_MS, claim_idempotency_key, fingerprint, settle_idempotency_key,
};
pub use lookup::{ContactView, lookup};
pub use send::{
    KeyLimit, SendOptions, SendOutcome, SendRequest, check_channel, check_destination, client_key,
    resend, send,
};
pub use status::{StatusView, status};

/// What every operation needs: the configuration, the records and the time.
#[derive(Clone)]
pub struct Core {
    /// The configuration.
    pub config: Arc<Config>,
    /// The records.
    pub store: Arc<dyn Store>,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// Where operational metrics go.
    pub metrics: Arc<dyn Metrics>,
}

impl Core {
    /// Records that verification `id` was seen past its expiry, after `attempts` checks
    /// (once: the change the `expired` event is made from).
    async fn note_expired(&self, id: &VerificationId, attempts: u32) {
        if let Err(e) = self.store.mark_expired(id, attempts).await {
            tracing::warn!(verification_id = %id, error = %e, "expiry not recorded");
        }
    }
}

/// An operation's refusal or failure. The HTTP layer maps each to its status and `code`.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A send within the cooldown of the previous one.
    #[error("wait {retry_after} s before sending another code to this destination")]
    ResendTooSoon {
        /// Seconds until a send is allowed.
        retry_after: u32,
    },
    /// The destination's send window is full.
    #[error("too many codes were sent to this destination; try again in {retry_after} s")]
    TooManySends {
        /// Seconds until a send is allowed.
        retry_after: u32,
    },
    /// The client's send window is full.
    #[error("too many codes were requested from this address; try again in {retry_after} s")]
    TooManySendsFromClient {
        /// Seconds until a send is allowed.
        retry_after: u32,
    },
    /// The API key's own send window is full (`keys.sh create NAME --max-sends N`).
    #[error("this API key sent its most codes for the window; try again in {retry_after} s")]
    TooManySendsForKey {
        /// Seconds until a send is allowed.
        retry_after: u32,
    },
    /// SNS or SES did not take the message.
    #[error("the code could not be delivered")]
    DeliveryFailed,
    /// The code does not match; the attempt was counted.
    #[error("the code is incorrect")]
    IncorrectCode {
        /// Checks left before the verification locks.
        attempts_remaining: u32,
    },
    /// The verification is locked after too many wrong codes.
    #[error("too many incorrect codes were entered; request a new code")]
    TooManyAttempts {
        /// Seconds until a new code may be requested for the destination.
        retry_after: u32,
    },
    /// An authenticator app is locked after too many wrong codes, until its window ends.
    #[error("too many incorrect codes were entered; try again in {retry_after} s")]
    AppLocked {
        /// Seconds until the app's codes are checked again.
        retry_after: u32,
    },
    /// The code is past its expiry, or was never delivered.
    #[error("{0}")]
    Expired(&'static str),
    /// The verification was approved before.
    #[error("this verification was already approved")]
    AlreadyApproved,
    /// A newer code was sent to the same destination.
    #[error("a newer code was sent to this destination; use that one")]
    Replaced,
    /// No such verification (or, by destination, no pending one).
    #[error("{0}")]
    NotFound(&'static str),
    /// The verification was cancelled.
    #[error("this verification was canceled")]
    Canceled,
    /// An authenticator app can only be enrolled for a verified contact.
    #[error("{0}")]
    NotVerified(&'static str),
    /// The contact has an active authenticator app, or the verification enrolled one.
    #[error("{0}")]
    AlreadyEnrolled(&'static str),
    /// A keyed option or route without an API key.
    #[error("{0}: this needs an API key (Authorization: Bearer <key>)")]
    KeyRequired(&'static str),
    /// An `Authorization` that is not a valid, unrevoked API key.
    #[error("the API key is not valid")]
    InvalidKey,
    /// A valid API key without the scope the call needs.
    #[error("this API key does not have the scope '{}'", .0.as_str())]
    ScopeRequired(crate::domain::Scope),
    /// A dependency failed; details are logged, never shown.
    #[error("a dependency is unavailable")]
    Unavailable(String),
    /// The `Idempotency-Key` was used for a different request.
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyKeyReused,
    /// A request with this `Idempotency-Key` is still running.
    #[error("a request with this Idempotency-Key is in progress; retry shortly")]
    IdempotencyKeyInUse,
    /// The destination may not receive codes (its country or number type).
    #[error(transparent)]
    Refused(#[from] InputError),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

pub(crate) fn random_failure(e: rand::rngs::SysError) -> ServiceError {
    ServiceError::Unavailable(format!("OS random number generator: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Destination, EmailAddress};
    use crate::metrics::Metric;
    use crate::service::testing::{Harness, phone, wrong};

    #[tokio::test]
    async fn metrics_count_sends_limits_failures_wrong_codes_lockouts_and_approvals() {
        let h = Harness::new(&[("MAX_CHECK_ATTEMPTS", "2")]);
        let counted = |metric| h.metrics.counted(metric);
        h.send(&phone()).await.expect("sent");
        let _ = h.send(&phone()).await; // within the cooldown
        assert_eq!(
            (counted(Metric::CodesSent), counted(Metric::RateLimited)),
            (1, 1)
        );
        let code = h.last_code();
        for _ in 0..2 {
            let _ = h
                .check(CheckTarget::Destination(phone()), &wrong(&code))
                .await;
        }
        assert_eq!(
            (counted(Metric::WrongCodes), counted(Metric::Lockouts)),
            (2, 1)
        );
        let _ = h.check(CheckTarget::Destination(phone()), &code).await; // locked
        assert_eq!(
            (counted(Metric::WrongCodes), counted(Metric::Approvals)),
            (2, 0)
        );

        h.advance(60);
        h.send(&phone()).await.expect("a new code");
        let code = h.last_code();
        h.check(CheckTarget::Destination(phone()), &code)
            .await
            .expect("approved");
        assert_eq!(counted(Metric::Approvals), 1);

        h.advance(60);
        h.sender.set_failing(true);
        let _ = h.send(&phone()).await;
        assert_eq!(
            (
                counted(Metric::DeliveryFailures),
                counted(Metric::CodesSent)
            ),
            (1, 2)
        );
    }

    #[tokio::test]
    async fn every_outcome_is_an_event_without_code_or_full_destination() {
        let h = Harness::new(&[("MAX_CHECK_ATTEMPTS", "2"), ("CODE_TTL_SECONDS", "60")]);
        let email = Destination::Email(EmailAddress::parse("ada@example.com").expect("valid"));
        h.sender.set_failing(true);
        h.send(&email).await.expect_err("delivery failed");
        h.sender.set_failing(false);
        let first = h.send(&phone()).await.expect("sent");
        let code = h.last_code();
        let by_phone = || CheckTarget::Destination(phone());
        h.check(by_phone(), &wrong(&code)).await.expect_err("wrong");
        h.check(by_phone(), &code).await.expect("approved");
        h.advance(30);
        let second = h.send(&phone()).await.expect("sent");
        let code2 = h.last_code();
        h.check(by_phone(), &wrong(&code2))
            .await
            .expect_err("wrong");
        h.check(by_phone(), &wrong(&code2))
            .await
            .expect_err("locked");
        h.advance(30);
        let third = h.send(&phone()).await.expect("sent");
        h.advance(60);
        h.check(by_phone(), &h.last_code())
            .await
            .expect_err("expired");
        status(&h.core, &third.verification_id)
            .await
            .expect("status");
        use crate::events::EventType as E;
        // A code is `sent` once it is stored for delivery; `delivery_failed` follows when the
        // carrier refuses it.
        assert_eq!(
            h.event_kinds(),
            [
                E::Sent,
                E::DeliveryFailed,
                E::Sent,
                E::IncorrectCode,
                E::Approved,
                E::Sent,
                E::IncorrectCode,
                E::IncorrectCode,
                E::Locked,
                E::Sent,
                E::Expired,
            ],
            "expired once, though seen twice"
        );
        let events = h.events();
        assert_eq!(events[2].verification_id, first.verification_id.as_str());
        assert_eq!(events[8].verification_id, second.verification_id.as_str());
        assert_eq!(events[8].attempts_remaining, Some(0));
        assert_eq!(events[3].attempts_remaining, Some(1));
        assert!(events[2].expires_at.is_some() && events[4].expires_at.is_none());
        let ids: std::collections::BTreeSet<&str> =
            events.iter().map(|e| e.event_id.as_str()).collect();
        assert_eq!(ids.len(), events.len(), "an event id is unique");
        for event in &events {
            let json = serde_json::to_string(event).expect("json");
            for secret in [&code, &code2, "4989202451100", "ada@example.com"] {
                assert!(!json.contains(secret), "{json} holds {secret}");
            }
            assert_eq!(event.schema_version, 2);
        }
    }

    #[tokio::test]
    async fn a_wrong_code_not_recorded_changes_no_answer_and_is_counted() {
        let h = Harness::new(&[]);
        h.send(&phone()).await.expect("sent");
        let code = h.last_code();
        // The count succeeds, the record of the wrong attempt after it fails.
        let store = h.store.clone();
        h.store.meanwhile(move |_, op| {
            if matches!(op, crate::store::memory::Op::CountAttempt(_)) {
                store.fail_next_call("throttled");
            }
        });
        let answer = h
            .check(CheckTarget::Destination(phone()), &wrong(&code))
            .await;
        assert!(
            matches!(
                answer,
                Err(ServiceError::IncorrectCode {
                    attempts_remaining: 4
                })
            ),
            "{answer:?}"
        );
        assert_eq!(h.metrics.counted(Metric::EventsNotPublished), 1);
        assert_eq!(h.event_kinds(), [crate::events::EventType::Sent]);
    }
}
