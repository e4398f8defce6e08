//! `POST /v2/Services/{ServiceSid}/Verifications` (create: send a code),
//! `GET …/Verifications/{Sid}` (fetch) and `POST …/Verifications/{Sid}` (update:
//! `Status=canceled` or `approved`).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

use crate::channels::Sender;
use crate::domain::Scope as KeyScope;
use crate::domain::{
    Channel, Destination, EmailAddress, Locale, OtpCode, PhoneNumber, VerificationStatus,
};
use crate::http::App;
use crate::http::auth::key_limit;
use crate::http::error::ApiError;
use crate::http::fields::parse_fields;
use crate::messages::valid_brand;
use crate::service::{self, SendOptions, SendRequest, StatusView};

use super::{
    Path, Scope, TwilioError, authenticate, check_service, field, host, json_response,
    verification_id,
};

/// Creates a verification: a code to `To` by `Channel`.
pub async fn create(app: &App, sender: &dyn Sender, request: &Request) -> Response<Body> {
    answer(create_inner(app, sender, request).await)
}

/// Fetches a verification: its status, also after it ended (approved, expired, canceled),
/// where Twilio answers `404`.
pub async fn fetch(app: &App, request: &Request) -> Response<Body> {
    answer(fetch_inner(app, request).await)
}

/// Updates a verification: `Status=canceled` stops its code, `Status=approved` approves it
/// without one.
pub async fn update(app: &App, request: &Request) -> Response<Body> {
    answer(update_inner(app, request).await)
}

fn answer(outcome: Result<Response<Body>, TwilioError>) -> Response<Body> {
    outcome.unwrap_or_else(|e| e.to_response())
}

/// The caller's scope for a request to a route with a service SID, by a key with `needs`.
async fn scope<'a>(
    app: &App,
    request: &Request,
    path: &'a Path,
    needs: KeyScope,
) -> Result<Scope<'a>, TwilioError> {
    let (account_sid, caller) = authenticate(app, request, needs).await?;
    check_service(path)?;
    Ok(Scope {
        path,
        account_sid,
        host: host(request),
        caller,
    })
}

fn not_twilio() -> TwilioError {
    TwilioError::not_found("resource", None)
}

async fn create_inner(
    app: &App,
    sender: &dyn Sender,
    request: &Request,
) -> Result<Response<Body>, TwilioError> {
    let path = Path::of(request).ok_or_else(not_twilio)?;
    let scope = scope(app, request, &path, KeyScope::Send).await?;
    let fields = parse_fields(request).map_err(|e| TwilioError::from_api(&e, "Verifications"))?;
    let mut send = send_request(&fields, app)?;
    if send.options.custom_code.is_some() || send.options.brand.is_some() {
        scope
            .caller
            .require_scope(KeyScope::Options)
            .map_err(|e| TwilioError::from_api(&ApiError::Service(e), "Verifications"))?;
    }
    send.options.key_limit = key_limit(&scope.caller);
    let destination = send.destination.clone();
    let refused = |e| TwilioError::from_api(&ApiError::Service(e), "Verifications");
    let hasher = app.hasher.get().await.map_err(refused)?;
    let sent = service::send(&app.core, hasher, sender, send)
        .await
        .map_err(refused)?;
    // What a fetch would answer now, without reading it back.
    let view = StatusView {
        created_at: sent.verification_id.created_at(),
        verification_id: sent.verification_id,
        status: VerificationStatus::Pending,
        channel: sent.channel,
        to: sent.to,
        destination,
        verified_at: None,
        expires_at: sent.expires_at,
        attempts_remaining: app.core.config.max_check_attempts,
    };
    Ok(json_response(
        StatusCode::CREATED,
        &scope.verification(&view),
    ))
}

/// The send a create asks for: `To`, `Channel` (`sms`, `call` or `email`), and optionally
/// `Locale`, `CustomCode` and `CustomFriendlyName`.
fn send_request(fields: &crate::http::Fields, app: &App) -> Result<SendRequest, TwilioError> {
    let to = field(fields, "To")?.ok_or_else(|| TwilioError::invalid("To", "is required"))?;
    let channel = match field(fields, "Channel")?
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("sms") => Channel::Sms,
        Some("call") => Channel::Voice,
        Some("email") => Channel::Email,
        Some(other) => {
            return Err(TwilioError::invalid(
                "Channel",
                format!("'{other}' is not one of sms, call, email"),
            ));
        }
        None => return Err(TwilioError::invalid("Channel", "is required")),
    };
    let destination = match channel {
        Channel::Email => EmailAddress::parse(to).map(Destination::Email),
        _ => PhoneNumber::parse(to, app.core.config.default_country).map(Destination::Sms),
    }
    .map_err(|e| TwilioError::invalid("To", e))?;
    let locale = field(fields, "Locale")?
        .map(Locale::parse)
        .transpose()
        .map_err(|e| TwilioError::invalid("Locale", e))?;
    let custom_code = field(fields, "CustomCode")?
        .map(|raw| OtpCode::custom(raw, "CustomCode"))
        .transpose()
        .map_err(|e| TwilioError::invalid("CustomCode", e))?;
    let brand = field(fields, "CustomFriendlyName")?
        .map(|raw| {
            valid_brand(raw).then(|| raw.to_owned()).ok_or_else(|| {
                TwilioError::invalid(
                    "CustomFriendlyName",
                    "must be at most 30 characters of the GSM 7-bit alphabet",
                )
            })
        })
        .transpose()?;
    Ok(SendRequest {
        channel,
        locale,
        options: SendOptions {
            custom_code,
            brand,
            ..SendOptions::default()
        },
        ..SendRequest::new(destination)
    })
}

/// A `Verifications/{Sid}` request's path, for the caller's scope: its resource (for errors)
/// and the verification it names (an unknown or malformed SID is `404 20404`).
fn named_verification(path: &Path) -> Result<(String, crate::domain::VerificationId), TwilioError> {
    let resource = format!("/v2/Services/{}/{}", path.service, path.rest);
    let id = path
        .verification_sid()
        .and_then(verification_id)
        .ok_or_else(|| TwilioError::not_found(&resource, None))?;
    Ok((resource, id))
}

async fn fetch_inner(app: &App, request: &Request) -> Result<Response<Body>, TwilioError> {
    let path = Path::of(request).ok_or_else(not_twilio)?;
    let scope = scope(app, request, &path, KeyScope::Status).await?;
    let (resource, id) = named_verification(&path)?;
    let view = service::status(&app.core, &id)
        .await
        .map_err(|e| TwilioError::from_api(&ApiError::Service(e), &resource))?;
    Ok(json_response(StatusCode::OK, &scope.verification(&view)))
}

async fn update_inner(app: &App, request: &Request) -> Result<Response<Body>, TwilioError> {
    let path = Path::of(request).ok_or_else(not_twilio)?;
    // The key needs `cancel` to cancel, `check` to approve; the key is checked before the
    // fields are (an unauthenticated request is 401 whatever its body).
    let fields = parse_fields(request);
    let canceling = fields
        .as_ref()
        .ok()
        .and_then(|f| f.get("Status").ok().flatten())
        .is_some_and(|s| s.eq_ignore_ascii_case("canceled"));
    let needs = if canceling {
        KeyScope::Cancel
    } else {
        KeyScope::Check
    };
    let scope = scope(app, request, &path, needs).await?;
    let (resource, id) = named_verification(&path)?;
    let fields = fields.map_err(|e| TwilioError::from_api(&e, &resource))?;
    let refused = |e| TwilioError::from_api(&ApiError::Service(e), &resource);
    let view = match field(&fields, "Status")?
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("canceled") => service::cancel(&app.core, &id).await.map_err(refused)?,
        Some("approved") => service::approve(&app.core, &id).await.map_err(refused)?,
        Some(other) => {
            return Err(TwilioError::invalid(
                "Status",
                format!("'{other}' is not canceled or approved"),
            ));
        }
        None => return Err(TwilioError::invalid("Status", "is required")),
    };
    Ok(json_response(StatusCode::OK, &scope.verification(&view)))
}
