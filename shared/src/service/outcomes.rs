//! Publishing the outcome events of a batch of stored changes (the table's stream, in
//! order): the `events` function's rule. An event that cannot be published fails its change
//! and every later one, so the stream delivers them again (at least once; the `event_id`s
//! repeat, so a consumer can drop what it already has).

use crate::config::Config;
use crate::events::changes::{self, RecordChange};
use crate::events::{Event, EventSink};
use crate::metrics::{Metric, Metrics};

/// How far a batch got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// Every change's events were published (this many events).
    All(usize),
    /// The changes before this index had theirs; from it on, the stream must deliver again.
    Until(usize),
}

/// Publishes the events of `changes`, in order.
pub async fn publish(
    config: &Config,
    metrics: &dyn Metrics,
    sink: &dyn EventSink,
    changes: &[RecordChange],
) -> Published {
    let is_test = |d: &_| config.is_test_destination(d);
    let (mut events, mut owners): (Vec<Event>, Vec<usize>) = (Vec::new(), Vec::new());
    for (index, change) in changes.iter().enumerate() {
        for event in changes::events(change, &is_test) {
            events.push(event);
            owners.push(index);
        }
    }
    match sink.publish(&events).await {
        Ok(()) => {
            for event in &events {
                tracing::info!(verification_id = %event.verification_id, event = event.kind.as_str(), event_id = %event.event_id, "event published");
            }
            Published::All(events.len())
        }
        Err(e) => {
            let first = owners.get(e.first).copied().unwrap_or(0);
            for event in events.get(e.first..).unwrap_or_default() {
                tracing::error!(verification_id = %event.verification_id, event = event.kind.as_str(), error = %e.why, "event not published yet: the stream delivers it again");
                metrics.count(
                    Metric::EventsNotPublished,
                    event.channel,
                    &[("verification_id", &event.verification_id)],
                );
            }
            Published::Until(first)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::domain::{Channel, Country, Destination, PhoneNumber, VerificationId};
    use crate::domain::{CodeRules, VerificationRecord};
    use crate::events::EventType;
    use crate::events::changes::Change;
    use crate::events::memory::RecordingEvents;
    use crate::metrics::RecordingMetrics;

    fn sent(record_id: &str, at: i64) -> RecordChange {
        let us = Country::parse("US").expect("country");
        let destination = Destination::Sms(PhoneNumber::parse("+12025550123", us).expect("phone"));
        let id = VerificationId::generate(at).expect("id");
        RecordChange {
            record_id: record_id.to_owned(),
            at,
            change: Change::Verification {
                old: None,
                new: Some(Box::new(VerificationRecord::pending(
                    (id, destination, Channel::Sms),
                    at,
                    at + 600_000,
                    CodeRules {
                        length: 6,
                        max_attempts: 5,
                    },
                ))),
            },
        }
    }

    #[tokio::test]
    async fn every_change_is_published_in_order() {
        let config = crate::config::testing::test_config(&[]);
        let (events, metrics) = (RecordingEvents::default(), RecordingMetrics::default());
        let changes = [sent("a", 1_000), sent("b", 2_000)];
        let other = RecordChange {
            record_id: "c".to_owned(),
            at: 3_000,
            change: Change::Other,
        };
        let all = [changes[0].clone(), other, changes[1].clone()];
        assert_eq!(
            publish(&config, &metrics, &events, &all).await,
            Published::All(2)
        );
        let ids: Vec<String> = events.events().into_iter().map(|e| e.event_id).collect();
        assert_eq!(ids, ["a:sent", "b:sent"]);
        assert_eq!(events.kinds(), [EventType::Sent, EventType::Sent]);
    }

    #[tokio::test]
    async fn a_failed_bus_fails_the_batch_from_the_first_unpublished_change() {
        let config = crate::config::testing::test_config(&[]);
        let (events, metrics) = (
            Arc::new(RecordingEvents::default()),
            RecordingMetrics::default(),
        );
        events.set_failing(true);
        let changes = [sent("a", 1_000), sent("b", 2_000)];
        assert_eq!(
            publish(&config, &metrics, events.as_ref(), &changes).await,
            Published::Until(0)
        );
        assert_eq!(metrics.counted(Metric::EventsNotPublished), 2);
        events.set_failing(false);
        assert_eq!(
            publish(&config, &metrics, events.as_ref(), &changes).await,
            Published::All(2)
        );
    }
}
