//! One suite of store tests, run against every [`Store`]: the in-memory store in the unit
//! tests (`store::memory`), and the DynamoDB store against DynamoDB Local in
//! `tests/store_conformance.rs`. The same bodies, so the two cannot drift apart.
//!
//! Each check takes an empty store. [`store_conformance!`](crate::store_conformance) makes a
//! test of each from an expression that gives a fresh store.

use crate::domain::{
    ApiKeyId, ApiKeyRecord, ChannelList, CodeHash, CodeRules, CodeState, ContactRecord,
    ContactStatus, CurrentCode, CustomerId, Destination, EmailAddress, FactorState, FallbackState,
    Locale, PersonName, PhoneNumber, SealedSecret, TotpFactor, VerificationId, VerificationRecord,
    VerificationState,
};
use crate::store::*;

mod calls;
mod codes;
mod rest;

pub use calls::*;
pub use codes::*;
pub use rest::*;

/// Makes one `#[tokio::test]` per conformance check, each on a fresh store from `$store`
/// (an expression, awaited when it is a future: `MemoryStore::new()` or
/// `dynamo_store().await`).
#[macro_export]
macro_rules! store_conformance {
    ($store:expr) => {
        $crate::store_conformance!(@tests $store;
            a_first_send_stores_the_contact_and_its_verification_as_they_are,
            a_send_from_a_stale_version_conflicts_and_hands_the_contact_back,
            a_send_replaces_the_pending_code_it_read_and_only_that_one,
            the_client_log_takes_sends_while_it_has_room_and_a_rewrite_only_at_its_version,
            a_flows_origin_moves_only_from_where_the_send_read_it,
            an_attempt_is_counted_only_against_an_open_code_of_its_length_and_id,
            a_code_is_approved_once_and_never_from_its_expiry_on,
            an_approval_verifies_the_contact_and_takes_it_out_of_cleanup,
            a_pending_code_is_cancelled_once_and_an_expiry_recorded_once,
            a_wrong_attempt_is_recorded_on_the_current_code_only,
            a_failed_delivery_makes_the_code_unusable_and_sets_the_cooldown,
            an_approval_for_a_customer_makes_the_destination_its_verified_one,
            api_keys_are_added_once_listed_and_revoked,
            an_idempotency_key_is_claimed_replayed_refused_freed_and_taken_over,
            cleanup_pages_through_unverified_contacts_oldest_first,
            cleanup_deletes_only_old_unverified_contacts_without_a_live_code,
            an_app_is_enrolled_for_a_verified_contact_once_per_verification,
            app_checks_are_counted_in_a_window_and_lock_at_its_limit,
            an_app_time_step_is_accepted_once_for_the_secret_that_was_checked,
            a_call_code_is_replaced_while_open_and_within_its_readings,
            the_sms_after_a_call_replaces_its_code_once,
            inbound_calls_are_counted_per_number_and_window_up_to_the_limit,
            an_input_calls_code_is_counted_only_from_its_keypad,
        );
    };
    (@tests $store:expr; $($name:ident,)*) => {
        $(
            #[tokio::test]
            async fn $name() {
                let store = $store;
                $crate::store::conformance::$name(&store).await;
            }
        )*
    };
}

/// Six digits, five checks.
const SIX_DIGITS: CodeRules = CodeRules {
    length: 6,
    max_attempts: 5,
};

/// The time the checks start at (unix ms).
pub const T0: i64 = 1_800_000_000_000;

/// A phone contact, `n` telling them apart.
pub fn phone(n: u32) -> Destination {
    Destination::Sms(PhoneNumber::from_e164(&format!("+4930123456{n:02}")).expect("valid"))
}

/// An email contact.
pub fn email() -> Destination {
    Destination::Email(EmailAddress::parse("ada@example.com").expect("valid"))
}

/// A verification id made at `at`.
pub fn new_id(at: i64) -> VerificationId {
    VerificationId::generate(at).expect("the OS random number generator")
}

fn hash(id: &VerificationId) -> CodeHash {
    CodeHash {
        mac: id.as_str().as_bytes().to_vec(),
        key_id: "k1".to_owned(),
    }
}

/// The write of a first send of a six-digit code to `to` at `now`, alive for ten minutes,
/// five checks allowed.
pub fn first_send(to: &Destination, now: i64) -> SendWrite {
    let id = new_id(now);
    let expires_at = now + 600_000;
    let code = CurrentCode {
        verification_id: id.clone(),
        hash: hash(&id),
        expires_at,
        attempts: 0,
        max_attempts: 5,
        state: CodeState::Pending,
        length: Some(6),
        channel: to.channel(),
        customer: None,
        wrong: None,
        call: None,
    };
    SendWrite {
        contact: ContactRecord {
            destination: to.clone(),
            status: ContactStatus::Unverified,
            first_name: PersonName::parse("Ada", "first_name").ok(),
            last_name: None,
            locale: Locale::parse("de-AT").expect("valid"),
            created_at: now,
            verified_at: None,
            recent_sends: vec![now],
            cooldown_until: now + 30_000,
            current: Some(code),
            verification_ids: vec![id.clone()],
            fallback: None,
            version: 1,
        },
        expected_version: None,
        verification: VerificationRecord::pending(
            (id, to.clone(), to.channel()),
            now,
            expires_at,
            SIX_DIGITS,
        ),
        replaced: None,
        client: None,
        origin: None,
    }
}

/// The write of the next send to the contact `held` at `now`, replacing its code if that is
/// pending, as the service does.
pub fn next_send(held: &ContactRecord, now: i64) -> SendWrite {
    let mut write = first_send(&held.destination, now);
    let old = held.current.as_ref().expect("a code was sent");
    write.expected_version = Some(held.version);
    write.replaced =
        (old.state == CodeState::Pending).then(|| (old.verification_id.clone(), old.attempts));
    let contact = &mut write.contact;
    contact.version = held.version + 1;
    contact.created_at = held.created_at;
    contact.status = held.status;
    contact.verified_at = held.verified_at;
    // Only an unverified contact keeps its verifications' ids, for cleanup.
    contact.verification_ids = match held.status {
        ContactStatus::Unverified => {
            let mut ids = held.verification_ids.clone();
            ids.push(write.verification.id.clone());
            ids
        }
        ContactStatus::Verified => Vec::new(),
    };
    write
}

/// Stores a first send to `to` at `now`; its verification's id.
pub async fn sent(store: &dyn Store, to: &Destination, now: i64) -> VerificationId {
    let write = first_send(to, now);
    store.record_send(&write).await.expect("stored");
    write.verification.id
}

/// The contact as stored.
pub async fn contact(store: &dyn Store, to: &Destination) -> ContactRecord {
    store.contact(to).await.expect("read").expect("a contact")
}

/// The verification as stored.
pub async fn verification(store: &dyn Store, id: &VerificationId) -> VerificationRecord {
    store
        .verification(id)
        .await
        .expect("read")
        .expect("a verification")
}

/// A check of a six-digit code at `now`, by id when `id` is given.
pub fn attempt(to: &Destination, id: Option<&VerificationId>, now: i64) -> Attempt {
    Attempt {
        destination: to.clone(),
        expected: id.cloned(),
        length: LengthCheck {
            length: 6,
            matches_unrecorded: true,
        },
        now,
        keypad: false,
    }
}

/// The approval of `id`'s code at `now`, its first check.
pub fn approval(to: &Destination, id: &VerificationId, by_id: bool, now: i64) -> CodeApproval {
    CodeApproval {
        destination: to.clone(),
        id: id.clone(),
        by_id,
        now,
        customer: None,
        attempts: 1,
    }
}

/// A flow's progress as a send at `now` leaves it.
pub fn progress(latest: &VerificationId, now: i64) -> FallbackState {
    FallbackState {
        channels: ChannelList::parse("sms,email").expect("valid"),
        position: 1,
        expires_at: now + 600_000,
        next_at: now + 30_000,
        latest: Some(latest.clone()),
    }
}

/// A pending TOTP factor for `to`, enrolled at `now`, with `secret` as its sealed bytes.
pub fn factor(to: &Destination, secret: u8, now: i64) -> TotpFactor {
    let sealed = SealedSecret {
        key_id: "k1".to_owned(),
        bytes: vec![secret; 36],
    };
    TotpFactor::pending(to.clone(), sealed, now, now + 600_000)
}

/// An app's approved check at `now`.
pub fn app_approval(to: &Destination, now: i64) -> VerificationRecord {
    VerificationRecord::app_approval((new_id(now), to.clone()), now, 0, SIX_DIGITS)
}

/// An API key's record.
pub fn api_key(id: &str, now: i64) -> ApiKeyRecord {
    ApiKeyRecord {
        id: ApiKeyId::parse(id).expect("an id"),
        hash: format!("{id:0>64}"),
        name: format!("key {id}"),
        created_at: now,
        revoked_at: None,
        scopes: crate::domain::Scopes::ALL,
        max_sends: None,
    }
}

/// Code `id` of contact `to`.
pub fn code(to: &Destination, id: &VerificationId) -> CodeRef {
    CodeRef {
        destination: to.clone(),
        id: id.clone(),
    }
}

/// A check of `to`'s app at `now`.
pub fn app_check(to: &Destination, lock: AppLock, now: i64) -> AppCheck {
    AppCheck {
        destination: to.clone(),
        lock,
        now,
    }
}

/// Step `step` of `factor`, accepted with `approval`.
pub fn accepted(
    factor: impl std::borrow::Borrow<TotpFactor>,
    step: u64,
    approval: impl std::borrow::Borrow<VerificationRecord>,
) -> AcceptedStep {
    AcceptedStep {
        factor: factor.borrow().clone(),
        step,
        approval: approval.borrow().clone(),
    }
}

/// A page of cleanup's candidates.
pub fn stale_query(created_before: i64, after: Option<StaleCursor>, limit: u32) -> StaleQuery {
    StaleQuery {
        created_before,
        after,
        limit,
    }
}

/// Contact `to`, to delete if it is still stale.
pub fn stale(to: &Destination, created_before: i64, now: i64) -> StaleContact {
    StaleContact {
        destination: to.clone(),
        created_before,
        now,
    }
}
