//! Fallback flows (`channels=sms,voice,email`): which channel and destination the next
//! send of a flow takes. The flow's progress lives on the contact of its first destination.

use crate::domain::{
    ChannelList, CodeState, ContactRecord, Destination, FallbackState, InputError, VerificationId,
    VerificationState,
};

use super::send::{SendRequest, check_channel, check_destination};
use super::{Core, ServiceError, limits};

/// Where a send of a fallback flow stands: the flow's origin contact, as read, and the
/// position this send takes.
pub(super) struct FlowStep {
    /// The flow's first destination, which holds its progress.
    pub(super) origin: Destination,
    /// The origin contact as read.
    pub(super) held: Option<ContactRecord>,
    /// The flow's channels.
    pub(super) channels: ChannelList,
    /// The position this send takes.
    pub(super) position: usize,
    /// The flow's newest verification as read (none for a new flow).
    pub(super) latest: Option<VerificationId>,
}

/// Decides a fallback flow's next send: the first channel for a new flow; the next one when
/// the origin contact shows this flow with its newest code still live and its cooldown
/// over (too soon: `429`); the last one stays. Sets the request's channel and destination.
pub(super) async fn plan_fallback(
    core: &Core,
    request: &mut SendRequest,
) -> Result<Option<FlowStep>, ServiceError> {
    let Some(flow) = request.fallback.clone() else {
        return Ok(None);
    };
    let missing = || {
        ServiceError::Refused(InputError::MissingDestination {
            field: "channels",
            message: "a listed channel has no destination",
        })
    };
    let origin = flow.origin().ok_or_else(missing)?;
    // Every step must be possible, before the first is taken: a flow that could not go on
    // would stop at a step that can never send.
    for channel in flow.channels.channels() {
        let destination = flow.destination_for(*channel).ok_or_else(missing)?;
        check_channel(&core.config, *channel, &destination).map_err(|e| match e {
            InputError::UnusableChannel { message, .. } => InputError::UnusableChannel {
                field: "channels",
                message,
            },
            other => other,
        })?;
        if !core.config.is_test_destination(&destination) {
            check_destination(&core.config, &destination)?;
        }
    }
    let held = core.store.contact(&origin).await?;
    let now = core.clock.now_ms();
    let progress = held
        .as_ref()
        .and_then(|c| c.fallback.as_ref())
        .filter(|p| p.channels == flow.channels && p.expires_at > now);
    let next = |p: &FallbackState| (p.position + 1).min(flow.channels.last_position());
    let position = match progress {
        None => 0,
        Some(p) => match latest_code(core, held.as_ref(), p).await? {
            // Verified or cancelled: a sign-up now starts a new flow.
            Some(CodeState::Approved | CodeState::Canceled) => 0,
            // Never delivered: the next channel, at once.
            Some(CodeState::Failed) => next(p),
            // Still live: the next channel once the step's cooldown has ended.
            Some(CodeState::Pending) | None => {
                limits::check_cooldown(p.next_at, now)?;
                next(p)
            }
        },
    };
    let (channel, destination) = flow.step(position).ok_or_else(missing)?;
    request.channel = channel;
    request.destination = destination;
    let latest = progress.and_then(|p| p.latest.clone());
    Ok(Some(FlowStep {
        origin,
        held,
        channels: flow.channels,
        position,
        latest,
    }))
}

/// Where the flow's newest code stands: from its origin contact when it went there, else
/// from its verification record (one more read); `None` when it is not known.
async fn latest_code(
    core: &Core,
    origin: Option<&ContactRecord>,
    progress: &FallbackState,
) -> Result<Option<CodeState>, ServiceError> {
    let Some(id) = &progress.latest else {
        return Ok(None);
    };
    if let Some(code) = origin
        .and_then(|c| c.current.as_ref())
        .filter(|c| c.verification_id == *id)
    {
        return Ok(Some(code.state));
    }
    Ok(core
        .store
        .verification(id)
        .await?
        .and_then(|v| match v.state {
            VerificationState::Approved => Some(CodeState::Approved),
            VerificationState::Canceled => Some(CodeState::Canceled),
            VerificationState::Failed => Some(CodeState::Failed),
            VerificationState::Pending => Some(CodeState::Pending),
            VerificationState::Replaced | VerificationState::Expired => None,
        }))
}

#[cfg(test)]
mod tests {
    use crate::channels::memory::Sent;
    use crate::domain::{Channel, ContactStatus};
    use crate::service::testing::{Harness, VOICE, flow, phone};
    use crate::service::{CheckTarget, ServiceError, send};
    use crate::store::RecordStore;

    #[tokio::test]
    async fn a_fallback_moves_to_the_next_channel_after_each_cooldown_and_stays_on_the_last() {
        let h = Harness::new(&[VOICE]);
        let go = || send(&h.core, &h.hasher, &h.sender, flow("sms,voice,email"));
        assert_eq!(go().await.expect("sms").channel, Channel::Sms);
        let early = go().await;
        assert!(
            matches!(early, Err(ServiceError::ResendTooSoon { .. })),
            "{early:?}"
        );
        h.advance(30);
        assert_eq!(go().await.expect("voice").channel, Channel::Voice);
        h.advance(30);
        let third = go().await.expect("email");
        assert_eq!(third.channel, Channel::Email);
        assert_eq!(third.to, "a***@example.com");
        // Too soon for the flow, though the email contact itself has no cooldown running.
        h.advance(1);
        let early = go().await;
        assert!(
            matches!(early, Err(ServiceError::ResendTooSoon { .. })),
            "{early:?}"
        );
        h.advance(30);
        let fourth = go().await.expect("email again");
        assert_eq!(fourth.channel, Channel::Email, "the last channel stays");
        let kinds: Vec<&str> = h
            .sender
            .sent()
            .iter()
            .map(|m| match m {
                Sent::Sms(..) => "sms",
                Sent::Voice(..) => "voice",
                Sent::Email(..) => "email",
                Sent::Call(..) => "call",
            })
            .collect();
        assert_eq!(kinds, ["sms", "voice", "email", "email"]);
        // The email code approves the email contact, not the phone.
        let code = h.last_code();
        h.check(CheckTarget::Id(fourth.verification_id), &code)
            .await
            .expect("approved");
        let phone_contact = h
            .store
            .contact(&phone())
            .await
            .expect("read")
            .expect("kept");
        assert_eq!(phone_contact.status, ContactStatus::Unverified);
    }

    #[tokio::test]
    async fn a_verified_flow_starts_over_and_an_undelivered_step_moves_on_at_once() {
        let h = Harness::new(&[VOICE]);
        let go = || send(&h.core, &h.hasher, &h.sender, flow("sms,voice,email"));
        go().await.expect("sms");
        let code = h.last_code();
        h.check(CheckTarget::Destination(phone()), &code)
            .await
            .expect("approved");
        h.advance(30);
        // Signing in again after a success is a new flow: SMS first, not a call.
        assert_eq!(go().await.expect("a new flow").channel, Channel::Sms);
        h.advance(30);
        h.sender.set_failing(true);
        let failed = go().await;
        assert!(
            matches!(failed, Err(ServiceError::DeliveryFailed)),
            "{failed:?}"
        );
        h.sender.set_failing(false);
        // The call never went out: the next channel may be tried at once.
        assert_eq!(go().await.expect("email").channel, Channel::Email);
    }

    #[tokio::test]
    async fn a_resend_by_id_moves_a_flow_on_and_a_lapsed_flow_starts_over() {
        let h = Harness::new(&[VOICE]);
        let first = send(&h.core, &h.hasher, &h.sender, flow("email,sms"))
            .await
            .expect("email");
        assert_eq!(first.channel, Channel::Email);
        h.advance(30);
        let by_id = h.resend(&first.verification_id).await.expect("sms");
        assert_eq!(by_id.channel, Channel::Sms);
        // Once the flow's newest code has expired, the same sign-up starts at the first channel.
        h.advance(700);
        let again = send(&h.core, &h.hasher, &h.sender, flow("email,sms"))
            .await
            .expect("a new flow");
        assert_eq!(again.channel, Channel::Email);
    }
}
