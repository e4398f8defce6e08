//! Approving a verification without its code (keyed): for a caller that confirmed the
//! person another way (Twilio Verify's `Status=approved`). The code is spent like an
//! approval by code; the contact is verified.

use crate::domain::{VerificationId, VerificationStatus};
use crate::metrics::Metric;
use crate::store::CodeApproval;

use super::check::{EXPIRED, NEVER_DELIVERED};
use super::status::{StatusView, record_and_status};
use super::{Core, ServiceError};

/// Approves a pending verification; approving an approved one answers the same, so that a
/// retry is safe. A cancelled, replaced, expired, failed or locked one is refused.
pub async fn approve(core: &Core, id: &VerificationId) -> Result<StatusView, ServiceError> {
    let (record, view) = record_and_status(core, id).await?;
    match view.status {
        VerificationStatus::Approved => return Ok(view),
        VerificationStatus::Pending => {}
        VerificationStatus::Locked => {
            return Err(ServiceError::TooManyAttempts { retry_after: 1 });
        }
        VerificationStatus::Canceled => return Err(ServiceError::Canceled),
        VerificationStatus::Replaced => return Err(ServiceError::Replaced),
        VerificationStatus::Expired => return Err(ServiceError::Expired(EXPIRED)),
        VerificationStatus::Failed => return Err(ServiceError::Expired(NEVER_DELIVERED)),
    }
    let now = core.clock.now_ms();
    let approval = CodeApproval {
        destination: record.destination.clone(),
        id: id.clone(),
        by_id: false,
        now,
        customer: record.customer.clone(),
        // Approved without a check: the checks made so far are its count.
        attempts: record.checks_made(view.attempts_remaining),
    };
    if !core.store.approve(&approval).await? {
        // Changed meanwhile (a right code, a resend, a cancel): say what it is now.
        let (_, now_view) = record_and_status(core, id).await?;
        return match now_view.status {
            VerificationStatus::Approved => Ok(now_view),
            _ => Err(ServiceError::Unavailable(
                "the verification changed during the approval; retry".to_owned(),
            )),
        };
    }
    tracing::info!(verification_id = %id, "approved by a keyed caller");
    let id_text = id.to_string();
    core.metrics.count(
        Metric::Approvals,
        record.channel,
        &[("verification_id", &id_text)],
    );
    Ok(StatusView {
        status: VerificationStatus::Approved,
        verified_at: Some(now),
        ..view
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventType;
    use crate::service::testing::{Harness, phone};
    use crate::service::{CheckTarget, cancel, status};

    #[tokio::test]
    async fn a_keyed_approval_verifies_the_contact_spends_the_code_and_is_safe_to_repeat() {
        let h = Harness::new(&[]);
        let sent = h.send(&phone()).await.expect("sent");
        let code = h.last_code();
        let view = approve(&h.core, &sent.verification_id)
            .await
            .expect("approved");
        assert_eq!(view.status, VerificationStatus::Approved);
        assert!(view.verified_at.is_some());
        let again = approve(&h.core, &sent.verification_id)
            .await
            .expect("the same");
        assert_eq!(again.status, VerificationStatus::Approved);
        let spent = h.check(CheckTarget::Destination(phone()), &code).await;
        assert!(matches!(spent, Err(ServiceError::NotFound(_))), "{spent:?}");
        assert_eq!(h.metrics.counted(Metric::Approvals), 1);
        assert_eq!(h.event_kinds(), [EventType::Sent, EventType::Approved]);
        let view = status(&h.core, &sent.verification_id)
            .await
            .expect("status");
        assert_eq!(view.attempts_remaining, 5, "approved without a check");
    }

    #[tokio::test]
    async fn a_cancelled_verification_is_not_approved() {
        let h = Harness::new(&[]);
        let sent = h.send(&phone()).await.expect("sent");
        cancel(&h.core, &sent.verification_id)
            .await
            .expect("canceled");
        let r = approve(&h.core, &sent.verification_id).await;
        assert!(matches!(r, Err(ServiceError::Canceled)), "{r:?}");
    }
}
