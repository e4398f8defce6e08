//! `POST /verify`: check a code (by verification id, phone or email), or an authenticator
//! app's code (`channel=totp`).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;

use crate::channels::authenticator::DIGITS;
use crate::config::Config;
use crate::domain::{Channel, CustomerId, Destination, InputError, Scope, SubmittedCode};
use crate::http::TotpKey;
use crate::http::auth::{caller, customer_id};
use crate::http::fields::{Fields, contact_destination, verification_id};
use crate::http::reply::{Reply, read_submission};
use crate::http::{ApiError, App};
use crate::service::keys::Caller;
use crate::service::{self, Approval, CheckTarget, customers, factors};
use crate::time::rfc3339;

use super::totp::cipher;

/// The `200` of a right code.
#[derive(Serialize)]
struct Approved {
    status: &'static str,
    verification_id: String,
    verified_at: String,
    /// `totp` for an authenticator code; absent otherwise, as the contract's answer has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    channel: Option<&'static str>,
}

/// `POST /verify`.
pub async fn post(app: &App, totp: Option<&TotpKey>, request: &Request) -> Response<Body> {
    match read_submission(request, &app.core.config) {
        Ok(submission) => submission.respond(check(app, totp, request, &submission.fields).await),
        Err(error) => error.to_response(),
    }
}

async fn check(
    app: &App,
    totp: Option<&TotpKey>,
    request: &Request,
    fields: &Fields,
) -> Result<Reply, ApiError> {
    let caller = caller(request, &app.core, &app.keys, Scope::Check).await?;
    check_as(app, totp, &caller, fields).await
}

/// A check by a caller already identified.
pub async fn check_as(
    app: &App,
    totp: Option<&TotpKey>,
    caller: &Caller,
    fields: &Fields,
) -> Result<Reply, ApiError> {
    if let Some(customer) = customer_id(fields, caller)? {
        return check_customer(app, totp, fields, &customer).await;
    }
    if let Some((destination, code)) = app_check_request(fields, &app.core.config)? {
        let approval = factors::check(&app.core, cipher(totp).await?, destination, &code).await?;
        return Ok(approved(approval, Some("totp")));
    }
    let (target, code) = check_request(fields, &app.core.config)?;
    let approval = service::check(&app.core, app.hasher.get().await?, target, &code).await?;
    Ok(approved(approval, None))
}

/// A check of the code sent to a customer's verified phone (`channel` `sms` or `voice`, the
/// default) or email address (`email`), or of its authenticator app (`totp`).
async fn check_customer(
    app: &App,
    totp: Option<&TotpKey>,
    fields: &Fields,
    customer: &CustomerId,
) -> Result<Reply, ApiError> {
    for other in ["verification_id", "phone", "email"] {
        if fields.get(other)?.is_some() {
            return Err(InputError::InvalidField {
                field: "customer_id",
                message: format!("give customer_id or {other}, not both"),
            }
            .into());
        }
    }
    let channel = fields
        .get("channel")?
        .map(Channel::parse)
        .transpose()?
        .unwrap_or(Channel::Sms);
    let destination = customers::destination(&app.core, customer, channel).await?;
    let raw = fields.get("code")?.unwrap_or_default();
    if channel == Channel::Totp {
        let code = SubmittedCode::parse_any(raw, DIGITS as u8)?;
        let approval = factors::check(&app.core, cipher(totp).await?, destination, &code).await?;
        return Ok(approved(approval, Some("totp")));
    }
    let code = SubmittedCode::parse_any(raw, app.core.config.code_length)?;
    let target = CheckTarget::Destination(destination);
    let approval = service::check(&app.core, app.hasher.get().await?, target, &code).await?;
    Ok(approved(approval, None))
}

fn approved(approval: Approval, channel: Option<&'static str>) -> Reply {
    Reply::new(
        StatusCode::OK,
        &Approved {
            status: "approved",
            verification_id: approval.verification_id.to_string(),
            verified_at: rfc3339(approval.verified_at),
            channel,
        },
    )
}

/// Turns verify fields into a target and a code. An id that is not a ULID is unknown.
pub fn check_request(
    fields: &Fields,
    config: &Config,
) -> Result<(CheckTarget, SubmittedCode), ApiError> {
    let id = fields.get("verification_id")?;
    let phone = fields.get("phone")?;
    let email = fields.get("email")?;
    let given = [id, phone, email].iter().filter(|v| v.is_some()).count();
    if given == 0 {
        return Err(InputError::MissingDestination {
            field: "verification_id",
            message: "give the verification_id, or the phone or email the code was sent to",
        }
        .into());
    }
    if given > 1 {
        return Err(InputError::InvalidField {
            field: if id.is_some() {
                "verification_id"
            } else {
                "phone"
            },
            message: "give exactly one of verification_id, phone, email".to_owned(),
        }
        .into());
    }
    let code =
        SubmittedCode::parse_any(fields.get("code")?.unwrap_or_default(), config.code_length)?;
    let target = match id {
        Some(raw) => CheckTarget::Id(verification_id(raw)?),
        None => CheckTarget::Destination(contact_destination(fields, config, "check a code")?),
    };
    Ok((target, code))
}

/// An authenticator-app check: `channel=totp` on `POST /verify`, with `phone` or `email`
/// and the app's code. `None` for any other check (`channel` is otherwise ignored there,
/// as the contract's `POST /verify` has no such field).
pub fn app_check_request(
    fields: &Fields,
    config: &Config,
) -> Result<Option<(Destination, SubmittedCode)>, ApiError> {
    // `channel` is otherwise no field of `POST /verify`: whatever else it holds is ignored.
    let is_app = fields
        .get("channel")
        .ok()
        .flatten()
        .is_some_and(|raw| Channel::parse(raw) == Ok(Channel::Totp));
    if !is_app {
        return Ok(None);
    }
    if fields.get("verification_id")?.is_some() {
        return Err(InputError::InvalidField {
            field: "verification_id",
            message: "an authenticator code is checked by phone or email, not by verification_id"
                .to_owned(),
        }
        .into());
    }
    let destination = contact_destination(fields, config, "check an authenticator code")?;
    let code = SubmittedCode::parse_any(fields.get("code")?.unwrap_or_default(), DIGITS as u8)?;
    Ok(Some((destination, code)))
}
