//! Signed webhooks: a batch of the webhook queue in, each outcome event POSTed to the
//! receiver, signed (`twostep::webhooks`). What the receiver did not take is named in
//! `batchItemFailures`, already hidden for its back-off, so SQS hands it over again later.

use lambda_runtime::LambdaEvent;
use serde_json::Value;
pub use twostep::events::batch::{BatchResponse, ItemFailure};
use twostep::time::{Clock, SystemClock};
use twostep::webhooks::delivery::{Outcome, QueueBatch, Redelivery, Transport};
use twostep::webhooks::{CachedKeys, KeySource, Schedule, deliver_batch};

/// What the function holds from its start.
pub struct App<K, T, Q> {
    /// The signing secrets, read again every few minutes.
    pub keys: CachedKeys<K>,
    /// Where deliveries go.
    pub transport: T,
    /// The queue the messages come from.
    pub queue: Q,
    /// The waits between attempts.
    pub schedule: Schedule,
}

/// Handles one batch of the webhook queue.
pub async fn handle<K: KeySource, T: Transport, Q: Redelivery>(
    app: &App<K, T, Q>,
    event: LambdaEvent<Value>,
) -> Result<BatchResponse, lambda_runtime::Error> {
    // Not a batch of queue messages: a wrong subscription, which no retry mends.
    let batch: QueueBatch = serde_json::from_value(event.payload)?;
    // No secret to sign with: the whole batch fails, and comes back after the queue's
    // visibility timeout. Nothing goes out unsigned.
    let keys = app.keys.get().await?;
    let outcomes = deliver_batch(
        &batch,
        &keys,
        &app.schedule,
        (&app.transport, &app.queue),
        SystemClock.now_ms() / 1000,
    )
    .await;
    Ok(BatchResponse::failing(
        batch
            .records
            .iter()
            .zip(outcomes)
            .filter(|(_, outcome)| *outcome != Outcome::Delivered)
            .map(|(message, _)| message.message_id.clone()),
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use async_trait::async_trait;
    use lambda_runtime::Context;
    use serde_json::json;
    use twostep::webhooks::delivery::{Answer, SignedRequest};
    use twostep::webhooks::{SigningKeys, WebhookSecret};

    use super::*;

    struct Secret(bool);

    #[async_trait]
    impl KeySource for Secret {
        async fn read(&self) -> Result<SigningKeys, String> {
            if !self.0 {
                return Err("Secrets Manager is down".to_owned());
            }
            Ok(SigningKeys {
                current: WebhookSecret::parse(&"A".repeat(44)).map_err(|e| e.to_string())?,
                previous: None,
            })
        }
    }

    /// 204 for events of verification "ok", 500 for the rest.
    struct Receiver(Mutex<usize>);

    #[async_trait]
    impl Transport for Receiver {
        async fn post(&self, request: SignedRequest<'_>) -> Result<Answer, String> {
            *self.0.lock().map_err(|e| e.to_string())? += 1;
            let ok = String::from_utf8_lossy(request.body).contains("\"verification_id\":\"ok\"");
            Ok(Answer {
                status: if ok { 204 } else { 500 },
                retry_after: None,
            })
        }
    }

    #[derive(Default)]
    struct Queue(Mutex<Vec<(String, u32)>>);

    #[async_trait]
    impl Redelivery for Queue {
        async fn delay(&self, handle: &str, seconds: u32) -> Result<(), String> {
            self.0
                .lock()
                .map_err(|e| e.to_string())?
                .push((handle.to_owned(), seconds));
            Ok(())
        }
    }

    fn message(id: &str, verification: &str) -> serde_json::Value {
        let event = json!({
            "source": "twostep", "detail-type": "verification.sent",
            "detail": {"schema_version": 2, "event_id": format!("{id}:sent"), "type": "sent",
                "verification_id": verification, "channel": "email", "to": "a***@example.com",
                "occurred_at": "2026-12-05T10:00:00Z", "test": false}
        });
        json!({"messageId": id, "receiptHandle": format!("h-{id}"), "body": event.to_string(),
            "attributes": {"ApproximateReceiveCount": "1"}, "eventSource": "aws:sqs"})
    }

    fn app(secret: bool) -> App<Secret, Receiver, Queue> {
        App {
            keys: CachedKeys::new(Secret(secret), Duration::from_secs(300)),
            transport: Receiver(Mutex::new(0)),
            queue: Queue::default(),
            schedule: Schedule::default(),
        }
    }

    #[tokio::test]
    async fn what_the_receiver_refused_is_named_and_hidden_for_its_back_off() {
        let app = app(true);
        let batch = json!({"Records": [message("m1", "ok"), message("m2", "down")]});
        let answer = handle(&app, LambdaEvent::new(batch, Context::default()))
            .await
            .expect("an answer");
        assert_eq!(
            answer.batch_item_failures,
            [ItemFailure {
                item_identifier: "m2".to_owned()
            }]
        );
        assert_eq!(*app.queue.0.lock().unwrap(), [("h-m2".to_owned(), 5)]);
    }

    #[tokio::test]
    async fn without_a_secret_nothing_goes_out_and_the_batch_fails() {
        let app = app(false);
        let batch = json!({"Records": [message("m1", "ok")]});
        assert!(
            handle(&app, LambdaEvent::new(batch, Context::default()))
                .await
                .is_err()
        );
        assert_eq!(
            *app.transport.0.lock().unwrap(),
            0,
            "nothing unsigned is sent"
        );
    }
}
