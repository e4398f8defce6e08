//! Amazon Connect: a contact flow's "Invoke AWS Lambda function" block. The flow passes
//! `action` (`send`, `check` or `lookup`) and its fields in `Details.Parameters`; the
//! caller's number is `Details.ContactData.CustomerEndpoint.Address`. The answer is the flat
//! map of strings Connect requires (response validation `STRING_MAP`), read in the flow as
//! `$.External.<key>`; `result` always says what happened. Connect itself speaks and
//! collects the digits. The function's resource policy admits only the stack's Connect
//! instance, which therefore acts as a trusted server (as a keyed caller does).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::Calls;
use crate::domain::{
    Channel, CustomerId, Destination, InputError, Locale, PhoneNumber, SubmittedCode,
    VerificationId,
};
use crate::http::ApiError;
use crate::service::{
    self, CheckTarget, SendOptions, SendOutcome, SendRequest, ServiceError, customers,
};

/// A contact flow's invocation.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConnectEvent {
    /// The contact and the flow's parameters.
    pub details: ConnectDetails,
}

/// The contact and the parameters.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConnectDetails {
    /// The contact.
    #[serde(default)]
    pub contact_data: ContactData,
    /// The block's parameters.
    #[serde(default)]
    pub parameters: BTreeMap<String, Value>,
}

/// What Connect says of the contact.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContactData {
    /// The caller.
    #[serde(default)]
    pub customer_endpoint: Option<Endpoint>,
}

/// A phone endpoint.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Endpoint {
    /// The number (E.164).
    #[serde(default)]
    pub address: Option<String>,
}

/// The flat answer.
pub type Answer = BTreeMap<String, String>;

impl ConnectEvent {
    /// A parameter as text (a number given as one is read as its digits).
    fn parameter(&self, name: &str) -> Option<String> {
        match self.details.parameters.get(name)? {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// The number the flow names (`phone`), else the caller's.
    fn phone(&self, calls: &Calls) -> Result<PhoneNumber, InputError> {
        let raw = self.parameter("phone").or_else(|| {
            self.details
                .contact_data
                .customer_endpoint
                .as_ref()?
                .address
                .clone()
        });
        match raw {
            Some(raw) => PhoneNumber::parse(&raw, calls.core.config.default_country),
            None => Err(InputError::MissingDestination {
                field: "phone",
                message: "give phone, or invoke from a contact with a customer number",
            }),
        }
    }
}

fn answer(result: &str, pairs: &[(&str, String)]) -> Answer {
    let mut map = Answer::from([("result".to_owned(), result.to_owned())]);
    map.extend(pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    map
}

/// Answers one invocation of a contact flow.
pub async fn respond(calls: &Calls, event: &ConnectEvent) -> Answer {
    let outcome = match event.parameter("action").as_deref() {
        Some("send") => send(calls, event).await,
        Some("check") => check(calls, event).await,
        Some("lookup") => lookup(calls, event).await,
        _ => Err(ServiceError::Refused(InputError::InvalidField {
            field: "action",
            message: "must be send, check or lookup".to_owned(),
        })),
    };
    outcome.unwrap_or_else(refusal)
}

/// A refusal as the flow reads it: `result` is the API's error code.
/// The members come from the one place that maps errors ([`ApiError`], as the workflow
/// connector's `outcome` does), flattened to strings: `detail` is read out as `message`.
fn refusal(e: ServiceError) -> Answer {
    let members = ApiError::from(e).outcome_members();
    let text = |name: &str| {
        members.get(name).map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    let mut pairs = Vec::new();
    pairs.extend(text("detail").map(|d| ("message", d)));
    pairs.extend(text("retry_after").map(|s| ("retry_after", s)));
    pairs.extend(text("field").map(|f| ("field", f)));
    answer(text("outcome").as_deref().unwrap_or("unavailable"), &pairs)
}

async fn send(calls: &Calls, event: &ConnectEvent) -> Result<Answer, ServiceError> {
    // Connect speaks and collects digits itself: its PIN goes by SMS (the function holds no
    // voice or email sender), refused before anything is written.
    let channel = match event.parameter("channel") {
        Some(raw) => Channel::parse(&raw)?,
        None => Channel::Sms,
    };
    if channel != Channel::Sms {
        return Err(ServiceError::Refused(InputError::UnusableChannel {
            field: "channel",
            message: "a contact flow's code goes by sms".to_owned(),
        }));
    }
    let locale = event
        .parameter("locale")
        .map(|raw| Locale::parse(&raw))
        .transpose()?;
    let customer = event
        .parameter("customer_id")
        .map(|raw| CustomerId::parse(&raw))
        .transpose()?;
    let (core, sender) = (&calls.core, calls.sender.as_ref());
    let hasher = calls.hasher.get().await?;
    let sent: SendOutcome = match (&customer, event.parameter("phone")) {
        // A customer's own verified number: the flow knows the account (the caller keyed it
        // in), not the number, which may not be the one calling.
        (Some(customer), None) => {
            customers::send(
                core,
                hasher,
                sender,
                customer,
                channel,
                locale,
                SendOptions::default(),
            )
            .await?
        }
        _ => {
            let request = SendRequest {
                channel,
                locale,
                customer: customer.as_ref().map(CustomerId::key),
                ..SendRequest::new(Destination::Sms(event.phone(calls)?))
            };
            service::send(core, hasher, sender, request).await?
        }
    };
    let expires_in = (sent.expires_at - core.clock.now_ms()).max(0) / 1_000;
    Ok(answer(
        "sent",
        &[
            ("verification_id", sent.verification_id.to_string()),
            ("to", sent.to),
            ("channel", sent.channel.as_str().to_owned()),
            ("expires_in", expires_in.to_string()),
            ("resend_after", sent.resend_after.to_string()),
        ],
    ))
}

async fn check(calls: &Calls, event: &ConnectEvent) -> Result<Answer, ServiceError> {
    let raw = event
        .parameter("code")
        .ok_or(InputError::MissingDestination {
            field: "code",
            message: "give the digits the caller entered",
        })?;
    let customer = event
        .parameter("customer_id")
        .map(|raw| CustomerId::parse(&raw))
        .transpose()?;
    let target = match (event.parameter("verification_id"), customer) {
        (Some(raw), _) => CheckTarget::Id(
            VerificationId::parse(&raw)
                .ok_or(ServiceError::NotFound("no verification has this id"))?,
        ),
        (None, Some(customer)) if event.parameter("phone").is_none() => CheckTarget::Destination(
            customers::destination(&calls.core, &customer, Channel::Sms).await?,
        ),
        (None, _) => CheckTarget::Destination(Destination::Sms(event.phone(calls)?)),
    };
    let code = SubmittedCode::parse_any(&raw, calls.core.config.code_length)?;
    match service::check(&calls.core, calls.hasher.get().await?, target, &code).await {
        Ok(approval) => Ok(answer(
            "approved",
            &[
                ("verification_id", approval.verification_id.to_string()),
                ("verified", "true".to_owned()),
            ],
        )),
        Err(ServiceError::IncorrectCode { attempts_remaining }) => Ok(answer(
            "incorrect",
            &[
                ("attempts_left", attempts_remaining.to_string()),
                ("verified", "false".to_owned()),
            ],
        )),
        Err(e) => Err(e),
    }
}

async fn lookup(calls: &Calls, event: &ConnectEvent) -> Result<Answer, ServiceError> {
    let contacts = match event.parameter("customer_id") {
        Some(raw) => customers::lookup(&calls.core, &CustomerId::parse(&raw)?).await?,
        None => {
            let phone = Destination::Sms(event.phone(calls)?);
            service::lookup(&calls.core, &[phone]).await?
        }
    };
    let verified = |channel: Channel| {
        contacts
            .iter()
            .find(|c| c.channel == channel && c.status == crate::domain::ContactStatus::Verified)
    };
    let mut pairs = vec![("verified", verified(Channel::Sms).is_some().to_string())];
    if let Some(phone) = verified(Channel::Sms) {
        pairs.push(("phone", phone.to.clone()));
    }
    if let Some(email) = verified(Channel::Email) {
        pairs.push(("email", email.to.clone()));
    }
    // Nothing known of the number or customer: the flow branches as for an unknown caller.
    Ok(answer(
        if contacts.is_empty() {
            "not_found"
        } else {
            "found"
        },
        &pairs,
    ))
}
