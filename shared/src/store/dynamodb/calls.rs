//! Interactive calls: a call verification's code replaced by the one a call reads (or the
//! SMS after a missed call carries), and the inbound-call counter per number.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;

use super::items::{CALLER_PREFIX, TTL_ATTRIBUTE, contact_key, n, s};
use super::{DynamoStore, Returned};
use crate::domain::CodeState;
use crate::store::{CallStore, CodeReplacement, InboundCall, Replacement, StoreError, StoreResult};

#[async_trait]
impl CallStore for DynamoStore {
    async fn replace_code(&self, replacement: &CodeReplacement) -> StoreResult<bool> {
        let CodeReplacement {
            code,
            hash,
            now,
            reason,
        } = replacement;
        // The same conditions as counting an attempt (the code is current, pending,
        // unexpired and unlocked), and the reason's own.
        let mut condition = String::from(
            "code_id = :id AND code_state = :pending AND code_attempts < code_max \
             AND code_expires > :now AND attribute_exists(call_mode)",
        );
        let update = match reason {
            Replacement::Read { .. } => {
                condition.push_str(" AND (attribute_not_exists(call_reads) OR call_reads < :max)");
                "SET code_hash = :hash, code_key = :key ADD call_reads :one, ver :one"
            }
            Replacement::SmsAfterCall => {
                condition.push_str(
                    " AND attribute_not_exists(call_sms_sent) \
                     AND (attribute_not_exists(call_reads) OR call_reads = :zero)",
                );
                "SET code_hash = :hash, code_key = :key, call_sms_sent = :one ADD ver :one"
            }
        };
        for retry in 0..4u64 {
            let mut request = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", contact_key(&code.destination))
                .update_expression(update)
                .condition_expression(&condition)
                .expression_attribute_values(":id", s(code.id.as_str()))
                .expression_attribute_values(":pending", s(CodeState::Pending.as_str()))
                .expression_attribute_values(":now", n(now))
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(
                    ":hash",
                    AttributeValue::B(Blob::new(hash.mac.clone())),
                )
                .expression_attribute_values(":key", s(&hash.key_id));
            request = match reason {
                Replacement::Read { max_reads } => {
                    request.expression_attribute_values(":max", n(max_reads))
                }
                Replacement::SmsAfterCall => request.expression_attribute_values(":zero", n(0)),
            };
            match self
                .update_returning(request, "UpdateItem replace code")
                .await?
            {
                Returned::Updated(_) => return Ok(true),
                Returned::Refused(_) => return Ok(false),
                Returned::Busy => {
                    tokio::time::sleep(Duration::from_millis(10 * (retry + 1))).await;
                }
            }
        }
        Err(StoreError::Unavailable(
            "UpdateItem replace code: item stayed in a transaction".to_owned(),
        ))
    }

    async fn count_inbound_call(&self, call: &InboundCall) -> StoreResult<bool> {
        let key = format!("{CALLER_PREFIX}{}#{}", call.caller, call.window_start);
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .update_expression("ADD calls :one SET #ttl = :ttl")
            .condition_expression("attribute_not_exists(calls) OR calls < :max")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(call.max))
            .expression_attribute_values(":ttl", n(call.expires_at / 1_000));
        match self
            .update_returning(request, "UpdateItem inbound call")
            .await?
        {
            Returned::Updated(_) => Ok(true),
            Returned::Refused(_) => Ok(false),
            // Nothing writes this item in a transaction.
            Returned::Busy => Ok(false),
        }
    }
}
