//! The product's rules: send, check, status and cleanup, as plain async functions over
//! the [`Store`] and [`Sender`] traits.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::delivery::Sender;
use crate::domain::{
    Channel, ChannelList, CodeHasher, CodeState, ContactRecord, ContactStatus, CurrentCode,
    Destination, Fallback, FallbackState, IdempotencyKey, InputError, Locale, OtpCode, PersonName,
    SubmittedCode, VerificationId, VerificationRecord, VerificationState, VerificationStatus,
};
use crate::events::{Event, EventSink, EventType};
use crate::messages::MessageBuilder;
use crate::metrics::{Metric, Metrics};
use crate::store::{
    AttemptOutcome, ClientSends, ClientSlot, DeleteOutcome, KeyClaim, KeyRecord, LengthCheck,
    OriginUpdate, SendWrite, StaleCursor, Store, StoreError, StoredReply,
};

/// Wall-clock time in unix milliseconds; a trait so tests can move it.
pub trait Clock: Send + Sync {
    /// Now, in unix milliseconds.
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
    }
}

/// What every operation needs: the configuration, the records and the time.
#[derive(Clone)]
pub struct Core {
    /// The configuration.
    pub config: Arc<Config>,
    /// The records.
    pub store: Arc<dyn Store>,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// Where operational metrics go.
    pub metrics: Arc<dyn Metrics>,
    /// Where outcome events go.
    pub events: Arc<dyn EventSink>,
}

impl Core {
    /// Publishes outcome events. Never fails the request: the outcome is stored already,
    /// and stays readable by its status; a failure is logged and counted.
    pub(crate) async fn publish(&self, events: &[Event]) {
        if let Err(e) = self.events.publish(events).await {
            for event in events {
                tracing::error!(verification_id = %event.verification_id, event = event.kind.as_str(), error = %e, "event not published");
                self.metrics.count(
                    Metric::EventsNotPublished,
                    event.channel,
                    &[("verification_id", &event.verification_id)],
                );
            }
        }
    }

    /// An event about verification `id`, whose code went to `destination` by `channel`, now.
    pub(crate) fn event(
        &self,
        kind: EventType,
        id: &VerificationId,
        destination: &Destination,
        channel: Channel,
    ) -> Event {
        Event::new(
            kind,
            id,
            (destination, channel),
            self.config.is_test_destination(destination),
            self.clock.now_ms(),
        )
    }

    /// Records that verification `id` was seen past its expiry, after `attempts` checks,
    /// and the first time, says so.
    async fn note_expired(
        &self,
        id: &VerificationId,
        (destination, channel): (&Destination, Channel),
        attempts: u32,
    ) {
        match self.store.mark_expired(id, attempts).await {
            Ok(true) => {
                self.publish(&[self.event(EventType::Expired, id, destination, channel)])
                    .await;
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(verification_id = %id, error = %e, "expiry not recorded"),
        }
    }
}

/// An operation's refusal or failure. The HTTP layer maps each to its status and `code`.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A send within the cooldown of the previous one.
    #[error("wait {retry_after} s before sending another code to this destination")]
    ResendTooSoon {
        /// Seconds until a send is allowed.
        retry_after: u32,
    },
    /// The destination's send window is full.
    #[error("too many codes were sent to this destination; try again in {retry_after} s")]
    TooManySends {
        /// Seconds until a send is allowed.
        retry_after: u32,
    },
    /// The client's send window is full.
    #[error("too many codes were requested from this address; try again in {retry_after} s")]
    TooManySendsFromClient {
        /// Seconds until a send is allowed.
        retry_after: u32,
    },
    /// SNS or SES did not take the message.
    #[error("the code could not be delivered")]
    DeliveryFailed,
    /// The code does not match; the attempt was counted.
    #[error("the code is incorrect")]
    IncorrectCode {
        /// Checks left before the verification locks.
        attempts_remaining: u32,
    },
    /// The verification is locked after too many wrong codes.
    #[error("too many incorrect codes were entered; request a new code")]
    TooManyAttempts {
        /// Seconds until a new code may be requested for the destination.
        retry_after: u32,
    },
    /// An authenticator app is locked after too many wrong codes, until its window ends.
    #[error("too many incorrect codes were entered; try again in {retry_after} s")]
    AppLocked {
        /// Seconds until the app's codes are checked again.
        retry_after: u32,
    },
    /// The code is past its expiry, or was never delivered.
    #[error("{0}")]
    Expired(&'static str),
    /// The verification was approved before.
    #[error("this verification was already approved")]
    AlreadyApproved,
    /// A newer code was sent to the same destination.
    #[error("a newer code was sent to this destination; use that one")]
    Replaced,
    /// No such verification (or, by destination, no pending one).
    #[error("{0}")]
    NotFound(&'static str),
    /// The verification was cancelled.
    #[error("this verification was canceled")]
    Canceled,
    /// An authenticator app can only be enrolled for a verified contact.
    #[error("{0}")]
    NotVerified(&'static str),
    /// The contact has an active authenticator app, or the verification enrolled one.
    #[error("{0}")]
    AlreadyEnrolled(&'static str),
    /// A keyed option or route without an API key.
    #[error("{0}: this needs an API key (Authorization: Bearer <key>)")]
    KeyRequired(&'static str),
    /// An `Authorization` that is not a valid, unrevoked API key.
    #[error("the API key is not valid")]
    InvalidKey,
    /// A dependency failed; details are logged, never shown.
    #[error("a dependency is unavailable")]
    Unavailable(String),
    /// The `Idempotency-Key` was used for a different request.
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyKeyReused,
    /// A request with this `Idempotency-Key` is still running.
    #[error("a request with this Idempotency-Key is in progress; retry shortly")]
    IdempotencyKeyInUse,
    /// The destination may not receive codes (its country or number type).
    #[error(transparent)]
    Refused(#[from] InputError),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

pub(crate) fn random_failure(e: rand::rngs::SysError) -> ServiceError {
    ServiceError::Unavailable(format!("OS random number generator: {e}"))
}

pub(crate) fn seconds_until(at_ms: i64, now_ms: i64) -> u32 {
    let ms = (at_ms - now_ms).max(0);
    u32::try_from((ms + 999) / 1_000).unwrap_or(u32::MAX).max(1)
}

// ---- send ----------------------------------------------------------------------------

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
        }
    }
}

/// The key of a client's send log: a hash of its source address, so the table holds no
/// addresses.
pub fn client_key(source_ip: &str) -> String {
    let mut key = sha256_hex(&["client", source_ip]);
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
        (Channel::Sms | Channel::Voice, Destination::Sms(_))
        | (Channel::Email, Destination::Email(_)) => Ok(()),
        (Channel::Sms | Channel::Voice, Destination::Email(_)) => {
            Err(unusable("sms and voice need a phone number"))
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
        Err(_) => {}
    }
    outcome
}

/// Where a send of a fallback flow stands: the flow's origin contact, as read, and the
/// position this send takes.
struct FlowStep {
    origin: Destination,
    held: Option<ContactRecord>,
    channels: ChannelList,
    position: usize,
    /// The flow's newest verification as read (none for a new flow).
    latest: Option<VerificationId>,
}

/// Decides a fallback flow's next send: the first channel for a new flow; the next one when
/// the origin contact shows this flow with its newest code still live and its cooldown
/// over (too soon: `429`); the last one stays. Sets the request's channel and destination.
async fn plan_fallback(
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
            Some(CodeState::Pending) | None if p.next_at > now => {
                return Err(ServiceError::ResendTooSoon {
                    retry_after: seconds_until(p.next_at, now),
                });
            }
            Some(CodeState::Pending) | None => next(p),
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

async fn send_code(
    core: &Core,
    hasher: &CodeHasher,
    sender: &dyn Sender,
    request: SendRequest,
    flow: Option<FlowStep>,
) -> Result<SendOutcome, ServiceError> {
    let config = &core.config;
    let destination = &request.destination;
    let channel = request.channel;
    check_channel(config, channel, destination)?;
    let options = &request.options;
    let code_length = options
        .custom_code
        .as_ref()
        .map(OtpCode::length)
        .or(options.code_length)
        .unwrap_or(config.code_length);
    // A test destination's code is fixed; it gets no message, so it is not checked either.
    let test_code = config.test_code_for(destination, code_length);
    let test = test_code.is_some();
    if !test {
        check_destination(config, destination)?;
    }
    let ttl_seconds = options.ttl_seconds.unwrap_or(config.code_ttl_seconds);
    let ttl_ms = i64::from(ttl_seconds) * 1_000;
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
        let window_start = now - config.send_window_ms();
        let mut recent: Vec<i64> = existing
            .as_ref()
            .map(|c| {
                c.recent_sends
                    .iter()
                    .copied()
                    .filter(|t| *t > window_start)
                    .collect()
            })
            .unwrap_or_default();
        if let Some(c) = &existing
            && c.cooldown_until > now
        {
            return Err(ServiceError::ResendTooSoon {
                retry_after: seconds_until(c.cooldown_until, now),
            });
        }
        let max = config.max_sends_per_window as usize;
        if recent.len() >= max {
            let oldest_that_counts = recent[recent.len() - max];
            return Err(ServiceError::TooManySends {
                retry_after: seconds_until(oldest_that_counts + config.send_window_ms(), now),
            });
        }
        recent.push(now);
        let client = match &request.client {
            None => None,
            Some(client) => {
                let mut replace = client_log.clone();
                if let Some(log) = &mut replace {
                    log.sends.retain(|t| *t > window_start);
                    let max = config.max_sends_per_ip as usize;
                    if log.sends.len() >= max {
                        let oldest_that_counts = log.sends[log.sends.len() - max];
                        return Err(ServiceError::TooManySendsFromClient {
                            retry_after: seconds_until(
                                oldest_that_counts + config.send_window_ms(),
                                now,
                            ),
                        });
                    }
                }
                Some(ClientSlot {
                    client: client.clone(),
                    now,
                    max: config.max_sends_per_ip,
                    expires_at: now + config.send_window_ms(),
                    replace,
                })
            }
        };

        let id = VerificationId::generate(now).map_err(random_failure)?;
        let code = match (&options.custom_code, &test_code) {
            (Some(custom), _) => custom.clone(),
            (None, Some(fixed)) => fixed.clone(),
            (None, None) => OtpCode::generate(code_length).map_err(random_failure)?,
        };
        let expires_at = now + ttl_ms;
        let locale = request
            .locale
            .clone()
            .or_else(|| existing.as_ref().map(|c| c.locale.clone()))
            .unwrap_or_default();
        let status = existing
            .as_ref()
            .map_or(ContactStatus::Unverified, |c| c.status);
        let mut verification_ids = match (&existing, status) {
            (Some(c), ContactStatus::Unverified) => c.verification_ids.clone(),
            _ => Vec::new(),
        };
        if status == ContactStatus::Unverified {
            verification_ids.push(id.clone());
            let excess = verification_ids
                .len()
                .saturating_sub(MAX_TRACKED_VERIFICATIONS);
            verification_ids.drain(..excess);
        }
        let replaced = existing
            .as_ref()
            .and_then(|c| c.current.as_ref())
            // An expired code's record may already be gone through its TTL; it needs no update.
            .filter(|old| old.state == CodeState::Pending && old.expires_at > now)
            .map(|old| (old.verification_id.clone(), old.attempts));
        // The flow's progress: on this contact when it is the origin, else on the origin,
        // in the same transaction. A send outside a flow ends any flow that started here.
        let progress = flow.as_ref().map(|step| FallbackState {
            channels: step.channels.clone(),
            position: step.position,
            expires_at,
            next_at: now + config.cooldown_ms(),
            latest: Some(id.clone()),
        });
        let (fallback, origin) = match (&flow, progress) {
            (Some(step), Some(progress)) if step.origin != *destination => (
                existing.as_ref().and_then(|c| c.fallback.clone()),
                Some(OriginUpdate {
                    origin: step.origin.clone(),
                    progress,
                    expected_latest: step.latest.clone(),
                }),
            ),
            (_, progress) => (progress, None),
        };
        let contact = ContactRecord {
            destination: destination.clone(),
            status,
            first_name: request
                .first_name
                .clone()
                .or_else(|| existing.as_ref().and_then(|c| c.first_name.clone())),
            last_name: request
                .last_name
                .clone()
                .or_else(|| existing.as_ref().and_then(|c| c.last_name.clone())),
            locale: locale.clone(),
            created_at: existing.as_ref().map_or(now, |c| c.created_at),
            verified_at: existing.as_ref().and_then(|c| c.verified_at),
            recent_sends: recent,
            cooldown_until: now + config.cooldown_ms(),
            current: Some(CurrentCode {
                verification_id: id.clone(),
                hash: hasher.hash(&id, &code),
                expires_at,
                attempts: 0,
                max_attempts: config.max_check_attempts,
                state: CodeState::Pending,
                length: Some(code_length),
                channel,
            }),
            verification_ids,
            fallback,
            version: existing.as_ref().map_or(1, |c| c.version + 1),
        };
        let write = SendWrite {
            expected_version: existing.as_ref().map(|c| c.version),
            verification: VerificationRecord {
                id: id.clone(),
                destination: destination.clone(),
                channel,
                fallback: request.fallback.clone(),
                created_at: now,
                expires_at,
                state: VerificationState::Pending,
                verified_at: None,
                approved_by_id: false,
                enrolled_at: None,
                final_attempts: None,
                max_attempts: config.max_check_attempts,
                code_length: Some(code_length),
            },
            contact,
            replaced,
            client,
            origin,
        };
        match core.store.record_send(&write).await {
            Ok(()) => {}
            Err(StoreError::ClientLimited(log)) => {
                // The contact was as expected; only the client's log needs another look.
                known = Some(existing);
                // Without the log as it was, the next try appends again.
                client_log = log;
                refused_by_client = true;
                continue;
            }
            Err(StoreError::Conflict(Some(current))) => {
                known = Some(Some(*current));
                refused_by_client = false;
                continue;
            }
            Err(StoreError::Conflict(None)) => {
                refused_by_client = false;
                // Changed without saying how (a concurrent transaction): read it again.
                tracing::debug!(to = %destination.masked(), attempt, "send lost a race; retrying");
                tokio::time::sleep(Duration::from_millis(5 + 10 * u64::from(attempt))).await;
                continue;
            }
            Err(e) => return Err(e.into()),
        }

        let messages = MessageBuilder::new(
            &config.brand_name,
            ttl_seconds,
            config.webotp_domain.as_deref(),
        );
        let delivered = match destination {
            _ if test => {
                tracing::info!(to = %destination.masked(), verification_id = %id, "test destination: no message sent");
                Ok(())
            }
            Destination::Sms(phone) if channel == Channel::Voice => {
                sender
                    .send_voice(phone, &messages.voice(&locale, &code))
                    .await
            }
            Destination::Sms(phone) => sender.send_sms(phone, &messages.sms(&locale, &code)).await,
            Destination::Email(email) => {
                sender
                    .send_email(email, &messages.email(&locale, &code))
                    .await
            }
        };
        if let Err(e) = delivered {
            tracing::warn!(to = %destination.masked(), verification_id = %id, error = %e, "delivery failed");
            if let Err(e) = core
                .store
                .record_delivery_failure(destination, &id, core.clock.now_ms())
                .await
            {
                tracing::error!(verification_id = %id, error = %e, "could not record the failed delivery");
            }
            core.publish(&[core.event(EventType::DeliveryFailed, &id, destination, channel)])
                .await;
            return Err(ServiceError::DeliveryFailed);
        }
        tracing::info!(to = %destination.masked(), channel = channel.as_str(), verification_id = %id, "code sent");
        let mut sent = core.event(EventType::Sent, &id, destination, channel);
        sent.expires_at = Some(crate::http::rfc3339(expires_at));
        core.publish(&[sent]).await;
        return Ok(SendOutcome {
            verification_id: id,
            channel,
            to: destination.masked(),
            expires_at,
            resend_after: config.resend_cooldown_seconds,
        });
    }
    if refused_by_client {
        // Every try lost to concurrent sends from the same client.
        return Err(ServiceError::TooManySendsFromClient { retry_after: 1 });
    }
    // Every try lost to a concurrent send to the same destination.
    Err(ServiceError::ResendTooSoon { retry_after: 1 })
}

// ---- check ---------------------------------------------------------------------------

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

/// Checks a code: counts the attempt first, atomically, then compares in constant time,
/// and on a match approves the verification and verifies the contact.
pub async fn check(
    core: &Core,
    hasher: &CodeHasher,
    target: CheckTarget,
    code: &SubmittedCode,
) -> Result<Approval, ServiceError> {
    let now = core.clock.now_ms();
    let default_length = core.config.code_length;
    // A code of a length that no verification here has is a format error, as before any
    // lookup; one of the usual length may match a code stored before lengths were.
    let length = LengthCheck {
        length: code.length(),
        matches_unrecorded: code.length() == default_length,
    };
    let wrong_length = |expected: Option<u8>| {
        let expected = expected.unwrap_or(default_length);
        (expected != code.length()).then(|| ServiceError::Refused(code.wrong_length(expected)))
    };
    let (destination, by_id) = match target {
        CheckTarget::Destination(d) => (d, None),
        CheckTarget::Id(id) => {
            let Some(record) = core.store.verification(&id).await? else {
                return Err(wrong_length(None)
                    .unwrap_or(ServiceError::NotFound("no verification has this id")));
            };
            if let Some(e) = wrong_length(record.code_length) {
                return Err(e);
            }
            match record.state {
                VerificationState::Approved => return Err(ServiceError::AlreadyApproved),
                VerificationState::Replaced => return Err(ServiceError::Replaced),
                VerificationState::Failed => return Err(ServiceError::Expired(NEVER_DELIVERED)),
                VerificationState::Canceled => return Err(ServiceError::Canceled),
                VerificationState::Expired => return Err(ServiceError::Expired(EXPIRED)),
                VerificationState::Pending => {}
            }
            (record.destination.clone(), Some(record))
        }
    };
    let expected = by_id.as_ref().map(|r| &r.id);
    let counted = match core
        .store
        .count_attempt(&destination, expected, length, now)
        .await?
    {
        AttemptOutcome::Counted(code) => code,
        AttemptOutcome::Refused(contact) => {
            if by_id.is_none()
                && let Some(e) =
                    wrong_length(contact.as_ref().and_then(|c| c.current.as_ref()?.length))
            {
                return Err(e);
            }
            return Err(refused(core, &destination, contact.as_deref(), by_id.as_ref(), now).await);
        }
    };
    let channel = counted.channel;
    let id = counted.verification_id.clone();
    if !hasher.matches(&id, code, &counted.hash) {
        let remaining = counted.attempts_remaining();
        tracing::info!(verification_id = %id, remaining, "incorrect code");
        let id_text = id.to_string();
        let properties = [("verification_id", id_text.as_str())];
        core.metrics.count(Metric::WrongCodes, channel, &properties);
        let mut wrong = core.event(EventType::IncorrectCode, &id, &destination, channel);
        wrong.attempts_remaining = Some(remaining);
        let mut events = vec![wrong];
        if remaining == 0 {
            core.metrics.count(Metric::Lockouts, channel, &properties);
            let mut locked = core.event(EventType::Locked, &id, &destination, channel);
            locked.attempts_remaining = Some(0);
            events.push(locked);
        }
        core.publish(&events).await;
        return Err(ServiceError::IncorrectCode {
            attempts_remaining: remaining,
        });
    }
    if core
        .store
        .approve(&destination, &id, by_id.is_some(), now)
        .await?
    {
        tracing::info!(verification_id = %id, "approved");
        let id_text = id.to_string();
        core.metrics
            .count(Metric::Approvals, channel, &[("verification_id", &id_text)]);
        core.publish(&[core.event(EventType::Approved, &id, &destination, channel)])
            .await;
        return Ok(Approval {
            verification_id: id,
            verified_at: now,
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
    Err(refused(core, &destination, contact.as_ref(), by_id.as_ref(), now).await)
}

/// Why an attempt was not counted ([`refusal`]); an expiry seen here is recorded once.
async fn refused(
    core: &Core,
    destination: &Destination,
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
            (Some(v), Some(c)) if c.verification_id == v.id => Some((&v.id, v.channel, c.attempts)),
            (Some(v), _) => Some((&v.id, v.channel, 0)),
            (None, Some(c)) => Some((&c.verification_id, c.channel, c.attempts)),
            (None, None) => None,
        };
        if let Some((id, channel, attempts)) = expired {
            core.note_expired(id, (destination, channel), attempts)
                .await;
        }
    }
    reason
}

const EXPIRED: &str = "the code has expired";
const NEVER_DELIVERED: &str = "this code was never delivered; request a new one";
const NO_PENDING: &str = "there is no pending verification for this destination";

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
        CodeState::Pending if code.attempts >= code.max_attempts => ServiceError::TooManyAttempts {
            retry_after: seconds_until(contact.map_or(now, |c| c.cooldown_until), now),
        },
        CodeState::Pending => ServiceError::NotFound(NO_PENDING),
    }
}

// ---- status --------------------------------------------------------------------------

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
    /// When its code expires (unix ms).
    pub expires_at: i64,
    /// Checks left.
    pub attempts_remaining: u32,
}

/// Looks a verification up and derives its status from its record and its contact.
pub async fn status(core: &Core, id: &VerificationId) -> Result<StatusView, ServiceError> {
    Ok(record_and_status(core, id).await?.1)
}

async fn record_and_status(
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
                Some(code) => {
                    let status = match code.state {
                        CodeState::Approved => VerificationStatus::Approved,
                        CodeState::Failed => VerificationStatus::Failed,
                        CodeState::Canceled => VerificationStatus::Canceled,
                        CodeState::Pending if code.expires_at <= now => VerificationStatus::Expired,
                        CodeState::Pending if code.attempts >= code.max_attempts => {
                            VerificationStatus::Locked
                        }
                        CodeState::Pending => VerificationStatus::Pending,
                    };
                    (status, code.attempts_remaining())
                }
                None if record.expires_at <= now => (VerificationStatus::Expired, 0),
                None => (VerificationStatus::Replaced, 0),
            }
        }
    };
    if status == VerificationStatus::Expired && record.state == VerificationState::Pending {
        let attempts = record.max_attempts.saturating_sub(attempts_remaining);
        core.note_expired(&record.id, (&record.destination, record.channel), attempts)
            .await;
    }
    let view = StatusView {
        verification_id: record.id.clone(),
        status,
        channel: record.channel,
        to: record.destination.masked(),
        expires_at: record.expires_at,
        attempts_remaining,
    };
    Ok((record, view))
}

// ---- cancel and lookup (keyed) -------------------------------------------------------

/// Cancels a pending (or locked) verification: its code stops working. Cancelling a
/// cancelled verification answers the same, so that a retry is safe.
pub async fn cancel(core: &Core, id: &VerificationId) -> Result<StatusView, ServiceError> {
    let (record, view) = record_and_status(core, id).await?;
    if !cancellable(view.status)? {
        return Ok(view);
    }
    let attempts = record.max_attempts.saturating_sub(view.attempts_remaining);
    if core.store.cancel(&record.destination, id, attempts).await? {
        tracing::info!(verification_id = %id, "canceled");
        core.publish(&[core.event(EventType::Canceled, id, &record.destination, record.channel)])
            .await;
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

/// What a lookup tells about one destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactView {
    /// SMS or email.
    pub channel: Channel,
    /// The masked destination.
    pub to: String,
    /// Verified or not.
    pub status: ContactStatus,
    /// When it was first verified (unix ms).
    pub verified_at: Option<i64>,
}

/// The known contacts among `destinations` (one read each), for an IVR that chooses where
/// to send a PIN.
pub async fn lookup(
    core: &Core,
    destinations: &[Destination],
) -> Result<Vec<ContactView>, ServiceError> {
    let mut found = Vec::new();
    for destination in destinations {
        if let Some(contact) = core.store.contact(destination).await? {
            found.push(ContactView {
                channel: destination.channel(),
                to: destination.masked(),
                status: contact.status,
                verified_at: contact.verified_at,
            });
        }
    }
    Ok(found)
}

// ---- idempotency ---------------------------------------------------------------------

/// How long an `Idempotency-Key` keeps its first answer.
pub const IDEMPOTENCY_WINDOW_MS: i64 = 24 * 3_600_000;
/// A claim this old without an answer belongs to a request that died (the functions time
/// out after 10 s): a retry may take the key over.
const IDEMPOTENCY_STALE_MS: i64 = 60_000;

fn sha256_hex(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    crate::domain::hex(&hasher.finalize())
}

/// How a key is stored: hashed, so the table never holds the client's key. A keyed
/// caller's keys are its own (`scope`, its API key's id): two servers cannot collide.
fn key_hash(scope: Option<&str>, key: &IdempotencyKey) -> String {
    match scope {
        None => sha256_hex(&["signup", key.as_str()]),
        Some(scope) => sha256_hex(&["signup", scope, key.as_str()]),
    }
}

/// The request's fingerprint: a hash of its fields in a fixed order.
pub fn fingerprint<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut pairs: Vec<(&str, &str)> = fields.into_iter().collect();
    pairs.sort_unstable();
    let flat: Vec<&str> = pairs.iter().flat_map(|(k, v)| [*k, *v]).collect();
    sha256_hex(&flat)
}

/// Claims `key` for a request with `fingerprint`. `Ok(None)`: run the request, then
/// [`settle_idempotency_key`]. `Ok(Some(reply))`: the first answer, to return as it is.
/// The same key with another request is [`ServiceError::IdempotencyKeyReused`]; while the
/// first request runs, [`ServiceError::IdempotencyKeyInUse`].
pub async fn claim_idempotency_key(
    core: &Core,
    scope: Option<&str>,
    key: &IdempotencyKey,
    fingerprint: &str,
) -> Result<Option<StoredReply>, ServiceError> {
    let now = core.clock.now_ms();
    let claim = KeyRecord {
        key_hash: key_hash(scope, key),
        fingerprint: fingerprint.to_owned(),
        started_at: now,
        expires_at: now + IDEMPOTENCY_WINDOW_MS,
    };
    match core
        .store
        .claim_key(&claim, now - IDEMPOTENCY_STALE_MS)
        .await?
    {
        KeyClaim::Claimed => Ok(None),
        KeyClaim::Replay(reply) => Ok(Some(reply)),
        KeyClaim::Mismatch => Err(ServiceError::IdempotencyKeyReused),
        KeyClaim::InFlight => Err(ServiceError::IdempotencyKeyInUse),
    }
}

/// Ends a claim: a success is remembered for the key's window; after an error (nothing was
/// sent) the key is freed, so that a retry runs again. Never fails the request: if the
/// store cannot be written, the claim ends by itself after a minute.
pub async fn settle_idempotency_key(
    core: &Core,
    scope: Option<&str>,
    key: &IdempotencyKey,
    reply: Option<&StoredReply>,
) {
    let hash = key_hash(scope, key);
    let result = match reply {
        Some(reply) => core.store.record_reply(&hash, reply).await,
        None => core.store.release_key(&hash).await,
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "idempotency key not settled");
    }
}

// ---- cleanup -------------------------------------------------------------------------

/// What a cleanup run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CleanupReport {
    /// Contacts deleted (or, in a dry run, that would be).
    pub deleted: u32,
    /// Candidates kept: verified meanwhile, or in the middle of a verification.
    pub skipped: u32,
    /// Whether the run stopped before it saw every candidate.
    pub more: bool,
    /// Whether nothing was deleted because this was a dry run.
    pub dry_run: bool,
}

/// Contacts fetched per index page.
const CLEANUP_PAGE: u32 = 25;

/// Deletes unverified contacts older than the retention, page by page through the index,
/// until none is left or `out_of_time` says to stop.
pub async fn cleanup(
    core: &Core,
    dry_run: bool,
    out_of_time: &(dyn Fn() -> bool + Send + Sync),
) -> Result<CleanupReport, ServiceError> {
    let now = core.clock.now_ms();
    let cutoff = now - core.config.retention_ms();
    let mut report = CleanupReport {
        dry_run,
        ..CleanupReport::default()
    };
    let mut cursor: Option<StaleCursor> = None;
    loop {
        if out_of_time() {
            report.more = true;
            break;
        }
        let page = core
            .store
            .stale_contacts(cutoff, cursor.as_ref(), CLEANUP_PAGE)
            .await?;
        for (i, destination) in page.destinations.iter().enumerate() {
            if out_of_time() {
                report.more = i < page.destinations.len() || page.next.is_some();
                return Ok(report);
            }
            let deleted = if dry_run {
                let contact = core.store.contact(destination).await?;
                contact.is_some_and(|c| c.is_stale(cutoff, now))
            } else {
                core.store
                    .delete_stale_contact(destination, cutoff, now)
                    .await?
                    == DeleteOutcome::Deleted
            };
            if deleted {
                report.deleted += 1;
            } else {
                report.skipped += 1;
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    tracing::info!(
        deleted = report.deleted,
        skipped = report.skipped,
        more = report.more,
        dry_run,
        "cleanup finished"
    );
    Ok(report)
}

/// A clock that tests move by hand.
#[cfg(test)]
pub(crate) mod testing {
    use std::sync::atomic::{AtomicI64, Ordering};

    /// Unix milliseconds, moved by the test.
    pub(crate) struct TestClock(pub(crate) AtomicI64);

    impl super::Clock for TestClock {
        fn now_ms(&self) -> i64 {
            self.0.load(Ordering::SeqCst)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI64, Ordering};

    use super::*;
    use crate::delivery::memory::{RecordingSender, Sent};
    use crate::domain::{Country, EmailAddress, PhoneNumber};
    use crate::events::memory::RecordingEvents;
    use crate::metrics::RecordingMetrics;
    use crate::store::memory::MemoryStore;

    use super::testing::TestClock;

    struct Harness {
        core: Core,
        metrics: Arc<RecordingMetrics>,
        events: Arc<RecordingEvents>,
        store: Arc<MemoryStore>,
        clock: Arc<TestClock>,
        sender: RecordingSender,
        hasher: CodeHasher,
    }

    impl Harness {
        fn new(extra: &[(&str, &str)]) -> Self {
            let store = Arc::new(MemoryStore::new());
            let clock = Arc::new(TestClock(AtomicI64::new(1_800_000_000_000)));
            let metrics = Arc::new(RecordingMetrics::default());
            let events = Arc::new(RecordingEvents::default());
            let config = crate::config::test_config(extra);
            Self {
                core: Core {
                    config: Arc::new(config),
                    store: store.clone(),
                    clock: clock.clone(),
                    metrics: metrics.clone(),
                    events: events.clone(),
                },
                events,
                metrics,
                store,
                clock,
                sender: RecordingSender::new(),
                hasher: CodeHasher::new(&[42u8; 32], None),
            }
        }

        fn advance(&self, seconds: i64) {
            self.clock.0.fetch_add(seconds * 1_000, Ordering::SeqCst);
        }

        async fn send(&self, to: &Destination) -> Result<SendOutcome, ServiceError> {
            self.send_with(to, SendOptions::default()).await
        }

        /// A resend by id, as a form or an IVR asks for it: no language, no client.
        async fn resend(&self, id: &VerificationId) -> Result<SendOutcome, ServiceError> {
            resend(
                &self.core,
                &self.hasher,
                &self.sender,
                id,
                None,
                None,
                SendOptions::default(),
            )
            .await
        }

        fn last_code(&self) -> String {
            self.sender.last_code(6).expect("a code was sent")
        }

        async fn check(&self, target: CheckTarget, code: &str) -> Result<Approval, ServiceError> {
            let code = SubmittedCode::parse_any(code, 6).expect("format");
            check(&self.core, &self.hasher, target, &code).await
        }

        /// A keyed send with `options`.
        async fn send_with(
            &self,
            to: &Destination,
            options: SendOptions,
        ) -> Result<SendOutcome, ServiceError> {
            let request = SendRequest {
                options,
                ..SendRequest::new(to.clone())
            };
            send(&self.core, &self.hasher, &self.sender, request).await
        }
    }

    const VOICE: (&str, &str) = ("VOICE_ORIGINATION_IDENTITY", "+15005550000");

    fn email() -> Destination {
        Destination::Email(EmailAddress::parse("ada@example.com").expect("valid"))
    }

    /// A sign-up over `channels` with both destinations.
    fn flow(channels: &str) -> SendRequest {
        let fallback = Fallback::new(
            ChannelList::parse(channels).expect("a list"),
            match phone() {
                Destination::Sms(p) => Some(p),
                Destination::Email(_) => None,
            },
            match email() {
                Destination::Email(e) => Some(e),
                Destination::Sms(_) => None,
            },
        )
        .expect("both destinations");
        let (channel, destination) = fallback.step(0).expect("a first step");
        SendRequest {
            channel,
            fallback: Some(fallback),
            ..SendRequest::new(destination)
        }
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
        let events = h.events.events();
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

    #[tokio::test]
    async fn a_keyed_code_length_and_ttl_are_used_and_checked_against_that_length() {
        let h = Harness::new(&[]);
        let options = SendOptions {
            code_length: Some(4),
            ttl_seconds: Some(120),
            custom_code: None,
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
        let events = h.events.events();
        assert!(events[0].test, "{events:?}");
        h.check(CheckTarget::Id(sent.verification_id), "12345612")
            .await
            .expect("the test code, repeated to 8 digits");
    }

    #[tokio::test]
    async fn a_keyed_send_is_still_held_to_the_destinations_cooldown() {
        let h = Harness::new(&[]);
        let options = || SendOptions {
            code_length: Some(4),
            ..SendOptions::default()
        };
        h.send_with(&phone(), options()).await.expect("sent");
        let again = h.send_with(&phone(), options()).await;
        assert!(
            matches!(again, Err(ServiceError::ResendTooSoon { .. })),
            "{again:?}"
        );
    }

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
            h.events.kinds(),
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

    #[tokio::test]
    async fn every_outcome_is_an_event_without_code_or_full_destination() {
        let h = Harness::new(&[("MAX_CHECK_ATTEMPTS", "2"), ("CODE_TTL_SECONDS", "60")]);
        let email = Destination::Email(EmailAddress::parse("ada@example.com").expect("valid"));
        h.sender.set_failing(true);
        h.send(&email).await.expect_err("delivery failed");
        h.sender.set_failing(false);
        let first = h.send(&phone()).await.expect("sent");
        let code = h.last_code();
        let by_phone = || CheckTarget::Destination(phone());
        h.check(by_phone(), &wrong(&code)).await.expect_err("wrong");
        h.check(by_phone(), &code).await.expect("approved");
        h.advance(30);
        let second = h.send(&phone()).await.expect("sent");
        let code2 = h.last_code();
        h.check(by_phone(), &wrong(&code2))
            .await
            .expect_err("wrong");
        h.check(by_phone(), &wrong(&code2))
            .await
            .expect_err("locked");
        h.advance(30);
        let third = h.send(&phone()).await.expect("sent");
        h.advance(60);
        h.check(by_phone(), &h.last_code())
            .await
            .expect_err("expired");
        status(&h.core, &third.verification_id)
            .await
            .expect("status");
        use EventType as E;
        assert_eq!(
            h.events.kinds(),
            [
                E::DeliveryFailed,
                E::Sent,
                E::IncorrectCode,
                E::Approved,
                E::Sent,
                E::IncorrectCode,
                E::IncorrectCode,
                E::Locked,
                E::Sent,
                E::Expired,
            ],
            "expired once, though seen twice"
        );
        let events = h.events.events();
        assert_eq!(events[1].verification_id, first.verification_id.as_str());
        assert_eq!(events[7].verification_id, second.verification_id.as_str());
        assert_eq!(events[7].attempts_remaining, Some(0));
        assert_eq!(events[2].attempts_remaining, Some(1));
        assert!(events[1].expires_at.is_some() && events[3].expires_at.is_none());
        for event in &events {
            let json = serde_json::to_string(event).expect("json");
            for secret in [&code, &code2, "4989202451100", "ada@example.com"] {
                assert!(!json.contains(secret), "{json} holds {secret}");
            }
            assert_eq!(event.schema_version, 1);
        }
    }

    #[tokio::test]
    async fn an_unpublished_event_changes_no_answer_and_is_counted() {
        let h = Harness::new(&[]);
        h.events.set_failing(true);
        h.send(&phone()).await.expect("sent all the same");
        h.check(CheckTarget::Destination(phone()), &h.last_code())
            .await
            .expect("approved all the same");
        assert_eq!(h.metrics.counted(Metric::EventsNotPublished), 2);
    }

    #[tokio::test]
    async fn a_lookup_tells_verified_and_unverified_contacts_masked() {
        let h = Harness::new(&[]);
        let email = Destination::Email(EmailAddress::parse("ada@example.com").expect("valid"));
        assert!(
            lookup(&h.core, &[phone(), email.clone()])
                .await
                .expect("lookup")
                .is_empty()
        );
        h.send(&phone()).await.expect("sent");
        h.send(&email).await.expect("sent");
        h.check(CheckTarget::Destination(email.clone()), &h.last_code())
            .await
            .expect("approved");
        let found = lookup(&h.core, &[phone(), email]).await.expect("lookup");
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].status, ContactStatus::Unverified);
        assert_eq!(found[0].verified_at, None);
        assert_eq!(found[0].to, phone().masked());
        assert_eq!(found[1].status, ContactStatus::Verified);
        assert!(found[1].verified_at.is_some());
        assert!(!found[1].to.contains("ada@"));
    }

    fn phone() -> Destination {
        Destination::Sms(
            PhoneNumber::parse("+4989202451100", Country::parse("US").expect("US")).expect("valid"),
        )
    }

    fn wrong(code: &str) -> String {
        format!(
            "{:06}",
            (code.parse::<u32>().expect("digits") + 1) % 1_000_000
        )
    }

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
    async fn wrong_codes_count_and_lock_at_the_limit() {
        let h = Harness::new(&[("MAX_CHECK_ATTEMPTS", "3")]);
        h.send(&phone()).await.expect("sent");
        let code = h.last_code();
        for remaining in [2, 1, 0] {
            let r = h
                .check(CheckTarget::Destination(phone()), &wrong(&code))
                .await;
            assert!(
                matches!(r, Err(ServiceError::IncorrectCode { attempts_remaining }) if attempts_remaining == remaining),
                "{r:?}"
            );
        }
        let locked = h.check(CheckTarget::Destination(phone()), &code).await;
        assert!(
            matches!(
                locked,
                Err(ServiceError::TooManyAttempts { retry_after: 30 })
            ),
            "{locked:?}"
        );
    }

    #[tokio::test]
    async fn metrics_count_sends_limits_failures_wrong_codes_lockouts_and_approvals() {
        let h = Harness::new(&[("MAX_CHECK_ATTEMPTS", "2")]);
        let counted = |metric| h.metrics.counted(metric);
        h.send(&phone()).await.expect("sent");
        let _ = h.send(&phone()).await; // within the cooldown
        assert_eq!(
            (counted(Metric::CodesSent), counted(Metric::RateLimited)),
            (1, 1)
        );
        let code = h.last_code();
        for _ in 0..2 {
            let _ = h
                .check(CheckTarget::Destination(phone()), &wrong(&code))
                .await;
        }
        assert_eq!(
            (counted(Metric::WrongCodes), counted(Metric::Lockouts)),
            (2, 1)
        );
        let _ = h.check(CheckTarget::Destination(phone()), &code).await; // locked
        assert_eq!(
            (counted(Metric::WrongCodes), counted(Metric::Approvals)),
            (2, 0)
        );

        h.advance(60);
        h.send(&phone()).await.expect("a new code");
        let code = h.last_code();
        h.check(CheckTarget::Destination(phone()), &code)
            .await
            .expect("approved");
        assert_eq!(counted(Metric::Approvals), 1);

        h.advance(60);
        h.sender.set_failing(true);
        let _ = h.send(&phone()).await;
        assert_eq!(
            (
                counted(Metric::DeliveryFailures),
                counted(Metric::CodesSent)
            ),
            (1, 2)
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

    #[tokio::test]
    async fn a_resend_waits_for_the_cooldown_and_replaces_the_earlier_code() {
        let h = Harness::new(&[]);
        let first = h.send(&phone()).await.expect("sent");
        let first_code = h.last_code();
        let early = h.send(&phone()).await;
        assert!(
            matches!(early, Err(ServiceError::ResendTooSoon { retry_after: 30 })),
            "{early:?}"
        );
        h.advance(30);
        let second = h.send(&phone()).await.expect("resent");
        let r = h
            .check(CheckTarget::Id(first.verification_id.clone()), &first_code)
            .await;
        assert!(matches!(r, Err(ServiceError::Replaced)), "{r:?}");
        assert_eq!(
            status(&h.core, &first.verification_id)
                .await
                .expect("status")
                .status,
            VerificationStatus::Replaced
        );
        let code = h.last_code();
        h.check(CheckTarget::Id(second.verification_id), &code)
            .await
            .expect("the new code works");
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
    async fn an_idempotency_key_replays_its_first_success_and_refuses_another_request() {
        let h = Harness::new(&[]);
        let key = IdempotencyKey::parse("order-42").expect("key");
        let first = fingerprint([("phone", "+4989202451100")]);
        assert_eq!(
            claim_idempotency_key(&h.core, None, &key, &first)
                .await
                .expect("free"),
            None
        );
        let busy = claim_idempotency_key(&h.core, None, &key, &first).await;
        assert!(
            matches!(busy, Err(ServiceError::IdempotencyKeyInUse)),
            "{busy:?}"
        );
        let reply = StoredReply {
            status: 202,
            body: "{}".to_owned(),
        };
        settle_idempotency_key(&h.core, None, &key, Some(&reply)).await;
        h.advance(23 * 3_600);
        let again = claim_idempotency_key(&h.core, None, &key, &first)
            .await
            .expect("claim");
        assert_eq!(again, Some(reply));
        let other = fingerprint([("phone", "+4989202451101")]);
        let reused = claim_idempotency_key(&h.core, None, &key, &other).await;
        assert!(
            matches!(reused, Err(ServiceError::IdempotencyKeyReused)),
            "{reused:?}"
        );
        h.advance(3_600);
        assert_eq!(
            claim_idempotency_key(&h.core, None, &key, &other)
                .await
                .expect("expired"),
            None,
            "after 24 hours the key is free"
        );
    }

    #[tokio::test]
    async fn an_idempotency_key_is_freed_by_an_error_and_by_a_request_that_died() {
        let h = Harness::new(&[]);
        let key = IdempotencyKey::parse("k").expect("key");
        let fp = fingerprint([("email", "a@example.com")]);
        assert_eq!(
            claim_idempotency_key(&h.core, None, &key, &fp)
                .await
                .expect("free"),
            None
        );
        settle_idempotency_key(&h.core, None, &key, None).await;
        assert_eq!(
            claim_idempotency_key(&h.core, None, &key, &fp)
                .await
                .expect("freed"),
            None,
            "an error keeps nothing"
        );
        h.advance(61);
        assert_eq!(
            claim_idempotency_key(&h.core, None, &key, &fp)
                .await
                .expect("stale"),
            None,
            "a claim left without an answer is taken over after a minute"
        );
    }

    #[test]
    fn a_fingerprint_ignores_field_order_but_not_values() {
        let a = fingerprint([("phone", "1"), ("locale", "de")]);
        assert_eq!(a, fingerprint([("locale", "de"), ("phone", "1")]));
        assert_ne!(a, fingerprint([("locale", "de"), ("phone", "2")]));
        assert_ne!(fingerprint([("ab", "c")]), fingerprint([("a", "bc")]));
    }

    #[tokio::test]
    async fn the_per_client_limit_counts_sends_to_any_destination_in_a_sliding_window() {
        let h = Harness::new(&[("MAX_SENDS_PER_IP", "3")]);
        let us = Country::parse("US").expect("US");
        let from = |client: &str, n: u32| SendRequest {
            client: Some(client_key(client)),
            ..SendRequest::new(Destination::Sms(
                PhoneNumber::parse(&format!("+49301234567{n}"), us).expect("valid"),
            ))
        };
        let send_from = |client: &'static str, n: u32| {
            let h = &h;
            async move { send(&h.core, &h.hasher, &h.sender, from(client, n)).await }
        };
        for n in 0..3 {
            send_from("192.0.2.1", n).await.expect("within the limit");
            h.advance(600);
        }
        let over = send_from("192.0.2.1", 3).await;
        assert!(
            matches!(
                over,
                Err(ServiceError::TooManySendsFromClient { retry_after: 1_800 })
            ),
            "{over:?}"
        );
        send_from("192.0.2.2", 4)
            .await
            .expect("another client has its own limit");
        h.advance(1_800);
        send_from("192.0.2.1", 5)
            .await
            .expect("the first send left the window");
        let again = send_from("192.0.2.1", 6).await;
        assert!(
            matches!(
                again,
                Err(ServiceError::TooManySendsFromClient { retry_after: 600 })
            ),
            "{again:?}"
        );
        assert_eq!(h.sender.sent().len(), 5);
    }

    #[tokio::test]
    async fn the_send_window_caps_sends_per_destination() {
        let h = Harness::new(&[
            ("RESEND_COOLDOWN_SECONDS", "0"),
            ("MAX_SENDS_PER_WINDOW", "3"),
            ("SEND_WINDOW_SECONDS", "600"),
        ]);
        for _ in 0..3 {
            h.send(&phone()).await.expect("within the window");
            h.advance(10);
        }
        let r = h.send(&phone()).await;
        assert!(
            matches!(r, Err(ServiceError::TooManySends { retry_after: 570 })),
            "{r:?}"
        );
        h.advance(570);
        h.send(&phone())
            .await
            .expect("the oldest send left the window");
    }

    #[tokio::test]
    async fn a_failed_delivery_makes_the_code_unusable_and_starts_no_cooldown() {
        let h = Harness::new(&[]);
        h.sender.set_failing(true);
        let r = h.send(&phone()).await;
        assert!(matches!(r, Err(ServiceError::DeliveryFailed)), "{r:?}");
        let failed = h.store.verifications()[0].clone();
        assert_eq!(failed.state, VerificationState::Failed);
        assert_eq!(
            status(&h.core, &failed.id).await.expect("status").status,
            VerificationStatus::Failed
        );
        h.sender.set_failing(false);
        h.send(&phone()).await.expect("a retry works at once");
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
    async fn cleanup_deletes_old_unverified_contacts_and_keeps_verified_ones() {
        let h = Harness::new(&[
            ("UNVERIFIED_RETENTION_HOURS", "1"),
            ("RESEND_COOLDOWN_SECONDS", "0"),
        ]);
        let kept = Destination::Email(
            crate::domain::EmailAddress::parse("kept@example.com").expect("valid"),
        );
        h.send(&phone()).await.expect("sent");
        h.send(&kept).await.expect("sent");
        let code = h.last_code();
        h.check(CheckTarget::Destination(kept.clone()), &code)
            .await
            .expect("approved");
        h.advance(3_601);
        let never = || false;
        let dry = cleanup(&h.core, true, &never).await.expect("dry run");
        assert_eq!((dry.deleted, dry.skipped, dry.more), (1, 0, false));
        assert_eq!(h.store.contacts().len(), 2);
        let report = cleanup(&h.core, false, &never).await.expect("cleanup");
        assert_eq!((report.deleted, report.skipped, report.more), (1, 0, false));
        let left = h.store.contacts();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].destination, kept);
        assert!(
            h.store
                .verifications()
                .iter()
                .all(|v| v.destination == kept)
        );
    }

    #[tokio::test]
    async fn cleanup_stops_when_out_of_time_and_says_there_is_more() {
        let h = Harness::new(&[("UNVERIFIED_RETENTION_HOURS", "0")]);
        h.send(&phone()).await.expect("sent");
        let report = cleanup(&h.core, false, &|| true).await.expect("cleanup");
        assert!(report.more);
        assert_eq!(report.deleted, 0);
    }

    #[tokio::test]
    async fn a_resend_by_id_counts_toward_the_clients_limit() {
        let h = Harness::new(&[("MAX_SENDS_PER_IP", "1"), ("RESEND_COOLDOWN_SECONDS", "0")]);
        let client = Some(client_key("192.0.2.1"));
        let request = SendRequest {
            client: client.clone(),
            ..SendRequest::new(phone())
        };
        let sent = send(&h.core, &h.hasher, &h.sender, request)
            .await
            .expect("sent");
        let again = resend(
            &h.core,
            &h.hasher,
            &h.sender,
            &sent.verification_id,
            None,
            client,
            SendOptions::default(),
        )
        .await;
        assert!(
            matches!(again, Err(ServiceError::TooManySendsFromClient { .. })),
            "{again:?}"
        );
        assert_eq!(h.sender.sent().len(), 1);
    }

    /// What a concurrent request does just before the service's own write.
    #[derive(Clone, Copy)]
    enum Race {
        /// Guesses at the same code use up every attempt left.
        GuessesUseUpTheAttempts,
        /// A send from the same client, to another destination, takes the slot that
        /// the service is about to take in the client's log (once).
        TheClientSendsElsewhere,
    }

    /// The memory store, with a concurrent request slipped in just before a count or a
    /// send: interleavings that the single-threaded fake never produces by itself.
    struct Meanwhile {
        inner: Arc<MemoryStore>,
        race: Race,
        raced: std::sync::atomic::AtomicBool,
    }

    impl Meanwhile {
        fn core(h: &Harness, race: Race) -> Core {
            let store = Self {
                inner: h.store.clone(),
                race,
                raced: std::sync::atomic::AtomicBool::new(false),
            };
            Core {
                store: Arc::new(store),
                ..h.core.clone()
            }
        }
    }

    #[async_trait::async_trait]
    impl Store for Meanwhile {
        async fn enroll_totp(
            &self,
            enrollment: &crate::store::Enrollment,
        ) -> Result<crate::store::EnrollOutcome, StoreError> {
            self.inner.enroll_totp(enrollment).await
        }

        async fn count_totp_attempt(
            &self,
            destination: &Destination,
            max: u32,
            window_ms: i64,
            now: i64,
        ) -> Result<crate::store::FactorAttempt, StoreError> {
            self.inner
                .count_totp_attempt(destination, max, window_ms, now)
                .await
        }

        async fn accept_totp(
            &self,
            factor: &crate::domain::TotpFactor,
            step: u64,
            approval: &VerificationRecord,
            now: i64,
        ) -> Result<bool, StoreError> {
            self.inner.accept_totp(factor, step, approval, now).await
        }

        async fn contact(
            &self,
            destination: &Destination,
        ) -> Result<Option<ContactRecord>, StoreError> {
            self.inner.contact(destination).await
        }

        async fn record_send(&self, write: &SendWrite) -> Result<(), StoreError> {
            let replaces_log = write.client.as_ref().is_some_and(|c| c.replace.is_some());
            if matches!(self.race, Race::TheClientSendsElsewhere)
                && replaces_log
                && !self.raced.swap(true, Ordering::SeqCst)
            {
                let mut other = write.clone();
                other.contact.destination =
                    Destination::Email(EmailAddress::parse("other@example.com").expect("valid"));
                other.verification.destination = other.contact.destination.clone();
                other.verification.id =
                    VerificationId::generate(write.verification.created_at).expect("os rng");
                other.expected_version = None;
                other.replaced = None;
                self.inner.record_send(&other).await?;
            }
            self.inner.record_send(write).await
        }

        async fn record_delivery_failure(
            &self,
            destination: &Destination,
            id: &VerificationId,
            now: i64,
        ) -> Result<(), StoreError> {
            self.inner
                .record_delivery_failure(destination, id, now)
                .await
        }

        async fn count_attempt(
            &self,
            destination: &Destination,
            expected: Option<&VerificationId>,
            length: LengthCheck,
            now: i64,
        ) -> Result<AttemptOutcome, StoreError> {
            if matches!(self.race, Race::GuessesUseUpTheAttempts) {
                while let AttemptOutcome::Counted(_) = self
                    .inner
                    .count_attempt(destination, expected, length, now)
                    .await?
                {}
            }
            self.inner
                .count_attempt(destination, expected, length, now)
                .await
        }

        async fn cancel(
            &self,
            destination: &Destination,
            id: &VerificationId,
            attempts: u32,
        ) -> Result<bool, StoreError> {
            self.inner.cancel(destination, id, attempts).await
        }

        async fn mark_expired(
            &self,
            id: &VerificationId,
            attempts: u32,
        ) -> Result<bool, StoreError> {
            self.inner.mark_expired(id, attempts).await
        }

        async fn api_keys(&self) -> Result<Vec<crate::domain::ApiKeyRecord>, StoreError> {
            self.inner.api_keys().await
        }

        async fn add_api_key(&self, key: &crate::domain::ApiKeyRecord) -> Result<(), StoreError> {
            self.inner.add_api_key(key).await
        }

        async fn revoke_api_key(
            &self,
            id: &crate::domain::ApiKeyId,
            now: i64,
        ) -> Result<bool, StoreError> {
            self.inner.revoke_api_key(id, now).await
        }

        async fn approve(
            &self,
            destination: &Destination,
            id: &VerificationId,
            by_id: bool,
            now: i64,
        ) -> Result<bool, StoreError> {
            self.inner.approve(destination, id, by_id, now).await
        }

        async fn verification(
            &self,
            id: &VerificationId,
        ) -> Result<Option<VerificationRecord>, StoreError> {
            self.inner.verification(id).await
        }

        async fn stale_contacts(
            &self,
            created_before: i64,
            after: Option<&StaleCursor>,
            limit: u32,
        ) -> Result<crate::store::StalePage, StoreError> {
            self.inner
                .stale_contacts(created_before, after, limit)
                .await
        }

        async fn claim_key(
            &self,
            claim: &KeyRecord,
            stale_before: i64,
        ) -> Result<KeyClaim, StoreError> {
            self.inner.claim_key(claim, stale_before).await
        }

        async fn record_reply(
            &self,
            key_hash: &str,
            reply: &StoredReply,
        ) -> Result<(), StoreError> {
            self.inner.record_reply(key_hash, reply).await
        }

        async fn release_key(&self, key_hash: &str) -> Result<(), StoreError> {
            self.inner.release_key(key_hash).await
        }

        async fn delete_stale_contact(
            &self,
            destination: &Destination,
            created_before: i64,
            now: i64,
        ) -> Result<DeleteOutcome, StoreError> {
            self.inner
                .delete_stale_contact(destination, created_before, now)
                .await
        }
    }

    #[tokio::test]
    async fn the_right_code_is_refused_when_concurrent_guesses_used_the_last_attempts() {
        // Only an attempt that was counted may be compared: a check that read the code,
        // compared, and counted afterwards would let any number of concurrent guesses in.
        let h = Harness::new(&[]);
        let sent = h.send(&phone()).await.expect("sent");
        let code = SubmittedCode::parse(&h.last_code(), 6).expect("format");
        let core = Meanwhile::core(&h, Race::GuessesUseUpTheAttempts);
        for target in [
            CheckTarget::Destination(phone()),
            CheckTarget::Id(sent.verification_id.clone()),
        ] {
            let r = check(&core, &h.hasher, target, &code).await;
            assert!(
                matches!(r, Err(ServiceError::TooManyAttempts { .. })),
                "{r:?}"
            );
        }
        assert_eq!(
            status(&h.core, &sent.verification_id)
                .await
                .expect("status")
                .status,
            VerificationStatus::Locked
        );
    }

    #[tokio::test]
    async fn a_client_log_changed_by_a_concurrent_send_is_not_overwritten() {
        // The client's only slot is free again once its send left the window; a concurrent
        // send from the same client takes it first, so this one must be refused.
        let h = Harness::new(&[("MAX_SENDS_PER_IP", "1")]);
        let from_client = |to: Destination| SendRequest {
            client: Some(client_key("192.0.2.1")),
            ..SendRequest::new(to)
        };
        send(&h.core, &h.hasher, &h.sender, from_client(phone()))
            .await
            .expect("sent");
        h.advance(3_600);
        let core = Meanwhile::core(&h, Race::TheClientSendsElsewhere);
        let us = Country::parse("US").expect("US");
        let other = Destination::Sms(PhoneNumber::parse("+14155550123", us).expect("valid"));
        let r = send(&core, &h.hasher, &h.sender, from_client(other)).await;
        assert!(
            matches!(r, Err(ServiceError::TooManySendsFromClient { .. })),
            "{r:?}"
        );
        assert_eq!(h.sender.sent().len(), 1);
    }

    #[tokio::test]
    async fn the_store_approves_a_code_once_and_never_from_its_expiry_on() {
        let h = Harness::new(&[]);
        let sent = h.send(&phone()).await.expect("sent");
        let (id, expiry) = (&sent.verification_id, sent.expires_at);
        let store = &h.store;
        assert!(
            !store
                .approve(&phone(), id, true, expiry)
                .await
                .expect("approve")
        );
        assert!(
            store
                .approve(&phone(), id, true, expiry - 1)
                .await
                .expect("approve")
        );
        assert!(
            !store
                .approve(&phone(), id, true, expiry - 1)
                .await
                .expect("approve"),
            "approved twice"
        );
    }
}
