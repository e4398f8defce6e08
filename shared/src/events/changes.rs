//! Outcome events made from the changes of stored records: what a write did, seen after
//! the fact (the table's stream: each record before and after). Every outcome is a change
//! of one record, so an outcome that was stored always has its events:
//!
//! | change of | events |
//! |---|---|
//! | a verification created pending | `sent` |
//! | a verification's `state` becoming `approved` (or created approved: an app code) | `approved` |
//! | … becoming `failed`, `canceled`, `expired` | `delivery_failed`, `canceled`, `expired` |
//! | a pending verification deleted (its TTL, or cleanup after its expiry) | `expired` |
//! | a contact's current code getting a new wrong attempt (`code_wrong`) | `incorrect_code`, and `locked` for the last attempt |

use crate::domain::{ContactRecord, Destination, VerificationRecord, VerificationState};
use crate::time::rfc3339;

use super::{Event, EventType};

/// One stored record before and after a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A verification (`V#…`).
    Verification {
        /// Before (none: created).
        old: Option<Box<VerificationRecord>>,
        /// After (none: deleted).
        new: Option<Box<VerificationRecord>>,
    },
    /// A contact (`C#…`).
    Contact {
        /// Before (none: created).
        old: Option<Box<ContactRecord>>,
        /// After (none: deleted).
        new: Option<Box<ContactRecord>>,
    },
    /// A record no event is made from.
    Other,
}

/// A change and its place in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordChange {
    /// The stream record's id: the same each time the record is delivered again.
    pub record_id: String,
    /// About when the write happened (unix ms).
    pub at: i64,
    /// What it changed.
    pub change: Change,
}

/// The events of one change, in the order they happened. `is_test` tells a test
/// destination (`TEST_DESTINATIONS`).
pub fn events(change: &RecordChange, is_test: &dyn Fn(&Destination) -> bool) -> Vec<Event> {
    match &change.change {
        Change::Verification { old, new } => {
            verification_events(change, old.as_deref(), new.as_deref(), is_test)
        }
        Change::Contact { old, new } => {
            contact_events(change, old.as_deref(), new.as_deref(), is_test)
        }
        Change::Other => Vec::new(),
    }
}

fn verification_events(
    change: &RecordChange,
    old: Option<&VerificationRecord>,
    new: Option<&VerificationRecord>,
    is_test: &dyn Fn(&Destination) -> bool,
) -> Vec<Event> {
    let event = |kind, v: &VerificationRecord, at| {
        Event::new(
            kind,
            &change.record_id,
            &v.id,
            (&v.destination, v.channel),
            is_test(&v.destination),
            at,
        )
    };
    let Some(v) = new else {
        // Deleted: by its TTL (a day after its expiry) or by cleanup (after its expiry). One
        // still pending was never approved, cancelled or seen expired: it expired unused.
        return match old {
            Some(v) if v.state == VerificationState::Pending => {
                vec![event(EventType::Expired, v, change.at)]
            }
            _ => Vec::new(),
        };
    };
    if old.is_some_and(|o| o.state == v.state) {
        return Vec::new();
    }
    let (kind, at) = match v.state {
        VerificationState::Pending if old.is_none() => (EventType::Sent, v.created_at),
        VerificationState::Approved => (EventType::Approved, v.verified_at.unwrap_or(change.at)),
        VerificationState::Failed => (EventType::DeliveryFailed, change.at),
        VerificationState::Canceled => (EventType::Canceled, change.at),
        VerificationState::Expired => (EventType::Expired, change.at),
        VerificationState::Pending | VerificationState::Replaced => return Vec::new(),
    };
    let mut e = event(kind, v, at);
    if kind == EventType::Sent {
        e.expires_at = Some(rfc3339(v.expires_at));
    }
    vec![e]
}

fn contact_events(
    change: &RecordChange,
    old: Option<&ContactRecord>,
    new: Option<&ContactRecord>,
    is_test: &dyn Fn(&Destination) -> bool,
) -> Vec<Event> {
    let Some((contact, code)) = new.and_then(|c| Some((c, c.current.as_ref()?))) else {
        return Vec::new();
    };
    let Some(wrong) = code.wrong else {
        return Vec::new();
    };
    let before = old
        .and_then(|o| o.current.as_ref())
        .filter(|o| o.verification_id == code.verification_id)
        .and_then(|o| o.wrong);
    if before == Some(wrong) {
        return Vec::new();
    }
    let remaining = code.max_attempts.saturating_sub(wrong);
    let event = |kind| {
        let mut e = Event::new(
            kind,
            &change.record_id,
            &code.verification_id,
            (&contact.destination, code.channel),
            is_test(&contact.destination),
            change.at,
        );
        e.attempts_remaining = Some(remaining);
        e
    };
    let mut events = vec![event(EventType::IncorrectCode)];
    if remaining == 0 {
        events.push(event(EventType::Locked));
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        Channel, CodeHash, CodeState, ContactStatus, Country, CurrentCode, Locale, PhoneNumber,
        VerificationId,
    };

    const AT: i64 = 1_800_000_000_000;

    fn phone() -> Destination {
        let us = Country::parse("US").expect("country");
        Destination::Sms(PhoneNumber::parse("+12025550123", us).expect("phone"))
    }

    fn id() -> VerificationId {
        VerificationId::generate(AT).expect("id")
    }

    fn verification(id: &VerificationId, state: VerificationState) -> Box<VerificationRecord> {
        Box::new(VerificationRecord {
            id: id.clone(),
            destination: phone(),
            channel: Channel::Sms,
            fallback: None,
            created_at: AT - 5_000,
            expires_at: AT + 595_000,
            state,
            verified_at: (state == VerificationState::Approved).then_some(AT - 1_000),
            approved_by_id: false,
            enrolled_at: None,
            final_attempts: None,
            max_attempts: 5,
            code_length: Some(6),
            customer: None,
        })
    }

    fn contact(id: &VerificationId, attempts: u32, wrong: Option<u32>) -> Box<ContactRecord> {
        Box::new(ContactRecord {
            destination: phone(),
            status: ContactStatus::Unverified,
            first_name: None,
            last_name: None,
            locale: Locale::default(),
            created_at: AT - 5_000,
            verified_at: None,
            recent_sends: vec![AT - 5_000],
            cooldown_until: AT + 25_000,
            current: Some(CurrentCode {
                verification_id: id.clone(),
                hash: CodeHash {
                    mac: vec![1; 32],
                    key_id: "k".to_owned(),
                },
                expires_at: AT + 595_000,
                attempts,
                max_attempts: 5,
                state: CodeState::Pending,
                length: Some(6),
                channel: Channel::Sms,
                customer: None,
                wrong,
                call: None,
            }),
            verification_ids: vec![id.clone()],
            fallback: None,
            version: 3,
        })
    }

    fn of(change: Change) -> Vec<Event> {
        let change = RecordChange {
            record_id: "r1".to_owned(),
            at: AT,
            change,
        };
        events(&change, &|_| false)
    }

    fn kinds(events: &[Event]) -> Vec<EventType> {
        events.iter().map(|e| e.kind).collect()
    }

    #[test]
    fn each_state_a_verification_enters_is_its_event() {
        let id = id();
        let sent = of(Change::Verification {
            old: None,
            new: Some(verification(&id, VerificationState::Pending)),
        });
        assert_eq!(kinds(&sent), [EventType::Sent]);
        assert_eq!(
            sent[0].expires_at.as_deref(),
            Some(rfc3339(AT + 595_000).as_str())
        );
        assert_eq!(sent[0].occurred_at, rfc3339(AT - 5_000));
        assert_eq!(sent[0].event_id, "r1:sent");
        assert_eq!(sent[0].to, phone().masked());
        for (state, kind) in [
            (VerificationState::Approved, EventType::Approved),
            (VerificationState::Failed, EventType::DeliveryFailed),
            (VerificationState::Canceled, EventType::Canceled),
            (VerificationState::Expired, EventType::Expired),
        ] {
            let events = of(Change::Verification {
                old: Some(verification(&id, VerificationState::Pending)),
                new: Some(verification(&id, state)),
            });
            assert_eq!(kinds(&events), [kind], "{state:?}");
            assert_eq!(events[0].verification_id, id.to_string());
            assert!(events[0].expires_at.is_none() && events[0].attempts_remaining.is_none());
        }
        // An app code's verification is created approved, at its approval's time.
        let app = of(Change::Verification {
            old: None,
            new: Some(verification(&id, VerificationState::Approved)),
        });
        assert_eq!(kinds(&app), [EventType::Approved]);
        assert_eq!(app[0].occurred_at, rfc3339(AT - 1_000));
    }

    #[test]
    fn no_event_without_a_new_state() {
        let id = id();
        for (old, new) in [
            (VerificationState::Approved, VerificationState::Approved),
            (VerificationState::Pending, VerificationState::Pending),
            (VerificationState::Pending, VerificationState::Replaced),
        ] {
            let events = of(Change::Verification {
                old: Some(verification(&id, old)),
                new: Some(verification(&id, new)),
            });
            assert!(events.is_empty(), "{old:?} -> {new:?}: {events:?}");
        }
        assert!(of(Change::Other).is_empty());
    }

    #[test]
    fn a_pending_verification_deleted_expired_and_a_finished_one_did_not() {
        let id = id();
        let gone = of(Change::Verification {
            old: Some(verification(&id, VerificationState::Pending)),
            new: None,
        });
        assert_eq!(kinds(&gone), [EventType::Expired]);
        assert_eq!(gone[0].occurred_at, rfc3339(AT));
        for state in [VerificationState::Approved, VerificationState::Expired] {
            let events = of(Change::Verification {
                old: Some(verification(&id, state)),
                new: None,
            });
            assert!(events.is_empty(), "{state:?}");
        }
    }

    #[test]
    fn a_wrong_attempt_recorded_is_incorrect_code_and_the_last_also_locked() {
        let id = id();
        // The count alone (the comparison not made yet, or the code was right): nothing.
        let counted = of(Change::Contact {
            old: Some(contact(&id, 0, None)),
            new: Some(contact(&id, 1, None)),
        });
        assert!(counted.is_empty(), "{counted:?}");
        let wrong = of(Change::Contact {
            old: Some(contact(&id, 2, Some(1))),
            new: Some(contact(&id, 2, Some(2))),
        });
        assert_eq!(kinds(&wrong), [EventType::IncorrectCode]);
        assert_eq!(wrong[0].attempts_remaining, Some(3));
        assert_eq!(wrong[0].event_id, "r1:incorrect_code");
        // Another write to the contact that leaves the mark as it was: nothing again.
        let unchanged = of(Change::Contact {
            old: Some(contact(&id, 2, Some(2))),
            new: Some(contact(&id, 3, Some(2))),
        });
        assert!(unchanged.is_empty(), "{unchanged:?}");
        let last = of(Change::Contact {
            old: Some(contact(&id, 5, Some(4))),
            new: Some(contact(&id, 5, Some(5))),
        });
        assert_eq!(kinds(&last), [EventType::IncorrectCode, EventType::Locked]);
        assert!(last.iter().all(|e| e.attempts_remaining == Some(0)));
        assert_eq!(last[1].event_id, "r1:locked");
        // A new code's first wrong attempt, after another code's mark.
        let other = of(Change::Contact {
            old: Some(contact(
                &VerificationId::generate(AT).expect("id"),
                1,
                Some(1),
            )),
            new: Some(contact(&id, 1, Some(1))),
        });
        assert_eq!(kinds(&other), [EventType::IncorrectCode]);
    }

    #[test]
    fn a_test_destination_is_marked() {
        let id = id();
        let change = RecordChange {
            record_id: "r".to_owned(),
            at: AT,
            change: Change::Verification {
                old: None,
                new: Some(verification(&id, VerificationState::Pending)),
            },
        };
        assert!(events(&change, &|d| *d == phone())[0].test);
    }
}
