//! Operational metrics as CloudWatch Embedded Metric Format (EMF) lines on stdout.
//! CloudWatch Logs turns each line into a metric point: no API call, no added latency, no
//! extra permission. The alarms in template.yaml watch these metrics.

use std::io::Write;

use serde_json::{Map, Value, json};

use crate::domain::Channel;
use crate::time::{Clock, SystemClock};

/// What is counted. Each point carries the channel as a dimension, and is counted in a
/// total without it as well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// A code was handed to SNS or SES.
    CodesSent,
    /// SNS or SES refused or failed a code.
    DeliveryFailures,
    /// A right code approved a verification.
    Approvals,
    /// A wrong code was counted.
    WrongCodes,
    /// A wrong code used the last attempt: the code is locked.
    Lockouts,
    /// A send was refused by the cooldown, the destination's window or the client's limit.
    RateLimited,
    /// Outcome events that EventBridge did not take (after the SDK's retries).
    EventsNotPublished,
    /// An inbound call was turned away: an unknown number, or over its number's limit.
    RejectedCalls,
}

impl Metric {
    /// Every metric, for documentation and tests.
    pub const ALL: [Metric; 8] = [
        Metric::CodesSent,
        Metric::DeliveryFailures,
        Metric::Approvals,
        Metric::WrongCodes,
        Metric::Lockouts,
        Metric::RateLimited,
        Metric::EventsNotPublished,
        Metric::RejectedCalls,
    ];

    /// The metric's CloudWatch name.
    pub fn name(self) -> &'static str {
        match self {
            Metric::CodesSent => "CodesSent",
            Metric::DeliveryFailures => "DeliveryFailures",
            Metric::Approvals => "Approvals",
            Metric::WrongCodes => "WrongCodes",
            Metric::Lockouts => "Lockouts",
            Metric::RateLimited => "RateLimited",
            Metric::EventsNotPublished => "EventsNotPublished",
            Metric::RejectedCalls => "RejectedCalls",
        }
    }
}

/// Where metric points go; a trait so tests can read them.
pub trait Metrics: Send + Sync {
    /// Counts one event. `properties` are written beside the metric (searchable in the
    /// logs, not dimensions): never a code, a key or a full destination.
    fn count(&self, metric: Metric, channel: Channel, properties: &[(&str, &str)]);
}

/// Writes EMF lines to stdout, which Lambda sends to CloudWatch Logs.
#[derive(Debug, Clone)]
pub struct EmfMetrics {
    /// The CloudWatch namespace.
    pub namespace: String,
}

impl Metrics for EmfMetrics {
    fn count(&self, metric: Metric, channel: Channel, properties: &[(&str, &str)]) {
        let line = emf_line(
            &self.namespace,
            metric,
            channel,
            SystemClock.now_ms(),
            properties,
        );
        // A metric that cannot be written is not worth failing a request for.
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }
}

/// Discards every point.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMetrics;

impl Metrics for NoMetrics {
    fn count(&self, _: Metric, _: Channel, _: &[(&str, &str)]) {}
}

/// Keeps every point in memory, for tests.
#[cfg(any(test, feature = "testing"))]
#[derive(Debug, Default)]
pub struct RecordingMetrics(std::sync::Mutex<Vec<(Metric, Channel)>>);

#[cfg(any(test, feature = "testing"))]
impl RecordingMetrics {
    /// How many points of `metric` were counted.
    pub fn counted(&self, metric: Metric) -> usize {
        self.0.lock().map_or(0, |points| {
            points.iter().filter(|(m, _)| *m == metric).count()
        })
    }

    /// How many points of `metric` were counted for `channel`.
    pub fn counted_for(&self, metric: Metric, channel: Channel) -> usize {
        self.0.lock().map_or(0, |points| {
            points
                .iter()
                .filter(|(m, c)| *m == metric && *c == channel)
                .count()
        })
    }
}

#[cfg(any(test, feature = "testing"))]
impl Metrics for RecordingMetrics {
    fn count(&self, metric: Metric, channel: Channel, _: &[(&str, &str)]) {
        if let Ok(mut points) = self.0.lock() {
            points.push((metric, channel));
        }
    }
}

/// One EMF document on one line: the metric counted once, by `Channel` and in total.
pub fn emf_line(
    namespace: &str,
    metric: Metric,
    channel: Channel,
    timestamp_ms: i64,
    properties: &[(&str, &str)],
) -> String {
    let mut doc = Map::new();
    for (name, value) in properties {
        doc.insert((*name).to_owned(), Value::from(*value));
    }
    doc.insert(
        "_aws".to_owned(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [["Channel"], []],
                "Metrics": [{"Name": metric.name(), "Unit": "Count"}],
            }],
        }),
    );
    doc.insert("Channel".to_owned(), Value::from(channel.as_str()));
    doc.insert(metric.name().to_owned(), Value::from(1));
    Value::Object(doc).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emf_line_is_one_json_object_that_names_its_metric_dimension_and_value() {
        let line = emf_line(
            "twostep/prod",
            Metric::WrongCodes,
            Channel::Sms,
            1_700_000_000_123,
            &[("verification_id", "01ABC")],
        );
        assert!(!line.contains('\n'));
        let doc: Value = serde_json::from_str(&line).expect("JSON");
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_123_i64);
        assert_eq!(directive["Namespace"], "twostep/prod");
        assert_eq!(directive["Dimensions"], json!([["Channel"], []]));
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "WrongCodes", "Unit": "Count"}])
        );
        // Every dimension and metric the directive names is a member of the root.
        assert_eq!(doc["Channel"], "sms");
        assert_eq!(doc["WrongCodes"], 1);
        assert_eq!(doc["verification_id"], "01ABC");
    }

    #[test]
    fn a_property_cannot_overwrite_the_metric_or_its_dimension() {
        let line = emf_line(
            "twostep",
            Metric::CodesSent,
            Channel::Email,
            0,
            &[("Channel", "x"), ("CodesSent", "y"), ("_aws", "z")],
        );
        let doc: Value = serde_json::from_str(&line).expect("JSON");
        assert_eq!(doc["Channel"], "email");
        assert_eq!(doc["CodesSent"], 1);
        assert!(doc["_aws"].is_object());
    }

    #[test]
    fn metric_names_are_distinct() {
        let mut names: Vec<_> = Metric::ALL.iter().map(|m| m.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Metric::ALL.len());
    }
}
