//! Outcome events on EventBridge, for workflow tools that react instead of polling.
//! The schema is `docs/events.schema.json` (version 2): no code, only masked destinations.
//!
//! Events are not published by the requests that cause them: each is made from the change
//! of a stored record ([`changes`]), read from the table's stream by the `events`
//! function, so an outcome that is stored always gets its event (at least once, with an
//! `event_id` that repeats on a redelivery).

use async_trait::async_trait;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_smithy_types::error::display::DisplayErrorContext;
use serde::{Deserialize, Serialize};

use crate::domain::{Channel, Destination, VerificationId};

/// The events' `Source`.
pub const SOURCE: &str = "twostep";
/// The `schema_version` of the events' `detail`.
pub const SCHEMA_VERSION: u32 = 2;

pub mod batch;
pub mod changes;

/// What happened to a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    /// A code was handed to SNS/SES (or, for a test destination, not sent).
    Sent,
    /// SNS/SES refused the message.
    DeliveryFailed,
    /// The right code.
    Approved,
    /// A wrong code; the attempt was counted.
    IncorrectCode,
    /// The wrong code that used the last attempt.
    Locked,
    /// The code was first seen past its expiry, or its record was deleted (TTL) unused.
    Expired,
    /// A keyed caller cancelled it.
    Canceled,
}

impl EventType {
    /// Every type, in the order of the documentation.
    pub const ALL: [EventType; 7] = [
        Self::Sent,
        Self::DeliveryFailed,
        Self::Approved,
        Self::IncorrectCode,
        Self::Locked,
        Self::Expired,
        Self::Canceled,
    ];

    /// The name in `type` and in `DetailType` (`verification.<name>`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::DeliveryFailed => "delivery_failed",
            Self::Approved => "approved",
            Self::IncorrectCode => "incorrect_code",
            Self::Locked => "locked",
            Self::Expired => "expired",
            Self::Canceled => "canceled",
        }
    }
}

/// One event's `detail`, as published (and as the webhook function reads it back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Unique to the event, and the same each time it is delivered again: the stream
    /// record's id and the type (`<record id>:<type>`). Consumers drop repeats by it.
    pub event_id: String,
    /// What happened.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// The verification it happened to.
    pub verification_id: String,
    /// How the code went: `sms`, `voice`, `email` or `totp`.
    pub channel: Channel,
    /// The destination, masked.
    pub to: String,
    /// When (RFC 3339 UTC).
    pub occurred_at: String,
    /// Whether the destination is a test destination (no message was sent).
    pub test: bool,
    /// When the code expires (`sent` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Checks left (`incorrect_code` and `locked` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts_remaining: Option<u32>,
}

impl Event {
    /// An event of `kind` about verification `id`, whose code went to `destination` by
    /// `channel`, at `now` (unix ms), made from the change `record_id`.
    pub fn new(
        kind: EventType,
        record_id: &str,
        id: &VerificationId,
        (destination, channel): (&Destination, Channel),
        test: bool,
        now: i64,
    ) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            event_id: format!("{record_id}:{}", kind.as_str()),
            kind,
            verification_id: id.to_string(),
            channel,
            to: destination.masked(),
            occurred_at: crate::time::rfc3339(now),
            test,
            expires_at: None,
            attempts_remaining: None,
        }
    }

    /// The `DetailType`: `verification.<type>`.
    pub fn detail_type(&self) -> String {
        format!("verification.{}", self.kind.as_str())
    }
}

/// Events that were not published: from `first` on (those before it were), and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("events from number {first} on were not published: {why}")]
pub struct Unpublished {
    /// The index of the first event not published.
    pub first: usize,
    /// Why.
    pub why: String,
}

/// Where events go; a trait so tests can read them.
#[async_trait]
pub trait EventSink: Send + Sync {
    /// Publishes the events in order; an error says from which one on they were not.
    async fn publish(&self, events: &[Event]) -> Result<(), Unpublished>;
}

/// No bus configured: events go nowhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEvents;

#[async_trait]
impl EventSink for NoEvents {
    async fn publish(&self, _events: &[Event]) -> Result<(), Unpublished> {
        Ok(())
    }
}

/// Publishes to an EventBridge bus with `PutEvents`.
#[derive(Debug, Clone)]
pub struct EventBridgeSink {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

impl EventBridgeSink {
    /// A sink for `bus` (a name or ARN).
    pub fn new(client: aws_sdk_eventbridge::Client, bus: impl Into<String>) -> Self {
        Self {
            client,
            bus: bus.into(),
        }
    }
}

/// The most entries one `PutEvents` call takes.
const PUT_EVENTS_MAX: usize = 10;

#[async_trait]
impl EventSink for EventBridgeSink {
    async fn publish(&self, events: &[Event]) -> Result<(), Unpublished> {
        for (chunk_number, chunk) in events.chunks(PUT_EVENTS_MAX).enumerate() {
            let offset = chunk_number * PUT_EVENTS_MAX;
            let failed_at = |first: usize, why: String| Unpublished {
                first: offset + first,
                why,
            };
            let entries = chunk
                .iter()
                .map(|event| {
                    let detail = serde_json::to_string(event).map_err(|e| e.to_string())?;
                    Ok(PutEventsRequestEntry::builder()
                        .event_bus_name(&self.bus)
                        .source(SOURCE)
                        .detail_type(event.detail_type())
                        .detail(detail)
                        .build())
                })
                .collect::<Result<Vec<_>, String>>()
                .map_err(|why| failed_at(0, why))?;
            let out = self
                .client
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| failed_at(0, format!("PutEvents: {}", DisplayErrorContext(&e))))?;
            if out.failed_entry_count() > 0 {
                // The result entries are in the request's order; a failed one has a code.
                let first = out
                    .entries()
                    .iter()
                    .position(|e| e.error_code().is_some())
                    .unwrap_or(0);
                let why = out.entries().get(first).and_then(|e| e.error_code());
                return Err(failed_at(
                    first,
                    format!("PutEvents: entry refused: {}", why.unwrap_or("unknown")),
                ));
            }
        }
        Ok(())
    }
}

/// An [`EventSink`] that keeps what it was given, for tests.
#[cfg(any(test, feature = "testing"))]
pub mod memory {
    use std::sync::Mutex;

    use super::*;

    /// Keeps every published event; can be told to fail.
    #[derive(Debug, Default)]
    pub struct RecordingEvents {
        events: Mutex<Vec<Event>>,
        failing: Mutex<bool>,
    }

    impl RecordingEvents {
        /// The events published so far.
        pub fn events(&self) -> Vec<Event> {
            self.events
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
        }

        /// The types published so far, in order.
        pub fn kinds(&self) -> Vec<EventType> {
            self.events().iter().map(|e| e.kind).collect()
        }

        /// Makes every later publish fail (or succeed again).
        pub fn set_failing(&self, failing: bool) {
            *self
                .failing
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = failing;
        }
    }

    #[async_trait]
    impl EventSink for RecordingEvents {
        async fn publish(&self, events: &[Event]) -> Result<(), Unpublished> {
            if *self
                .failing
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
            {
                return Err(Unpublished {
                    first: 0,
                    why: "the bus is unavailable".to_owned(),
                });
            }
            self.events
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend_from_slice(events);
            Ok(())
        }
    }
}
