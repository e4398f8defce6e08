//! Cleanup: the sparse index of unverified contacts, and the conditional delete.

use crate::store::{StaleContact, StaleQuery};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{DeleteRequest, ReturnValue, WriteRequest};

use super::items::{
    CONTACT_PREFIX, Reader, UNVERIFIED_INDEX, UNVERIFIED_PARTITION, VERIFICATION_PREFIX,
    contact_key, corrupt, n, s,
};
use super::{DynamoStore, build, unavailable};
use crate::domain::{CodeState, ContactStatus, Destination};
use crate::store::{CleanupStore, DeleteOutcome, StaleCursor, StalePage, StoreResult};

#[async_trait]
impl CleanupStore for DynamoStore {
    async fn stale_contacts(&self, query: &StaleQuery) -> StoreResult<StalePage> {
        let (created_before, after, limit) =
            (query.created_before, query.after.as_ref(), query.limit);
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(UNVERIFIED_INDEX)
            .key_condition_expression("unv = :u AND created_at < :cutoff")
            .expression_attribute_values(":u", s(UNVERIFIED_PARTITION))
            .expression_attribute_values(":cutoff", n(created_before))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX));
        if let Some(cursor) = after {
            query = query
                .exclusive_start_key("pk", s(format!("{CONTACT_PREFIX}{}", cursor.key)))
                .exclusive_start_key("unv", s(UNVERIFIED_PARTITION))
                .exclusive_start_key("created_at", n(cursor.created_at));
        }
        let out = query
            .send()
            .await
            .map_err(|e| unavailable("Query stale contacts", &e))?;
        let mut destinations = Vec::new();
        for item in out.items() {
            let reader = Reader(item);
            let key = reader.req_s("pk")?;
            destinations.push(
                Destination::from_key(key.strip_prefix(CONTACT_PREFIX).unwrap_or(key))
                    .map_err(corrupt)?,
            );
        }
        let next = match out.last_evaluated_key() {
            None => None,
            Some(last) => {
                let r = Reader(last);
                let key = r.req_s("pk")?;
                Some(StaleCursor {
                    key: key.strip_prefix(CONTACT_PREFIX).unwrap_or(key).to_owned(),
                    created_at: r.req_n("created_at")?,
                })
            }
        };
        Ok(StalePage { destinations, next })
    }

    async fn delete_stale_contact(&self, stale: &StaleContact) -> StoreResult<DeleteOutcome> {
        let StaleContact {
            destination,
            created_before,
            now,
        } = stale;
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", contact_key(destination))
            .condition_expression(
                "#status = :unverified AND created_at < :cutoff \
                 AND (attribute_not_exists(code_state) OR code_state <> :pending OR code_expires <= :now)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":unverified", s(ContactStatus::Unverified.as_str()))
            .expression_attribute_values(":pending", s(CodeState::Pending.as_str()))
            .expression_attribute_values(":cutoff", n(created_before))
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        let old = match deleted {
            Ok(out) => out.attributes,
            Err(e) => {
                return match e.as_service_error() {
                    Some(err) if err.is_conditional_check_failed_exception() => {
                        Ok(DeleteOutcome::Kept)
                    }
                    _ => Err(unavailable("DeleteItem contact", &e)),
                };
            }
        };
        let ids: Vec<String> = old
            .as_ref()
            .and_then(|item| item.get("vids"))
            .and_then(|v| v.as_ss().ok())
            .cloned()
            .unwrap_or_default();
        for chunk in ids.chunks(25) {
            let mut requests: Vec<WriteRequest> = Vec::with_capacity(chunk.len());
            for id in chunk {
                let delete = build(
                    DeleteRequest::builder()
                        .key("pk", s(format!("{VERIFICATION_PREFIX}{id}")))
                        .build(),
                )?;
                requests.push(WriteRequest::builder().delete_request(delete).build());
            }
            let mut pending = Some(requests);
            for retry in 0..4u64 {
                let Some(batch) = pending.take().filter(|b| !b.is_empty()) else {
                    break;
                };
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, batch)
                    .send()
                    .await
                    .map_err(|e| unavailable("BatchWriteItem verifications", &e))?;
                pending = out
                    .unprocessed_items()
                    .and_then(|m| m.get(&self.table))
                    .cloned();
                if pending.as_ref().is_some_and(|b| !b.is_empty()) {
                    tokio::time::sleep(Duration::from_millis(50 * (retry + 1))).await;
                }
            }
            // Whatever is left unprocessed expires through its TTL; it points to no contact.
        }
        Ok(DeleteOutcome::Deleted)
    }
}
