//! Checks: counting an attempt, approving, cancelling, and recording an expiry.

use std::time::Duration;

use async_trait::async_trait;

use super::items::{
    APPROVED_BY_ID, contact_from_item, contact_key, customer_key, n, s, verification_key,
};
use super::{DynamoStore, Returned};
use crate::domain::{
    CallMode, CodeState, ContactStatus, Destination, VerificationId, VerificationState,
};
use crate::store::{
    Attempt, AttemptOutcome, CheckStore, CodeApproval, CodeRef, StoreError, StoreResult,
};

#[async_trait]
impl CheckStore for DynamoStore {
    async fn count_attempt(&self, attempt: &Attempt) -> StoreResult<AttemptOutcome> {
        let (destination, expected, length, now) = (
            &attempt.destination,
            attempt.expected.as_ref(),
            attempt.length,
            attempt.now,
        );
        let mut condition = String::from(
            "code_state = :pending AND code_attempts < code_max AND code_expires > :now",
        );
        condition.push_str(if length.matches_unrecorded {
            " AND (code_len = :len OR attribute_not_exists(code_len))"
        } else {
            " AND code_len = :len"
        });
        if expected.is_some() {
            condition.push_str(" AND code_id = :id");
        }
        if !attempt.keypad {
            // A call's code in input mode is typed on that call's keypad (or replaced by the
            // SMS after the call, which a form may check).
            condition.push_str(
                " AND (attribute_not_exists(call_mode) OR call_mode <> :input OR attribute_exists(call_sms_sent))",
            );
        }
        // An item that a transaction is writing refuses updates for a moment: try again briefly.
        for retry in 0..4u64 {
            let mut request = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", contact_key(destination))
                .update_expression("ADD code_attempts :one, ver :one")
                .condition_expression(&condition)
                .expression_attribute_values(":pending", s(CodeState::Pending.as_str()))
                .expression_attribute_values(":now", n(now))
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":len", n(length.length));
            if let Some(id) = expected {
                request = request.expression_attribute_values(":id", s(id.as_str()));
            }
            if !attempt.keypad {
                request =
                    request.expression_attribute_values(":input", s(CallMode::Input.as_str()));
            }
            match self.update_returning(request, "UpdateItem attempt").await? {
                Returned::Updated(item) => {
                    return contact_from_item(&item)?
                        .current
                        .map(AttemptOutcome::Counted)
                        .ok_or_else(|| StoreError::Corrupt("counted a missing code".to_owned()));
                }
                Returned::Refused(before) => {
                    let before = before.as_ref().map(contact_from_item).transpose()?;
                    return Ok(AttemptOutcome::Refused(before.map(Box::new)));
                }
                Returned::Busy => {
                    tokio::time::sleep(Duration::from_millis(10 * (retry + 1))).await;
                }
            }
        }
        Err(StoreError::Unavailable(
            "UpdateItem attempt: item stayed in a transaction".to_owned(),
        ))
    }

    async fn approve(&self, approval: &CodeApproval) -> StoreResult<bool> {
        let CodeApproval {
            destination,
            id,
            by_id,
            now,
            customer,
            attempts,
        } = approval;
        let (by_id, now) = (*by_id, *now);
        let contact = self
            .update(contact_key(destination))
            .update_expression(
                "SET code_state = :approved, #status = :verified, verified_at = if_not_exists(verified_at, :now) \
                 REMOVE unv, vids ADD ver :one",
            )
            .condition_expression("code_id = :id AND code_state = :pending AND code_expires > :now")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":approved", s(CodeState::Approved.as_str()))
            .expression_attribute_values(":verified", s(ContactStatus::Verified.as_str()))
            .expression_attribute_values(":pending", s(CodeState::Pending.as_str()))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":id", s(id.as_str()));
        let verification = self
            .update(verification_key(id))
            .update_expression(if by_id {
                "SET #state = :approved, verified_at = :now, final_attempts = :attempts, via = :via"
            } else {
                "SET #state = :approved, verified_at = :now, final_attempts = :attempts"
            })
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":approved", s(VerificationState::Approved.as_str()))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":attempts", n(*attempts));
        let verification = if by_id {
            verification.expression_attribute_values(":via", s(APPROVED_BY_ID))
        } else {
            verification
        };
        let mut updates = vec![contact, verification];
        if let Some(key) = customer {
            // The customer's verified destination of this kind is now this one.
            let (value, at) = match destination {
                Destination::Sms(phone) => (phone.as_str(), "phone"),
                Destination::Email(email) => (email.as_str(), "email"),
            };
            updates.push(
                self.update(customer_key(key))
                    .update_expression(format!(
                        "SET {at} = :dest, {at}_at = :now, kind = :kind ADD ver :one"
                    ))
                    .expression_attribute_values(":dest", s(value))
                    .expression_attribute_values(":now", n(now))
                    .expression_attribute_values(":kind", s("customer"))
                    .expression_attribute_values(":one", n(1)),
            );
        }
        self.transact_updates(updates).await
    }

    async fn cancel(&self, code: &CodeRef, attempts: u32) -> StoreResult<bool> {
        let CodeRef { destination, id } = code;
        let contact = self
            .update(contact_key(destination))
            .update_expression("SET code_state = :canceled ADD ver :one")
            .condition_expression("code_id = :id AND code_state = :pending")
            .expression_attribute_values(":canceled", s(CodeState::Canceled.as_str()))
            .expression_attribute_values(":pending", s(CodeState::Pending.as_str()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":id", s(id.as_str()));
        let verification = self
            .update(verification_key(id))
            .update_expression("SET #state = :canceled, final_attempts = :attempts")
            .condition_expression("#state = :pending")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":canceled", s(VerificationState::Canceled.as_str()))
            .expression_attribute_values(":pending", s(VerificationState::Pending.as_str()))
            .expression_attribute_values(":attempts", n(attempts));
        self.transact_updates(vec![contact, verification]).await
    }

    async fn mark_expired(&self, id: &VerificationId, attempts: u32) -> StoreResult<bool> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", verification_key(id))
            .update_expression("SET #state = :expired, final_attempts = :attempts")
            .condition_expression("#state = :pending")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":attempts", n(attempts))
            .expression_attribute_values(":expired", s(VerificationState::Expired.as_str()))
            .expression_attribute_values(":pending", s(VerificationState::Pending.as_str()));
        self.conditional_update(request, "UpdateItem expired").await
    }

    async fn mark_wrong(&self, code: &CodeRef, attempt: u32) -> StoreResult<()> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", contact_key(&code.destination))
            .update_expression("SET code_wrong = :attempt ADD ver :one")
            .condition_expression("code_id = :id")
            .expression_attribute_values(":attempt", n(attempt))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":id", s(code.id.as_str()));
        // Refused: a newer code replaced this one, whose events no longer matter.
        self.conditional_update(request, "UpdateItem wrong").await?;
        Ok(())
    }
}
