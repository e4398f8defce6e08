//! The limits on sends and checks, each with its setting (variable, default, range), its
//! rule and its tests, in one place:
//!
//! - the **resend cooldown**: one send per destination per `RESEND_COOLDOWN_SECONDS`, lifted
//!   when a delivery fails;
//! - the **send window**: `MAX_SENDS_PER_WINDOW` sends per destination per
//!   `SEND_WINDOW_SECONDS`, a sliding window;
//! - the **per-client limit**: `MAX_SENDS_PER_IP` sends per source address per window, for
//!   requests without an API key;
//! - the **per-key limit**: a key's own `max_sends` per window (`keys.sh create NAME
//!   --max-sends N`), for requests with that key; a key without one has no such limit;
//! - the **attempt limit**: `MAX_CHECK_ATTEMPTS` checks per code (each counted before it is
//!   compared), and for authenticator apps as many wrong codes per `TOTP_LOCK_SECONDS`.
//!
//! The stores enforce what these rules decide with conditional writes (`docs/data-model.md`),
//! so that concurrent requests cannot exceed them.

use crate::config::{Config, Setting};
use crate::domain::ContactRecord;
use crate::store::{AppLock, ClientSends, ClientSlot};
use crate::time::seconds_until;

use super::{KeyLimit, SendRequest, ServiceError};

/// Seconds between sends to one destination.
pub const RESEND_COOLDOWN_SECONDS: Setting = Setting::new("RESEND_COOLDOWN_SECONDS", 30, 0, 86_400);
/// The send window, in seconds.
pub const SEND_WINDOW_SECONDS: Setting = Setting::new("SEND_WINDOW_SECONDS", 3_600, 1, 7 * 86_400);
/// Sends to one destination per window.
pub const MAX_SENDS_PER_WINDOW: Setting = Setting::new("MAX_SENDS_PER_WINDOW", 5, 1, 1_000);
/// Sends from one client address per window.
pub const MAX_SENDS_PER_IP: Setting = Setting::new("MAX_SENDS_PER_IP", 20, 1, 1_000_000);
/// Checks allowed per code, and wrong app codes per lock window.
pub const MAX_CHECK_ATTEMPTS: Setting = Setting::new("MAX_CHECK_ATTEMPTS", 5, 1, 100);
/// An authenticator app's lock window, in seconds (`docs/security.md` gives the odds).
pub const TOTP_LOCK_SECONDS: Setting = Setting::new("TOTP_LOCK_SECONDS", 3_600, 60, 86_400);

fn window_ms(config: &Config) -> i64 {
    i64::from(config.send_window_seconds) * 1_000
}

// ---- the resend cooldown ---------------------------------------------------------------

/// When the next send may go after one at `now` (to a destination, or the next step of a
/// fallback flow).
pub fn cooldown_until(config: &Config, now: i64) -> i64 {
    now + i64::from(config.resend_cooldown_seconds) * 1_000
}

/// The seconds a `202` tells the caller to wait before a resend.
pub fn resend_after(config: &Config) -> u32 {
    config.resend_cooldown_seconds
}

/// The cooldown a send leaves when its delivery failed: none, so that a retry goes at once
/// (the failed code is unusable).
pub fn cooldown_after_failed_delivery(now: i64) -> i64 {
    now
}

/// Refuses a send while a cooldown that runs `until` has not ended.
pub fn check_cooldown(until: i64, now: i64) -> Result<(), ServiceError> {
    if until > now {
        return Err(ServiceError::ResendTooSoon {
            retry_after: seconds_until(until, now),
        });
    }
    Ok(())
}

// ---- the send window and the per-client limit --------------------------------------------

/// The seconds until a window of `max` sends has room, when `sends` (oldest first, all in
/// the window) fill it.
fn window_full(sends: &[i64], max: u32, window_ms: i64, now: i64) -> Option<u32> {
    let max = max as usize;
    (sends.len() >= max).then(|| seconds_until(sends[sends.len() - max] + window_ms, now))
}

/// The destination's sends that still count at `now`, with this one: what the contact
/// stores. Refused while the cooldown runs or the window is full.
pub fn destination_sends(
    config: &Config,
    contact: Option<&ContactRecord>,
    now: i64,
) -> Result<Vec<i64>, ServiceError> {
    let window_start = now - window_ms(config);
    let mut recent: Vec<i64> = contact
        .map(|c| {
            c.recent_sends
                .iter()
                .copied()
                .filter(|t| *t > window_start)
                .collect()
        })
        .unwrap_or_default();
    if let Some(c) = contact {
        check_cooldown(c.cooldown_until, now)?;
    }
    let max = config.max_sends_per_window;
    if let Some(retry_after) = window_full(&recent, max, window_ms(config), now) {
        return Err(ServiceError::TooManySends { retry_after });
    }
    recent.push(now);
    Ok(recent)
}

/// The client's entry for a send at `now`: appended to its log while the log has room (no
/// read needed), or, once a refused write has shown the log (`log`), the log rewritten with
/// its sends still in the window. Refused when those fill it.
pub fn client_slot(
    config: &Config,
    client: &str,
    log: Option<ClientSends>,
    now: i64,
) -> Result<ClientSlot, ServiceError> {
    let max = config.max_sends_per_ip;
    log_slot(config, client, max, log, now)
        .map_err(|retry_after| ServiceError::TooManySendsFromClient { retry_after })
}

/// The key's entry for a send at `now`, as [`client_slot`] with the key's own log and
/// limit. Refused when its sends fill the window.
pub fn key_slot(
    config: &Config,
    limit: &KeyLimit,
    log: Option<ClientSends>,
    now: i64,
) -> Result<ClientSlot, ServiceError> {
    log_slot(config, &limit.log, limit.max, log, now)
        .map_err(|retry_after| ServiceError::TooManySendsForKey { retry_after })
}

/// A send log's entry: appended while the log has room, or the log rewritten with its sends
/// still in the window; `Err(seconds until there is room)` when those fill it.
fn log_slot(
    config: &Config,
    log_key: &str,
    max: u32,
    log: Option<ClientSends>,
    now: i64,
) -> Result<ClientSlot, u32> {
    let window_ms = window_ms(config);
    let replace = match log {
        None => None,
        Some(mut log) => {
            log.sends.retain(|t| *t > now - window_ms);
            if let Some(retry_after) = window_full(&log.sends, max, window_ms, now) {
                return Err(retry_after);
            }
            Some(log)
        }
    };
    Ok(ClientSlot {
        client: log_key.to_owned(),
        now,
        max,
        expires_at: now + window_ms,
        replace,
    })
}

/// The send log a send is counted in, if any: the key's own (a keyed caller with a limit),
/// or the client's (an anonymous caller).
pub fn send_slot(
    config: &Config,
    request: &SendRequest,
    log: Option<ClientSends>,
    now: i64,
) -> Result<Option<ClientSlot>, ServiceError> {
    match (&request.options.key_limit, request.client.as_deref()) {
        (Some(limit), _) => key_slot(config, limit, log, now).map(Some),
        (None, Some(client)) => client_slot(config, client, log, now).map(Some),
        (None, None) => Ok(None),
    }
}

/// The answer when every try of a send lost a race: to sends counted in the same send log
/// (the key's or the client's), or to sends to the same destination.
pub fn lost_every_race(request: &SendRequest, to_the_log: bool) -> ServiceError {
    match (to_the_log, &request.options.key_limit) {
        (true, Some(_)) => ServiceError::TooManySendsForKey { retry_after: 1 },
        (true, None) => ServiceError::TooManySendsFromClient { retry_after: 1 },
        (false, _) => ServiceError::ResendTooSoon { retry_after: 1 },
    }
}

// ---- the attempt limit ---------------------------------------------------------------------

/// The checks a new code allows.
pub fn max_attempts(config: &Config) -> u32 {
    config.max_check_attempts
}

/// The refusal of a check of a locked code: a new code may be asked for once the
/// destination's cooldown ends.
pub fn locked(contact: Option<&ContactRecord>, now: i64) -> ServiceError {
    ServiceError::TooManyAttempts {
        retry_after: seconds_until(contact.map_or(now, |c| c.cooldown_until), now),
    }
}

/// An authenticator app's limit: at most `MAX_CHECK_ATTEMPTS` wrong codes per
/// `TOTP_LOCK_SECONDS`, then locked until that window ends.
pub fn app_lock(config: &Config) -> AppLock {
    AppLock {
        max: config.max_check_attempts,
        window_ms: i64::from(config.totp_lock_seconds) * 1_000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::test_config;
    use crate::domain::{
        Country, Destination, PhoneNumber, SubmittedCode, VerificationState, VerificationStatus,
    };
    use crate::service::testing::{Harness, Meanwhile, Race, phone, wrong};
    use crate::service::{
        CheckTarget, SendOptions, SendRequest, check, client_key, resend, send, status,
    };

    #[test]
    fn a_full_window_opens_when_its_oldest_counted_send_leaves_it() {
        assert_eq!(window_full(&[0, 1_000], 3, 10_000, 2_000), None);
        assert_eq!(window_full(&[0, 1_000, 2_000], 3, 10_000, 2_000), Some(8));
        assert_eq!(window_full(&[0, 1_000, 2_000], 2, 10_000, 2_000), Some(9));
    }

    #[test]
    fn a_client_log_is_rewritten_with_only_the_sends_still_in_its_window() {
        let config = test_config(&[("MAX_SENDS_PER_IP", "3"), ("SEND_WINDOW_SECONDS", "60")]);
        let log = |sends: Vec<i64>| ClientSends { sends, version: 7 };
        let slot = client_slot(
            &config,
            "c",
            Some(log(vec![10_000, 50_000, 90_000])),
            100_000,
        )
        .expect("room");
        assert_eq!(slot.replace, Some(log(vec![50_000, 90_000])));
        let full = client_slot(
            &config,
            "c",
            Some(log(vec![50_000, 60_000, 90_000])),
            100_000,
        );
        assert!(
            matches!(
                full,
                Err(ServiceError::TooManySendsFromClient { retry_after: 10 })
            ),
            "{full:?}"
        );
        assert_eq!(
            client_slot(&config, "c", None, 100_000)
                .map(|s| s.replace)
                .ok(),
            Some(None)
        );
    }

    #[tokio::test]
    async fn a_resend_waits_for_the_cooldown_and_replaces_the_earlier_code() {
        let h = Harness::new(&[]);
        let first = h.send(&phone()).await.expect("sent");
        let first_code = h.last_code();
        let early = h.send(&phone()).await;
        assert!(
            matches!(early, Err(ServiceError::ResendTooSoon { retry_after: 30 })),
            "{early:?}"
        );
        h.advance(30);
        let second = h.send(&phone()).await.expect("resent");
        let r = h
            .check(CheckTarget::Id(first.verification_id.clone()), &first_code)
            .await;
        assert!(matches!(r, Err(ServiceError::Replaced)), "{r:?}");
        assert_eq!(
            status(&h.core, &first.verification_id)
                .await
                .expect("status")
                .status,
            VerificationStatus::Replaced
        );
        let code = h.last_code();
        h.check(CheckTarget::Id(second.verification_id), &code)
            .await
            .expect("the new code works");
    }

    #[tokio::test]
    async fn a_keyed_send_is_still_held_to_the_destinations_cooldown() {
        let h = Harness::new(&[]);
        let options = || SendOptions {
            code_length: Some(4),
            ..SendOptions::default()
        };
        h.send_with(&phone(), options()).await.expect("sent");
        let again = h.send_with(&phone(), options()).await;
        assert!(
            matches!(again, Err(ServiceError::ResendTooSoon { .. })),
            "{again:?}"
        );
    }

    #[tokio::test]
    async fn a_failed_delivery_makes_the_code_unusable_and_starts_no_cooldown() {
        let h = Harness::new(&[]);
        h.sender.set_failing(true);
        let r = h.send(&phone()).await;
        assert!(matches!(r, Err(ServiceError::DeliveryFailed)), "{r:?}");
        let failed = h.store.verifications()[0].clone();
        assert_eq!(failed.state, VerificationState::Failed);
        assert_eq!(
            status(&h.core, &failed.id).await.expect("status").status,
            VerificationStatus::Failed
        );
        h.sender.set_failing(false);
        h.send(&phone()).await.expect("a retry works at once");
    }

    #[tokio::test]
    async fn the_send_window_caps_sends_per_destination() {
        let h = Harness::new(&[
            ("RESEND_COOLDOWN_SECONDS", "0"),
            ("MAX_SENDS_PER_WINDOW", "3"),
            ("SEND_WINDOW_SECONDS", "600"),
        ]);
        for _ in 0..3 {
            h.send(&phone()).await.expect("within the window");
            h.advance(10);
        }
        let r = h.send(&phone()).await;
        assert!(
            matches!(r, Err(ServiceError::TooManySends { retry_after: 570 })),
            "{r:?}"
        );
        h.advance(570);
        h.send(&phone())
            .await
            .expect("the oldest send left the window");
    }

    #[tokio::test]
    async fn the_per_client_limit_counts_sends_to_any_destination_in_a_sliding_window() {
        let h = Harness::new(&[("MAX_SENDS_PER_IP", "3")]);
        let us = Country::parse("US").expect("US");
        let from = |client: &str, n: u32| SendRequest {
            client: Some(client_key(client)),
            ..SendRequest::new(Destination::Sms(
                PhoneNumber::parse(&format!("+49301234567{n}"), us).expect("valid"),
            ))
        };
        let send_from = |client: &'static str, n: u32| {
            let h = &h;
            async move { send(&h.core, &h.hasher, &h.sender, from(client, n)).await }
        };
        for n in 0..3 {
            send_from("192.0.2.1", n).await.expect("within the limit");
            h.advance(600);
        }
        let over = send_from("192.0.2.1", 3).await;
        assert!(
            matches!(
                over,
                Err(ServiceError::TooManySendsFromClient { retry_after: 1_800 })
            ),
            "{over:?}"
        );
        send_from("192.0.2.2", 4)
            .await
            .expect("another client has its own limit");
        h.advance(1_800);
        send_from("192.0.2.1", 5)
            .await
            .expect("the first send left the window");
        let again = send_from("192.0.2.1", 6).await;
        assert!(
            matches!(
                again,
                Err(ServiceError::TooManySendsFromClient { retry_after: 600 })
            ),
            "{again:?}"
        );
        assert_eq!(h.sender.sent().len(), 5);
    }

    #[tokio::test]
    async fn a_resend_by_id_counts_toward_the_clients_limit() {
        let h = Harness::new(&[("MAX_SENDS_PER_IP", "1"), ("RESEND_COOLDOWN_SECONDS", "0")]);
        let client = Some(client_key("192.0.2.1"));
        let request = SendRequest {
            client: client.clone(),
            ..SendRequest::new(phone())
        };
        let sent = send(&h.core, &h.hasher, &h.sender, request)
            .await
            .expect("sent");
        let again = resend(
            &h.core,
            &h.hasher,
            &h.sender,
            &sent.verification_id,
            None,
            client,
            SendOptions::default(),
        )
        .await;
        assert!(
            matches!(again, Err(ServiceError::TooManySendsFromClient { .. })),
            "{again:?}"
        );
        assert_eq!(h.sender.sent().len(), 1);
    }

    #[tokio::test]
    async fn a_client_log_changed_by_a_concurrent_send_is_not_overwritten() {
        // The client's only slot is free again once its send left the window; a concurrent
        // send from the same client takes it first, so this one must be refused.
        let h = Harness::new(&[("MAX_SENDS_PER_IP", "1")]);
        let from_client = |to: Destination| SendRequest {
            client: Some(client_key("192.0.2.1")),
            ..SendRequest::new(to)
        };
        send(&h.core, &h.hasher, &h.sender, from_client(phone()))
            .await
            .expect("sent");
        h.advance(3_600);
        let core = Meanwhile::core(&h, Race::TheClientSendsElsewhere);
        let us = Country::parse("US").expect("US");
        let other = Destination::Sms(PhoneNumber::parse("+14155550123", us).expect("valid"));
        let r = send(&core, &h.hasher, &h.sender, from_client(other)).await;
        assert!(
            matches!(r, Err(ServiceError::TooManySendsFromClient { .. })),
            "{r:?}"
        );
        assert_eq!(h.sender.sent().len(), 1);
    }

    #[tokio::test]
    async fn wrong_codes_count_and_lock_at_the_limit() {
        let h = Harness::new(&[("MAX_CHECK_ATTEMPTS", "3")]);
        h.send(&phone()).await.expect("sent");
        let code = h.last_code();
        for remaining in [2, 1, 0] {
            let r = h
                .check(CheckTarget::Destination(phone()), &wrong(&code))
                .await;
            assert!(
                matches!(r, Err(ServiceError::IncorrectCode { attempts_remaining }) if attempts_remaining == remaining),
                "{r:?}"
            );
        }
        let locked = h.check(CheckTarget::Destination(phone()), &code).await;
        assert!(
            matches!(
                locked,
                Err(ServiceError::TooManyAttempts { retry_after: 30 })
            ),
            "{locked:?}"
        );
    }

    #[tokio::test]
    async fn the_right_code_is_refused_when_concurrent_guesses_used_the_last_attempts() {
        // Only an attempt that was counted may be compared: a check that read the code,
        // compared, and counted afterwards would let any number of concurrent guesses in.
        let h = Harness::new(&[]);
        let sent = h.send(&phone()).await.expect("sent");
        let code = SubmittedCode::parse(&h.last_code(), 6).expect("format");
        let core = Meanwhile::core(&h, Race::GuessesUseUpTheAttempts);
        for target in [
            CheckTarget::Destination(phone()),
            CheckTarget::Id(sent.verification_id.clone()),
        ] {
            let r = check(&core, &h.hasher, target, &code).await;
            assert!(
                matches!(r, Err(ServiceError::TooManyAttempts { .. })),
                "{r:?}"
            );
        }
        assert_eq!(
            status(&h.core, &sent.verification_id)
                .await
                .expect("status")
                .status,
            VerificationStatus::Locked
        );
    }
}
