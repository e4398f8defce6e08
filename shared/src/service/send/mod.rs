//! Sending a code: register the contact (or update it), hold it to the [`limits`], store a
//! fresh code's hash in one transaction that also replaces any pending code, then deliver
//! the code by its channel.
//!
//! [`limits`]: super::limits

use std::time::Duration;

use crate::channels::{self, Sender};
use crate::config::Config;
use crate::domain::{
    CallMode, Channel, CodeHasher, ContactRecord, CustomerKey, Destination, Fallback, InputError,
    Locale, OtpCode, PersonName, VerificationId, VerificationStatus, sha256_hex,
};
use crate::messages::MessageBuilder;
use crate::metrics::Metric;
use crate::store::{ClientSends, CodeRef, SendWrite, StoreError};

use super::fallback::{FlowStep, plan_fallback};
use super::status::record_and_status;
use super::{Core, ServiceError, limits, random_failure};

mod records;

use records::prepare;

/// A request to register a contact and send it a code.
#[derive(Debug, Clone)]
pub struct SendRequest {
    /// Where the code goes.
    pub destination: Destination,
    /// How: `sms` or `voice` to a phone number, `email` to an address.
    pub channel: Channel,
    /// An ordered list of channels, one per send (`channels=sms,voice,email`): when set, it
    /// decides `destination` and `channel` (see [`send`]).
    pub fallback: Option<Fallback>,
    /// Given name, if the form had one.
    pub first_name: Option<PersonName>,
    /// Family name, if the form had one.
    pub last_name: Option<PersonName>,
    /// The message language, if one was asked for.
    pub locale: Option<Locale>,
    /// The sending client (see [`client_key`]), for the per-client limit; `None` when the
    /// request did not come through the HTTP API, or came with an API key.
    pub client: Option<String>,
    /// A keyed caller's settings for this code.
    pub options: SendOptions,
    /// The customer it is sent for (a keyed caller's `customer_id`): its approval records
    /// the destination as that customer's.
    pub customer: Option<CustomerKey>,
}

/// A keyed caller's settings for one code (`docs/integrations/README.md`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendOptions {
    /// Digits, instead of `CODE_LENGTH`.
    pub code_length: Option<u8>,
    /// The code's life in seconds, instead of `CODE_TTL_SECONDS`.
    pub ttl_seconds: Option<u32>,
    /// A code the caller chose.
    pub custom_code: Option<OtpCode>,
    /// The name the message gives, instead of `BRAND_NAME` (checked with
    /// [`valid_brand`](crate::messages::valid_brand)).
    pub brand: Option<String>,
    /// The caller's key's own send limit, if it has one.
    pub key_limit: Option<KeyLimit>,
    /// An interactive call's mode (`channel=call`; read when not given).
    pub call_mode: Option<CallMode>,
    /// Whether an interactive call that reads no code is followed by an SMS with one.
    pub sms_after_call: bool,
}

/// A key's own send limit: the send log its sends are counted in, and how many a window
/// holds (`SEND_WINDOW_SECONDS`, as the others).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLimit {
    /// The log's key: `key.` and the key's public id.
    pub log: String,
    /// The most sends per window.
    pub max: u32,
}

impl KeyLimit {
    /// The limit of the key `id`, `max` sends per window.
    pub fn new(id: &crate::domain::ApiKeyId, max: u32) -> Self {
        Self {
            log: format!("key.{id}"),
            max,
        }
    }
}

impl SendRequest {
    /// A request for a code to `destination`, with nothing else: no names, the contact's
    /// language, no client and no keyed settings.
    pub fn new(destination: Destination) -> Self {
        Self {
            channel: destination.channel(),
            fallback: None,
            destination,
            first_name: None,
            last_name: None,
            locale: None,
            client: None,
            options: SendOptions::default(),
            customer: None,
        }
    }
}

/// The key of a client's send log: a hash of its source address, so the table holds no
/// addresses.
pub fn client_key(source_ip: &str) -> String {
    short_key("client", source_ip)
}

/// A 32-hex-digit key that stands for `value` (an address, a caller's number) in the table,
/// which thus holds a hash, never the value.
pub(crate) fn short_key(kind: &str, value: &str) -> String {
    let mut key = sha256_hex(&[kind, value]);
    key.truncate(32);
    key
}

/// A send that went out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendOutcome {
    /// The new verification.
    pub verification_id: VerificationId,
    /// How the code went: SMS, voice or email.
    pub channel: Channel,
    /// The masked destination.
    pub to: String,
    /// When the code expires (unix ms).
    pub expires_at: i64,
    /// Seconds until another send to this destination is allowed.
    pub resend_after: u32,
}

/// How often a send re-reads and tries again when a concurrent request changed the contact.
const SEND_TRIES: u32 = 6;
/// The most verification ids kept on an unverified contact for cleanup.
const MAX_TRACKED_VERIFICATIONS: usize = 50;

/// Refuses a channel that cannot reach the destination (`voice` to an email address,
/// `totp`), or that this stack has not enabled (`voice` without an origination identity).
pub fn check_channel(
    config: &Config,
    channel: Channel,
    destination: &Destination,
) -> Result<(), InputError> {
    let unusable = |message: &str| InputError::UnusableChannel {
        field: "channel",
        message: message.to_owned(),
    };
    match (channel, destination) {
        (Channel::Totp, _) => Err(unusable(
            "totp codes come from the authenticator app; enrol with POST /totp/enroll",
        )),
        (Channel::Voice, _) if config.voice_origination_identity.is_none() => Err(unusable(
            "voice is not enabled on this stack (VOICE_ORIGINATION_IDENTITY is not set)",
        )),
        (Channel::Call, _) if !config.calls.enabled() => Err(unusable(
            "call is not enabled on this stack (SIP_MEDIA_APPLICATION_ID and CALL_FROM_NUMBER are not set)",
        )),
        (Channel::Sms | Channel::Voice | Channel::Call, Destination::Sms(_))
        | (Channel::Email, Destination::Email(_)) => Ok(()),
        (Channel::Sms | Channel::Voice | Channel::Call, Destination::Email(_)) => {
            Err(unusable("sms, voice and call need a phone number"))
        }
        (Channel::Email, Destination::Sms(_)) => Err(unusable("email needs an email address")),
    }
}

/// Refuses calls and SMS to countries outside `SMS_ALLOWED_COUNTRIES` (when it is set) and
/// to number types that cannot receive a code or that cost more than an SMS should (SMS
/// pumping, and its voice twin, toll fraud).
pub fn check_destination(config: &Config, destination: &Destination) -> Result<(), InputError> {
    let Destination::Sms(phone) = destination else {
        return Ok(());
    };
    if let Some(kind) = phone.unfit_for_codes() {
        return Err(InputError::UnfitPhone(kind));
    }
    let allowed = &config.sms_allowed_countries;
    if !allowed.is_empty() && !phone.country().is_some_and(|c| allowed.contains(&c)) {
        return Err(InputError::CountryNotAllowed(
            phone
                .country()
                .map_or_else(|| "this region".to_owned(), |c| c.code()),
        ));
    }
    Ok(())
}

/// Refuses a call's options that cannot work together: a call in `mode=input` takes a code
/// the person was shown, so it needs the caller's `custom_code`; a call in `mode=read` reads
/// a code it makes when answered, so a `custom_code` would never be heard.
fn check_call_options(options: &SendOptions) -> Result<(), InputError> {
    match (options.call_mode.unwrap_or(CallMode::Read), &options.custom_code) {
        (CallMode::Input, None) => Err(InputError::InvalidField {
            field: "custom_code",
            message: "a call in mode=input asks for a code the person was shown: give it as custom_code".to_owned(),
        }),
        (CallMode::Read, Some(_)) => Err(InputError::InvalidField {
            field: "custom_code",
            message: "a call in mode=read reads a new code when it is answered; custom_code is for mode=input".to_owned(),
        }),
        _ => Ok(()),
    }
}

/// Registers the contact (or updates it), enforces the cooldown and the send window,
/// stores a fresh code's hash, replaces any pending code, and delivers the new one.
pub async fn send(
    core: &Core,
    hasher: &CodeHasher,
    sender: &dyn Sender,
    mut request: SendRequest,
) -> Result<SendOutcome, ServiceError> {
    let flow = plan_fallback(core, &mut request).await;
    // The channel the plan chose (or, when it refused, the one asked for).
    let channel = request.channel;
    let outcome = match flow {
        Ok(flow) => send_code(core, hasher, sender, request, flow).await,
        Err(e) => Err(e),
    };
    let metrics = &core.metrics;
    match &outcome {
        Ok(sent) => {
            let id = sent.verification_id.to_string();
            metrics.count(Metric::CodesSent, channel, &[("verification_id", &id)]);
        }
        Err(ServiceError::DeliveryFailed) => metrics.count(Metric::DeliveryFailures, channel, &[]),
        Err(ServiceError::ResendTooSoon { .. }) => {
            metrics.count(Metric::RateLimited, channel, &[("limit", "cooldown")]);
        }
        Err(ServiceError::TooManySends { .. }) => {
            metrics.count(Metric::RateLimited, channel, &[("limit", "destination")]);
        }
        Err(ServiceError::TooManySendsFromClient { .. }) => {
            metrics.count(Metric::RateLimited, channel, &[("limit", "client")]);
        }
        Err(ServiceError::TooManySendsForKey { .. }) => {
            metrics.count(Metric::RateLimited, channel, &[("limit", "key")]);
        }
        Err(_) => {}
    }
    outcome
}

/// Sends a new code to the destination of an earlier verification, for clients that hold
/// only its id (a form without JavaScript, an IVR). The earlier code is replaced; every
/// limit of [`send`] applies. A spent or superseded verification is not resent.
pub async fn resend(
    core: &Core,
    hasher: &CodeHasher,
    sender: &dyn Sender,
    id: &VerificationId,
    locale: Option<Locale>,
    client: Option<String>,
    options: SendOptions,
) -> Result<SendOutcome, ServiceError> {
    let (record, view) = record_and_status(core, id).await?;
    match view.status {
        VerificationStatus::Approved => return Err(ServiceError::AlreadyApproved),
        VerificationStatus::Replaced => return Err(ServiceError::Replaced),
        VerificationStatus::Canceled => return Err(ServiceError::Canceled),
        _ => {}
    }
    // The same channel again (a voice call says the code once more), or the flow's next.
    let request = SendRequest {
        locale,
        client,
        options,
        channel: record.channel,
        fallback: record.fallback,
        ..SendRequest::new(record.destination)
    };
    send(core, hasher, sender, request).await
}

/// What a send decided before its first try: the code's length and life, and, for a test
/// destination, its fixed code.
struct Plan<'a> {
    request: &'a SendRequest,
    flow: Option<&'a FlowStep>,
    code_length: u8,
    ttl_seconds: u32,
    /// A test destination's code: it gets no message.
    test_code: Option<OtpCode>,
}

impl<'a> Plan<'a> {
    /// Refuses a channel or destination that may not get this code.
    fn new(
        config: &Config,
        request: &'a SendRequest,
        flow: Option<&'a FlowStep>,
    ) -> Result<Self, ServiceError> {
        check_channel(config, request.channel, &request.destination)?;
        let options = &request.options;
        if request.channel == Channel::Call {
            check_call_options(options)?;
        }
        let code_length = options
            .custom_code
            .as_ref()
            .map(OtpCode::length)
            .or(options.code_length)
            .unwrap_or(config.code_length);
        // A test destination's code is fixed; it gets no message, so it is not checked either.
        let test_code = config.test_code_for(&request.destination, code_length);
        if test_code.is_none() {
            check_destination(config, &request.destination)?;
        }
        Ok(Self {
            request,
            flow,
            code_length,
            ttl_seconds: options.ttl_seconds.unwrap_or(config.code_ttl_seconds),
            test_code,
        })
    }

    /// The code to send: the caller's, the test destination's, or a fresh one.
    fn code(&self) -> Result<OtpCode, ServiceError> {
        match (&self.request.options.custom_code, &self.test_code) {
            (Some(custom), _) => Ok(custom.clone()),
            (None, Some(fixed)) => Ok(fixed.clone()),
            (None, None) => OtpCode::generate(self.code_length).map_err(random_failure),
        }
    }
}

async fn send_code(
    core: &Core,
    hasher: &CodeHasher,
    sender: &dyn Sender,
    request: SendRequest,
    flow: Option<FlowStep>,
) -> Result<SendOutcome, ServiceError> {
    let plan = Plan::new(&core.config, &request, flow.as_ref())?;
    let destination = &request.destination;
    // The first try reads nothing and writes as for a new contact: if the contact exists,
    // the refused write hands it back, and the second try decides from it. A first send is
    // thus one request, a resend two.
    let mut known: Option<Option<ContactRecord>> = match &flow {
        // A flow read its origin already.
        Some(step) if step.origin == *destination => Some(step.held.clone()),
        _ => Some(None),
    };
    // The client's log, once a refused write has shown it.
    let mut client_log: Option<ClientSends> = None;
    // Whether the last refused write was refused by the client's log (not the contact).
    let mut refused_by_client = false;
    for attempt in 0..SEND_TRIES {
        let now = core.clock.now_ms();
        let existing = match known.take() {
            Some(contact) => contact,
            None => core.store.contact(destination).await?,
        };
        let (write, code) = prepare(core, hasher, &plan, existing.as_ref(), &client_log, now)?;
        match core.store.record_send(&write).await {
            Ok(()) => return deliver(core, sender, &plan, &write, &code).await,
            Err(StoreError::ClientLimited(log)) => {
                // The contact was as expected; only the client's log needs another look.
                known = Some(existing);
                // Without the log as it was, the next try appends again.
                client_log = log;
                refused_by_client = true;
            }
            Err(StoreError::Conflict(Some(current))) => {
                known = Some(Some(*current));
                refused_by_client = false;
            }
            Err(StoreError::Conflict(None)) => {
                refused_by_client = false;
                // Changed without saying how (a concurrent transaction): read it again.
                tracing::debug!(to = %destination.masked(), attempt, "send lost a race; retrying");
                tokio::time::sleep(Duration::from_millis(5 + 10 * u64::from(attempt))).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    // Every try lost to concurrent sends (counted in the same log, or to the same destination).
    Err(limits::lost_every_race(plan.request, refused_by_client))
}

/// Delivers a stored code by its channel. A failed delivery leaves the code unusable and
/// lifts the cooldown it started, so that a retry goes at once.
async fn deliver(
    core: &Core,
    sender: &dyn Sender,
    plan: &Plan<'_>,
    write: &SendWrite,
    code: &OtpCode,
) -> Result<SendOutcome, ServiceError> {
    let config = &core.config;
    let (destination, channel) = (&plan.request.destination, plan.request.channel);
    let id = &write.verification.id;
    let delivered = if plan.test_code.is_some() {
        tracing::info!(to = %destination.masked(), verification_id = %id, "test destination: no message sent");
        Ok(())
    } else {
        let brand = plan.request.options.brand.as_deref();
        let messages = MessageBuilder::new(
            brand.unwrap_or(&config.brand_name),
            plan.ttl_seconds,
            config.webotp_domain.as_deref(),
        );
        let outgoing = channels::Outgoing::compose(
            &messages,
            channel,
            destination,
            &write.contact.locale,
            code,
        );
        match (channel, destination) {
            // An interactive call carries no code: its handler reads a fresh one, or asks.
            (Channel::Call, Destination::Sms(phone)) => sender.place_call(phone, id).await,
            _ => channels::deliver(sender, &outgoing).await,
        }
    };
    if let Err(e) = delivered {
        tracing::warn!(to = %destination.masked(), verification_id = %id, error = %e, "delivery failed");
        let now = core.clock.now_ms();
        let cooldown = limits::cooldown_after_failed_delivery(now);
        if let Err(e) = core
            .store
            .record_delivery_failure(
                &CodeRef {
                    destination: destination.clone(),
                    id: id.clone(),
                },
                cooldown,
            )
            .await
        {
            tracing::error!(verification_id = %id, error = %e, "could not record the failed delivery");
        }
        return Err(ServiceError::DeliveryFailed);
    }
    tracing::info!(to = %destination.masked(), channel = channel.as_str(), verification_id = %id, "code sent");
    let expires_at = write.verification.expires_at;
    Ok(SendOutcome {
        verification_id: id.clone(),
        channel,
        to: destination.masked(),
        expires_at,
        resend_after: limits::resend_after(config),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::memory::Sent;
    use crate::domain::{ContactStatus, Country, EmailAddress, PhoneNumber};
    use crate::service::testing::{Harness, VOICE, phone};
    use crate::service::{CheckTarget, status};
    use crate::time::Clock;

    #[tokio::test]
    async fn a_send_stores_only_a_hash_and_delivers_the_code() {
        let h = Harness::new(&[]);
        let sent = h.send(&phone()).await.expect("sent");
        assert_eq!(sent.to, "+49*******1100");
        let code = h.last_code();
        let contacts = h.store.contacts();
        assert_eq!(contacts.len(), 1);
        assert_eq!(contacts[0].status, ContactStatus::Unverified);
        assert!(
            !format!("{contacts:?}").contains(&code),
            "the code is stored in clear"
        );
    }

    #[tokio::test]
    async fn a_voice_code_is_called_checked_by_phone_and_called_again_on_resend() {
        let h = Harness::new(&[VOICE]);
        let request = SendRequest {
            channel: Channel::Voice,
            ..SendRequest::new(phone())
        };
        let first = send(&h.core, &h.hasher, &h.sender, request)
            .await
            .expect("called");
        assert_eq!(first.channel, Channel::Voice);
        assert!(matches!(&h.sender.sent()[0], Sent::Voice(to, _) if to == "+4989202451100"));
        let status = status(&h.core, &first.verification_id)
            .await
            .expect("found");
        assert_eq!(status.channel, Channel::Voice);
        h.advance(30);
        let again = h
            .resend(&first.verification_id)
            .await
            .expect("called again");
        assert_eq!(again.channel, Channel::Voice, "a resend calls again");
        assert!(matches!(&h.sender.sent()[1], Sent::Voice(..)));
        let code = h.last_code();
        h.check(CheckTarget::Destination(phone()), &code)
            .await
            .expect("approved");
        assert_eq!(h.metrics.counted_for(Metric::Approvals, Channel::Voice), 1);
        let events = h.events();
        assert!(
            events.iter().all(|e| e.channel == Channel::Voice),
            "{events:?}"
        );
    }

    #[tokio::test]
    async fn voice_is_refused_when_the_stack_has_no_origination_identity() {
        let h = Harness::new(&[]);
        let request = SendRequest {
            channel: Channel::Voice,
            ..SendRequest::new(phone())
        };
        let refused = send(&h.core, &h.hasher, &h.sender, request).await;
        assert!(
            matches!(
                &refused,
                Err(ServiceError::Refused(InputError::UnusableChannel {
                    field: "channel",
                    ..
                }))
            ),
            "{refused:?}"
        );
        assert!(h.sender.sent().is_empty());
    }

    #[tokio::test]
    async fn a_keyed_code_length_and_ttl_are_used_and_checked_against_that_length() {
        let h = Harness::new(&[]);
        let options = SendOptions {
            code_length: Some(4),
            ttl_seconds: Some(120),
            custom_code: None,
            ..SendOptions::default()
        };
        let sent = h.send_with(&phone(), options).await.expect("sent");
        assert_eq!(sent.expires_at, h.clock.now_ms() + 120_000);
        let code = h.sender.last_code(4).expect("a 4-digit code");
        let by_phone = || CheckTarget::Destination(phone());
        let six = h.check(by_phone(), &format!("{code}00")).await;
        assert!(
            matches!(&six, Err(ServiceError::Refused(InputError::InvalidCodeFormat(m))) if m.contains("4 digits")),
            "{six:?}"
        );
        let by_id = h
            .check(CheckTarget::Id(sent.verification_id.clone()), "123456")
            .await;
        assert!(matches!(by_id, Err(ServiceError::Refused(_))), "{by_id:?}");
        let view = status(&h.core, &sent.verification_id)
            .await
            .expect("status");
        assert_eq!(
            view.attempts_remaining, 5,
            "a code of the wrong length counts nothing"
        );
        h.check(by_phone(), &code).await.expect("approved");
    }

    #[tokio::test]
    async fn a_custom_code_is_delivered_and_checked_like_a_generated_one() {
        let h = Harness::new(&[]);
        let custom = OtpCode::custom("48151623", "custom_code").expect("digits");
        let options = SendOptions {
            custom_code: Some(custom),
            ..SendOptions::default()
        };
        let sent = h.send_with(&phone(), options).await.expect("sent");
        assert_eq!(h.sender.last_code(8).as_deref(), Some("48151623"));
        h.check(CheckTarget::Id(sent.verification_id), "4815 1623")
            .await
            .expect("approved");
    }

    #[tokio::test]
    async fn a_test_destination_gets_the_fixed_code_cut_to_length_and_no_message() {
        let h = Harness::new(&[
            ("TEST_DESTINATIONS", "+4989202451100"),
            ("TEST_CODE", "123456"),
        ]);
        let options = SendOptions {
            code_length: Some(8),
            ..SendOptions::default()
        };
        let sent = h.send_with(&phone(), options).await.expect("sent");
        assert!(
            h.sender.sent().is_empty(),
            "no message to a test destination"
        );
        let events = h.events();
        assert!(events[0].test, "{events:?}");
        h.check(CheckTarget::Id(sent.verification_id), "12345612")
            .await
            .expect("the test code, repeated to 8 digits");
    }

    #[tokio::test]
    async fn numbers_that_cost_more_than_an_sms_or_cannot_receive_one_are_refused() {
        let h = Harness::new(&[]);
        let us = Country::parse("US").expect("US");
        for (number, kind) in [
            ("+19002345678", "premium-rate"),
            ("+449098790000", "premium-rate"),
            ("+4918012345678", "shared-cost"),
            ("+18002345678", "toll-free"),
            ("+448001234567", "toll-free"),
            ("+49177991234567", "voicemail"),
            ("+4918500123456", "universal access"),
            ("+4916412345", "pager"),
            ("+447640123456", "pager"),
        ] {
            let to = Destination::Sms(PhoneNumber::parse(number, us).expect("valid"));
            let refused = h.send(&to).await;
            assert!(
                matches!(&refused, Err(ServiceError::Refused(InputError::UnfitPhone(k))) if *k == kind),
                "{number}: {refused:?}"
            );
        }
        for number in ["+4915112345678", "+4989202451100", "+14155550123"] {
            let to = Destination::Sms(PhoneNumber::parse(number, us).expect("valid"));
            h.send(&to).await.expect("mobile and fixed lines get codes");
        }
        assert_eq!(h.sender.sent().len(), 3);
        assert_eq!(
            h.store.contacts().len(),
            3,
            "nothing stored for a refused number"
        );
    }

    #[tokio::test]
    async fn sms_allowed_countries_limits_sms_but_not_email() {
        let h = Harness::new(&[("SMS_ALLOWED_COUNTRIES", "DE, at")]);
        let us = Country::parse("US").expect("US");
        let american = Destination::Sms(PhoneNumber::parse("+14155550123", us).expect("valid"));
        let refused = h.send(&american).await;
        assert!(
            matches!(&refused, Err(ServiceError::Refused(InputError::CountryNotAllowed(c))) if c == "US"),
            "{refused:?}"
        );
        h.send(&phone()).await.expect("Germany is allowed");
        let austrian = Destination::Sms(PhoneNumber::parse("+43 1 4000 0", us).expect("valid"));
        h.send(&austrian).await.expect("Austria is allowed");
        let email = Destination::Email(EmailAddress::parse("a@example.com").expect("valid"));
        h.send(&email)
            .await
            .expect("email is not limited by country");
        assert_eq!(h.sender.sent().len(), 3);
    }

    #[tokio::test]
    async fn an_unavailable_store_is_a_retryable_error_and_sends_nothing() {
        let h = Harness::new(&[]);
        h.store.fail_next_call("throttled");
        let r = h.send(&phone()).await;
        assert!(matches!(r, Err(ServiceError::Unavailable(_))), "{r:?}");
        assert!(h.sender.sent().is_empty());
        assert!(h.store.contacts().is_empty());
    }

    #[tokio::test]
    async fn a_resend_by_id_goes_to_the_same_destination_under_the_same_limits() {
        let h = Harness::new(&[]);
        let first = h.send(&phone()).await.expect("sent");
        let resend_first = || h.resend(&first.verification_id);
        let early = resend_first().await;
        assert!(
            matches!(early, Err(ServiceError::ResendTooSoon { .. })),
            "{early:?}"
        );
        h.advance(30);
        let second = resend_first().await.expect("resent");
        assert_eq!(second.to, first.to);
        assert_eq!(h.sender.sent().len(), 2);
        assert!(matches!(&h.sender.sent()[1], Sent::Sms(to, _) if to == "+4989202451100"));
        h.advance(30);
        let replaced = resend_first().await;
        assert!(
            matches!(replaced, Err(ServiceError::Replaced)),
            "{replaced:?}"
        );
        let code = h.last_code();
        h.check(CheckTarget::Id(second.verification_id.clone()), &code)
            .await
            .expect("approved");
        let spent = h.resend(&second.verification_id).await;
        assert!(
            matches!(spent, Err(ServiceError::AlreadyApproved)),
            "{spent:?}"
        );
        assert_eq!(h.sender.sent().len(), 2, "nothing more was sent");
    }
}
