//! The mapping between the domain's records and DynamoDB items: the keys, the attribute
//! names, and a reader for attributes. The data model is `docs/data-model.md`.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::domain::{
    ApiKeyId, ApiKeyRecord, CallMode, CallState, Channel, ChannelList, CodeHash, CodeState,
    ContactRecord, ContactStatus, CurrentCode, CustomerKey, CustomerRecord, Destination,
    EmailAddress, FactorState, Fallback, FallbackState, Locale, PersonName, PhoneNumber, Scopes,
    SealedSecret, TotpFactor, VerificationId, VerificationRecord, VerificationState,
};
use crate::store::{ClientSends, StoreError};

/// The sparse index of unverified contacts by age, which cleanup pages through.
pub const UNVERIFIED_INDEX: &str = "unverified-by-age";
/// The TTL attribute.
pub const TTL_ATTRIBUTE: &str = "ttl";
/// How long a verification's record outlives its code.
pub const OUTCOME_RETENTION_MS: i64 = 24 * 3_600_000;

pub(super) const CONTACT_PREFIX: &str = "C#";
pub(super) const VERIFICATION_PREFIX: &str = "V#";
pub(super) const IDEMPOTENCY_PREFIX: &str = "I#";
pub(super) const CLIENT_PREFIX: &str = "IP#";
pub(super) const CUSTOMER_PREFIX: &str = "CU#";
/// An inbound caller's counter for one window (`CALLER#<hash>#<window start>`).
pub(super) const CALLER_PREFIX: &str = "CALLER#";
pub(super) const UNVERIFIED_PARTITION: &str = "u";
/// The one item that holds every API key, one attribute per key (`k_<id>`).
pub(super) const API_KEYS_PK: &str = "KEYS";
pub(super) const API_KEY_ATTRIBUTE_PREFIX: &str = "k_";
/// `via` of a verification approved by its id.
pub(super) const APPROVED_BY_ID: &str = "id";

pub(super) type Item = HashMap<String, AttributeValue>;

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(super) fn contact_key(destination: &Destination) -> AttributeValue {
    s(format!("{CONTACT_PREFIX}{}", destination.key()))
}

pub(super) fn factor_key(destination: &Destination) -> AttributeValue {
    s(TotpFactor::key(destination))
}

pub(super) fn factor_from_item(item: &Item) -> Result<TotpFactor, StoreError> {
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

pub(super) fn factor_to_item(f: &TotpFactor) -> Item {
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

/// A customer's item (`CU#<hash of its id>`).
pub(super) fn customer_key(key: &CustomerKey) -> AttributeValue {
    s(format!("{CUSTOMER_PREFIX}{}", key.as_str()))
}

/// A customer's verified destinations (`phone`, `phone_at`, `email`, `email_at`).
pub(super) fn customer_from_item(item: &Item) -> Result<CustomerRecord, StoreError> {
    let r = Reader(item);
    let pk = r.req_s("pk")?;
    let key = CustomerKey::from_stored(pk.strip_prefix(CUSTOMER_PREFIX).unwrap_or(pk))
        .ok_or_else(|| corrupt("malformed customer key"))?;
    let phone = match r.opt_s("phone") {
        None => None,
        Some(e164) => Some((
            PhoneNumber::from_e164(e164).map_err(corrupt)?,
            r.req_n("phone_at")?,
        )),
    };
    let email = match r.opt_s("email") {
        None => None,
        Some(address) => Some((
            EmailAddress::parse(address).map_err(corrupt)?,
            r.req_n("email_at")?,
        )),
    };
    Ok(CustomerRecord { key, phone, email })
}

pub(super) fn verification_key(id: &VerificationId) -> AttributeValue {
    s(format!("{VERIFICATION_PREFIX}{}", id.as_str()))
}

pub(super) struct Reader<'a>(pub(super) &'a Item);

impl<'a> Reader<'a> {
    pub(super) fn opt_s(&self, name: &str) -> Option<&'a str> {
        self.0
            .get(name)
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
    }

    pub(super) fn req_s(&self, name: &str) -> Result<&'a str, StoreError> {
        self.opt_s(name)
            .ok_or_else(|| StoreError::Corrupt(format!("missing {name}")))
    }

    pub(super) fn opt_n<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, StoreError> {
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

    pub(super) fn req_n<T: std::str::FromStr>(&self, name: &str) -> Result<T, StoreError> {
        self.opt_n(name)?
            .ok_or_else(|| StoreError::Corrupt(format!("missing {name}")))
    }

    pub(super) fn req_b(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        self.0
            .get(name)
            .and_then(|v| v.as_b().ok())
            .map(|b| b.as_ref().to_vec())
            .ok_or_else(|| StoreError::Corrupt(format!("missing {name}")))
    }
}

pub(super) fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

pub(super) fn parse_id(raw: &str) -> Result<VerificationId, StoreError> {
    VerificationId::parse(raw)
        .ok_or_else(|| StoreError::Corrupt("malformed verification id".to_owned()))
}

pub(super) fn client_log_from_item(item: &Item) -> Result<ClientSends, StoreError> {
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

pub(super) fn contact_from_item(item: &Item) -> Result<ContactRecord, StoreError> {
    let r = Reader(item);
    let key = r.req_s("pk")?;
    let destination =
        Destination::from_key(key.strip_prefix(CONTACT_PREFIX).unwrap_or(key)).map_err(corrupt)?;
    let status = match r.req_s("status")? {
        "verified" => ContactStatus::Verified,
        _ => ContactStatus::Unverified,
    };
    let current = current_code_from(&r, &destination)?;
    let recent_sends = match item.get("sends").and_then(|v| v.as_l().ok()) {
        None => Vec::new(),
        Some(list) => list
            .iter()
            .map(|v| v.as_n().ok().and_then(|raw| raw.parse().ok()))
            .collect::<Option<Vec<i64>>>()
            .ok_or_else(|| StoreError::Corrupt("sends".to_owned()))?,
    };
    // A string set comes back in any order; ULIDs sort by time, oldest first.
    let mut verification_ids: Vec<VerificationId> =
        match item.get("vids").and_then(|v| v.as_ss().ok()) {
            None => Vec::new(),
            Some(ids) => ids
                .iter()
                .map(|id| parse_id(id))
                .collect::<Result<_, _>>()?,
        };
    verification_ids.sort_by(|a, b| a.as_str().cmp(b.as_str()));
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

/// A contact's current code (`code_*`), if one was ever sent.
pub(super) fn current_code_from(
    r: &Reader<'_>,
    destination: &Destination,
) -> Result<Option<CurrentCode>, StoreError> {
    let Some(id) = r.opt_s("code_id") else {
        return Ok(None);
    };
    Ok(Some(CurrentCode {
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
        customer: r.opt_s("code_cust").and_then(CustomerKey::from_stored),
        // Absent on codes stored before voice: they went by the destination's channel.
        channel: match r.opt_s("code_ch") {
            Some(channel) => Channel::parse(channel).map_err(corrupt)?,
            None => destination.channel(),
        },
        wrong: r.opt_n("code_wrong")?,
        call: match r.opt_s("call_mode") {
            Some(mode) => Some(CallState {
                mode: CallMode::parse(mode).map_err(corrupt)?,
                sms_after_call: r.opt_n::<u8>("call_sms")?.is_some_and(|v| v == 1),
                reads: r.opt_n("call_reads")?.unwrap_or(0),
                sms_sent: r.opt_n::<u8>("call_sms_sent")?.is_some(),
            }),
            None => None,
        },
    }))
}

/// A fallback flow's progress on its origin contact (`fb_*`), if one started there.
pub(super) fn fallback_state_from_item(
    r: &Reader<'_>,
) -> Result<Option<FallbackState>, StoreError> {
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
pub(super) fn fallback_state_values(state: &FallbackState) -> Vec<(&'static str, AttributeValue)> {
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

pub(super) fn contact_to_item(c: &ContactRecord) -> Item {
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
        if let Some(customer) = &code.customer {
            item.insert("code_cust".into(), s(customer.as_str()));
        }
        if let Some(wrong) = code.wrong {
            item.insert("code_wrong".into(), n(wrong));
        }
        if let Some(call) = &code.call {
            item.insert("call_mode".into(), s(call.mode.as_str()));
            item.insert("call_sms".into(), n(u8::from(call.sms_after_call)));
            item.insert("call_reads".into(), n(call.reads));
            if call.sms_sent {
                item.insert("call_sms_sent".into(), n(1));
            }
        }
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

pub(super) fn verification_from_item(item: &Item) -> Result<VerificationRecord, StoreError> {
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
        customer: r.opt_s("cust").and_then(CustomerKey::from_stored),
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

pub(super) fn verification_to_item(v: &VerificationRecord) -> Item {
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
    if let Some(customer) = &v.customer {
        item.insert("cust".into(), s(customer.as_str()));
    }
    // Set when a record is written settled (an app's approval); later an update sets it.
    if let Some(attempts) = v.final_attempts {
        item.insert("final_attempts".into(), n(attempts));
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

pub(super) fn api_key_attribute(id: &ApiKeyId) -> String {
    format!("{API_KEY_ATTRIBUTE_PREFIX}{id}")
}

pub(super) fn api_key_from_attribute(
    id: &str,
    value: &AttributeValue,
) -> Result<ApiKeyRecord, StoreError> {
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
        // A key stored before scopes existed has them all.
        scopes: match map.get("scopes") {
            None => Scopes::ALL,
            Some(value) => value
                .as_ss()
                .ok()
                .and_then(|names| Scopes::from_names(names.iter().map(String::as_str)))
                .ok_or_else(|| corrupt(format!("API key {id}'s scopes")))?,
        },
        max_sends: r.opt_n("max_sends")?,
    })
}

/// The attributes of a key's entry in the key list.
pub(super) fn api_key_item(key: &ApiKeyRecord) -> Item {
    let mut record: Item = HashMap::new();
    record.insert("hash".into(), s(&key.hash));
    record.insert("name".into(), s(&key.name));
    record.insert("created_at".into(), n(key.created_at));
    if key.scopes != Scopes::ALL {
        let names = key.scopes.names().into_iter().map(str::to_owned).collect();
        record.insert("scopes".into(), AttributeValue::Ss(names));
    }
    if let Some(max) = key.max_sends {
        record.insert("max_sends".into(), n(max));
    }
    record
}
