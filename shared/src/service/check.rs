//! Checking a code: the attempt is counted first, atomically (the attempt limit is in
//! [`limits`](super::limits)), then the code is compared in constant time, and a match
//! approves the verification and verifies the contact, once.

use crate::domain::{
    Channel, CodeHasher, CodeState, ContactRecord, CurrentCode, Destination, InputError,
    SubmittedCode, VerificationId, VerificationRecord, VerificationState,
};
use crate::metrics::Metric;
use crate::store::{Attempt, AttemptOutcome, CodeApproval, CodeRef, LengthCheck};

use super::{Core, ServiceError, limits};

/// Which verification a code is checked against.
#[derive(Debug, Clone)]
pub enum CheckTarget {
    /// A verification by its id.
    Id(VerificationId),
    /// The pending verification of a destination.
    Destination(Destination),
}

/// A code that was right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// The approved verification.
    pub verification_id: VerificationId,
    /// When (unix ms).
    pub verified_at: i64,
    /// The contact it verified.
    pub destination: Destination,
    /// How its code went.
    pub channel: Channel,
}

pub(super) const EXPIRED: &str = "the code has expired";
pub(super) const NEVER_DELIVERED: &str = "this code was never delivered; request a new one";
const NO_PENDING: &str = "there is no pending verification for this destination";
const KEYPAD_ONLY: &str =
    "this code is checked on the call it was shown for: type it on the phone's keypad";

/// Checks a code: counts the attempt first, atomically, then compares in constant time,
/// and on a match approves the verification and verifies the contact.
pub async fn check(
    core: &Core,
    hasher: &CodeHasher,
    target: CheckTarget,
    code: &SubmittedCode,
) -> Result<Approval, ServiceError> {
    check_from(core, hasher, target, code, false).await
}

/// [`check`] for a code typed on the keypad of its own call (the calls function): the only
/// check a call in `mode=input`'s code accepts.
pub async fn check_on_keypad(
    core: &Core,
    hasher: &CodeHasher,
    id: &VerificationId,
    code: &SubmittedCode,
) -> Result<Approval, ServiceError> {
    check_from(core, hasher, CheckTarget::Id(id.clone()), code, true).await
}

async fn check_from(
    core: &Core,
    hasher: &CodeHasher,
    target: CheckTarget,
    code: &SubmittedCode,
    keypad: bool,
) -> Result<Approval, ServiceError> {
    let now = core.clock.now_ms();
    let lengths = Lengths::new(core, code);
    let (destination, by_id) = resolve(core, &lengths, target).await?;
    let attempt = Attempt {
        destination: destination.clone(),
        expected: by_id.as_ref().map(|r| r.id.clone()),
        length: lengths.check,
        now,
        keypad,
    };
    let counted = match core.store.count_attempt(&attempt).await? {
        AttemptOutcome::Counted(code) => code,
        AttemptOutcome::Refused(contact) => {
            if by_id.is_none()
                && let Some(e) =
                    lengths.wrong(contact.as_ref().and_then(|c| c.current.as_ref()?.length))
            {
                return Err(e);
            }
            return Err(refused(core, contact.as_deref(), by_id.as_ref(), now).await);
        }
    };
    let id = counted.verification_id.clone();
    if !hasher.matches(&id, code, &counted.hash) {
        return Err(wrong_code(core, &destination, &counted).await);
    }
    let approval = CodeApproval {
        destination: destination.clone(),
        id: id.clone(),
        by_id: by_id.is_some(),
        now,
        customer: counted.customer.clone(),
        attempts: counted.attempts,
    };
    if core.store.approve(&approval).await? {
        tracing::info!(verification_id = %id, "approved");
        let id_text = id.to_string();
        let channel = counted.channel;
        core.metrics
            .count(Metric::Approvals, channel, &[("verification_id", &id_text)]);
        return Ok(Approval {
            verification_id: id,
            verified_at: now,
            destination,
            channel,
        });
    }
    // Something changed between the count and the approval (a concurrent right code, a
    // resend, a cancel): read the contact again and say what.
    let contact = core.store.contact(&destination).await?;
    if by_id.is_none()
        && matches!(contact.as_ref().and_then(|c| c.current.as_ref()), Some(c) if c.verification_id != id)
    {
        return Err(ServiceError::NotFound(NO_PENDING));
    }
    Err(refused(core, contact.as_ref(), by_id.as_ref(), now).await)
}

/// The submitted code's length, against the stored codes' lengths.
struct Lengths<'a> {
    code: &'a SubmittedCode,
    default: u8,
    /// The condition the count holds the stored code to.
    check: LengthCheck,
}

impl<'a> Lengths<'a> {
    fn new(core: &Core, code: &'a SubmittedCode) -> Self {
        let default = core.config.code_length;
        // A code of a length that no verification here has is a format error, as before any
        // lookup; one of the usual length may match a code stored before lengths were.
        Self {
            code,
            default,
            check: LengthCheck {
                length: code.length(),
                matches_unrecorded: code.length() == default,
            },
        }
    }

    /// The format error when a code of `expected` length was due.
    fn wrong(&self, expected: Option<u8>) -> Option<ServiceError> {
        let expected = expected.unwrap_or(self.default);
        (expected != self.code.length())
            .then(|| ServiceError::Refused(self.code.wrong_length(expected)))
    }
}

/// The destination a check is against, and (by id) the verification's record, which must
/// be pending.
async fn resolve(
    core: &Core,
    lengths: &Lengths<'_>,
    target: CheckTarget,
) -> Result<(Destination, Option<VerificationRecord>), ServiceError> {
    let id = match target {
        CheckTarget::Destination(d) => return Ok((d, None)),
        CheckTarget::Id(id) => id,
    };
    let Some(record) = core.store.verification(&id).await? else {
        return Err(lengths
            .wrong(None)
            .unwrap_or(ServiceError::NotFound("no verification has this id")));
    };
    if let Some(e) = lengths.wrong(record.code_length) {
        return Err(e);
    }
    match record.state {
        VerificationState::Approved => Err(ServiceError::AlreadyApproved),
        VerificationState::Replaced => Err(ServiceError::Replaced),
        VerificationState::Failed => Err(ServiceError::Expired(NEVER_DELIVERED)),
        VerificationState::Canceled => Err(ServiceError::Canceled),
        VerificationState::Expired => Err(ServiceError::Expired(EXPIRED)),
        VerificationState::Pending => Ok((record.destination.clone(), Some(record))),
    }
}

/// A counted attempt with the wrong code: recorded as wrong on the contact (the change the
/// `incorrect_code` and `locked` events are made from) and counted in the metrics. The
/// answer does not wait on that record: the attempt is counted already, and a failed record
/// costs its events only (logged and counted).
async fn wrong_code(core: &Core, destination: &Destination, counted: &CurrentCode) -> ServiceError {
    let (id, channel) = (&counted.verification_id, counted.channel);
    let remaining = counted.attempts_remaining();
    tracing::info!(verification_id = %id, remaining, "incorrect code");
    let id_text = id.to_string();
    let properties = [("verification_id", id_text.as_str())];
    core.metrics.count(Metric::WrongCodes, channel, &properties);
    if remaining == 0 {
        core.metrics.count(Metric::Lockouts, channel, &properties);
    }
    let code = CodeRef {
        destination: destination.clone(),
        id: id.clone(),
    };
    if let Err(e) = core.store.mark_wrong(&code, counted.attempts).await {
        tracing::error!(verification_id = %id, error = %e, "wrong attempt not recorded: its events are lost");
        core.metrics
            .count(Metric::EventsNotPublished, channel, &properties);
    }
    ServiceError::IncorrectCode {
        attempts_remaining: remaining,
    }
}

/// Why an attempt was not counted ([`refusal`]); an expiry seen here is recorded once.
async fn refused(
    core: &Core,
    contact: Option<&ContactRecord>,
    by_id: Option<&VerificationRecord>,
    now: i64,
) -> ServiceError {
    let reason = refusal(contact, by_id, now);
    if matches!(reason, ServiceError::Expired(EXPIRED)) {
        // The expired code is the contact's current one, or (by id) one whose contact has
        // moved on to a newer code, with its checks unknown here.
        let current = contact.and_then(|c| c.current.as_ref());
        let expired = match (by_id, current) {
            (Some(v), Some(c)) if c.verification_id == v.id => Some((&v.id, c.attempts)),
            (Some(v), _) => Some((&v.id, 0)),
            (None, Some(c)) => Some((&c.verification_id, c.attempts)),
            (None, None) => None,
        };
        if let Some((id, attempts)) = expired {
            core.note_expired(id, attempts).await;
        }
    }
    reason
}

/// Why an attempt was not counted, from the contact as it was. By destination, the only
/// reasons given are expiry and lockout; everything else is a bare 404.
fn refusal(
    contact: Option<&ContactRecord>,
    by_id: Option<&VerificationRecord>,
    now: i64,
) -> ServiceError {
    let current = contact.and_then(|c| c.current.as_ref());
    let Some(code) = current else {
        return match by_id {
            Some(v) if v.expires_at <= now => ServiceError::Expired(EXPIRED),
            _ => ServiceError::NotFound(NO_PENDING),
        };
    };
    if let Some(v) = by_id
        && code.verification_id != v.id
    {
        return if v.expires_at <= now {
            ServiceError::Expired(EXPIRED)
        } else {
            ServiceError::Replaced
        };
    }
    match code.state {
        CodeState::Approved if by_id.is_some() => ServiceError::AlreadyApproved,
        CodeState::Failed if by_id.is_some() => ServiceError::Expired(NEVER_DELIVERED),
        CodeState::Canceled if by_id.is_some() => ServiceError::Canceled,
        CodeState::Approved | CodeState::Failed | CodeState::Canceled => {
            ServiceError::NotFound(NO_PENDING)
        }
        CodeState::Pending if code.expires_at <= now => ServiceError::Expired(EXPIRED),
        CodeState::Pending if code.attempts >= code.max_attempts => limits::locked(contact, now),
        CodeState::Pending if code.keypad_only() => {
            ServiceError::Refused(InputError::InvalidField {
                field: "code",
                message: KEYPAD_ONLY.to_owned(),
            })
        }
        CodeState::Pending => ServiceError::NotFound(NO_PENDING),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ContactStatus, VerificationStatus};
    use crate::service::status;
    use crate::service::testing::{Harness, phone, wrong};

    #[tokio::test]
    async fn the_right_code_approves_once_and_only_once() {
        let h = Harness::new(&[]);
        let sent = h.send(&phone()).await.expect("sent");
        let code = h.last_code();
        let ok = h
            .check(CheckTarget::Id(sent.verification_id.clone()), &code)
            .await
            .expect("approved");
        assert_eq!(ok.verification_id, sent.verification_id);
        assert_eq!(h.store.contacts()[0].status, ContactStatus::Verified);
        let again = h
            .check(CheckTarget::Id(sent.verification_id.clone()), &code)
            .await;
        assert!(
            matches!(again, Err(ServiceError::AlreadyApproved)),
            "{again:?}"
        );
        let by_phone = h.check(CheckTarget::Destination(phone()), &code).await;
        assert!(
            matches!(by_phone, Err(ServiceError::NotFound(_))),
            "{by_phone:?}"
        );
    }

    #[tokio::test]
    async fn an_approved_verification_keeps_the_count_of_its_checks() {
        let h = Harness::new(&[]);
        let sent = h.send(&phone()).await.expect("sent");
        let id = CheckTarget::Id(sent.verification_id.clone());
        let code = h.last_code();
        let r = h.check(id.clone(), &wrong(&code)).await;
        assert!(
            matches!(r, Err(ServiceError::IncorrectCode { .. })),
            "{r:?}"
        );
        h.check(id, &code).await.expect("approved");
        let view = status(&h.core, &sent.verification_id)
            .await
            .expect("status");
        assert_eq!(view.status, VerificationStatus::Approved);
        assert_eq!(
            view.attempts_remaining, 3,
            "5 allowed, a wrong and the right one made"
        );
    }

    #[tokio::test]
    async fn an_expired_code_is_refused_without_counting() {
        let h = Harness::new(&[("CODE_TTL_SECONDS", "60")]);
        let sent = h.send(&phone()).await.expect("sent");
        let code = h.last_code();
        h.advance(60);
        let r = h
            .check(CheckTarget::Id(sent.verification_id.clone()), &code)
            .await;
        assert!(matches!(r, Err(ServiceError::Expired(_))), "{r:?}");
        let view = status(&h.core, &sent.verification_id)
            .await
            .expect("status");
        assert_eq!(view.status, VerificationStatus::Expired);
        assert_eq!(view.attempts_remaining, 5);
    }
}
