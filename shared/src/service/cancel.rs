//! Cancelling a verification (keyed): its code stops working.

use crate::domain::{VerificationId, VerificationStatus};
use crate::store::CodeRef;

use super::check::{EXPIRED, NEVER_DELIVERED};
use super::status::{StatusView, record_and_status};
use super::{Core, ServiceError};

/// Cancels a pending (or locked) verification: its code stops working. Cancelling a
/// cancelled verification answers the same, so that a retry is safe.
pub async fn cancel(core: &Core, id: &VerificationId) -> Result<StatusView, ServiceError> {
    let (record, view) = record_and_status(core, id).await?;
    if !cancellable(view.status)? {
        return Ok(view);
    }
    let attempts = record.checks_made(view.attempts_remaining);
    let code = CodeRef {
        destination: record.destination.clone(),
        id: id.clone(),
    };
    if core.store.cancel(&code, attempts).await? {
        tracing::info!(verification_id = %id, "canceled");
        return Ok(StatusView {
            status: VerificationStatus::Canceled,
            ..view
        });
    }
    // Changed meanwhile (approved, replaced, cancelled by another request): say what.
    let (_, now) = record_and_status(core, id).await?;
    match cancellable(now.status)? {
        false => Ok(now),
        true => Err(ServiceError::Unavailable(
            "the verification changed during the cancel; retry".to_owned(),
        )),
    }
}

/// Whether a verification with this status can be cancelled (`Ok(false)`: it already is);
/// the refusal for the others.
fn cancellable(status: VerificationStatus) -> Result<bool, ServiceError> {
    match status {
        VerificationStatus::Pending | VerificationStatus::Locked => Ok(true),
        VerificationStatus::Canceled => Ok(false),
        VerificationStatus::Approved => Err(ServiceError::AlreadyApproved),
        VerificationStatus::Replaced => Err(ServiceError::Replaced),
        VerificationStatus::Expired => Err(ServiceError::Expired(EXPIRED)),
        VerificationStatus::Failed => Err(ServiceError::Expired(NEVER_DELIVERED)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventType;
    use crate::service::testing::{Harness, phone, wrong};
    use crate::service::{CheckTarget, status};

    #[tokio::test]
    async fn a_cancel_stops_the_code_and_is_safe_to_repeat() {
        let h = Harness::new(&[]);
        let sent = h.send(&phone()).await.expect("sent");
        let code = h.last_code();
        let id = sent.verification_id.clone();
        h.check(CheckTarget::Id(id.clone()), &wrong(&code))
            .await
            .expect_err("wrong");
        let canceled = cancel(&h.core, &id).await.expect("canceled");
        assert_eq!(canceled.status, VerificationStatus::Canceled);
        assert_eq!(canceled.attempts_remaining, 4);
        let again = cancel(&h.core, &id).await.expect("a retry is fine");
        assert_eq!(again.status, VerificationStatus::Canceled);
        let by_id = h.check(CheckTarget::Id(id.clone()), &code).await;
        assert!(matches!(by_id, Err(ServiceError::Canceled)), "{by_id:?}");
        let by_phone = h.check(CheckTarget::Destination(phone()), &code).await;
        assert!(
            matches!(by_phone, Err(ServiceError::NotFound(_))),
            "{by_phone:?}"
        );
        assert_eq!(
            status(&h.core, &id).await.expect("status").status,
            VerificationStatus::Canceled
        );
        let resend_it = h.resend(&id).await;
        assert!(
            matches!(resend_it, Err(ServiceError::Canceled)),
            "{resend_it:?}"
        );
        assert_eq!(
            h.event_kinds(),
            [
                EventType::Sent,
                EventType::IncorrectCode,
                EventType::Canceled
            ],
            "one canceled event for two cancels"
        );
    }

    #[tokio::test]
    async fn an_approved_or_expired_verification_is_not_canceled() {
        let h = Harness::new(&[("CODE_TTL_SECONDS", "60"), ("RESEND_COOLDOWN_SECONDS", "0")]);
        let sent = h.send(&phone()).await.expect("sent");
        h.check(
            CheckTarget::Id(sent.verification_id.clone()),
            &h.last_code(),
        )
        .await
        .expect("approved");
        let approved = cancel(&h.core, &sent.verification_id).await;
        assert!(
            matches!(approved, Err(ServiceError::AlreadyApproved)),
            "{approved:?}"
        );
        let later = h.send(&phone()).await.expect("sent");
        h.advance(60);
        let expired = cancel(&h.core, &later.verification_id).await;
        assert!(
            matches!(expired, Err(ServiceError::Expired(_))),
            "{expired:?}"
        );
        let unknown = cancel(&h.core, &VerificationId::generate(1).expect("rng")).await;
        assert!(
            matches!(unknown, Err(ServiceError::NotFound(_))),
            "{unknown:?}"
        );
    }
}
