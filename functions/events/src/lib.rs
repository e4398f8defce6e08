//! The outcome events: a batch of the table's stream records in, each outcome's event
//! published to the bus (`twostep::service::outcomes`). What could not be published is
//! named in `batchItemFailures`, so Lambda delivers it (and what follows it) again.

use lambda_runtime::LambdaEvent;
use serde_json::Value;
use twostep::Config;
use twostep::events::EventSink;
pub use twostep::events::batch::{BatchResponse, ItemFailure};
use twostep::events::changes::{Change, RecordChange};
use twostep::metrics::Metrics;
use twostep::service::outcomes::{self, Published};
use twostep::store::dynamodb::stream::StreamBatch;
use twostep::time::{Clock, SystemClock};

/// What the function holds from its start.
pub struct App<S: EventSink, M: Metrics> {
    /// The settings (the test destinations, the metrics' namespace).
    pub config: Config,
    /// Where the events go: the stack's bus.
    pub sink: S,
    /// Where the count of unpublished events goes.
    pub metrics: M,
}

/// Handles one batch of stream records.
pub async fn handle<S: EventSink, M: Metrics>(
    app: &App<S, M>,
    event: LambdaEvent<Value>,
) -> Result<BatchResponse, lambda_runtime::Error> {
    // Not a batch of stream records at all: a wrong subscription, which no retry mends.
    let batch: StreamBatch = serde_json::from_value(event.payload)?;
    let now = SystemClock.now_ms();
    let changes: Vec<RecordChange> = batch
        .records
        .iter()
        .map(|record| {
            record.change(now).unwrap_or_else(|e| {
                // A record this code cannot read would fail every retry and hold up the
                // shard; it is logged with its ids and passed over.
                tracing::error!(event_id = %record.event_id, sequence_number = %record.dynamodb.sequence_number, error = %e, "stream record not readable: no event made from it");
                RecordChange {
                    record_id: record.event_id.clone(),
                    at: now,
                    change: Change::Other,
                }
            })
        })
        .collect();
    let failures = match outcomes::publish(&app.config, &app.metrics, &app.sink, &changes).await {
        Published::All(_) => Vec::new(),
        Published::Until(first) => batch
            .records
            .get(first)
            .map(|record| record.dynamodb.sequence_number.clone())
            .into_iter()
            .collect(),
    };
    Ok(BatchResponse::failing(failures))
}

#[cfg(test)]
mod tests {
    use lambda_runtime::Context;
    use serde_json::json;
    use twostep::config::testing::test_config;
    use twostep::events::memory::RecordingEvents;
    use twostep::metrics::RecordingMetrics;

    use super::*;

    fn verification(id: &str, state: &str) -> Value {
        json!({
            "pk": {"S": format!("V#{id}")},
            "dest": {"S": "sms#+12025550123"},
            "channel": {"S": "sms"},
            "created_at": {"N": "1799999990000"},
            "expires_at": {"N": "1800000590000"},
            "max_attempts": {"N": "5"},
            "state": {"S": state},
            "code_len": {"N": "6"}
        })
    }

    fn record(sequence: &str, id: &str, old: Option<&str>, new: &str) -> Value {
        let mut dynamodb = json!({
            "ApproximateCreationDateTime": 1_800_000_000,
            "Keys": {"pk": {"S": format!("V#{id}")}},
            "NewImage": verification(id, new),
            "SequenceNumber": sequence,
            "StreamViewType": "NEW_AND_OLD_IMAGES"
        });
        if let Some(old) = old {
            dynamodb["OldImage"] = verification(id, old);
        }
        json!({"eventID": format!("e{sequence}"), "eventName": if old.is_some() { "MODIFY" } else { "INSERT" }, "dynamodb": dynamodb})
    }

    fn app() -> App<RecordingEvents, RecordingMetrics> {
        App {
            config: test_config(&[]),
            sink: RecordingEvents::default(),
            metrics: RecordingMetrics::default(),
        }
    }

    fn batch() -> LambdaEvent<Value> {
        let (a, b) = ("01JD3Z6Q0Y4S8V1M2N3P4Q5R6S", "01JD3Z6Q0Y4S8V1M2N3P4Q5R6T");
        let records = json!({"Records": [
            record("100", a, None, "pending"),
            {"eventID": "x", "eventName": "INSERT", "dynamodb": {"Keys": {"pk": {"S": "IP#k"}}, "NewImage": {"pk": {"S": "IP#k"}}, "SequenceNumber": "150"}},
            record("200", a, Some("pending"), "approved"),
            record("300", b, None, "pending"),
        ]});
        LambdaEvent::new(records, Context::default())
    }

    #[tokio::test]
    async fn a_batch_becomes_its_events_in_order() {
        let app = app();
        let answer = handle(&app, batch()).await.expect("handled");
        assert!(answer.batch_item_failures.is_empty());
        let ids: Vec<String> = app.sink.events().into_iter().map(|e| e.event_id).collect();
        assert_eq!(ids, ["e100:sent", "e200:approved", "e300:sent"]);
    }

    #[tokio::test]
    async fn a_bus_that_fails_names_the_first_record_to_deliver_again() {
        let app = app();
        app.sink.set_failing(true);
        let answer = handle(&app, batch()).await.expect("handled");
        assert_eq!(
            serde_json::to_value(&answer).expect("json"),
            json!({"batchItemFailures": [{"itemIdentifier": "100"}]})
        );
        assert!(app.sink.events().is_empty());
    }

    #[tokio::test]
    async fn an_unreadable_record_is_passed_over_and_the_rest_published() {
        let app = app();
        let mut event = batch();
        event.payload["Records"][0]["dynamodb"]["NewImage"]["state"] = json!({"S": 1});
        let answer = handle(&app, event).await.expect("handled");
        assert!(answer.batch_item_failures.is_empty());
        assert_eq!(app.sink.events().len(), 2);
    }

    #[tokio::test]
    async fn what_is_not_a_stream_batch_is_an_error() {
        let app = app();
        let event = LambdaEvent::new(json!({"Records": "no"}), Context::default());
        assert!(handle(&app, event).await.is_err());
    }
}
