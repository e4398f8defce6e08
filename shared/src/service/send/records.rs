//! The records one try of a send writes: the contact with its new code, the verification,
//! and a fallback flow's progress.

use crate::config::Config;
use crate::domain::{
    CallMode, CallState, Channel, CodeHasher, CodeRules, CodeState, ContactRecord, ContactStatus,
    CurrentCode, FallbackState, Locale, OtpCode, VerificationId, VerificationRecord,
};
use crate::store::{ClientSends, OriginUpdate, SendWrite};

use super::super::fallback::FlowStep;
use super::super::{Core, ServiceError, limits, random_failure};
use super::{MAX_TRACKED_VERIFICATIONS, Plan, SendRequest};

/// The writes of one try, from the contact as it is (`existing`), and the code they store
/// the hash of; refused by the limits before anything is written.
pub(super) fn prepare(
    core: &Core,
    hasher: &CodeHasher,
    plan: &Plan<'_>,
    existing: Option<&ContactRecord>,
    client_log: &Option<ClientSends>,
    now: i64,
) -> Result<(SendWrite, OtpCode), ServiceError> {
    let config = &core.config;
    let request = plan.request;
    let recent_sends = limits::destination_sends(config, existing, now)?;
    let client = limits::send_slot(config, request, client_log.clone(), now)?;
    let id = VerificationId::generate(now).map_err(random_failure)?;
    let code = plan.code()?;
    let expires_at = now + i64::from(plan.ttl_seconds) * 1_000;
    let current = CurrentCode {
        verification_id: id.clone(),
        hash: hasher.hash(&id, &code),
        expires_at,
        attempts: 0,
        max_attempts: limits::max_attempts(config),
        state: CodeState::Pending,
        length: Some(plan.code_length),
        channel: request.channel,
        customer: request.customer.clone(),
        wrong: None,
        call: (request.channel == Channel::Call).then(|| {
            CallState::new(
                request.options.call_mode.unwrap_or(CallMode::Read),
                request.options.sms_after_call,
            )
        }),
    };
    let (fallback, origin) =
        flow_progress(config, plan.flow, request, existing, &id, expires_at, now);
    let replaced = existing
        .and_then(|c| c.current.as_ref())
        // An expired code's record may already be gone through its TTL; it needs no update.
        .filter(|old| old.state == CodeState::Pending && old.expires_at > now)
        .map(|old| (old.verification_id.clone(), old.attempts));
    let write = SendWrite {
        expected_version: existing.map(|c| c.version),
        verification: verification_record(config, plan, &id, expires_at, now),
        contact: contact_record(
            config,
            request,
            existing,
            current,
            recent_sends,
            fallback,
            now,
        ),
        replaced,
        client,
        origin,
    };
    Ok((write, code))
}

/// The contact as this send leaves it: the new code current, the send counted, the names
/// and language kept unless the request gives new ones.
fn contact_record(
    config: &Config,
    request: &SendRequest,
    existing: Option<&ContactRecord>,
    current: CurrentCode,
    recent_sends: Vec<i64>,
    fallback: Option<FallbackState>,
    now: i64,
) -> ContactRecord {
    let status = existing.map_or(ContactStatus::Unverified, |c| c.status);
    // An unverified contact keeps its verifications' ids, so that cleanup deletes them too.
    let mut verification_ids = match (existing, status) {
        (Some(c), ContactStatus::Unverified) => c.verification_ids.clone(),
        _ => Vec::new(),
    };
    if status == ContactStatus::Unverified {
        verification_ids.push(current.verification_id.clone());
        let excess = verification_ids
            .len()
            .saturating_sub(MAX_TRACKED_VERIFICATIONS);
        verification_ids.drain(..excess);
    }
    ContactRecord {
        destination: request.destination.clone(),
        status,
        first_name: request
            .first_name
            .clone()
            .or_else(|| existing.and_then(|c| c.first_name.clone())),
        last_name: request
            .last_name
            .clone()
            .or_else(|| existing.and_then(|c| c.last_name.clone())),
        locale: locale_of(request, existing),
        created_at: existing.map_or(now, |c| c.created_at),
        verified_at: existing.and_then(|c| c.verified_at),
        recent_sends,
        cooldown_until: limits::cooldown_until(config, now),
        current: Some(current),
        verification_ids,
        fallback,
        version: existing.map_or(1, |c| c.version + 1),
    }
}

/// The message language: the request's, else the contact's, else the default.
fn locale_of(request: &SendRequest, existing: Option<&ContactRecord>) -> Locale {
    request
        .locale
        .clone()
        .or_else(|| existing.map(|c| c.locale.clone()))
        .unwrap_or_default()
}

/// The new verification's record, pending.
fn verification_record(
    config: &Config,
    plan: &Plan<'_>,
    id: &VerificationId,
    expires_at: i64,
    now: i64,
) -> VerificationRecord {
    let request = plan.request;
    let rules = CodeRules {
        length: plan.code_length,
        max_attempts: limits::max_attempts(config),
    };
    VerificationRecord {
        fallback: request.fallback.clone(),
        customer: request.customer.clone(),
        ..VerificationRecord::pending(
            (id.clone(), request.destination.clone(), request.channel),
            now,
            expires_at,
            rules,
        )
    }
}

/// A fallback flow's progress after this send: on this contact when it is the flow's
/// origin, else on the origin, in the same transaction. A send outside a flow ends any flow
/// that started here.
fn flow_progress(
    config: &Config,
    flow: Option<&FlowStep>,
    request: &SendRequest,
    existing: Option<&ContactRecord>,
    id: &VerificationId,
    expires_at: i64,
    now: i64,
) -> (Option<FallbackState>, Option<OriginUpdate>) {
    let Some(step) = flow else {
        return (None, None);
    };
    let progress = FallbackState {
        channels: step.channels.clone(),
        position: step.position,
        expires_at,
        next_at: limits::cooldown_until(config, now),
        latest: Some(id.clone()),
    };
    if step.origin == request.destination {
        return (Some(progress), None);
    }
    let origin = OriginUpdate {
        origin: step.origin.clone(),
        progress,
        expected_latest: step.latest.clone(),
    };
    (existing.and_then(|c| c.fallback.clone()), Some(origin))
}
