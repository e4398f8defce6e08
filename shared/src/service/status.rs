//! A verification's status, for workflows that poll, derived from its record and its
//! contact.

use crate::domain::{
    Channel, Destination, VerificationId, VerificationRecord, VerificationState, VerificationStatus,
};

use super::{Core, ServiceError};

/// A verification's status, for workflows that poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusView {
    /// Its id.
    pub verification_id: VerificationId,
    /// Its status.
    pub status: VerificationStatus,
    /// SMS or email.
    pub channel: Channel,
    /// The masked destination.
    pub to: String,
    /// The destination, for a keyed caller that gave it.
    pub destination: Destination,
    /// When it was made (unix ms).
    pub created_at: i64,
    /// When it was approved (unix ms).
    pub verified_at: Option<i64>,
    /// When its code expires (unix ms).
    pub expires_at: i64,
    /// Checks left.
    pub attempts_remaining: u32,
}

/// Looks a verification up and derives its status from its record and its contact.
pub async fn status(core: &Core, id: &VerificationId) -> Result<StatusView, ServiceError> {
    Ok(record_and_status(core, id).await?.1)
}

/// A verification's record and its status, derived from the record and (while pending)
/// its contact; an expiry seen here is recorded once.
pub(super) async fn record_and_status(
    core: &Core,
    id: &VerificationId,
) -> Result<(VerificationRecord, StatusView), ServiceError> {
    let now = core.clock.now_ms();
    let record = core
        .store
        .verification(id)
        .await?
        .ok_or(ServiceError::NotFound("no verification has this id"))?;
    let settled_remaining = record
        .max_attempts
        .saturating_sub(record.final_attempts.unwrap_or(0));
    let (status, attempts_remaining) = match record.state {
        VerificationState::Approved => (VerificationStatus::Approved, settled_remaining),
        VerificationState::Replaced => (VerificationStatus::Replaced, settled_remaining),
        VerificationState::Failed => (VerificationStatus::Failed, settled_remaining),
        VerificationState::Canceled => (VerificationStatus::Canceled, settled_remaining),
        VerificationState::Expired => (VerificationStatus::Expired, settled_remaining),
        VerificationState::Pending => {
            let contact = core.store.contact(&record.destination).await?;
            match contact
                .and_then(|c| c.current)
                .filter(|c| c.verification_id == *id)
            {
                Some(code) => (code.status(now), code.attempts_remaining()),
                None if record.expires_at <= now => (VerificationStatus::Expired, 0),
                None => (VerificationStatus::Replaced, 0),
            }
        }
    };
    if status == VerificationStatus::Expired && record.state == VerificationState::Pending {
        core.note_expired(&record.id, record.checks_made(attempts_remaining))
            .await;
    }
    let view = StatusView {
        verification_id: record.id.clone(),
        status,
        channel: record.channel,
        to: record.destination.masked(),
        destination: record.destination.clone(),
        created_at: record.created_at,
        verified_at: record.verified_at,
        expires_at: record.expires_at,
        attempts_remaining,
    };
    Ok((record, view))
}

/// The status of a destination's newest code, from its contact alone (one read): what a
/// check by destination was about.
pub async fn current_status(
    core: &Core,
    destination: &Destination,
) -> Result<StatusView, ServiceError> {
    let now = core.clock.now_ms();
    let code = core
        .store
        .contact(destination)
        .await?
        .and_then(|c| c.current)
        .ok_or(ServiceError::NotFound(
            "no verification was sent to this destination",
        ))?;
    let status = code.status(now);
    Ok(StatusView {
        created_at: code.verification_id.created_at(),
        attempts_remaining: code.attempts_remaining(),
        verification_id: code.verification_id,
        status,
        channel: code.channel,
        to: destination.masked(),
        destination: destination.clone(),
        verified_at: None,
        expires_at: code.expires_at,
    })
}
