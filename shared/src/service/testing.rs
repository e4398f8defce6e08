//! What the service's unit tests share: a harness over the in-memory adapters, the test
//! destinations, and a store that slips a concurrent request in before the service's own.

use std::sync::Arc;

use super::*;
use crate::channels::memory::RecordingSender;
use crate::domain::Destination;
use crate::domain::{
    ChannelList, CodeHasher, Country, EmailAddress, Fallback, PhoneNumber, SubmittedCode,
};
use crate::events::{Event, EventType, changes};
use crate::metrics::RecordingMetrics;
use crate::store::AttemptOutcome;
use crate::store::memory::{MemoryStore, Op};
use crate::time::testing::TestClock;

/// The service over the in-memory adapters, with a clock the test moves.
pub(crate) struct Harness {
    pub(crate) core: Core,
    pub(crate) metrics: Arc<RecordingMetrics>,
    pub(crate) store: Arc<MemoryStore>,
    pub(crate) clock: Arc<TestClock>,
    pub(crate) sender: RecordingSender,
    pub(crate) hasher: CodeHasher,
}

impl Harness {
    pub(crate) fn new(extra: &[(&str, &str)]) -> Self {
        let store = Arc::new(MemoryStore::new());
        let clock = Arc::new(TestClock::at(1_800_000_000_000));
        let metrics = Arc::new(RecordingMetrics::default());
        let config = crate::config::testing::test_config(extra);
        Self {
            core: Core {
                config: Arc::new(config),
                store: store.clone(),
                clock: clock.clone(),
                metrics: metrics.clone(),
            },
            metrics,
            store,
            clock,
            sender: RecordingSender::new(),
            hasher: CodeHasher::new(&[42u8; 32], None),
        }
    }

    /// The outcome events of every change stored so far, as the `events` function makes
    /// them from the table's stream.
    pub(crate) fn events(&self) -> Vec<Event> {
        let config = &self.core.config;
        self.store
            .changes()
            .iter()
            .flat_map(|c| changes::events(c, &|d| config.is_test_destination(d)))
            .collect()
    }

    /// The types of [`Harness::events`].
    pub(crate) fn event_kinds(&self) -> Vec<EventType> {
        self.events().iter().map(|e| e.kind).collect()
    }

    pub(crate) fn advance(&self, seconds: i64) {
        self.clock.advance(seconds);
    }

    pub(crate) async fn send(&self, to: &Destination) -> Result<SendOutcome, ServiceError> {
        self.send_with(to, SendOptions::default()).await
    }

    /// A resend by id, as a form or an IVR asks for it: no language, no client.
    pub(crate) async fn resend(&self, id: &VerificationId) -> Result<SendOutcome, ServiceError> {
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

    pub(crate) fn last_code(&self) -> String {
        self.sender.last_code(6).expect("a code was sent")
    }

    pub(crate) async fn check(
        &self,
        target: CheckTarget,
        code: &str,
    ) -> Result<Approval, ServiceError> {
        let code = SubmittedCode::parse_any(code, 6).expect("format");
        check(&self.core, &self.hasher, target, &code).await
    }

    /// A keyed send with `options`.
    pub(crate) async fn send_with(
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

pub(crate) const VOICE: (&str, &str) = ("VOICE_ORIGINATION_IDENTITY", "+15005550000");

pub(crate) fn email() -> Destination {
    Destination::Email(EmailAddress::parse("ada@example.com").expect("valid"))
}

/// A sign-up over `channels` with both destinations.
pub(crate) fn flow(channels: &str) -> SendRequest {
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

pub(crate) fn phone() -> Destination {
    Destination::Sms(
        PhoneNumber::parse("+4989202451100", Country::parse("US").expect("US")).expect("valid"),
    )
}

pub(crate) fn wrong(code: &str) -> String {
    format!(
        "{:06}",
        (code.parse::<u32>().expect("digits") + 1) % 1_000_000
    )
}

/// What a concurrent request does just before the service's own write.
#[derive(Clone, Copy)]
pub(crate) enum Race {
    /// Guesses at the same code use up every attempt left.
    GuessesUseUpTheAttempts,
    /// A send from the same client, to another destination, takes the slot that
    /// the service is about to take in the client's log (once).
    TheClientSendsElsewhere,
}

/// The memory store, with a concurrent request slipped in just before a count or a
/// send: interleavings that the single-threaded fake never produces by itself.
pub(crate) struct Meanwhile;

impl Meanwhile {
    /// The harness's core, its store now running `race` before each count or send.
    pub(crate) fn core(h: &Harness, race: Race) -> Core {
        let mut raced = false;
        h.store.meanwhile(move |records, op| match (race, op) {
            (Race::GuessesUseUpTheAttempts, Op::CountAttempt(attempt)) => {
                while let Ok(AttemptOutcome::Counted(_)) = records.count_attempt(attempt) {}
            }
            (Race::TheClientSendsElsewhere, Op::RecordSend(write))
                if !raced && write.client.as_ref().is_some_and(|c| c.replace.is_some()) =>
            {
                raced = true;
                let mut other = (*write).clone();
                other.contact.destination =
                    Destination::Email(EmailAddress::parse("other@example.com").expect("valid"));
                other.verification.destination = other.contact.destination.clone();
                other.verification.id =
                    VerificationId::generate(write.verification.created_at).expect("os rng");
                other.expected_version = None;
                other.replaced = None;
                records.record_send(&other).expect("the concurrent send");
            }
            _ => {}
        });
        h.core.clone()
    }
}
