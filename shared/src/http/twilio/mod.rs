//! Twilio Verify v2, as its clients speak it: the documented subset of
//! `docs/integrations/twilio.md` (create, fetch, update and check a verification), an adapter
//! over the same service as the native routes, so the same limits, events and records apply.
//!
//! - Credentials: HTTP Basic with a twostep API key: the key's id as the user name (Twilio's
//!   Account SID or API key SID), its secret as the password (the Auth Token).
//! - Identifiers: a verification's SID is `VE` and its id's 128 bits in hex; the service SID is
//!   any well-formed `VA…` (a stack is one service), echoed back; the account SID is derived
//!   from the key's id.
//! - Answers: Twilio's JSON field names and types, `201` on create and `200` otherwise, and
//!   errors as `{code, message, more_info, status}` with Twilio's codes.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use serde_json::{Value, json};

use crate::domain::{
    ApiKey, Channel, Destination, InputError, Scope as KeyScope, VerificationId, sha256_hex,
};
use crate::http::App;
use crate::http::error::ApiError;
use crate::http::fields::Fields;
use crate::service::keys::Caller;
use crate::service::{ServiceError, StatusView};
use crate::time::rfc3339;

pub mod check;
pub mod verifications;

/// The path of every route: `…/v2/Services/{ServiceSid}/…`.
const SERVICES: &str = "/v2/Services/";

/// What a Twilio route names in its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    /// The path up to `/v2` (a stage's prefix, usually empty), for the answers' `url`.
    pub base: String,
    /// The service SID, as given.
    pub service: String,
    /// What follows it: `Verifications`, `Verifications/{Sid}` or `VerificationCheck`.
    pub rest: String,
}

impl Path {
    /// Splits a request's path; `None` when it is not a Twilio route's.
    pub fn of(request: &Request) -> Option<Self> {
        let path = request.uri().path();
        let at = path.find(SERVICES)?;
        let (service, rest) = path[at + SERVICES.len()..].split_once('/')?;
        Some(Self {
            base: path[..at].to_owned(),
            service: service.to_owned(),
            rest: rest.trim_end_matches('/').to_owned(),
        })
    }

    /// The verification SID of a `Verifications/{Sid}` path.
    pub fn verification_sid(&self) -> Option<&str> {
        self.rest.strip_prefix("Verifications/")
    }
}

/// An error in Twilio's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioError {
    /// The HTTP status.
    pub status: StatusCode,
    /// Twilio's error code (`60200`, `20404`, …).
    pub code: u32,
    /// What went wrong, in words.
    pub message: String,
    /// Extra facts (`reason`, `retry_after`, `attempts_remaining`, `field`), in `details`.
    pub details: Option<Value>,
    /// Seconds to wait, also sent as `Retry-After`.
    pub retry_after: Option<u32>,
}

impl TwilioError {
    fn new(status: StatusCode, code: u32, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    /// `400 60200`: a parameter is missing or wrong.
    pub fn invalid(parameter: &str, why: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            60200,
            format!("Invalid parameter `{parameter}`: {why}"),
        )
    }

    /// `404 20404`: no such resource, or one that has ended (with the reason in `details`).
    pub fn not_found(what: &str, reason: Option<&str>) -> Self {
        Self {
            details: reason.map(|r| json!({ "reason": r })),
            ..Self::new(
                StatusCode::NOT_FOUND,
                20404,
                format!("The requested resource {what} was not found"),
            )
        }
    }

    /// `401 20003`: no credentials, or not a valid key.
    pub fn authenticate() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, 20003, "Authenticate")
    }

    /// The answer.
    pub fn to_response(&self) -> Response<Body> {
        let mut body = json!({
            "code": self.code,
            "message": self.message,
            "more_info": format!("https://www.twilio.com/docs/errors/{}", self.code),
            "status": self.status.as_u16(),
        });
        if let Some(details) = &self.details {
            body["details"] = details.clone();
        }
        let mut response = json_response(self.status, &body);
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.code == 20003 {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"twostep\""),
            );
        }
        response
    }

    /// Twilio's answer to one of twostep's errors, for a route about `resource`.
    pub fn from_api(error: &ApiError, resource: &str) -> Self {
        use ServiceError as S;
        let with = |mut e: Self, details: Value, retry_after: Option<u32>| {
            e.details = Some(details);
            e.retry_after = retry_after;
            e
        };
        match error {
            ApiError::InvalidBody(why) => Self::invalid("body", why),
            ApiError::BodyTooLarge => Self::invalid("body", "it is over 8 KB"),
            ApiError::UnsupportedMediaType(_) => Self::invalid(
                "Content-Type",
                "send application/x-www-form-urlencoded (or JSON)",
            ),
            ApiError::MethodNotAllowed(method) => Self::new(
                StatusCode::METHOD_NOT_ALLOWED,
                20004,
                format!("Method not allowed: {method}"),
            ),
            ApiError::Input(e) | ApiError::Service(S::Refused(e)) => input(e),
            ApiError::Service(e) => match e {
                S::ResendTooSoon { retry_after }
                | S::TooManySends { retry_after }
                | S::TooManySendsFromClient { retry_after } => with(
                    Self::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        60203,
                        "Max send attempts reached",
                    ),
                    json!({ "retry_after": retry_after }),
                    Some(*retry_after),
                ),
                S::TooManySendsForKey { retry_after } => with(
                    Self::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        20429,
                        "Too many requests: this API key's send limit is reached",
                    ),
                    json!({ "retry_after": retry_after }),
                    Some(*retry_after),
                ),
                S::ScopeRequired(scope) => with(
                    Self::new(
                        StatusCode::FORBIDDEN,
                        20403,
                        format!(
                            "Forbidden: the API key lacks the scope '{}'",
                            scope.as_str()
                        ),
                    ),
                    json!({ "scope": scope.as_str() }),
                    None,
                ),
                S::TooManyAttempts { retry_after } | S::AppLocked { retry_after } => with(
                    Self::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        60202,
                        "Max check attempts reached",
                    ),
                    json!({ "retry_after": retry_after }),
                    Some(*retry_after),
                ),
                S::DeliveryFailed => Self::new(
                    StatusCode::BAD_GATEWAY,
                    60220,
                    "The code could not be delivered; try again",
                ),
                S::NotFound(_) => Self::not_found(resource, None),
                S::Expired(why) => Self::not_found(resource, Some(expired_reason(why))),
                S::AlreadyApproved => Self::not_found(resource, Some("approved")),
                S::Replaced => Self::not_found(resource, Some("replaced")),
                S::Canceled => Self::not_found(resource, Some("canceled")),
                S::InvalidKey | S::KeyRequired(_) => Self::authenticate(),
                S::Unavailable(_) => with(
                    Self::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        20503,
                        "Service unavailable",
                    ),
                    json!({ "retry_after": 2 }),
                    Some(2),
                ),
                other => Self::new(StatusCode::BAD_REQUEST, 60200, other.to_string()),
            },
        }
    }
}

fn expired_reason(why: &str) -> &'static str {
    if why.contains("never delivered") {
        "failed"
    } else {
        "expired"
    }
}

/// A refused input: `403 60605` for a destination that may not get codes (its country or
/// number type, as Verify's geo permissions), else `400 60200` naming the parameter.
fn input(e: &InputError) -> TwilioError {
    match e {
        InputError::CountryNotAllowed(_) | InputError::UnfitPhone(_) => TwilioError::new(
            StatusCode::FORBIDDEN,
            60605,
            format!("Verification delivery to this destination is not allowed: {e}"),
        ),
        InputError::InvalidCodeFormat(_) => TwilioError::invalid("Code", e),
        InputError::InvalidChannel(_) | InputError::UnusableChannel { .. } => {
            TwilioError::invalid("Channel", e)
        }
        InputError::InvalidField { field, .. } | InputError::MissingDestination { field, .. } => {
            TwilioError::invalid(twilio_name(field), e)
        }
        InputError::InvalidPhone(_) | InputError::InvalidEmail(_) => TwilioError::invalid("To", e),
        InputError::InvalidRedirect(_) => TwilioError::invalid("redirect", e),
    }
}

/// The Twilio parameter behind one of twostep's field names.
fn twilio_name(field: &str) -> &'static str {
    match field {
        "locale" => "Locale",
        "custom_code" => "CustomCode",
        "code" => "Code",
        "channel" => "Channel",
        "verification_id" => "VerificationSid",
        _ => "To",
    }
}

/// A JSON answer with the headers every API answer has.
pub fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".to_owned());
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The key in a request's Basic credentials: the key's id as the user name and its secret
/// (or the whole `tsk_…` key) as the password.
fn basic_key(request: &Request) -> Result<ApiKey, TwilioError> {
    use base64::Engine as _;
    let value = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(TwilioError::authenticate)?;
    let (scheme, encoded) = value
        .trim()
        .split_once(' ')
        .ok_or_else(TwilioError::authenticate)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(TwilioError::authenticate());
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(TwilioError::authenticate)?;
    let (user, password) = decoded
        .split_once(':')
        .ok_or_else(TwilioError::authenticate)?;
    let text = if password.starts_with("tsk_") {
        password.to_owned()
    } else {
        format!("tsk_{user}_{password}")
    };
    let key = ApiKey::parse(&text).ok_or_else(TwilioError::authenticate)?;
    if key.id().as_str() != user {
        return Err(TwilioError::authenticate());
    }
    Ok(key)
}

/// The caller, who must hold a valid key with `scope`, and the account SID its key stands
/// for.
pub async fn authenticate(
    app: &App,
    request: &Request,
    scope: KeyScope,
) -> Result<(String, Caller), TwilioError> {
    let key = basic_key(request)?;
    match app.keys.authenticate(&app.core, &key, scope).await {
        Ok(caller @ Caller::Keyed(_)) => Ok((account_sid(key.id().as_str()), caller)),
        Ok(Caller::Anonymous) | Err(ServiceError::InvalidKey) => Err(TwilioError::authenticate()),
        Err(e) => Err(TwilioError::from_api(&ApiError::Service(e), "")),
    }
}

/// The account SID a key stands for: `AC` and 32 hex digits derived from the key's id.
pub fn account_sid(key_id: &str) -> String {
    let digest = sha256_hex(&["twostep account", key_id]);
    format!("AC{}", &digest[..32])
}

/// Refuses a service SID that is not `VA` and 32 hex digits.
pub fn check_service(path: &Path) -> Result<(), TwilioError> {
    if is_sid(&path.service, "VA") {
        Ok(())
    } else {
        Err(TwilioError::not_found(
            &format!("/v2/Services/{}", path.service),
            Some("not a service SID (VA and 32 hex digits)"),
        ))
    }
}

fn is_sid(raw: &str, prefix: &str) -> bool {
    raw.len() == 34 && raw.starts_with(prefix) && raw[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// A verification's SID: `VE` and its id's 128 bits in hex.
pub fn verification_sid(id: &VerificationId) -> String {
    format!("VE{:032x}", id.to_u128())
}

/// The verification a `VE…` SID names.
pub fn verification_id(sid: &str) -> Option<VerificationId> {
    is_sid(sid, "VE")
        .then(|| u128::from_str_radix(&sid[2..], 16).ok())
        .flatten()
        .map(VerificationId::from_u128)
}

/// The channel as Twilio names it.
pub fn channel_name(channel: Channel) -> &'static str {
    match channel {
        Channel::Sms => "sms",
        Channel::Voice | Channel::Call => "call",
        Channel::Email => "email",
        Channel::Totp => "totp",
    }
}

/// A destination as Twilio writes `to`: the number or address itself.
pub fn to_text(destination: &Destination) -> String {
    match destination {
        Destination::Sms(phone) => phone.as_str().to_owned(),
        Destination::Email(email) => email.as_str().to_owned(),
    }
}

/// A time as Twilio writes it: `2026-12-03T10:00:00Z`.
fn date(ms: i64) -> String {
    rfc3339(ms)
}

/// Twilio's name of a verification's status.
pub fn status_name(status: crate::domain::VerificationStatus) -> &'static str {
    use crate::domain::VerificationStatus as V;
    match status {
        V::Pending => "pending",
        V::Approved => "approved",
        V::Canceled | V::Replaced => "canceled",
        V::Expired => "expired",
        V::Failed => "failed",
        V::Locked => "max_attempts_reached",
    }
}

/// A Verification resource, as create, fetch and update answer it.
#[derive(Debug, Serialize)]
pub struct Verification {
    sid: String,
    service_sid: String,
    account_sid: String,
    to: String,
    channel: &'static str,
    status: &'static str,
    valid: bool,
    lookup: Value,
    amount: Option<String>,
    payee: Option<String>,
    send_code_attempts: Vec<Value>,
    date_created: String,
    date_updated: String,
    sna: Option<Value>,
    url: String,
}

/// Who asked, about which service: what every answer repeats.
pub struct Scope<'a> {
    /// The request's path.
    pub path: &'a Path,
    /// The caller's account SID.
    pub account_sid: String,
    /// The request's `Host`, for the answers' `url`.
    pub host: String,
    /// The caller (keyed).
    pub caller: Caller,
}

impl Scope<'_> {
    /// The Verification resource for a verification's status.
    pub fn verification(&self, view: &StatusView) -> Verification {
        let sid = verification_sid(&view.verification_id);
        let channel = channel_name(view.channel);
        let created = date(view.created_at);
        Verification {
            url: format!(
                "https://{}{}/v2/Services/{}/Verifications/{sid}",
                self.host, self.path.base, self.path.service
            ),
            send_code_attempts: vec![json!({
                "attempt_sid": format!("VL{}", &sid[2..]),
                "channel": channel,
                "time": created,
            })],
            sid,
            service_sid: self.path.service.clone(),
            account_sid: self.account_sid.clone(),
            to: to_text(&view.destination),
            channel,
            status: status_name(view.status),
            valid: view.status == crate::domain::VerificationStatus::Approved,
            lookup: json!({}),
            amount: None,
            payee: None,
            date_updated: view.verified_at.map_or_else(|| created.clone(), date),
            date_created: created,
            sna: None,
        }
    }
}

/// The request's host, as the client named it.
pub fn host(request: &Request) -> String {
    request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost")
        .to_owned()
}

/// A form's (or JSON body's) text field, by its Twilio name.
pub fn field<'a>(fields: &'a Fields, name: &'static str) -> Result<Option<&'a str>, TwilioError> {
    fields
        .get(name)
        .map_err(|_| TwilioError::invalid(name, "must be text"))
}
