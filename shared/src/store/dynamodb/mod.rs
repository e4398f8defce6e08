//! The [`Store`](crate::store::Store) on one DynamoDB table: one file per concern, the
//! item mapping in [`items`]. The data model and the reasons it is race-free are in
//! `docs/data-model.md`.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use aws_smithy_types::error::display::DisplayErrorContext;

use crate::domain::{
    ContactRecord, CustomerKey, CustomerRecord, Destination, TotpFactor, VerificationId,
    VerificationRecord,
};
use crate::store::{RecordStore, StoreError, StoreResult};

mod calls;
mod checks;
mod cleanup;
mod factors;
pub mod items;
mod keys;
mod sends;
pub mod stream;

use items::{
    Item, contact_from_item, contact_key, customer_from_item, customer_key, factor_from_item,
    factor_key, verification_from_item, verification_key,
};
pub use items::{OUTCOME_RETENTION_MS, TTL_ATTRIBUTE, UNVERIFIED_INDEX};

/// The DynamoDB implementation of the [`Store`](crate::store::Store).
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    /// A store on `table` through `client`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

pub(super) fn unavailable<E, R>(what: &str, err: &SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Unavailable(format!("{what}: {}", DisplayErrorContext(err)))
}

/// True when a cancelled transaction lost to a condition or to a concurrent transaction.
fn lost_race(err: &SdkError<TransactWriteItemsError, impl std::fmt::Debug>) -> bool {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(e)) => {
            e.cancellation_reasons().iter().any(|r| {
                matches!(
                    r.code(),
                    Some("ConditionalCheckFailed" | "TransactionConflict")
                )
            })
        }
        _ => false,
    }
}

/// What a conditional `UpdateItem` that returns the item did.
pub(super) enum Returned {
    /// Updated: the item as it is now.
    Updated(Item),
    /// Refused by its condition: the item as it was, if it exists.
    Refused(Option<Item>),
    /// A transaction was writing the item.
    Busy,
}

/// Why a transaction was cancelled: one reason per item, in the items' order.
pub(super) struct Cancelled(Vec<CancellationReason>);

impl Cancelled {
    /// Whether item `i`'s condition refused it.
    pub(super) fn condition_failed(&self, i: usize) -> bool {
        self.0
            .get(i)
            .is_some_and(|r| r.code() == Some("ConditionalCheckFailed"))
    }

    /// Item `i` as it was, when its refusal returned it (`ALL_OLD`).
    pub(super) fn old_item(&self, i: usize) -> Option<&Item> {
        self.0
            .get(i)
            .and_then(|reason| reason.item())
            .filter(|item| !item.is_empty())
    }
}

impl DynamoStore {
    /// Runs a transaction: `None` when it went through, the reasons when a condition or a
    /// concurrent transaction cancelled it.
    pub(super) async fn transact_or_why(
        &self,
        items: Vec<TransactWriteItem>,
        what: &str,
    ) -> Result<Option<Cancelled>, StoreError> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(None),
            Err(e) if lost_race(&e) => Ok(Some(Cancelled(match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                    cancelled.cancellation_reasons().to_vec()
                }
                _ => Vec::new(),
            }))),
            Err(e) => Err(unavailable(what, &e)),
        }
    }

    /// Sends a conditional `UpdateItem` that returns the item: as it is now when it was
    /// updated, as it was (when it exists) when the condition refused it. An item that a
    /// transaction is writing refuses updates for a moment: [`Returned::Busy`], try again.
    pub(super) async fn update_returning(
        &self,
        request: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
        what: &str,
    ) -> Result<Returned, StoreError> {
        let request = request
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        match request.send().await {
            Ok(out) => out
                .attributes
                .map(Returned::Updated)
                .ok_or_else(|| StoreError::Corrupt(format!("{what}: no attributes"))),
            Err(e) => match e.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(failed) => {
                    Ok(Returned::Refused(failed.item))
                }
                UpdateItemError::TransactionConflictException(_) => Ok(Returned::Busy),
                other => Err(StoreError::Unavailable(format!(
                    "{what}: {}",
                    DisplayErrorContext(&other)
                ))),
            },
        }
    }

    pub(super) async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<bool, StoreError> {
        Ok(self
            .transact_or_why(items, "TransactWriteItems")
            .await?
            .is_none())
    }

    pub(super) fn update(
        &self,
        key: AttributeValue,
    ) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
        Update::builder().table_name(&self.table).key("pk", key)
    }

    /// The updates as one transaction; `false` when a condition (or a concurrent
    /// transaction) refused it.
    pub(super) async fn transact_updates(
        &self,
        updates: Vec<aws_sdk_dynamodb::types::builders::UpdateBuilder>,
    ) -> Result<bool, StoreError> {
        let items = updates
            .into_iter()
            .map(|u| {
                Ok(TransactWriteItem::builder()
                    .update(build(u.build())?)
                    .build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.transact(items).await
    }

    /// Sends a conditional `UpdateItem`; `false` when its condition refused it.
    pub(super) async fn conditional_update(
        &self,
        request: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
        what: &str,
    ) -> Result<bool, StoreError> {
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(unavailable(what, &e)),
        }
    }
}

pub(super) fn build<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, StoreError> {
    r.map_err(|e| StoreError::Corrupt(format!("request builder: {e}")))
}

impl DynamoStore {
    /// Reads one item, strongly consistent.
    pub(super) async fn get(&self, key: AttributeValue, what: &str) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", key)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable(what, &e))?;
        Ok(out.item)
    }
}

#[async_trait]
impl RecordStore for DynamoStore {
    async fn contact(&self, destination: &Destination) -> StoreResult<Option<ContactRecord>> {
        let item = self
            .get(contact_key(destination), "GetItem contact")
            .await?;
        item.as_ref().map(contact_from_item).transpose()
    }

    async fn verification(&self, id: &VerificationId) -> StoreResult<Option<VerificationRecord>> {
        let item = self
            .get(verification_key(id), "GetItem verification")
            .await?;
        item.as_ref().map(verification_from_item).transpose()
    }

    async fn customer(&self, key: &CustomerKey) -> StoreResult<Option<CustomerRecord>> {
        let item = self.get(customer_key(key), "GetItem customer").await?;
        item.as_ref().map(customer_from_item).transpose()
    }

    async fn factor(&self, destination: &Destination) -> StoreResult<Option<TotpFactor>> {
        let item = self.get(factor_key(destination), "GetItem factor").await?;
        item.as_ref().map(factor_from_item).transpose()
    }
}
