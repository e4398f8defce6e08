//! Interactive calls: a call verification's code replaced only while it is open and within
//! its limits, the call's state read back as written, and the inbound-call counter.

use super::*;
use crate::domain::{CallMode, CallState};

fn ok<T>(result: StoreResult<T>) -> T {
    result.unwrap_or_else(|e| panic!("the store failed: {e}"))
}

/// A call verification (read mode, SMS after the call) sent to `to` at `now`.
async fn call_sent(store: &dyn Store, to: &Destination, now: i64) -> VerificationId {
    let mut write = first_send(to, now);
    if let Some(code) = write.contact.current.as_mut() {
        code.channel = crate::domain::Channel::Call;
        code.call = Some(CallState::new(CallMode::Read, true));
    }
    ok(store.record_send(&write).await);
    assert_eq!(
        contact(store, to).await,
        write.contact,
        "read back as written"
    );
    write.verification.id
}

fn replacement(
    to: &Destination,
    id: &VerificationId,
    mac: u8,
    now: i64,
    reason: Replacement,
) -> CodeReplacement {
    CodeReplacement {
        code: CodeRef {
            destination: to.clone(),
            id: id.clone(),
        },
        hash: CodeHash {
            mac: vec![mac; 32],
            key_id: "k2".to_owned(),
        },
        now,
        reason,
    }
}

/// Readings replace the hash up to their limit, never on another verification, a code that
/// is not a call's, or past the expiry; the SMS after a call never follows a reading.
pub async fn a_call_code_is_replaced_while_open_and_within_its_readings(store: &dyn Store) {
    let to = phone(1);
    let id = call_sent(store, &to, T0).await;
    let read = Replacement::Read { max_reads: 2 };
    let other = new_id(T0 + 1);
    assert!(!ok(store
        .replace_code(&replacement(&to, &other, 9, T0, read))
        .await));
    assert!(
        !ok(store
            .replace_code(&replacement(&to, &id, 9, T0 + 600_000, read))
            .await),
        "expired"
    );
    for (n, mac) in [(1u32, 1u8), (2, 2)] {
        assert!(ok(store
            .replace_code(&replacement(&to, &id, mac, T0 + 1, read))
            .await));
        let code = contact(store, &to).await.current.expect("a code");
        assert_eq!(
            (code.hash.mac, code.hash.key_id.as_str()),
            (vec![mac; 32], "k2")
        );
        assert_eq!(code.call.map(|c| c.reads), Some(n));
    }
    assert!(
        !ok(store
            .replace_code(&replacement(&to, &id, 3, T0 + 1, read))
            .await),
        "the limit"
    );
    assert!(
        !ok(store
            .replace_code(&replacement(&to, &id, 4, T0 + 1, Replacement::SmsAfterCall))
            .await),
        "a code was read: no SMS"
    );
    assert_eq!(
        contact(store, &to).await.current.expect("a code").hash.mac,
        vec![2; 32]
    );
    // A code that is not a call's is never replaced.
    let sms = phone(2);
    let plain = sent(store, &sms, T0).await;
    assert!(!ok(store
        .replace_code(&replacement(&sms, &plain, 5, T0 + 1, read))
        .await));
}

/// The SMS after a call replaces the code once.
pub async fn the_sms_after_a_call_replaces_its_code_once(store: &dyn Store) {
    let to = phone(3);
    let id = call_sent(store, &to, T0).await;
    let sms = Replacement::SmsAfterCall;
    assert!(ok(store
        .replace_code(&replacement(&to, &id, 7, T0 + 1, sms))
        .await));
    assert!(
        !ok(store
            .replace_code(&replacement(&to, &id, 8, T0 + 2, sms))
            .await),
        "once"
    );
    let call = contact(store, &to)
        .await
        .current
        .and_then(|c| c.call)
        .expect("a call");
    assert!(call.sms_sent && call.reads == 0);
}

/// A call's code in input mode is counted only for a check on the call's keypad, until the
/// SMS after the call replaced it.
pub async fn an_input_calls_code_is_counted_only_from_its_keypad(store: &dyn Store) {
    let to = phone(4);
    let mut write = first_send(&to, T0);
    if let Some(code) = write.contact.current.as_mut() {
        code.channel = crate::domain::Channel::Call;
        code.call = Some(CallState::new(CallMode::Input, true));
    }
    ok(store.record_send(&write).await);
    let id = write.verification.id;
    let form = attempt(&to, Some(&id), T0 + 1);
    assert!(matches!(
        ok(store.count_attempt(&form).await),
        AttemptOutcome::Refused(Some(_))
    ));
    let keypad = Attempt {
        keypad: true,
        ..form.clone()
    };
    assert!(
        matches!(ok(store.count_attempt(&keypad).await), AttemptOutcome::Counted(c) if c.attempts == 1)
    );
    let sms = replacement(&to, &id, 6, T0 + 2, Replacement::SmsAfterCall);
    assert!(ok(store.replace_code(&sms).await));
    assert!(
        matches!(ok(store.count_attempt(&form).await), AttemptOutcome::Counted(c) if c.attempts == 2),
        "the code by SMS is checked from a form"
    );
}

/// Each number and window counts its own calls, up to the limit.
pub async fn inbound_calls_are_counted_per_number_and_window_up_to_the_limit(store: &dyn Store) {
    let call = |caller: &str, window_start: i64| InboundCall {
        caller: caller.to_owned(),
        window_start,
        max: 2,
        expires_at: window_start + 7_200_000,
    };
    assert!(ok(store.count_inbound_call(&call("a", T0)).await));
    assert!(ok(store.count_inbound_call(&call("a", T0)).await));
    assert!(!ok(store.count_inbound_call(&call("a", T0)).await), "full");
    assert!(
        ok(store.count_inbound_call(&call("b", T0)).await),
        "another number"
    );
    assert!(
        ok(store.count_inbound_call(&call("a", T0 + 3_600_000)).await),
        "the next window"
    );
}
