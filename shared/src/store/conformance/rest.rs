//! The conformance checks of API keys, idempotency keys, cleanup and authenticator apps.

use super::*;

fn ok<T>(result: StoreResult<T>) -> T {
    result.unwrap_or_else(|e| panic!("the store failed: {e}"))
}

/// Keys are added once (a second add of an id is a conflict), listed with revoked ones,
/// and revoked at the first revocation's time.
pub async fn api_keys_are_added_once_listed_and_revoked(store: &dyn Store) {
    assert!(ok(store.api_keys().await).is_empty());
    ok(store.add_api_key(&api_key("0123456789ab", T0)).await);
    ok(store.add_api_key(&api_key("ba9876543210", T0 + 1)).await);
    assert!(matches!(
        store.add_api_key(&api_key("0123456789ab", T0 + 2)).await,
        Err(StoreError::Conflict(_))
    ));
    let id = ApiKeyId::parse("0123456789ab").expect("an id");
    assert!(ok(store.revoke_api_key(&id, T0 + 10).await));
    assert!(ok(store.revoke_api_key(&id, T0 + 20).await));
    let unknown = ApiKeyId::parse("ffffffffffff").expect("an id");
    assert!(!ok(store.revoke_api_key(&unknown, T0).await));
    let mut keys = ok(store.api_keys().await);
    keys.sort_by(|a, b| a.id.cmp(&b.id));
    let mut revoked = api_key("0123456789ab", T0);
    revoked.revoked_at = Some(T0 + 10);
    assert_eq!(keys, [revoked, api_key("ba9876543210", T0 + 1)]);
}

fn claim(fingerprint: &str, at: i64) -> KeyRecord {
    KeyRecord {
        key_hash: "0f".repeat(32),
        fingerprint: fingerprint.to_owned(),
        started_at: at,
        expires_at: at + 86_400_000,
    }
}

/// A key is claimed once; while its request runs, the same request is told to wait and
/// another is refused; its answer is replayed; an error frees it; a claim that died (older
/// than `stale_before`, no answer) and an expired key are taken over.
pub async fn an_idempotency_key_is_claimed_replayed_refused_freed_and_taken_over(
    store: &dyn Store,
) {
    let stale_before = T0 - 60_000;
    assert_eq!(
        ok(store.claim_key(&claim("a", T0), stale_before).await),
        KeyClaim::Claimed
    );
    assert_eq!(
        ok(store.claim_key(&claim("a", T0 + 1), stale_before).await),
        KeyClaim::InFlight
    );
    assert_eq!(
        ok(store.claim_key(&claim("b", T0 + 1), stale_before).await),
        KeyClaim::Mismatch
    );
    // The request died: a minute on, a retry takes the key over.
    assert_eq!(
        ok(store.claim_key(&claim("a", T0 + 61_000), T0 + 1_000).await),
        KeyClaim::Claimed
    );
    let reply = StoredReply {
        status: 202,
        body: r#"{"status":"pending"}"#.to_owned(),
    };
    ok(store.record_reply(&claim("a", T0).key_hash, &reply).await);
    ok(store.release_key(&claim("a", T0).key_hash).await);
    assert_eq!(
        ok(store.claim_key(&claim("a", T0 + 62_000), T0 + 2_000).await),
        KeyClaim::Replay(reply.clone()),
        "an answered key is neither released nor taken over"
    );
    assert_eq!(
        ok(store.claim_key(&claim("b", T0 + 62_000), T0).await),
        KeyClaim::Mismatch
    );
    // A day on, the key is free again.
    let later = T0 + 61_000 + 86_400_000;
    assert_eq!(
        ok(store.claim_key(&claim("b", later), T0).await),
        KeyClaim::Claimed
    );
    // An error frees an unanswered claim at once.
    ok(store.release_key(&claim("b", later).key_hash).await);
    assert_eq!(
        ok(store.claim_key(&claim("c", later + 1), T0).await),
        KeyClaim::Claimed
    );
}

/// The index pages through unverified contacts created before the cutoff, oldest first.
pub async fn cleanup_pages_through_unverified_contacts_oldest_first(store: &dyn Store) {
    for (n, at) in [
        (3, T0 + 3_000),
        (1, T0 + 1_000),
        (2, T0 + 2_000),
        (4, T0 + 9_000),
    ] {
        sent(store, &phone(n), at).await;
    }
    let first = ok(store
        .stale_contacts(&stale_query(T0 + 5_000, None, 2))
        .await);
    assert_eq!(first.destinations, [phone(1), phone(2)]);
    let next = first.next.expect("a next page");
    let second = ok(store
        .stale_contacts(&stale_query(T0 + 5_000, Some(next), 2))
        .await);
    assert_eq!(second.destinations, [phone(3)]);
    if let Some(after) = second.next {
        let rest = ok(store
            .stale_contacts(&stale_query(T0 + 5_000, Some(after), 2))
            .await);
        assert!(
            rest.destinations.is_empty() && rest.next.is_none(),
            "{rest:?}"
        );
    }
}

/// A contact is deleted, with its verifications, only while it is unverified, older than
/// the cutoff, and waits for no code still valid.
pub async fn cleanup_deletes_only_old_unverified_contacts_without_a_live_code(store: &dyn Store) {
    let cutoff = T0 + 1_000;
    let live = T0 + 1;
    let first = sent(store, &phone(1), T0).await;
    let held = contact(store, &phone(1)).await;
    let next = next_send(&held, T0 + 10);
    let second = next.verification.id.clone();
    ok(store.record_send(&next).await);
    assert_eq!(
        ok(store
            .delete_stale_contact(&stale(&phone(1), cutoff, live))
            .await),
        DeleteOutcome::Kept,
        "its code is still valid"
    );
    assert_eq!(
        ok(store
            .delete_stale_contact(&stale(&phone(1), T0, T0 + 700_000))
            .await),
        DeleteOutcome::Kept,
        "younger than the cutoff"
    );
    let verified = sent(store, &phone(2), T0).await;
    assert!(ok(store
        .approve(&approval(&phone(2), &verified, true, live))
        .await));
    assert_eq!(
        ok(store
            .delete_stale_contact(&stale(&phone(2), cutoff, T0 + 700_000))
            .await),
        DeleteOutcome::Kept,
        "verified"
    );
    assert_eq!(
        ok(store
            .delete_stale_contact(&stale(&phone(1), cutoff, T0 + 700_000))
            .await),
        DeleteOutcome::Deleted
    );
    assert_eq!(ok(store.contact(&phone(1)).await), None);
    for id in [first, second] {
        assert_eq!(
            ok(store.verification(&id).await),
            None,
            "its verifications go too"
        );
    }
    assert!(ok(store.contact(&phone(2)).await).is_some());
    assert_eq!(
        ok(store
            .delete_stale_contact(&stale(&phone(3), cutoff, T0))
            .await),
        DeleteOutcome::Kept,
        "no such contact"
    );
}

/// A verified contact's verification approved by id enrols one app; an active app is
/// replaced only when asked.
pub async fn an_app_is_enrolled_for_a_verified_contact_once_per_verification(store: &dyn Store) {
    let to = phone(1);
    let enrol =
        |secret: u8, verification: Option<VerificationId>, replace_active: bool| Enrollment {
            factor: factor(&to, secret, T0 + 1_000),
            replace_active,
            verification,
        };
    assert_eq!(
        ok(store.enroll_totp(&enrol(1, None, false)).await),
        EnrollOutcome::NotVerified
    );
    let id = sent(store, &to, T0).await;
    assert_eq!(
        ok(store.enroll_totp(&enrol(1, None, false)).await),
        EnrollOutcome::NotVerified
    );
    assert!(ok(store.approve(&approval(&to, &id, true, T0 + 500)).await));
    assert_eq!(
        ok(store.enroll_totp(&enrol(1, Some(id.clone()), false)).await),
        EnrollOutcome::Enrolled
    );
    assert_eq!(verification(store, &id).await.enrolled_at, Some(T0 + 1_000));
    assert_eq!(
        ok(store.enroll_totp(&enrol(2, Some(id.clone()), false)).await),
        EnrollOutcome::VerificationUsed
    );
    // Pending: enrolling again (by a keyed caller) replaces it.
    assert_eq!(
        ok(store.enroll_totp(&enrol(3, None, false)).await),
        EnrollOutcome::Enrolled
    );
    assert!(ok(store
        .accept_totp(&accepted(
            factor(&to, 3, T0 + 1_000),
            1,
            app_approval(&to, T0 + 2_000)
        ))
        .await));
    assert_eq!(
        ok(store.enroll_totp(&enrol(4, None, false)).await),
        EnrollOutcome::AlreadyActive
    );
    assert_eq!(
        ok(store.enroll_totp(&enrol(4, None, true)).await),
        EnrollOutcome::Enrolled
    );
}

/// Wrong app codes are counted in a window: up to the limit, then locked until the window
/// ends; after it, a new window starts. A missing or lapsed factor is not counted.
pub async fn app_checks_are_counted_in_a_window_and_lock_at_its_limit(store: &dyn Store) {
    let to = phone(1);
    let lock = AppLock {
        max: 3,
        window_ms: 60_000,
    };
    assert_eq!(
        ok(store.count_totp_attempt(&app_check(&to, lock, T0)).await),
        FactorAttempt::Missing
    );
    let id = sent(store, &to, T0).await;
    assert!(ok(store.approve(&approval(&to, &id, true, T0 + 1)).await));
    let enrollment = Enrollment {
        factor: factor(&to, 1, T0),
        replace_active: false,
        verification: None,
    };
    assert_eq!(
        ok(store.enroll_totp(&enrollment).await),
        EnrollOutcome::Enrolled
    );
    for n in 1..=3 {
        match ok(store
            .count_totp_attempt(&app_check(&to, lock, T0 + n))
            .await)
        {
            FactorAttempt::Counted(f) => assert_eq!(f.failures, n as u32),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        ok(store
            .count_totp_attempt(&app_check(&to, lock, T0 + 10))
            .await),
        FactorAttempt::Locked { until: T0 + 60_000 }
    );
    match ok(store
        .count_totp_attempt(&app_check(&to, lock, T0 + 60_000))
        .await)
    {
        FactorAttempt::Counted(f) => {
            assert_eq!((f.failures, f.failure_window_start), (1, T0 + 60_000));
        }
        other => panic!("{other:?}"),
    }
    // Pending past its time: not usable.
    assert_eq!(
        ok(store
            .count_totp_attempt(&app_check(&to, lock, T0 + 600_000))
            .await),
        FactorAttempt::Missing
    );
}

/// A time step is accepted once, only for the secret that was checked, never one at or
/// before the last accepted; an acceptance activates the app and stores the approval.
pub async fn an_app_time_step_is_accepted_once_for_the_secret_that_was_checked(store: &dyn Store) {
    let to = phone(1);
    let id = sent(store, &to, T0).await;
    assert!(ok(store.approve(&approval(&to, &id, true, T0 + 1)).await));
    let pending = factor(&to, 1, T0);
    let enrollment = Enrollment {
        factor: pending.clone(),
        replace_active: false,
        verification: None,
    };
    assert_eq!(
        ok(store.enroll_totp(&enrollment).await),
        EnrollOutcome::Enrolled
    );
    let approved = app_approval(&to, T0 + 5_000);
    assert!(
        !ok(store
            .accept_totp(&accepted(factor(&to, 2, T0), 7, &approved))
            .await),
        "another secret"
    );
    assert_eq!(
        ok(store.factor(&to).await),
        Some(pending.clone()),
        "as enrolled"
    );
    assert!(ok(store
        .accept_totp(&accepted(&pending, 7, &approved))
        .await));
    let active = ok(store.factor(&to).await).expect("the factor");
    assert_eq!((active.state, active.last_step), (FactorState::Active, 7));
    assert_eq!(ok(store.factor(&phone(9)).await), None);
    assert_eq!(verification(store, &approved.id).await, approved);
    for step in [7, 6] {
        let again = app_approval(&to, T0 + 6_000);
        assert!(
            !ok(store.accept_totp(&accepted(&pending, step, &again)).await),
            "step {step}"
        );
        assert_eq!(
            ok(store.verification(&again.id).await),
            None,
            "all or nothing"
        );
    }
    let lock = AppLock {
        max: 3,
        window_ms: 60_000,
    };
    match ok(store
        .count_totp_attempt(&app_check(&to, lock, T0 + 700_000))
        .await)
    {
        FactorAttempt::Counted(f) => {
            assert_eq!(
                f.state,
                FactorState::Active,
                "usable after its pending time"
            );
            assert_eq!((f.last_step, f.activated_at), (7, Some(T0 + 5_000)));
        }
        other => panic!("{other:?}"),
    }
}
