//! One batch of the webhook queue: each message is an outcome event as the bus rule put it
//! there; each is POSTed, signed, to the receiver. A 2xx takes it off the queue; anything
//! else (another status, a timeout, no connection) hides it for its back-off and names it in
//! `batchItemFailures`, so SQS hands it over again later, until the queue's redrive policy
//! moves it to the dead-letter queue.

use async_trait::async_trait;
use futures_util::future::join_all;
use serde::{Deserialize, Serialize};

use super::signing::SigningKeys;
use crate::events::{Event, SCHEMA_VERSION, SOURCE};

/// The most SQS hides a message for (12 hours).
pub const MAX_DELAY_SECONDS: u32 = 43_200;

/// The waits before the second, third, … attempt, in seconds: the Standard Webhooks
/// specification's example schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h; eight attempts
/// over 27.6 hours).
pub const DEFAULT_WAITS: [u32; 7] = [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];

/// Why a schedule was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "WEBHOOK_RETRY_SECONDS is 1 to 20 comma-separated waits of 0 to {MAX_DELAY_SECONDS} seconds: {0}"
)]
pub struct ScheduleError(String);

/// When to try again after each failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule(Vec<u32>);

impl Schedule {
    /// Parses `5,300,1800`: the waits after the first, second, … failed attempt.
    pub fn parse(text: &str) -> Result<Self, ScheduleError> {
        let waits = text
            .split(',')
            .map(|w| {
                w.trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|w| *w <= MAX_DELAY_SECONDS)
                    .ok_or_else(|| ScheduleError(format!("{w:?} is not one")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if waits.len() > 20 {
            return Err(ScheduleError(format!("{} waits", waits.len())));
        }
        Ok(Self(waits))
    }

    /// Every attempt, the first included: the queue's `maxReceiveCount`.
    pub fn attempts(&self) -> u32 {
        u32::try_from(self.0.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1)
    }

    /// How long to hide a message after its attempt number `attempt` (from 1) failed: the
    /// schedule's wait, or the receiver's `Retry-After` when longer, at most 12 hours. After
    /// the last attempt, 0: the next receive moves it to the dead-letter queue at once.
    pub fn delay_after(&self, attempt: u32, retry_after: Option<u32>) -> u32 {
        let index = usize::try_from(attempt.saturating_sub(1)).unwrap_or(usize::MAX);
        match self.0.get(index) {
            Some(wait) => (*wait).max(retry_after.unwrap_or(0)).min(MAX_DELAY_SECONDS),
            None => 0,
        }
    }
}

impl Default for Schedule {
    fn default() -> Self {
        Self(DEFAULT_WAITS.to_vec())
    }
}

/// A batch from the webhook queue, as Lambda's SQS event source delivers it.
#[derive(Debug, Clone, Deserialize)]
pub struct QueueBatch {
    /// The messages.
    #[serde(rename = "Records")]
    pub records: Vec<QueueMessage>,
}

/// One message of a [`QueueBatch`].
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueMessage {
    /// Named in `batchItemFailures` when the delivery failed.
    pub message_id: String,
    /// What hides the message for its back-off.
    pub receipt_handle: String,
    /// The EventBridge event, as JSON.
    pub body: String,
    /// SQS's attributes: the receive count is the attempt number.
    #[serde(default)]
    pub attributes: MessageAttributes,
}

/// The attributes of a [`QueueMessage`] that matter here.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MessageAttributes {
    /// How many times SQS has handed the message over, this time included.
    #[serde(rename = "ApproximateReceiveCount", default)]
    pub approximate_receive_count: Option<String>,
}

impl QueueMessage {
    /// The attempt number, from 1.
    pub fn attempt(&self) -> u32 {
        self.attributes
            .approximate_receive_count
            .as_deref()
            .and_then(|c| c.parse().ok())
            .unwrap_or(1)
            .max(1)
    }
}

/// The EventBridge event the bus rule put on the queue (the part read here).
#[derive(Debug, Deserialize)]
struct BusEvent {
    source: String,
    #[serde(rename = "detail-type")]
    detail_type: String,
    detail: Event,
}

/// Why a message is not a twostep event. The message goes, after its attempts, to the
/// dead-letter queue: someone put something else on the queue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// Not an EventBridge event with a twostep event's `detail`.
    #[error("not a twostep outcome event: {0}")]
    NotAnEvent(String),
    /// Another source, or a schema this build does not know.
    #[error("an event of source {from:?}, schema {schema}: not delivered")]
    Foreign {
        /// The event's `source`.
        from: String,
        /// Its `detail.schema_version`.
        schema: u32,
    },
}

/// The webhook payload (the specification's shape): the event's type, when it happened, and
/// its `detail` as `data`.
#[derive(Debug, Serialize)]
struct Payload<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    timestamp: &'a str,
    data: &'a Event,
}

/// A delivery: its `webhook-id` (the event's `event_id`, the same on every attempt) and its
/// body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// `webhook-id`.
    pub id: String,
    /// The JSON body.
    pub body: Vec<u8>,
}

impl Delivery {
    /// The delivery of the EventBridge event `body`. Only the fields of the events' schema
    /// are carried over (re-serialised from [`Event`]): whatever else an event held, it does
    /// not leave the account.
    pub fn from_bus_event(body: &str) -> Result<Self, PayloadError> {
        let event: BusEvent =
            serde_json::from_str(body).map_err(|e| PayloadError::NotAnEvent(e.to_string()))?;
        if event.source != SOURCE || event.detail.schema_version != SCHEMA_VERSION {
            return Err(PayloadError::Foreign {
                from: event.source,
                schema: event.detail.schema_version,
            });
        }
        let payload = Payload {
            kind: &event.detail_type,
            timestamp: &event.detail.occurred_at,
            data: &event.detail,
        };
        let body =
            serde_json::to_vec(&payload).map_err(|e| PayloadError::NotAnEvent(e.to_string()))?;
        Ok(Self {
            id: event.detail.event_id,
            body,
        })
    }
}

/// One signed POST.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    /// `webhook-id`.
    pub id: &'a str,
    /// `webhook-timestamp` (unix seconds: this attempt's).
    pub timestamp: i64,
    /// `webhook-signature`.
    pub signature: &'a str,
    /// The body.
    pub body: &'a [u8],
}

/// What the receiver answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// `Retry-After` in seconds, if it gave one.
    pub retry_after: Option<u32>,
}

/// Where deliveries are POSTed; a trait so the batch logic is tested without a network.
#[async_trait]
pub trait Transport: Send + Sync {
    /// POSTs `request`; an error is a failure with no answer (timeout, refused, TLS).
    async fn post(&self, request: SignedRequest<'_>) -> Result<Answer, String>;
}

/// The queue the messages came from: a failed message is hidden for its back-off.
#[async_trait]
pub trait Redelivery: Send + Sync {
    /// Hides the message of `receipt_handle` for `seconds` from now.
    async fn delay(&self, receipt_handle: &str, seconds: u32) -> Result<(), String>;
}

/// How one message went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver took it (2xx).
    Delivered,
    /// To try again after `after` seconds (0: the attempts are spent).
    Retry {
        /// Seconds the message is hidden for.
        after: u32,
    },
}

/// Delivers every message of `batch` at once, each signed with `keys` at `now` (unix
/// seconds), and gives each message's outcome, in order.
pub async fn deliver_batch(
    batch: &QueueBatch,
    keys: &SigningKeys,
    schedule: &Schedule,
    (transport, queue): (&dyn Transport, &dyn Redelivery),
    now: i64,
) -> Vec<Outcome> {
    join_all(
        batch
            .records
            .iter()
            .map(|message| deliver_one(message, keys, schedule, (transport, queue), now)),
    )
    .await
}

async fn deliver_one(
    message: &QueueMessage,
    keys: &SigningKeys,
    schedule: &Schedule,
    (transport, queue): (&dyn Transport, &dyn Redelivery),
    now: i64,
) -> Outcome {
    let attempt = message.attempt();
    let after = match Delivery::from_bus_event(&message.body) {
        Err(e) => {
            // Never right on a later attempt: straight on towards the dead-letter queue.
            tracing::error!(message_id = %message.message_id, error = %e, "webhook message not deliverable");
            0
        }
        Ok(delivery) => {
            let signature = keys.signature_header(&delivery.id, now, &delivery.body);
            let request = SignedRequest {
                id: &delivery.id,
                timestamp: now,
                signature: &signature,
                body: &delivery.body,
            };
            match transport.post(request).await {
                Ok(answer) if (200..300).contains(&answer.status) => {
                    tracing::info!(webhook_id = %delivery.id, attempt, status = answer.status, "webhook delivered");
                    return Outcome::Delivered;
                }
                Ok(answer) => {
                    let after = schedule.delay_after(attempt, answer.retry_after);
                    tracing::warn!(webhook_id = %delivery.id, attempt, status = answer.status, retry_in_seconds = after, "webhook refused");
                    after
                }
                Err(e) => {
                    let after = schedule.delay_after(attempt, None);
                    tracing::warn!(webhook_id = %delivery.id, attempt, error = %e, retry_in_seconds = after, "webhook not delivered");
                    after
                }
            }
        }
    };
    if let Err(e) = queue.delay(&message.receipt_handle, after).await {
        // The queue's own visibility timeout then decides when it comes back.
        tracing::warn!(message_id = %message.message_id, error = %e, "could not set the webhook's back-off");
    }
    Outcome::Retry { after }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use serde_json::{Value, json};

    use super::*;
    use crate::webhooks::signing::WebhookSecret;

    fn keys() -> SigningKeys {
        SigningKeys {
            current: WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap(),
            previous: None,
        }
    }

    fn bus_event(event_id: &str, extra: Value) -> String {
        let mut detail = json!({
            "schema_version": 2,
            "event_id": event_id,
            "type": "approved",
            "verification_id": "01JB8ZQ0000000000000000000",
            "channel": "sms",
            "to": "+1202*****23",
            "occurred_at": "2026-12-05T10:00:00.000Z",
            "test": false
        });
        if let (Some(d), Some(e)) = (detail.as_object_mut(), extra.as_object()) {
            d.extend(e.clone());
        }
        json!({
            "version": "0", "id": "b7a1", "detail-type": "verification.approved",
            "source": "twostep", "account": "123456789012", "time": "2026-12-05T10:00:00Z",
            "region": "us-east-1", "resources": [], "detail": detail
        })
        .to_string()
    }

    fn message(id: &str, body: String, receive_count: u32) -> QueueMessage {
        QueueMessage {
            message_id: id.to_owned(),
            receipt_handle: format!("handle-{id}"),
            body,
            attributes: MessageAttributes {
                approximate_receive_count: Some(receive_count.to_string()),
            },
        }
    }

    /// What a POST carried: `webhook-id`, `webhook-timestamp`, `webhook-signature`, body.
    type Posted = (String, i64, String, Vec<u8>);

    /// Answers each POST with the next of its answers, and keeps what it was sent.
    struct Scripted {
        answers: Mutex<Vec<Result<Answer, String>>>,
        sent: Mutex<Vec<Posted>>,
    }

    #[async_trait]
    impl Transport for Scripted {
        async fn post(&self, r: SignedRequest<'_>) -> Result<Answer, String> {
            self.sent.lock().unwrap().push((
                r.id.to_owned(),
                r.timestamp,
                r.signature.to_owned(),
                r.body.to_vec(),
            ));
            self.answers.lock().unwrap().remove(0)
        }
    }

    #[derive(Default)]
    struct Delays(Mutex<Vec<(String, u32)>>);

    #[async_trait]
    impl Redelivery for Delays {
        async fn delay(&self, handle: &str, seconds: u32) -> Result<(), String> {
            self.0.lock().unwrap().push((handle.to_owned(), seconds));
            Ok(())
        }
    }

    fn answer(status: u16, retry_after: Option<u32>) -> Result<Answer, String> {
        Ok(Answer {
            status,
            retry_after,
        })
    }

    #[tokio::test]
    async fn a_delivery_is_the_event_signed_and_only_its_schema_s_fields() {
        let transport = Scripted {
            answers: Mutex::new(vec![answer(204, None)]),
            sent: Mutex::default(),
        };
        let delays = Delays::default();
        let batch = QueueBatch {
            records: vec![message(
                "m1",
                bus_event("rec-1:approved", json!({"code": "123456"})),
                1,
            )],
        };
        let outcomes = deliver_batch(
            &batch,
            &keys(),
            &Schedule::default(),
            (&transport, &delays),
            1_800_000_000,
        )
        .await;
        assert_eq!(outcomes, [Outcome::Delivered]);
        assert!(
            delays.0.lock().unwrap().is_empty(),
            "a delivery is not delayed"
        );
        let sent = transport.sent.lock().unwrap();
        let (id, timestamp, signature, body) = &sent[0];
        assert_eq!(id, "rec-1:approved");
        assert_eq!(*timestamp, 1_800_000_000);
        assert_eq!(signature, &keys().signature_header(id, *timestamp, body));
        let body: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(body["type"], "verification.approved");
        assert_eq!(body["timestamp"], "2026-12-05T10:00:00.000Z");
        assert_eq!(body["data"]["event_id"], "rec-1:approved");
        assert_eq!(body["data"]["to"], "+1202*****23");
        assert!(
            body["data"].get("code").is_none(),
            "a field outside the schema is dropped: {body}"
        );
    }

    #[tokio::test]
    async fn failures_wait_by_the_schedule_or_retry_after_then_go_to_the_dead_letters() {
        let transport = Scripted {
            answers: Mutex::new(vec![
                answer(503, None),
                Err("timed out".to_owned()),
                answer(429, Some(900)),
                answer(500, None),
                answer(302, None),
            ]),
            sent: Mutex::default(),
        };
        let delays = Delays::default();
        let schedule = Schedule::parse("5,300,600").unwrap();
        assert_eq!(schedule.attempts(), 4);
        // Receive counts 1, 2, 2 (Retry-After longer than the schedule), 4 (the last), and
        // 1 for a redirect, which is not followed.
        let batch = QueueBatch {
            records: [1, 2, 2, 4, 1]
                .iter()
                .enumerate()
                .map(|(i, count)| {
                    message(
                        &format!("m{i}"),
                        bus_event(&format!("r{i}:sent"), json!({})),
                        *count,
                    )
                })
                .collect(),
        };
        let outcomes = deliver_batch(&batch, &keys(), &schedule, (&transport, &delays), 1).await;
        assert_eq!(
            outcomes,
            [5, 300, 900, 0, 5].map(|after| Outcome::Retry { after })
        );
        let delays = delays.0.lock().unwrap();
        assert_eq!(
            *delays,
            [
                ("handle-m0", 5),
                ("handle-m1", 300),
                ("handle-m2", 900),
                ("handle-m3", 0),
                ("handle-m4", 5)
            ]
            .map(|(h, s)| (h.to_owned(), s))
        );
    }

    #[tokio::test]
    async fn what_is_not_a_twostep_event_is_never_posted() {
        let transport = Scripted {
            answers: Mutex::new(Vec::new()),
            sent: Mutex::default(),
        };
        let delays = Delays::default();
        let foreign = bus_event("x:sent", json!({})).replace("\"twostep\"", "\"someone.else\"");
        let batch = QueueBatch {
            records: vec![
                message("a", "not json".to_owned(), 1),
                message("b", foreign, 1),
                message("c", bus_event("y:sent", json!({"schema_version": 3})), 1),
            ],
        };
        let outcomes = deliver_batch(
            &batch,
            &keys(),
            &Schedule::default(),
            (&transport, &delays),
            1,
        )
        .await;
        assert_eq!(outcomes, vec![Outcome::Retry { after: 0 }; 3]);
        assert!(transport.sent.lock().unwrap().is_empty());
    }

    #[test]
    fn schedules_parse_within_sqs_limits() {
        assert_eq!(
            Schedule::parse("5,300,1800,7200,18000,36000,36000").unwrap(),
            Schedule::default()
        );
        assert_eq!(Schedule::default().attempts(), 8);
        assert!(Schedule::parse("5,43201").is_err());
        assert!(Schedule::parse("").is_err());
        assert!(Schedule::parse("5,,6").is_err());
        let s = Schedule::parse("10").unwrap();
        assert_eq!(s.delay_after(1, Some(99_999)), MAX_DELAY_SECONDS);
        assert_eq!(s.delay_after(2, None), 0);
    }
}
