//! Interactive calls (`channel=call`): which pending call verification a call is for, the
//! fresh code a call reads (its hash replaces the stored one: no code is ever kept where it
//! could be read back), the SMS after a call that read none, and the inbound-call limit.
//! Checking the digits a call collects is [`check`](super::check), as for `POST /verify`.

use crate::channels::Sender;
use crate::domain::{
    CallMode, CodeHasher, ContactRecord, Destination, Locale, OtpCode, PhoneNumber, VerificationId,
};
use crate::messages::MessageBuilder;
use crate::store::{CodeRef, CodeReplacement, InboundCall, Replacement};

use super::send::short_key;
use super::{Core, ServiceError, limits, random_failure};

/// A call verification that is still pending: what a call needs to know of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingCall {
    /// The verification.
    pub verification_id: VerificationId,
    /// The number called (or calling).
    pub phone: PhoneNumber,
    /// Read the code, or take it on the keypad.
    pub mode: CallMode,
    /// The language the call speaks.
    pub locale: Locale,
    /// The code's number of digits.
    pub code_length: u8,
    /// Checks left.
    pub attempts_remaining: u32,
    /// When the code expires (unix ms).
    pub expires_at: i64,
    /// Whether an SMS follows a call that read no code.
    pub sms_after_call: bool,
}

impl PendingCall {
    /// The verification's code as `contact` holds it, if it is `id` (when given), a call's,
    /// and still open at `now`.
    fn of(
        core: &Core,
        contact: &ContactRecord,
        id: Option<&VerificationId>,
        now: i64,
    ) -> Option<Self> {
        let Destination::Sms(phone) = &contact.destination else {
            return None;
        };
        let code = contact.current.as_ref()?;
        let call = code.call?;
        let open = code.status(now) == crate::domain::VerificationStatus::Pending;
        if !open || id.is_some_and(|id| *id != code.verification_id) {
            return None;
        }
        Some(Self {
            verification_id: code.verification_id.clone(),
            phone: phone.clone(),
            mode: call.mode,
            locale: contact.locale.clone(),
            code_length: code.length.unwrap_or(core.config.code_length),
            attempts_remaining: code.attempts_remaining(),
            expires_at: code.expires_at,
            sms_after_call: call.sms_after_call && !call.sms_sent && call.reads == 0,
        })
    }

    fn code_ref(&self) -> CodeRef {
        CodeRef {
            destination: Destination::Sms(self.phone.clone()),
            id: self.verification_id.clone(),
        }
    }
}

/// The call verification `id`, if it is still pending.
pub async fn pending_call(
    core: &Core,
    id: &VerificationId,
) -> Result<Option<PendingCall>, ServiceError> {
    let Some(record) = core.store.verification(id).await? else {
        return Ok(None);
    };
    let now = core.clock.now_ms();
    Ok(core
        .store
        .contact(&record.destination)
        .await?
        .and_then(|contact| PendingCall::of(core, &contact, Some(id), now)))
}

/// The pending call verification of the number `phone`, which is calling in.
pub async fn pending_call_from(
    core: &Core,
    phone: &PhoneNumber,
) -> Result<Option<PendingCall>, ServiceError> {
    let now = core.clock.now_ms();
    Ok(core
        .store
        .contact(&Destination::Sms(phone.clone()))
        .await?
        .and_then(|contact| PendingCall::of(core, &contact, None, now)))
}

/// A fresh code for a call to read, whose hash replaces the stored one (so a code read
/// earlier, or sent at the start, stops working). `None` when the verification is no
/// longer open, or calls read it `CALL_MAX_REPEATS + 1` times already.
pub async fn code_to_read(
    core: &Core,
    hasher: &CodeHasher,
    call: &PendingCall,
) -> Result<Option<OtpCode>, ServiceError> {
    let code = fresh_code(core, call)?;
    let replaced = core
        .store
        .replace_code(&CodeReplacement {
            code: call.code_ref(),
            hash: hasher.hash(&call.verification_id, &code),
            now: core.clock.now_ms(),
            reason: Replacement::Read {
                max_reads: core.config.calls.max_repeats + 1,
            },
        })
        .await?;
    Ok(replaced.then_some(code))
}

/// After a call that read no code and approved nothing: sends a fresh code by SMS, once,
/// if the verification asked for it and is still open. `true` when an SMS went out.
pub async fn sms_after_call(
    core: &Core,
    hasher: &CodeHasher,
    sender: &dyn Sender,
    id: &VerificationId,
) -> Result<bool, ServiceError> {
    let Some(call) = pending_call(core, id).await? else {
        return Ok(false);
    };
    if !call.sms_after_call {
        return Ok(false);
    }
    let code = fresh_code(core, &call)?;
    let now = core.clock.now_ms();
    let replaced = core
        .store
        .replace_code(&CodeReplacement {
            code: call.code_ref(),
            hash: hasher.hash(&call.verification_id, &code),
            now,
            reason: Replacement::SmsAfterCall,
        })
        .await?;
    if !replaced {
        return Ok(false);
    }
    let config = &core.config;
    let to = Destination::Sms(call.phone.clone());
    if config.is_test_destination(&to) {
        tracing::info!(to = %to.masked(), verification_id = %id, "test destination: no SMS after the call");
        return Ok(true);
    }
    let seconds_left = u32::try_from((call.expires_at - now + 999).max(0) / 1_000).unwrap_or(0);
    let messages = MessageBuilder::new(
        &config.brand_name,
        seconds_left,
        config.webotp_domain.as_deref(),
    );
    match sender
        .send_sms(&call.phone, &messages.sms(&call.locale, &code))
        .await
    {
        Ok(()) => {
            tracing::info!(to = %to.masked(), verification_id = %id, "code sent by SMS after the call");
            Ok(true)
        }
        Err(e) => {
            // The code it replaced is gone and this one never arrived: the verification is
            // recorded as undelivered, with its cooldown lifted, so a resend goes at once.
            tracing::warn!(to = %to.masked(), verification_id = %id, error = %e, "SMS after the call failed");
            let until = limits::cooldown_after_failed_delivery(core.clock.now_ms());
            core.store
                .record_delivery_failure(&call.code_ref(), until)
                .await?;
            Err(ServiceError::DeliveryFailed)
        }
    }
}

/// Counts an inbound call from `phone` in its window; `false` when the number called
/// `MAX_INBOUND_CALLS_PER_WINDOW` times already (the call is then rejected unanswered).
pub async fn admit_inbound(core: &Core, phone: &PhoneNumber) -> Result<bool, ServiceError> {
    let now = core.clock.now_ms();
    let window_ms = i64::from(core.config.send_window_seconds) * 1_000;
    let window_start = now - now.rem_euclid(window_ms);
    let caller = short_key("caller", phone.as_str());
    Ok(core
        .store
        .count_inbound_call(&InboundCall {
            caller,
            window_start,
            max: core.config.calls.max_inbound_per_window,
            expires_at: window_start + 2 * window_ms,
        })
        .await?)
}

/// A new code of the verification's length (a test destination's fixed one in test mode).
fn fresh_code(core: &Core, call: &PendingCall) -> Result<OtpCode, ServiceError> {
    let to = Destination::Sms(call.phone.clone());
    match core.config.test_code_for(&to, call.code_length) {
        Some(fixed) => Ok(fixed),
        None => OtpCode::generate(call.code_length).map_err(random_failure),
    }
}
