//! `POST /v2/Services/{ServiceSid}/VerificationCheck`: `Code` with `To` or `VerificationSid`.
//! A right code answers `status: approved, valid: true`; a wrong one `200` with
//! `status: pending, valid: false` (Twilio's wire contract), after the attempt was counted.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use serde_json::Value;

use crate::domain::{
    Destination, EmailAddress, InputError, PhoneNumber, Scope as KeyScope, SubmittedCode,
};
use crate::http::App;
use crate::http::error::ApiError;
use crate::http::fields::parse_fields;
use crate::service::{self, CheckTarget, ServiceError, StatusView};
use crate::time::rfc3339;

use super::{
    Path, TwilioError, authenticate, channel_name, check_service, field, status_name, to_text,
    verification_id, verification_sid,
};

/// A VerificationCheck resource.
#[derive(Debug, Serialize)]
struct Check {
    sid: String,
    service_sid: String,
    account_sid: String,
    to: String,
    channel: &'static str,
    status: &'static str,
    valid: bool,
    amount: Option<String>,
    payee: Option<String>,
    date_created: String,
    date_updated: String,
    sna_attempts_error_codes: Vec<Value>,
}

/// Checks a code.
pub async fn post(app: &App, request: &Request) -> Response<Body> {
    check(app, request)
        .await
        .unwrap_or_else(|e| e.to_response())
}

async fn check(app: &App, request: &Request) -> Result<Response<Body>, TwilioError> {
    let path = Path::of(request).ok_or_else(|| TwilioError::not_found("resource", None))?;
    let (account_sid, _) = authenticate(app, request, KeyScope::Check).await?;
    check_service(&path)?;
    let fields =
        parse_fields(request).map_err(|e| TwilioError::from_api(&e, "VerificationCheck"))?;
    let raw = field(&fields, "Code")?.ok_or_else(|| TwilioError::invalid("Code", "is required"))?;
    let digits = raw.chars().filter(char::is_ascii_digit).count();
    if !(4..=10).contains(&digits) || raw.chars().any(char::is_alphabetic) {
        return Err(TwilioError::invalid("Code", "must be 4 to 10 digits"));
    }
    let target = target(app, &fields)?;
    let resource = format!("/v2/Services/{}/VerificationCheck", path.service);
    let refused = |e: ServiceError| TwilioError::from_api(&ApiError::Service(e), &resource);
    let code = SubmittedCode::parse_any(raw, app.core.config.code_length)
        .map_err(|e| TwilioError::invalid("Code", e))?;
    let hasher = app.hasher.get().await.map_err(refused)?;
    let view = match service::check(&app.core, hasher, target.clone(), &code).await {
        Ok(approval) => StatusView {
            created_at: approval.verification_id.created_at(),
            verification_id: approval.verification_id,
            status: crate::domain::VerificationStatus::Approved,
            channel: approval.channel,
            to: approval.destination.masked(),
            destination: approval.destination,
            verified_at: Some(approval.verified_at),
            expires_at: approval.verified_at,
            attempts_remaining: 0,
        },
        // A wrong code, counted; or one of another length than the code's, which Twilio
        // would count as wrong and twostep refuses without counting: pending, not valid.
        Err(ServiceError::IncorrectCode { .. })
        | Err(ServiceError::Refused(InputError::InvalidCodeFormat(_))) => {
            current(app, &target).await.map_err(refused)?
        }
        Err(e) => return Err(refused(e)),
    };
    let created = rfc3339(view.created_at);
    let body = Check {
        sid: verification_sid(&view.verification_id),
        service_sid: path.service.clone(),
        account_sid,
        to: to_text(&view.destination),
        channel: channel_name(view.channel),
        status: status_name(view.status),
        valid: view.status == crate::domain::VerificationStatus::Approved,
        amount: None,
        payee: None,
        date_updated: view.verified_at.map_or_else(|| created.clone(), rfc3339),
        date_created: created,
        sna_attempts_error_codes: Vec::new(),
    };
    Ok(super::json_response(StatusCode::OK, &body))
}

/// The verification a check names: by `VerificationSid` when given, else by `To`.
fn target(app: &App, fields: &crate::http::Fields) -> Result<CheckTarget, TwilioError> {
    if let Some(sid) = field(fields, "VerificationSid")? {
        let id = verification_id(sid).ok_or_else(|| {
            TwilioError::invalid(
                "VerificationSid",
                "is not a verification SID (VE and 32 hex digits)",
            )
        })?;
        return Ok(CheckTarget::Id(id));
    }
    let to = field(fields, "To")?.ok_or_else(|| {
        let mut e = TwilioError::invalid("To", "give To or VerificationSid");
        e.code = 60221;
        e
    })?;
    let destination = if to.contains('@') {
        EmailAddress::parse(to).map(Destination::Email)
    } else {
        PhoneNumber::parse(to, app.core.config.default_country).map(Destination::Sms)
    }
    .map_err(|e| TwilioError::invalid("To", e))?;
    Ok(CheckTarget::Destination(destination))
}

/// The checked verification as it is now.
async fn current(app: &App, target: &CheckTarget) -> Result<StatusView, ServiceError> {
    match target {
        CheckTarget::Id(id) => service::status(&app.core, id).await,
        CheckTarget::Destination(destination) => {
            service::status::current_status(&app.core, destination).await
        }
    }
}
