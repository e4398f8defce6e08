//! The conformance checks of sends and code checks.

use super::*;

/// What a test asserts of a store's answer: the value, or a panic naming the error.
fn ok<T>(result: StoreResult<T>) -> T {
    result.unwrap_or_else(|e| panic!("the store failed: {e}"))
}

/// A contact and its verification read back as they were written: every field.
pub async fn a_first_send_stores_the_contact_and_its_verification_as_they_are(store: &dyn Store) {
    assert_eq!(ok(store.contact(&phone(1)).await), None);
    let write = first_send(&phone(1), T0);
    ok(store.record_send(&write).await);
    assert_eq!(contact(store, &phone(1)).await, write.contact);
    assert_eq!(
        verification(store, &write.verification.id).await,
        write.verification
    );
    assert_eq!(ok(store.verification(&new_id(T0)).await), None);
}

/// The write of a send holds only if the contact is at the version it read, and a refused
/// write hands back the contact as it is (so the next try needs no read).
pub async fn a_send_from_a_stale_version_conflicts_and_hands_the_contact_back(store: &dyn Store) {
    sent(store, &phone(1), T0).await;
    let held = contact(store, &phone(1)).await;
    // As for a new contact, where one exists.
    let as_new = first_send(&phone(1), T0 + 1_000);
    match store.record_send(&as_new).await {
        Err(StoreError::Conflict(Some(current))) => assert_eq!(*current, held),
        other => panic!("{other:?}"),
    }
    let mut stale = next_send(&held, T0 + 2_000);
    stale.expected_version = Some(held.version + 5);
    match store.record_send(&stale).await {
        Err(StoreError::Conflict(Some(current))) => assert_eq!(*current, held),
        other => panic!("{other:?}"),
    }
    assert_eq!(contact(store, &phone(1)).await, held, "nothing changed");
    assert_eq!(ok(store.verification(&as_new.verification.id).await), None);
}

/// A resend marks the code it read as replaced, with its checks; a second resend that read
/// the same code is refused whole.
pub async fn a_send_replaces_the_pending_code_it_read_and_only_that_one(store: &dyn Store) {
    let first = sent(store, &phone(1), T0).await;
    let held = contact(store, &phone(1)).await;
    let mut resend = next_send(&held, T0 + 30_000);
    resend.replaced = Some((first.clone(), 2));
    ok(store.record_send(&resend).await);
    let old = verification(store, &first).await;
    assert_eq!(
        (old.state, old.final_attempts),
        (VerificationState::Replaced, Some(2))
    );
    let now = contact(store, &phone(1)).await;
    assert_eq!(now, resend.contact);
    // A resend that names a code already replaced is refused whole.
    let mut late = next_send(&now, T0 + 60_000);
    late.replaced = Some((first, 0));
    assert!(
        matches!(store.record_send(&late).await, Err(StoreError::Conflict(_))),
        "a replaced code was replaced again"
    );
    assert_eq!(contact(store, &phone(1)).await, now);
}

fn slot(client: &str, now: i64, replace: Option<ClientSends>) -> ClientSlot {
    ClientSlot {
        client: client.to_owned(),
        now,
        max: 2,
        expires_at: now + 3_600_000,
        replace,
    }
}

/// Appends need no read while the log has room; a full log is refused with the log as it
/// is, and may then be rewritten, but only at the version it was read at.
pub async fn the_client_log_takes_sends_while_it_has_room_and_a_rewrite_only_at_its_version(
    store: &dyn Store,
) {
    for (n, at) in [(1, T0), (2, T0 + 1_000)] {
        let mut write = first_send(&phone(n), at);
        write.client = Some(slot("c1", at, None));
        ok(store.record_send(&write).await);
    }
    let mut third = first_send(&phone(3), T0 + 2_000);
    third.client = Some(slot("c1", T0 + 2_000, None));
    let log = match store.record_send(&third).await {
        Err(StoreError::ClientLimited(Some(log))) => log,
        other => panic!("{other:?}"),
    };
    assert_eq!(log.sends, [T0, T0 + 1_000]);
    assert_eq!(ok(store.contact(&phone(3)).await), None, "all or nothing");
    // Another client has a log of its own.
    let mut other = first_send(&phone(4), T0 + 2_000);
    other.client = Some(slot("c2", T0 + 2_000, None));
    ok(store.record_send(&other).await);
    // A rewrite at a stale version is refused; at the version read, it holds.
    let stale = ClientSends {
        sends: vec![T0 + 1_000],
        version: log.version + 1,
    };
    third.client = Some(slot("c1", T0 + 2_000, Some(stale)));
    assert!(matches!(
        store.record_send(&third).await,
        Err(StoreError::ClientLimited(_))
    ));
    let kept = ClientSends {
        sends: vec![T0 + 1_000],
        version: log.version,
    };
    third.client = Some(slot("c1", T0 + 2_000, Some(kept)));
    ok(store.record_send(&third).await);
    let mut fourth = first_send(&phone(5), T0 + 3_000);
    fourth.client = Some(slot("c1", T0 + 3_000, None));
    match store.record_send(&fourth).await {
        Err(StoreError::ClientLimited(Some(log))) => {
            assert_eq!(log.sends, [T0 + 1_000, T0 + 2_000])
        }
        other => panic!("{other:?}"),
    }
}

/// A send to a flow's next destination moves the flow on its origin contact, in the same
/// transaction, only if the flow's newest verification is the one the send read.
pub async fn a_flows_origin_moves_only_from_where_the_send_read_it(store: &dyn Store) {
    let mut start = first_send(&phone(1), T0);
    start.contact.fallback = Some(progress(&start.verification.id, T0));
    ok(store.record_send(&start).await);
    let origin = contact(store, &phone(1)).await;
    let mut step = first_send(&email(), T0 + 30_000);
    step.origin = Some(OriginUpdate {
        origin: phone(1),
        progress: progress(&step.verification.id, T0 + 30_000),
        expected_latest: Some(new_id(T0 + 1)),
    });
    assert!(matches!(
        store.record_send(&step).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(ok(store.contact(&email()).await), None, "all or nothing");
    assert_eq!(contact(store, &phone(1)).await, origin);
    step.origin = Some(OriginUpdate {
        origin: phone(1),
        progress: progress(&step.verification.id, T0 + 30_000),
        expected_latest: Some(start.verification.id.clone()),
    });
    ok(store.record_send(&step).await);
    let moved = contact(store, &phone(1)).await;
    assert_eq!(
        moved.fallback,
        Some(progress(&step.verification.id, T0 + 30_000))
    );
    assert_eq!(moved.version, origin.version + 1);
    assert_eq!(moved.current, origin.current, "only the flow moved");
}

/// An attempt is counted only against a pending, unexpired, unlocked code of the checked
/// length (and, by id, of that id), and the count comes back with the code.
pub async fn an_attempt_is_counted_only_against_an_open_code_of_its_length_and_id(
    store: &dyn Store,
) {
    let id = sent(store, &phone(1), T0).await;
    let expiry = T0 + 600_000;
    let refused = |outcome: AttemptOutcome| matches!(outcome, AttemptOutcome::Refused(Some(_)));
    let other = new_id(T0 + 5);
    assert!(refused(ok(store
        .count_attempt(&attempt(&phone(1), Some(&other), T0))
        .await)));
    let mut four = attempt(&phone(1), Some(&id), T0);
    four.length.length = 4;
    assert!(refused(ok(store.count_attempt(&four).await)));
    assert!(refused(ok(store
        .count_attempt(&attempt(&phone(1), Some(&id), expiry))
        .await)));
    assert!(matches!(
        ok(store.count_attempt(&attempt(&phone(2), None, T0)).await),
        AttemptOutcome::Refused(None)
    ));
    for n in 1..=5 {
        match ok(store
            .count_attempt(&attempt(&phone(1), Some(&id), expiry - 1))
            .await)
        {
            AttemptOutcome::Counted(code) => {
                assert_eq!(
                    (code.attempts, code.verification_id.clone()),
                    (n, id.clone())
                );
            }
            other => panic!("{other:?}"),
        }
    }
    match ok(store.count_attempt(&attempt(&phone(1), None, T0)).await) {
        AttemptOutcome::Refused(Some(c)) => {
            assert_eq!(c.current.map(|code| code.attempts), Some(5), "locked");
        }
        other => panic!("{other:?}"),
    }
}

/// The database's own conditions on an approval: the service never asks for one without
/// the other, so a missing condition would go unnoticed through it. TTL deletes late.
pub async fn a_code_is_approved_once_and_never_from_its_expiry_on(store: &dyn Store) {
    let to = phone(1);
    let id = sent(store, &to, T0).await;
    let expiry = T0 + 600_000;
    assert!(
        !ok(store.approve(&approval(&to, &id, true, expiry)).await),
        "approved at its expiry"
    );
    assert!(
        !ok(store
            .approve(&approval(&to, &new_id(T0 + 1), true, T0))
            .await),
        "another id"
    );
    let third_check = CodeApproval {
        attempts: 3,
        ..approval(&to, &id, true, expiry - 1)
    };
    assert!(ok(store.approve(&third_check).await));
    assert!(
        !ok(store.approve(&approval(&to, &id, true, expiry - 1)).await),
        "approved twice"
    );
    let record = verification(store, &id).await;
    assert_eq!(
        (
            record.state,
            record.verified_at,
            record.approved_by_id,
            record.final_attempts
        ),
        (VerificationState::Approved, Some(expiry - 1), true, Some(3))
    );
}

/// An approval verifies the contact (first time kept) and takes it out of cleanup's index.
pub async fn an_approval_verifies_the_contact_and_takes_it_out_of_cleanup(store: &dyn Store) {
    let id = sent(store, &phone(1), T0).await;
    sent(store, &phone(2), T0).await;
    assert!(ok(store
        .approve(&approval(&phone(1), &id, false, T0 + 1_000))
        .await));
    let c = contact(store, &phone(1)).await;
    assert_eq!(c.status, ContactStatus::Verified);
    assert_eq!(c.verified_at, Some(T0 + 1_000));
    assert!(c.verification_ids.is_empty());
    assert_eq!(c.current.map(|code| code.state), Some(CodeState::Approved));
    assert!(!verification(store, &id).await.approved_by_id);
    let page = ok(store.stale_contacts(&stale_query(T0 + 1, None, 10)).await);
    assert_eq!(page.destinations, [phone(2)]);
    // A later approval keeps the first verification time.
    let next = next_send(&contact(store, &phone(1)).await, T0 + 60_000);
    let second = next.verification.id.clone();
    ok(store.record_send(&next).await);
    assert!(ok(store
        .approve(&approval(&phone(1), &second, true, T0 + 61_000))
        .await));
    assert_eq!(
        contact(store, &phone(1)).await.verified_at,
        Some(T0 + 1_000)
    );
}

/// A cancel ends a pending code on both records, once; an expiry is recorded once.
pub async fn a_pending_code_is_cancelled_once_and_an_expiry_recorded_once(store: &dyn Store) {
    let id = sent(store, &phone(1), T0).await;
    assert!(!ok(store
        .cancel(&code(&phone(1), &new_id(T0 + 1)), 0)
        .await));
    assert!(ok(store.cancel(&code(&phone(1), &id), 2).await));
    assert!(
        !ok(store.cancel(&code(&phone(1), &id), 2).await),
        "cancelled twice"
    );
    let record = verification(store, &id).await;
    assert_eq!(
        (record.state, record.final_attempts),
        (VerificationState::Canceled, Some(2))
    );
    let code = contact(store, &phone(1)).await.current.expect("a code");
    assert_eq!(code.state, CodeState::Canceled);
    assert!(!ok(store
        .approve(&approval(&phone(1), &id, true, T0 + 1))
        .await));
    let other = sent(store, &phone(2), T0).await;
    assert!(ok(store.mark_expired(&other, 3).await));
    assert!(!ok(store.mark_expired(&other, 3).await), "recorded twice");
    assert!(
        !ok(store.mark_expired(&id, 0).await),
        "a cancelled code expired"
    );
    let record = verification(store, &other).await;
    assert_eq!(
        (record.state, record.final_attempts),
        (VerificationState::Expired, Some(3))
    );
}

/// A wrong attempt is recorded on the current code only, and a new code starts without one.
pub async fn a_wrong_attempt_is_recorded_on_the_current_code_only(store: &dyn Store) {
    let id = sent(store, &phone(1), T0).await;
    ok(store.mark_wrong(&code(&phone(1), &id), 2).await);
    let current = contact(store, &phone(1)).await.current.expect("a code");
    assert_eq!(current.wrong, Some(2));
    ok(store.mark_wrong(&code(&phone(1), &new_id(T0 + 1)), 3).await);
    let current = contact(store, &phone(1)).await.current.expect("a code");
    assert_eq!(current.wrong, Some(2), "another code's mark landed");
    let held = contact(store, &phone(1)).await;
    let write = next_send(&held, T0 + 60_000);
    ok(store.record_send(&write).await);
    let current = contact(store, &phone(1)).await.current.expect("a code");
    assert_eq!(current.wrong, None, "the new code inherited a mark");
}

/// A failed delivery makes the code unusable and sets the contact's cooldown; once the
/// contact has moved on to a newer code, only the verification's record changes.
pub async fn a_failed_delivery_makes_the_code_unusable_and_sets_the_cooldown(store: &dyn Store) {
    let id = sent(store, &phone(1), T0).await;
    ok(store
        .record_delivery_failure(&code(&phone(1), &id), T0 + 5)
        .await);
    let c = contact(store, &phone(1)).await;
    assert_eq!(c.cooldown_until, T0 + 5);
    assert_eq!(
        c.current.as_ref().map(|code| code.state),
        Some(CodeState::Failed)
    );
    assert_eq!(
        verification(store, &id).await.state,
        VerificationState::Failed
    );
    assert!(matches!(
        ok(store
            .count_attempt(&attempt(&phone(1), Some(&id), T0 + 10))
            .await),
        AttemptOutcome::Refused(_)
    ));
    // A newer send replaced the contact's code before an older failure was recorded.
    let older = sent(store, &phone(2), T0).await;
    let held = contact(store, &phone(2)).await;
    let mut newer = next_send(&held, T0 + 30_000);
    newer.replaced = None;
    ok(store.record_send(&newer).await);
    ok(store
        .record_delivery_failure(&code(&phone(2), &older), T0 + 31_000)
        .await);
    assert_eq!(contact(store, &phone(2)).await, newer.contact);
    assert_eq!(
        verification(store, &older).await.state,
        VerificationState::Failed
    );
}

/// A code sent for a customer carries it (on the contact's code and on the verification), and
/// its approval makes the destination the customer's verified one of its kind, in the same
/// transaction; a newer approval of the same kind replaces it.
pub async fn an_approval_for_a_customer_makes_the_destination_its_verified_one(store: &dyn Store) {
    let customer = CustomerId::parse("ACCT-123456").expect("an id").key();
    assert_eq!(ok(store.customer(&customer).await), None);
    let for_customer = |to: &Destination, at: i64| {
        let mut write = first_send(to, at);
        if let Some(code) = write.contact.current.as_mut() {
            code.customer = Some(customer.clone());
        }
        write.verification.customer = Some(customer.clone());
        write
    };
    let approve = |to: &Destination, id: &VerificationId, at: i64| CodeApproval {
        customer: Some(customer.clone()),
        ..approval(to, id, true, at)
    };
    let phone_send = for_customer(&phone(1), T0);
    ok(store.record_send(&phone_send).await);
    let held = contact(store, &phone(1)).await;
    assert_eq!(
        held.current.and_then(|c| c.customer),
        Some(customer.clone())
    );
    let id = phone_send.verification.id.clone();
    assert_eq!(
        verification(store, &id).await.customer,
        Some(customer.clone())
    );
    assert!(ok(store
        .approve(&approve(&phone(1), &id, T0 + 1_000))
        .await));
    let email_send = for_customer(&email(), T0 + 2_000);
    ok(store.record_send(&email_send).await);
    assert!(ok(store
        .approve(&approve(&email(), &email_send.verification.id, T0 + 3_000))
        .await));
    let record = ok(store.customer(&customer).await).expect("the customer");
    let phone_number = |d: Destination| match d {
        Destination::Sms(p) => p,
        Destination::Email(_) => unreachable!("a phone"),
    };
    let address = |d: Destination| match d {
        Destination::Email(e) => e,
        Destination::Sms(_) => unreachable!("an email"),
    };
    assert_eq!(record.phone, Some((phone_number(phone(1)), T0 + 1_000)));
    assert_eq!(record.email, Some((address(email()), T0 + 3_000)));
    // A new phone, verified later, is the customer's phone from then on.
    let newer = for_customer(&phone(2), T0 + 4_000);
    ok(store.record_send(&newer).await);
    assert!(ok(store
        .approve(&approve(&phone(2), &newer.verification.id, T0 + 5_000))
        .await));
    let record = ok(store.customer(&customer).await).expect("the customer");
    assert_eq!(record.phone, Some((phone_number(phone(2)), T0 + 5_000)));
    assert_eq!(record.email.map(|(_, at)| at), Some(T0 + 3_000));
    // A refused approval changes no customer.
    let other = CustomerId::parse("ACCT-999").expect("an id").key();
    let refused = CodeApproval {
        customer: Some(other.clone()),
        ..approval(&phone(2), &newer.verification.id, true, T0 + 6_000)
    };
    assert!(!ok(store.approve(&refused).await));
    assert_eq!(ok(store.customer(&other).await), None);
}
