//! Sends: the transaction that stores a code (the contact, the new verification, the code
//! it replaces, a flow's origin, the client's log), and the record of a failed delivery.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::builders::UpdateBuilder;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};

use super::items::{
    CLIENT_PREFIX, TTL_ATTRIBUTE, client_log_from_item, contact_from_item, contact_key,
    contact_to_item, fallback_state_values, n, s, verification_key, verification_to_item,
};
use super::{DynamoStore, build};
use crate::domain::{CodeState, VerificationId, VerificationState};
use crate::store::{
    ClientSlot, CodeRef, OriginUpdate, SendStore, SendWrite, StoreError, StoreResult,
};

fn put(put: Put) -> TransactWriteItem {
    TransactWriteItem::builder().put(put).build()
}

fn update(update: UpdateBuilder) -> StoreResult<TransactWriteItem> {
    Ok(TransactWriteItem::builder()
        .update(build(update.build())?)
        .build())
}

impl DynamoStore {
    /// The contact, if it is at the version the send read (or new); a refusal returns it
    /// as it is, so the caller need not read it.
    fn contact_put(&self, write: &SendWrite) -> StoreResult<TransactWriteItem> {
        let contact = Put::builder()
            .table_name(&self.table)
            .set_item(Some(contact_to_item(&write.contact)));
        let contact = match write.expected_version {
            None => contact.condition_expression("attribute_not_exists(pk)"),
            Some(v) => contact
                .condition_expression("ver = :ver")
                .expression_attribute_values(":ver", n(v)),
        }
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        Ok(put(build(contact.build())?))
    }

    /// The new verification's record, which must not exist.
    fn verification_put(&self, write: &SendWrite) -> StoreResult<TransactWriteItem> {
        let verification = Put::builder()
            .table_name(&self.table)
            .set_item(Some(verification_to_item(&write.verification)))
            .condition_expression("attribute_not_exists(pk)");
        Ok(put(build(verification.build())?))
    }

    /// The replaced code's outcome, if that code is still pending.
    fn replaced_update(
        &self,
        old: &VerificationId,
        attempts: u32,
    ) -> StoreResult<TransactWriteItem> {
        update(
            self.update(verification_key(old))
                .update_expression("SET #state = :replaced, final_attempts = :attempts")
                .condition_expression("#state = :pending")
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":replaced", s(VerificationState::Replaced.as_str()))
                .expression_attribute_values(":pending", s(VerificationState::Pending.as_str()))
                .expression_attribute_values(":attempts", n(attempts)),
        )
    }

    /// The flow's progress on its origin contact, which this send does not write: only if
    /// the flow is where this send found it.
    fn origin_update(&self, origin: &OriginUpdate) -> StoreResult<TransactWriteItem> {
        let values = fallback_state_values(&origin.progress);
        let sets: Vec<String> = values
            .iter()
            .map(|(name, _)| format!("{name} = :{name}"))
            .collect();
        let mut update_origin = self
            .update(contact_key(&origin.origin))
            .update_expression(format!("SET {} ADD ver :one", sets.join(", ")))
            .expression_attribute_values(":one", n(1));
        update_origin = match &origin.expected_latest {
            Some(id) => update_origin
                .condition_expression("fb_vid = :was")
                .expression_attribute_values(":was", s(id.as_str())),
            None => update_origin
                .condition_expression("attribute_exists(pk) AND attribute_not_exists(fb_vid)"),
        };
        for (name, value) in values {
            update_origin = update_origin.expression_attribute_values(format!(":{name}"), value);
        }
        update(update_origin)
    }

    /// The client's log with this send: appended while the log has room (no read needed),
    /// or rewritten with the entries still in the window if no one else changed it. A
    /// refusal returns the log as it is.
    fn client_update(&self, slot: &ClientSlot) -> StoreResult<TransactWriteItem> {
        let log = self
            .update(s(format!("{CLIENT_PREFIX}{}", slot.client)))
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":ttl", n(slot.expires_at.div_euclid(1_000) + 60))
            .expression_attribute_values(":one", n(1))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let log = match &slot.replace {
            None => log
                .update_expression(
                    "SET sends = list_append(if_not_exists(sends, :empty), :now), #ttl = :ttl \
                     ADD ver :one",
                )
                .condition_expression("attribute_not_exists(pk) OR size(sends) < :max")
                .expression_attribute_values(":empty", AttributeValue::L(Vec::new()))
                .expression_attribute_values(":now", AttributeValue::L(vec![n(slot.now)]))
                .expression_attribute_values(":max", n(slot.max)),
            Some(kept) => {
                let mut sends: Vec<AttributeValue> = kept.sends.iter().map(n).collect();
                sends.push(n(slot.now));
                log.update_expression("SET sends = :sends, #ttl = :ttl ADD ver :one")
                    .condition_expression("ver = :ver")
                    .expression_attribute_values(":sends", AttributeValue::L(sends))
                    .expression_attribute_values(":ver", n(kept.version))
            }
        };
        update(log)
    }
}

#[async_trait]
impl SendStore for DynamoStore {
    async fn record_send(&self, write: &SendWrite) -> StoreResult<()> {
        let mut items = vec![self.contact_put(write)?, self.verification_put(write)?];
        if let Some((old, attempts)) = &write.replaced {
            items.push(self.replaced_update(old, *attempts)?);
        }
        if let Some(origin) = &write.origin {
            items.push(self.origin_update(origin)?);
        }
        if let Some(slot) = &write.client {
            items.push(self.client_update(slot)?);
        }
        let client_index = items.len() - 1;
        let Some(cancelled) = self
            .transact_or_why(items, "TransactWriteItems send")
            .await?
        else {
            return Ok(());
        };
        if cancelled.condition_failed(0) || write.client.is_none() {
            let current = cancelled.old_item(0).map(contact_from_item).transpose()?;
            return Err(StoreError::Conflict(current.map(Box::new)));
        }
        if cancelled.condition_failed(client_index) {
            let log = cancelled
                .old_item(client_index)
                .map(client_log_from_item)
                .transpose()?;
            return Err(StoreError::ClientLimited(log));
        }
        Err(StoreError::Conflict(None))
    }

    async fn record_delivery_failure(&self, code: &CodeRef, until: i64) -> StoreResult<()> {
        let CodeRef { destination, id } = code;
        let verification = self
            .update(verification_key(id))
            .update_expression("SET #state = :failed")
            .condition_expression("#state = :pending")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":failed", s(VerificationState::Failed.as_str()))
            .expression_attribute_values(":pending", s(VerificationState::Pending.as_str()));
        let contact = self
            .update(contact_key(destination))
            .update_expression("SET code_state = :failed, cooldown_until = :until ADD ver :one")
            .condition_expression("code_id = :id")
            .expression_attribute_values(":failed", s(CodeState::Failed.as_str()))
            .expression_attribute_values(":until", n(until))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":id", s(id.as_str()));
        if self
            .transact_updates(vec![verification.clone(), contact])
            .await?
        {
            return Ok(());
        }
        // A newer send already replaced this code on the contact: only its own record changes.
        self.transact_updates(vec![verification]).await.map(|_| ())
    }
}
