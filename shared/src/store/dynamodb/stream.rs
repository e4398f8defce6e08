//! The table's stream (DynamoDB Streams, `NEW_AND_OLD_IMAGES`) as Lambda delivers it: each
//! record's images read back into the stored records, for the outcome events
//! ([`crate::events::changes`]).

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::items::{
    CONTACT_PREFIX, Item, VERIFICATION_PREFIX, contact_from_item, corrupt, verification_from_item,
};
use crate::events::changes::{Change, RecordChange};
use crate::store::StoreError;

/// A batch of stream records: the event of a Lambda function subscribed to the stream.
#[derive(Debug, Deserialize)]
pub struct StreamBatch {
    /// The records, oldest first (per item, in the order of its writes).
    #[serde(rename = "Records", default)]
    pub records: Vec<StreamRecord>,
}

/// One write to one item.
#[derive(Debug, Deserialize)]
pub struct StreamRecord {
    /// Unique to the record, the same each time it is delivered again.
    #[serde(rename = "eventID")]
    pub event_id: String,
    /// `INSERT`, `MODIFY` or `REMOVE`.
    #[serde(rename = "eventName", default)]
    pub event_name: String,
    /// The write.
    pub dynamodb: StreamData,
}

/// What a record says of its write.
#[derive(Debug, Deserialize)]
pub struct StreamData {
    /// About when the write happened: unix seconds.
    #[serde(rename = "ApproximateCreationDateTime", default)]
    pub approximate_creation: Option<f64>,
    /// The item's key.
    #[serde(rename = "Keys", default)]
    pub keys: Map<String, Value>,
    /// The item after the write (none for `REMOVE`).
    #[serde(rename = "NewImage", default)]
    pub new_image: Option<Map<String, Value>>,
    /// The item before the write (none for `INSERT`).
    #[serde(rename = "OldImage", default)]
    pub old_image: Option<Map<String, Value>>,
    /// The record's position in its shard: what a partial batch failure names.
    #[serde(rename = "SequenceNumber")]
    pub sequence_number: String,
}

impl StreamRecord {
    /// The record as a change of a stored record; `now` (unix ms) when the record has no
    /// time.
    pub fn change(&self, now: i64) -> Result<RecordChange, StoreError> {
        let data = &self.dynamodb;
        let pk = data
            .keys
            .get("pk")
            .and_then(|v| v.get("S"))
            .and_then(Value::as_str)
            .ok_or_else(|| corrupt("a stream record without a string pk"))?;
        let image = |image: &Option<Map<String, Value>>| image.as_ref().map(item).transpose();
        let (old, new) = (image(&data.old_image)?, image(&data.new_image)?);
        let change = if pk.starts_with(VERIFICATION_PREFIX) {
            let record = |i: Option<Item>| {
                i.map(|i| verification_from_item(&i).map(Box::new))
                    .transpose()
            };
            Change::Verification {
                old: record(old)?,
                new: record(new)?,
            }
        } else if pk.starts_with(CONTACT_PREFIX) {
            let record =
                |i: Option<Item>| i.map(|i| contact_from_item(&i).map(Box::new)).transpose();
            Change::Contact {
                old: record(old)?,
                new: record(new)?,
            }
        } else {
            Change::Other
        };
        Ok(RecordChange {
            record_id: self.event_id.clone(),
            // Whole seconds to milliseconds: the figure is an approximation anyway.
            #[allow(clippy::cast_possible_truncation)]
            at: data
                .approximate_creation
                .map_or(now, |seconds| (seconds * 1_000.0) as i64),
            change,
        })
    }
}

/// An image (DynamoDB's JSON form of an item) as the SDK's item.
fn item(image: &Map<String, Value>) -> Result<Item, StoreError> {
    image
        .iter()
        .map(|(name, value)| Ok((name.clone(), attribute(value)?)))
        .collect::<Result<HashMap<_, _>, StoreError>>()
}

/// One attribute value in DynamoDB's JSON form (`{"S": "…"}`, `{"N": "1"}`, `{"B": "<base64>"}`, …).
fn attribute(value: &Value) -> Result<AttributeValue, StoreError> {
    let bad = || corrupt(format!("an attribute value of a form not known: {value}"));
    let Some((kind, inner)) = value.as_object().and_then(|m| m.iter().next()) else {
        return Err(bad());
    };
    let strings = |v: &Value| -> Result<Vec<String>, StoreError> {
        v.as_array()
            .ok_or_else(bad)?
            .iter()
            .map(|s| s.as_str().map(str::to_owned).ok_or_else(bad))
            .collect()
    };
    let bytes = |v: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(v)
            .map(Blob::new)
            .map_err(|_| bad())
    };
    Ok(match (kind.as_str(), inner) {
        ("S", Value::String(s)) => AttributeValue::S(s.clone()),
        ("N", Value::String(n)) => AttributeValue::N(n.clone()),
        ("B", Value::String(b)) => AttributeValue::B(bytes(b)?),
        ("BOOL", Value::Bool(b)) => AttributeValue::Bool(*b),
        ("NULL", _) => AttributeValue::Null(true),
        ("SS", v) => AttributeValue::Ss(strings(v)?),
        ("NS", v) => AttributeValue::Ns(strings(v)?),
        ("BS", v) => AttributeValue::Bs(
            strings(v)?
                .iter()
                .map(|b| bytes(b))
                .collect::<Result<_, _>>()?,
        ),
        ("L", Value::Array(values)) => {
            AttributeValue::L(values.iter().map(attribute).collect::<Result<_, _>>()?)
        }
        ("M", Value::Object(map)) => AttributeValue::M(item(map)?),
        _ => return Err(bad()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::VerificationState;

    /// A record as Lambda delivers it (the shape of AWS's sample event).
    fn record(name: &str, old: Option<Value>, new: Option<Value>) -> StreamRecord {
        let mut dynamodb = serde_json::json!({
            "ApproximateCreationDateTime": 1_800_000_000,
            "Keys": {"pk": {"S": "V#01JD3Z6Q0Y4S8V1M2N3P4Q5R6S"}},
            "SequenceNumber": "111",
            "SizeBytes": 26,
            "StreamViewType": "NEW_AND_OLD_IMAGES"
        });
        if let Some(old) = old {
            dynamodb["OldImage"] = old;
        }
        if let Some(new) = new {
            dynamodb["NewImage"] = new;
        }
        serde_json::from_value(serde_json::json!({
            "eventID": "c81e728d9d4c2f636f067f89cc14862c",
            "eventName": name,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": dynamodb,
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026-12-04T00:00:00.000"
        }))
        .expect("a stream record")
    }

    fn verification(state: &str) -> Value {
        serde_json::json!({
            "pk": {"S": "V#01JD3Z6Q0Y4S8V1M2N3P4Q5R6S"},
            "dest": {"S": "sms#+12025550123"},
            "channel": {"S": "sms"},
            "created_at": {"N": "1799999990000"},
            "expires_at": {"N": "1800000590000"},
            "max_attempts": {"N": "5"},
            "state": {"S": state},
            "code_len": {"N": "6"},
            "ttl": {"N": "1800086990"},
            "fb_chs": {"NULL": true},
            "flags": {"L": [{"BOOL": true}, {"M": {"b": {"B": "AQID"}}}]},
            "tags": {"SS": ["a", "b"]}
        })
    }

    #[test]
    fn a_verification_record_reads_back_with_its_time_and_id() {
        let change = record(
            "MODIFY",
            Some(verification("pending")),
            Some(verification("canceled")),
        )
        .change(0)
        .expect("readable");
        assert_eq!(change.record_id, "c81e728d9d4c2f636f067f89cc14862c");
        assert_eq!(change.at, 1_800_000_000_000);
        let Change::Verification {
            old: Some(old),
            new: Some(new),
        } = change.change
        else {
            panic!("not a verification change: {:?}", change.change);
        };
        assert_eq!(old.state, VerificationState::Pending);
        assert_eq!(new.state, VerificationState::Canceled);
        assert_eq!(new.destination.masked(), "+1******0123");
    }

    #[test]
    fn an_insert_has_no_old_record_and_other_items_are_no_change() {
        let insert = record("INSERT", None, Some(verification("pending")))
            .change(0)
            .expect("readable");
        assert!(matches!(
            insert.change,
            Change::Verification {
                old: None,
                new: Some(_)
            }
        ));
        let mut other = record(
            "INSERT",
            None,
            Some(serde_json::json!({"pk": {"S": "IP#x"}})),
        );
        other.dynamodb.keys =
            serde_json::from_value(serde_json::json!({"pk": {"S": "IP#x"}})).expect("keys");
        assert_eq!(other.change(7).expect("readable").change, Change::Other);
    }

    #[test]
    fn an_unreadable_image_is_an_error_not_a_guess() {
        let broken =
            serde_json::json!({"pk": {"S": "V#01JD3Z6Q0Y4S8V1M2N3P4Q5R6S"}, "state": {"X": 1}});
        assert!(record("INSERT", None, Some(broken)).change(0).is_err());
        let no_state = serde_json::json!({"pk": {"S": "V#01JD3Z6Q0Y4S8V1M2N3P4Q5R6S"}});
        assert!(record("INSERT", None, Some(no_state)).change(0).is_err());
    }
}
