//! API keys (one item) and `Idempotency-Key` claims.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};

use super::items::{
    API_KEY_ATTRIBUTE_PREFIX, API_KEYS_PK, IDEMPOTENCY_PREFIX, Reader, TTL_ATTRIBUTE,
    api_key_attribute, api_key_from_attribute, api_key_item, n, s,
};
use super::{DynamoStore, unavailable};
use crate::domain::{ApiKeyId, ApiKeyRecord};
use crate::store::{
    IdempotencyStore, KeyClaim, KeyRecord, KeyStore, StoreError, StoreResult, StoredReply,
};

#[async_trait]
impl KeyStore for DynamoStore {
    async fn api_keys(&self) -> StoreResult<Vec<ApiKeyRecord>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(API_KEYS_PK))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("GetItem API keys", &e))?;
        let Some(item) = out.item() else {
            return Ok(Vec::new());
        };
        item.iter()
            .filter_map(|(name, value)| {
                let id = name.strip_prefix(API_KEY_ATTRIBUTE_PREFIX)?;
                Some(api_key_from_attribute(id, value))
            })
            .collect()
    }

    async fn add_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()> {
        let record = api_key_item(key);
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(API_KEYS_PK))
            .update_expression("SET #key = :record, kind = :kind")
            .condition_expression("attribute_not_exists(#key)")
            .expression_attribute_names("#key", api_key_attribute(&key.id))
            .expression_attribute_values(":record", AttributeValue::M(record))
            .expression_attribute_values(":kind", s("api-keys"));
        match self
            .conditional_update(request, "UpdateItem add API key")
            .await?
        {
            true => Ok(()),
            false => Err(StoreError::Conflict(None)),
        }
    }

    async fn revoke_api_key(&self, id: &ApiKeyId, now: i64) -> StoreResult<bool> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(API_KEYS_PK))
            .update_expression("SET #key.revoked_at = if_not_exists(#key.revoked_at, :now)")
            .condition_expression("attribute_exists(#key)")
            .expression_attribute_names("#key", api_key_attribute(id))
            .expression_attribute_values(":now", n(now));
        self.conditional_update(request, "UpdateItem revoke API key")
            .await
    }
}

#[async_trait]
impl IdempotencyStore for DynamoStore {
    async fn claim_key(&self, claim: &KeyRecord, stale_before: i64) -> StoreResult<KeyClaim> {
        let ttl = claim.expires_at.div_euclid(1_000) + 3_600;
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("{IDEMPOTENCY_PREFIX}{}", claim.key_hash)))
            .item("fp", s(&claim.fingerprint))
            .item("started_at", n(claim.started_at))
            .item("expires_at", n(claim.expires_at))
            .item(TTL_ATTRIBUTE, n(ttl))
            .condition_expression(
                "attribute_not_exists(pk) OR expires_at <= :now \
                 OR (fp = :fp AND attribute_not_exists(reply) AND started_at < :stale)",
            )
            .expression_attribute_values(":now", n(claim.started_at))
            .expression_attribute_values(":fp", s(&claim.fingerprint))
            .expression_attribute_values(":stale", n(stale_before))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match out {
            Ok(_) => Ok(KeyClaim::Claimed),
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                    let Some(item) = failed.item() else {
                        return Ok(KeyClaim::InFlight);
                    };
                    let held = Reader(item);
                    if held.opt_s("fp") != Some(claim.fingerprint.as_str()) {
                        return Ok(KeyClaim::Mismatch);
                    }
                    match (held.opt_n::<u16>("status")?, held.opt_s("reply")) {
                        (Some(status), Some(body)) => Ok(KeyClaim::Replay(StoredReply {
                            status,
                            body: body.to_owned(),
                        })),
                        _ => Ok(KeyClaim::InFlight),
                    }
                }
                _ => Err(unavailable("PutItem idempotency key", &e)),
            },
        }
    }

    async fn record_reply(&self, key_hash: &str, reply: &StoredReply) -> StoreResult<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("{IDEMPOTENCY_PREFIX}{key_hash}")))
            .update_expression("SET #status = :status, reply = :reply")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", n(reply.status))
            .expression_attribute_values(":reply", s(&reply.body))
            .send()
            .await
            .map_err(|e| unavailable("UpdateItem idempotency reply", &e))?;
        Ok(())
    }

    async fn release_key(&self, key_hash: &str) -> StoreResult<()> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(format!("{IDEMPOTENCY_PREFIX}{key_hash}")))
            .condition_expression("attribute_not_exists(reply)")
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(unavailable("DeleteItem idempotency key", &e)),
        }
    }
}
