//! The [`Store`] on one DynamoDB table. The data model and the reasons it is race-free
//! are in `docs/data-model.md`.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, ConditionCheck, DeleteRequest, Put, ReturnValue,
    ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update, WriteRequest,
};
use aws_smithy_types::error::display::DisplayErrorContext;

use crate::domain::{
    ApiKeyId, ApiKeyRecord, Channel, ChannelList, CodeHash, CodeState, ContactRecord,
    ContactStatus, CurrentCode, Destination, EmailAddress, FactorState, Fallback, FallbackState,
    Locale, PersonName, PhoneNumber, TotpFactor, VerificationId, VerificationRecord,
    VerificationState,
};
use crate::store::{
    AttemptOutcome, ClientSends, DeleteOutcome, EnrollOutcome, Enrollment, FactorAttempt, KeyClaim,
    KeyRecord, LengthCheck, SendWrite, StaleCursor, StalePage, Store, StoreError, StoredReply,
};
use crate::totp::SealedSecret;

/// The sparse index of unverified contacts by age, which cleanup pages through.
pub const UNVERIFIED_INDEX: &str = "unverified-by-age";
/// The TTL attribute.
pub const TTL_ATTRIBUTE: &str = "ttl";
/// How long a verification's record outlives its code.
pub const OUTCOME_RETENTION_MS: i64 = 24 * 3_600_000;

const CONTACT_PREFIX: &str = "C#";
const VERIFICATION_PREFIX: &str = "V#";
const IDEMPOTENCY_PREFIX: &str = "I#";
const CLIENT_PREFIX: &str = "IP#";
const UNVERIFIED_PARTITION: &str = "u";
/// The one item that holds every API key, one attribute per key (`k_<id>`).
const API_KEYS_PK: &str = "KEYS";
const API_KEY_ATTRIBUTE_PREFIX: &str = "k_";
/// `via` of a verification approved by its id.
const APPROVED_BY_ID: &str = "id";

type Item = HashMap<String, AttributeValue>;

/// The DynamoDB implementation of [`Store`].
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

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn contact_key(destination: &Destination) -> AttributeValue {
    s(format!("{CONTACT_PREFIX}{}", destination.key()))
}

fn factor_key(destination: &Destination) -> AttributeValue {
    s(TotpFactor::key(destination))
}

fn factor_from_item(item: &Item) -> Result<TotpFactor, StoreError> {
    let r = Reader(item);
    Ok(TotpFactor {
        destination: Destination::from_key(r.req_s("dest")?).map_err(corrupt)?,
        sealed: SealedSecret {
            key_id: r.req_s("kid")?.to_owned(),
            bytes: r.req_b("ct")?,
        },
        state: match r.req_s("state")? {
            "active" => FactorState::Active,
            _ => FactorState::Pending,
        },
        last_step: r.opt_n("step")?.unwrap_or(0),
        failures: r.opt_n("fails")?.unwrap_or(0),
        failure_window_start: r.opt_n("fwin")?.unwrap_or(0),
        created_at: r.req_n("created_at")?,
        activated_at: r.opt_n("activated_at")?,
        pending_until: r.opt_n("pexp")?.unwrap_or(0),
    })
}

fn factor_to_item(f: &TotpFactor) -> Item {
    let mut item: Item = HashMap::new();
    item.insert("pk".into(), factor_key(&f.destination));
    item.insert("kind".into(), s("totp"));
    item.insert("dest".into(), s(f.destination.key()));
    item.insert(
        "ct".into(),
        AttributeValue::B(Blob::new(f.sealed.bytes.clone())),
    );
    item.insert("kid".into(), s(&f.sealed.key_id));
    item.insert("state".into(), s(f.state.as_str()));
    item.insert("step".into(), n(f.last_step));
    item.insert("fails".into(), n(f.failures));
    item.insert("fwin".into(), n(f.failure_window_start));
    item.insert("created_at".into(), n(f.created_at));
    if let Some(at) = f.activated_at {
        item.insert("activated_at".into(), n(at));
    }
    item.insert("pexp".into(), n(f.pending_until));
    if f.state == FactorState::Pending {
        // An enrolment never confirmed is tidied away a day after it lapsed.
        item.insert(
            TTL_ATTRIBUTE.into(),
            n(f.pending_until.div_euclid(1_000) + 86_400),
        );
    }
    item.insert("ver".into(), n(1));
    item
}

fn verification_key(id: &VerificationId) -> AttributeValue {
    s(format!("{VERIFICATION_PREFIX}{}", id.as_str()))
}

fn unavailable<E, R>(what: &str, err: &SdkError<E, R>) -> StoreError
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

// ---- reading items -------------------------------------------------------------------

struct Reader<'a>(&'a Item);

impl<'a> Reader<'a> {
    fn opt_s(&self, name: &str) -> Option<&'a str> {
        self.0
            .get(name)
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
    }

    fn req_s(&self, name: &str) -> Result<&'a str, StoreError> {
        self.opt_s(name)
            .ok_or_else(|| StoreError::Corrupt(format!("missing {name}")))
    }

    fn opt_n<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, StoreError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_n()
                .ok()
                .and_then(|raw| raw.parse().ok())
                .map(Some)
                .ok_or_else(|| StoreError::Corrupt(format!("{name} is not a number"))),
        }
    }

    fn req_n<T: std::str::FromStr>(&self, name: &str) -> Result<T, StoreError> {
        self.opt_n(name)?
            .ok_or_else(|| StoreError::Corrupt(format!("missing {name}")))
    }

    fn req_b(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        self.0
            .get(name)
            .and_then(|v| v.as_b().ok())
            .map(|b| b.as_ref().to_vec())
            .ok_or_else(|| StoreError::Corrupt(format!("missing {name}")))
    }
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn parse_id(raw: &str) -> Result<VerificationId, StoreError> {
    VerificationId::parse(raw)
        .ok_or_else(|| StoreError::Corrupt("malformed verification id".to_owned()))
}

fn client_log_from_item(item: &Item) -> Result<ClientSends, StoreError> {
    let sends = match item.get("sends") {
        Some(AttributeValue::L(list)) => list
            .iter()
            .map(|v| {
                v.as_n()
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .ok_or_else(|| corrupt("a send time is not a number"))
            })
            .collect::<Result<_, _>>()?,
        _ => Vec::new(),
    };
    Ok(ClientSends {
        sends,
        version: Reader(item).req_n("ver")?,
    })
}

fn contact_from_item(item: &Item) -> Result<ContactRecord, StoreError> {
    let r = Reader(item);
    let key = r.req_s("pk")?;
    let destination =
        Destination::from_key(key.strip_prefix(CONTACT_PREFIX).unwrap_or(key)).map_err(corrupt)?;
    let status = match r.req_s("status")? {
        "verified" => ContactStatus::Verified,
        _ => ContactStatus::Unverified,
    };
    let current = match r.opt_s("code_id") {
        None => None,
        Some(id) => Some(CurrentCode {
            verification_id: parse_id(id)?,
            hash: CodeHash {
                mac: r.req_b("code_hash")?,
                key_id: r.req_s("code_key")?.to_owned(),
            },
            expires_at: r.req_n("code_expires")?,
            attempts: r.req_n("code_attempts")?,
            max_attempts: r.req_n("code_max")?,
            state: match r.req_s("code_state")? {
                "approved" => CodeState::Approved,
                "failed" => CodeState::Failed,
                "canceled" => CodeState::Canceled,
                _ => CodeState::Pending,
            },
            length: r.opt_n("code_len")?,
            // Absent on codes stored before voice: they went by the destination's channel.
            channel: match r.opt_s("code_ch") {
                Some(channel) => Channel::parse(channel).map_err(corrupt)?,
                None => destination.channel(),
            },
        }),
    };
    let recent_sends = match item.get("sends").and_then(|v| v.as_l().ok()) {
        None => Vec::new(),
        Some(list) => list
            .iter()
            .map(|v| v.as_n().ok().and_then(|raw| raw.parse().ok()))
            .collect::<Option<Vec<i64>>>()
            .ok_or_else(|| StoreError::Corrupt("sends".to_owned()))?,
    };
    let verification_ids = match item.get("vids").and_then(|v| v.as_ss().ok()) {
        None => Vec::new(),
        Some(ids) => ids
            .iter()
            .map(|id| parse_id(id))
            .collect::<Result<_, _>>()?,
    };
    Ok(ContactRecord {
        destination,
        status,
        first_name: r
            .opt_s("first_name")
            .map(|v| PersonName::parse(v, "first_name"))
            .transpose()
            .map_err(corrupt)?,
        last_name: r
            .opt_s("last_name")
            .map(|v| PersonName::parse(v, "last_name"))
            .transpose()
            .map_err(corrupt)?,
        locale: r
            .opt_s("locale")
            .map(Locale::parse)
            .transpose()
            .map_err(corrupt)?
            .unwrap_or_default(),
        created_at: r.req_n("created_at")?,
        verified_at: r.opt_n("verified_at")?,
        recent_sends,
        cooldown_until: r.opt_n("cooldown_until")?.unwrap_or(0),
        current,
        verification_ids,
        fallback: fallback_state_from_item(&r)?,
        version: r.req_n("ver")?,
    })
}

/// A fallback flow's progress on its origin contact (`fb_*`), if one started there.
fn fallback_state_from_item(r: &Reader<'_>) -> Result<Option<FallbackState>, StoreError> {
    let Some(list) = r.opt_s("fb_chs") else {
        return Ok(None);
    };
    Ok(Some(FallbackState {
        channels: ChannelList::parse(list).map_err(corrupt)?,
        position: r.opt_n("fb_pos")?.unwrap_or(0),
        expires_at: r.opt_n("fb_exp")?.unwrap_or(0),
        next_at: r.opt_n("fb_next")?.unwrap_or(0),
        latest: r.opt_s("fb_vid").map(parse_id).transpose()?,
    }))
}

/// The `fb_*` attributes of a flow's progress.
fn fallback_state_values(state: &FallbackState) -> Vec<(&'static str, AttributeValue)> {
    let mut values = vec![
        ("fb_chs", s(state.channels.as_string())),
        ("fb_pos", n(state.position)),
        ("fb_exp", n(state.expires_at)),
        ("fb_next", n(state.next_at)),
    ];
    if let Some(id) = &state.latest {
        values.push(("fb_vid", s(id.as_str())));
    }
    values
}

fn contact_to_item(c: &ContactRecord) -> Item {
    let mut item: Item = HashMap::new();
    item.insert("pk".into(), contact_key(&c.destination));
    item.insert("kind".into(), s("contact"));
    item.insert("status".into(), s(c.status.as_str()));
    item.insert("channel".into(), s(c.destination.channel().as_str()));
    if let Some(v) = &c.first_name {
        item.insert("first_name".into(), s(v.as_str()));
    }
    if let Some(v) = &c.last_name {
        item.insert("last_name".into(), s(v.as_str()));
    }
    item.insert("locale".into(), s(c.locale.as_str()));
    item.insert("created_at".into(), n(c.created_at));
    if let Some(v) = c.verified_at {
        item.insert("verified_at".into(), n(v));
    }
    item.insert(
        "sends".into(),
        AttributeValue::L(c.recent_sends.iter().map(n).collect()),
    );
    item.insert("cooldown_until".into(), n(c.cooldown_until));
    if let Some(code) = &c.current {
        item.insert("code_id".into(), s(code.verification_id.as_str()));
        item.insert(
            "code_hash".into(),
            AttributeValue::B(Blob::new(code.hash.mac.clone())),
        );
        item.insert("code_key".into(), s(&code.hash.key_id));
        item.insert("code_expires".into(), n(code.expires_at));
        item.insert("code_attempts".into(), n(code.attempts));
        item.insert("code_max".into(), n(code.max_attempts));
        item.insert("code_state".into(), s(code.state.as_str()));
        if let Some(length) = code.length {
            item.insert("code_len".into(), n(length));
        }
        item.insert("code_ch".into(), s(code.channel.as_str()));
    }
    if !c.verification_ids.is_empty() {
        item.insert(
            "vids".into(),
            AttributeValue::Ss(
                c.verification_ids
                    .iter()
                    .map(|id| id.as_str().to_owned())
                    .collect(),
            ),
        );
    }
    if let Some(state) = &c.fallback {
        for (name, value) in fallback_state_values(state) {
            item.insert(name.into(), value);
        }
    }
    if c.status == ContactStatus::Unverified {
        // Present only while unverified: this is what makes the cleanup index sparse.
        item.insert("unv".into(), s(UNVERIFIED_PARTITION));
    }
    item.insert("ver".into(), n(c.version));
    item
}

fn verification_from_item(item: &Item) -> Result<VerificationRecord, StoreError> {
    let r = Reader(item);
    let key = r.req_s("pk")?;
    Ok(VerificationRecord {
        id: parse_id(key.strip_prefix(VERIFICATION_PREFIX).unwrap_or(key))?,
        destination: Destination::from_key(r.req_s("dest")?).map_err(corrupt)?,
        channel: Channel::parse(r.req_s("channel")?).map_err(corrupt)?,
        created_at: r.req_n("created_at")?,
        expires_at: r.req_n("expires_at")?,
        state: match r.req_s("state")? {
            "approved" => VerificationState::Approved,
            "replaced" => VerificationState::Replaced,
            "failed" => VerificationState::Failed,
            "canceled" => VerificationState::Canceled,
            "expired" => VerificationState::Expired,
            _ => VerificationState::Pending,
        },
        verified_at: r.opt_n("verified_at")?,
        approved_by_id: r.opt_s("via") == Some(APPROVED_BY_ID),
        enrolled_at: r.opt_n("enrolled_at")?,
        final_attempts: r.opt_n("final_attempts")?,
        max_attempts: r.req_n("max_attempts")?,
        code_length: r.opt_n("code_len")?,
        fallback: match r.opt_s("fb_chs") {
            None => None,
            Some(list) => Some(
                Fallback::new(
                    ChannelList::parse(list).map_err(corrupt)?,
                    r.opt_s("fb_phone")
                        .map(PhoneNumber::from_e164)
                        .transpose()
                        .map_err(corrupt)?,
                    r.opt_s("fb_email")
                        .map(EmailAddress::parse)
                        .transpose()
                        .map_err(corrupt)?,
                )
                .map_err(corrupt)?,
            ),
        },
    })
}

fn verification_to_item(v: &VerificationRecord) -> Item {
    let mut item: Item = HashMap::new();
    item.insert("pk".into(), verification_key(&v.id));
    item.insert("kind".into(), s("verification"));
    item.insert("dest".into(), s(v.destination.key()));
    item.insert("channel".into(), s(v.channel.as_str()));
    item.insert("created_at".into(), n(v.created_at));
    item.insert("expires_at".into(), n(v.expires_at));
    item.insert("state".into(), s(v.state.as_str()));
    item.insert("max_attempts".into(), n(v.max_attempts));
    if let Some(at) = v.verified_at {
        item.insert("verified_at".into(), n(at));
    }
    if v.approved_by_id {
        item.insert("via".into(), s(APPROVED_BY_ID));
    }
    if let Some(at) = v.enrolled_at {
        item.insert("enrolled_at".into(), n(at));
    }
    if let Some(length) = v.code_length {
        item.insert("code_len".into(), n(length));
    }
    if let Some(flow) = &v.fallback {
        item.insert("fb_chs".into(), s(flow.channels.as_string()));
        if let Some(phone) = &flow.phone {
            item.insert("fb_phone".into(), s(phone.as_str()));
        }
        if let Some(email) = &flow.email {
            item.insert("fb_email".into(), s(email.as_str()));
        }
    }
    // DynamoDB's TTL is in seconds and deletes late: expiry is always checked in code.
    item.insert(
        TTL_ATTRIBUTE.into(),
        n((v.expires_at + OUTCOME_RETENTION_MS) / 1_000),
    );
    item
}

fn api_key_attribute(id: &ApiKeyId) -> String {
    format!("{API_KEY_ATTRIBUTE_PREFIX}{id}")
}

fn api_key_from_attribute(id: &str, value: &AttributeValue) -> Result<ApiKeyRecord, StoreError> {
    let map = value
        .as_m()
        .map_err(|_| StoreError::Corrupt(format!("API key {id} is not a map")))?;
    let r = Reader(map);
    Ok(ApiKeyRecord {
        id: ApiKeyId::parse(id).ok_or_else(|| corrupt(format!("API key id {id}")))?,
        hash: r.req_s("hash")?.to_owned(),
        name: r.opt_s("name").unwrap_or_default().to_owned(),
        created_at: r.req_n("created_at")?,
        revoked_at: r.opt_n("revoked_at")?,
    })
}

// ---- the store -----------------------------------------------------------------------

/// What a conditional `UpdateItem` that returns the item did.
enum Returned {
    /// Updated: the item as it is now.
    Updated(Item),
    /// Refused by its condition: the item as it was, if it exists.
    Refused(Option<Item>),
    /// A transaction was writing the item.
    Busy,
}

/// Why a transaction was cancelled: one reason per item, in the items' order.
struct Cancelled(Vec<CancellationReason>);

impl Cancelled {
    /// Whether item `i`'s condition refused it.
    fn condition_failed(&self, i: usize) -> bool {
        self.0
            .get(i)
            .is_some_and(|r| r.code() == Some("ConditionalCheckFailed"))
    }

    /// Item `i` as it was, when its refusal returned it (`ALL_OLD`).
    fn old_item(&self, i: usize) -> Option<&Item> {
        self.0
            .get(i)
            .and_then(|reason| reason.item())
            .filter(|item| !item.is_empty())
    }
}

impl DynamoStore {
    /// Runs a transaction: `None` when it went through, the reasons when a condition or a
    /// concurrent transaction cancelled it.
    async fn transact_or_why(
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
    async fn update_returning(
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

    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<bool, StoreError> {
        Ok(self
            .transact_or_why(items, "TransactWriteItems")
            .await?
            .is_none())
    }

    fn update(&self, key: AttributeValue) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
        Update::builder().table_name(&self.table).key("pk", key)
    }

    /// The updates as one transaction; `false` when a condition (or a concurrent
    /// transaction) refused it.
    async fn transact_updates(
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
    async fn conditional_update(
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

fn build<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, StoreError> {
    r.map_err(|e| StoreError::Corrupt(format!("request builder: {e}")))
}

#[async_trait]
impl Store for DynamoStore {
    async fn enroll_totp(&self, enrollment: &Enrollment) -> Result<EnrollOutcome, StoreError> {
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

    async fn count_totp_attempt(
        &self,
        destination: &Destination,
        max: u32,
        window_ms: i64,
        now: i64,
    ) -> Result<FactorAttempt, StoreError> {
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

    async fn accept_totp(
        &self,
        factor: &TotpFactor,
        step: u64,
        approval: &VerificationRecord,
        now: i64,
    ) -> Result<bool, StoreError> {
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

    async fn claim_key(
        &self,
        claim: &KeyRecord,
        stale_before: i64,
    ) -> Result<KeyClaim, StoreError> {
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

    async fn record_reply(&self, key_hash: &str, reply: &StoredReply) -> Result<(), StoreError> {
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

    async fn release_key(&self, key_hash: &str) -> Result<(), StoreError> {
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

    async fn contact(
        &self,
        destination: &Destination,
    ) -> Result<Option<ContactRecord>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", contact_key(destination))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("GetItem contact", &e))?;
        out.item().map(contact_from_item).transpose()
    }

    async fn record_send(&self, write: &SendWrite) -> Result<(), StoreError> {
        let mut contact = Put::builder()
            .table_name(&self.table)
            .set_item(Some(contact_to_item(&write.contact)));
        contact = match write.expected_version {
            None => contact.condition_expression("attribute_not_exists(pk)"),
            Some(v) => contact
                .condition_expression("ver = :ver")
                .expression_attribute_values(":ver", n(v)),
        }
        // A refused write returns the contact as it is, so the caller need not read it.
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let verification = Put::builder()
            .table_name(&self.table)
            .set_item(Some(verification_to_item(&write.verification)))
            .condition_expression("attribute_not_exists(pk)");
        let mut items = vec![
            TransactWriteItem::builder()
                .put(build(contact.build())?)
                .build(),
            TransactWriteItem::builder()
                .put(build(verification.build())?)
                .build(),
        ];
        if let Some((old, attempts)) = &write.replaced {
            let update = self
                .update(verification_key(old))
                .update_expression("SET #state = :replaced, final_attempts = :attempts")
                .condition_expression("#state = :pending")
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":replaced", s(VerificationState::Replaced.as_str()))
                .expression_attribute_values(":pending", s(VerificationState::Pending.as_str()))
                .expression_attribute_values(":attempts", n(attempts));
            items.push(
                TransactWriteItem::builder()
                    .update(build(update.build())?)
                    .build(),
            );
        }
        if let Some(update) = &write.origin {
            // The flow's progress stays on its origin contact, which this send does not write;
            // only if the flow is where this send found it.
            let values = fallback_state_values(&update.progress);
            let sets: Vec<String> = values
                .iter()
                .map(|(name, _)| format!("{name} = :{name}"))
                .collect();
            let mut origin = self
                .update(contact_key(&update.origin))
                .update_expression(format!("SET {} ADD ver :one", sets.join(", ")))
                .expression_attribute_values(":one", n(1));
            origin = match &update.expected_latest {
                Some(id) => origin
                    .condition_expression("fb_vid = :was")
                    .expression_attribute_values(":was", s(id.as_str())),
                None => origin
                    .condition_expression("attribute_exists(pk) AND attribute_not_exists(fb_vid)"),
            };
            for (name, value) in values {
                origin = origin.expression_attribute_values(format!(":{name}"), value);
            }
            items.push(
                TransactWriteItem::builder()
                    .update(build(origin.build())?)
                    .build(),
            );
        }
        if let Some(slot) = &write.client {
            let log = self
                .update(s(format!("{CLIENT_PREFIX}{}", slot.client)))
                .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
                .expression_attribute_values(":ttl", n(slot.expires_at.div_euclid(1_000) + 60))
                .expression_attribute_values(":one", n(1))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                );
            let log = match &slot.replace {
                // No read needed while the log has room.
                None => log
                    .update_expression(
                        "SET sends = list_append(if_not_exists(sends, :empty), :now), #ttl = :ttl \
                         ADD ver :one",
                    )
                    .condition_expression("attribute_not_exists(pk) OR size(sends) < :max")
                    .expression_attribute_values(":empty", AttributeValue::L(Vec::new()))
                    .expression_attribute_values(":now", AttributeValue::L(vec![n(slot.now)]))
                    .expression_attribute_values(":max", n(slot.max)),
                // A full log: keep the entries still in the window, if no one else changed it.
                Some(kept) => {
                    let mut sends: Vec<AttributeValue> = kept.sends.iter().map(n).collect();
                    sends.push(n(slot.now));
                    log.update_expression("SET sends = :sends, #ttl = :ttl ADD ver :one")
                        .condition_expression("ver = :ver")
                        .expression_attribute_values(":sends", AttributeValue::L(sends))
                        .expression_attribute_values(":ver", n(kept.version))
                }
            };
            items.push(
                TransactWriteItem::builder()
                    .update(build(log.build())?)
                    .build(),
            );
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

    async fn record_delivery_failure(
        &self,
        destination: &Destination,
        id: &VerificationId,
        now: i64,
    ) -> Result<(), StoreError> {
        let verification = self
            .update(verification_key(id))
            .update_expression("SET #state = :failed")
            .condition_expression("#state = :pending")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":failed", s(VerificationState::Failed.as_str()))
            .expression_attribute_values(":pending", s(VerificationState::Pending.as_str()));
        let contact = self
            .update(contact_key(destination))
            .update_expression("SET code_state = :failed, cooldown_until = :now ADD ver :one")
            .condition_expression("code_id = :id")
            .expression_attribute_values(":failed", s(CodeState::Failed.as_str()))
            .expression_attribute_values(":now", n(now))
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

    async fn count_attempt(
        &self,
        destination: &Destination,
        expected: Option<&VerificationId>,
        length: LengthCheck,
        now: i64,
    ) -> Result<AttemptOutcome, StoreError> {
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

    async fn approve(
        &self,
        destination: &Destination,
        id: &VerificationId,
        by_id: bool,
        now: i64,
    ) -> Result<bool, StoreError> {
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
                "SET #state = :approved, verified_at = :now, via = :via"
            } else {
                "SET #state = :approved, verified_at = :now"
            })
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":approved", s(VerificationState::Approved.as_str()))
            .expression_attribute_values(":now", n(now));
        let verification = if by_id {
            verification.expression_attribute_values(":via", s(APPROVED_BY_ID))
        } else {
            verification
        };
        self.transact_updates(vec![contact, verification]).await
    }

    async fn verification(
        &self,
        id: &VerificationId,
    ) -> Result<Option<VerificationRecord>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", verification_key(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("GetItem verification", &e))?;
        out.item().map(verification_from_item).transpose()
    }

    async fn cancel(
        &self,
        destination: &Destination,
        id: &VerificationId,
        attempts: u32,
    ) -> Result<bool, StoreError> {
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

    async fn mark_expired(&self, id: &VerificationId, attempts: u32) -> Result<bool, StoreError> {
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

    async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
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

    async fn add_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        let mut record: Item = HashMap::new();
        record.insert("hash".into(), s(&key.hash));
        record.insert("name".into(), s(&key.name));
        record.insert("created_at".into(), n(key.created_at));
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

    async fn revoke_api_key(&self, id: &ApiKeyId, now: i64) -> Result<bool, StoreError> {
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

    async fn stale_contacts(
        &self,
        created_before: i64,
        after: Option<&StaleCursor>,
        limit: u32,
    ) -> Result<StalePage, StoreError> {
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

    async fn delete_stale_contact(
        &self,
        destination: &Destination,
        created_before: i64,
        now: i64,
    ) -> Result<DeleteOutcome, StoreError> {
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
