//! Authenticator apps: enrolment, counted checks and accepted time steps.

use crate::store::{AcceptedStep, AppCheck};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem};

use super::items::{
    APPROVED_BY_ID, TTL_ATTRIBUTE, contact_key, factor_from_item, factor_key, factor_to_item, n, s,
    verification_key, verification_to_item,
};
use super::{DynamoStore, Returned, build};
use crate::domain::{ContactStatus, FactorState, VerificationState};
use crate::store::{
    AppLock, EnrollOutcome, Enrollment, FactorAttempt, FactorStore, StoreError, StoreResult,
};

#[async_trait]
impl FactorStore for DynamoStore {
    async fn enroll_totp(&self, enrollment: &Enrollment) -> StoreResult<EnrollOutcome> {
        let factor = &enrollment.factor;
        let mut put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(factor_to_item(factor)));
        if !enrollment.replace_active {
            put = put
                .condition_expression("attribute_not_exists(pk) OR #state <> :active")
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":active", s(FactorState::Active.as_str()));
        }
        let contact = ConditionCheck::builder()
            .table_name(&self.table)
            .key("pk", contact_key(&factor.destination))
            .condition_expression("#status = :verified")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":verified", s(ContactStatus::Verified.as_str()));
        let mut items = vec![
            TransactWriteItem::builder()
                .put(build(put.build())?)
                .build(),
            TransactWriteItem::builder()
                .condition_check(build(contact.build())?)
                .build(),
        ];
        if let Some(id) = &enrollment.verification {
            // The verification allows one enrolment.
            let used = self
                .update(verification_key(id))
                .update_expression("SET enrolled_at = :now")
                .condition_expression(
                    "attribute_not_exists(enrolled_at) AND #state = :approved AND via = :via",
                )
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":now", n(factor.created_at))
                .expression_attribute_values(":via", s(APPROVED_BY_ID))
                .expression_attribute_values(":approved", s(VerificationState::Approved.as_str()));
            items.push(
                TransactWriteItem::builder()
                    .update(build(used.build())?)
                    .build(),
            );
        }
        let Some(cancelled) = self
            .transact_or_why(items, "TransactWriteItems enrol")
            .await?
        else {
            return Ok(EnrollOutcome::Enrolled);
        };
        if cancelled.condition_failed(0) {
            Ok(EnrollOutcome::AlreadyActive)
        } else if cancelled.condition_failed(1) {
            Ok(EnrollOutcome::NotVerified)
        } else if cancelled.condition_failed(2) {
            Ok(EnrollOutcome::VerificationUsed)
        } else {
            Err(StoreError::Unavailable(
                "TransactWriteItems enrol: a concurrent transaction".to_owned(),
            ))
        }
    }

    async fn count_totp_attempt(&self, check: &AppCheck) -> StoreResult<FactorAttempt> {
        let AppCheck {
            destination,
            lock: AppLock { max, window_ms },
            now,
        } = check;
        let (max, window_ms, now) = (*max, *window_ms, *now);
        let usable = "attribute_exists(ct) AND (#state = :active OR pexp > :now)";
        // In the window: one more, below the limit. The window over: the first of a new one.
        let within = format!("{usable} AND fwin > :start AND fails < :max");
        let anew = format!("{usable} AND fwin <= :start");
        for round in 0..6u64 {
            let new_window = round % 2 == 1;
            let request = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", factor_key(destination))
                .update_expression(if new_window {
                    "SET fails = :one, fwin = :now ADD ver :one"
                } else {
                    "ADD fails :one, ver :one"
                })
                .condition_expression(if new_window { &anew } else { &within })
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":active", s(FactorState::Active.as_str()))
                .expression_attribute_values(":now", n(now))
                .expression_attribute_values(":start", n(now - window_ms))
                .expression_attribute_values(":one", n(1));
            let request = if new_window {
                request
            } else {
                request.expression_attribute_values(":max", n(max))
            };
            match self
                .update_returning(request, "UpdateItem TOTP attempt")
                .await?
            {
                Returned::Updated(item) => {
                    return Ok(FactorAttempt::Counted(factor_from_item(&item)?));
                }
                Returned::Refused(before) => {
                    let Some(before) = before.as_ref().map(factor_from_item).transpose()? else {
                        return Ok(FactorAttempt::Missing);
                    };
                    if !before.usable(now) {
                        return Ok(FactorAttempt::Missing);
                    }
                    if let Some(until) = before.locked_until(max, window_ms, now) {
                        return Ok(FactorAttempt::Locked { until });
                    }
                    // The other branch applies (or a concurrent check moved the window):
                    // the next round takes it.
                }
                Returned::Busy => {
                    tokio::time::sleep(Duration::from_millis(10 * (round + 1))).await;
                }
            }
        }
        Err(StoreError::Unavailable(
            "UpdateItem TOTP attempt: the factor kept changing".to_owned(),
        ))
    }

    async fn accept_totp(&self, accepted: &AcceptedStep) -> StoreResult<bool> {
        let AcceptedStep {
            factor,
            step,
            approval,
        } = accepted;
        let (step, now) = (*step, approval.created_at);
        let accept = self
            .update(factor_key(&factor.destination))
            .update_expression(
                "SET step = :step, fails = :zero, fwin = :now, #state = :active, \
                 activated_at = if_not_exists(activated_at, :now) REMOVE #ttl ADD ver :one",
            )
            // Each time step once, and only for the secret that was checked.
            .condition_expression("step < :step AND ct = :ct")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":step", n(step))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":active", s(FactorState::Active.as_str()))
            .expression_attribute_values(
                ":ct",
                AttributeValue::B(Blob::new(factor.sealed.bytes.clone())),
            );
        let record = Put::builder()
            .table_name(&self.table)
            .set_item(Some(verification_to_item(approval)))
            .condition_expression("attribute_not_exists(pk)");
        self.transact(vec![
            TransactWriteItem::builder()
                .update(build(accept.build())?)
                .build(),
            TransactWriteItem::builder()
                .put(build(record.build())?)
                .build(),
        ])
        .await
    }
}
