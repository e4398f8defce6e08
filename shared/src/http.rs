//! The HTTP edge: request bodies (JSON and forms) into fields, fields into domain
//! requests, and every outcome into a response (JSON, problem+json, or a form's 303
//! redirect), with CORS. The one place that maps errors to HTTP.

use std::collections::{HashMap, HashSet};

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::config::Config;
use crate::domain::{
    ApiKey, Channel, ChannelList, Destination, EmailAddress, Fallback, IdempotencyKey, InputError,
    Locale, OtpCode, PersonName, PhoneNumber, SubmittedCode, VerificationId,
};
use crate::factors::EnrollBy;
use crate::keyring::{Caller, KeyRing};
use crate::redirect::RedirectTarget;
use crate::service::{self, CheckTarget, Core, SendOptions, SendRequest, ServiceError};
use crate::store::StoredReply;

/// The largest body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 8 * 1024;

/// Everything that can go wrong with a request, mapped to HTTP in [`ApiError::to_response`].
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not valid JSON or form data.
    #[error("{0}")]
    InvalidBody(String),
    /// The body is over [`MAX_BODY_BYTES`].
    #[error("the body is over {MAX_BODY_BYTES} bytes")]
    BodyTooLarge,
    /// The content type is neither JSON nor a form.
    #[error("send application/json or application/x-www-form-urlencoded, not '{0}'")]
    UnsupportedMediaType(String),
    /// The route exists but not with this method.
    #[error("this route does not accept {0}")]
    MethodNotAllowed(String),
    /// A field is wrong.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The service refused or failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// Declares [`ErrorCode`] and its list [`ErrorCode::ALL`] from one table, so that the list
/// cannot miss a code: shared/tests/openapi.rs holds docs/openapi.yaml to it.
macro_rules! error_codes {
    ($($(#[doc = $doc:literal])* $variant:ident => $code:literal, $status:ident, $title:literal;)*) => {
        /// The stable, machine-readable `code` of a problem, with its HTTP status and title.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[doc = $doc])* $variant,)*
        }

        impl ErrorCode {
            /// Every code, in the order of the contract's tables.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)*];

            /// The code as a problem's `code` member carries it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $code,)*
                }
            }

            /// The HTTP status of a problem with this code.
            pub const fn status(self) -> StatusCode {
                match self {
                    $(Self::$variant => StatusCode::$status,)*
                }
            }

            /// The problem's `title`.
            pub const fn title(self) -> &'static str {
                match self {
                    $(Self::$variant => $title,)*
                }
            }
        }
    };
}

error_codes! {
    /// The body is not valid JSON or form data.
    InvalidBody => "invalid_body", BAD_REQUEST, "Malformed request body";
    /// The body is over [`MAX_BODY_BYTES`].
    BodyTooLarge => "body_too_large", PAYLOAD_TOO_LARGE, "Request body too large";
    /// Neither JSON nor a form.
    UnsupportedMediaType => "unsupported_media_type", UNSUPPORTED_MEDIA_TYPE, "Unsupported media type";
    /// A method the route does not take.
    MethodNotAllowed => "method_not_allowed", METHOD_NOT_ALLOWED, "Method not allowed";
    /// A phone number that is not valid, or of a kind that gets no codes.
    InvalidPhone => "invalid_phone", BAD_REQUEST, "Invalid phone number";
    /// A number outside `SMS_ALLOWED_COUNTRIES`.
    CountryNotAllowed => "country_not_allowed", BAD_REQUEST, "Country not allowed";
    /// An email address that is not valid.
    InvalidEmail => "invalid_email", BAD_REQUEST, "Invalid email address";
    /// A channel other than `sms` or `email`.
    InvalidChannel => "invalid_channel", BAD_REQUEST, "Invalid channel";
    /// No destination for the channel, or no target for a check.
    MissingDestination => "missing_destination", BAD_REQUEST, "Missing destination";
    /// Another field out of its range or form.
    InvalidField => "invalid_field", BAD_REQUEST, "Invalid field";
    /// A code that is not a run of `CODE_LENGTH` digits.
    InvalidCodeFormat => "invalid_code_format", BAD_REQUEST, "Invalid code format";
    /// A `redirect` that is not an allowed target.
    InvalidRedirect => "invalid_redirect", BAD_REQUEST, "Invalid redirect";
    /// Within the cooldown of the last send to the destination.
    ResendTooSoon => "resend_too_soon", TOO_MANY_REQUESTS, "Resend too soon";
    /// The destination's or the client's send window is full.
    TooManySends => "too_many_sends", TOO_MANY_REQUESTS, "Too many sends";
    /// SNS or SES did not take the message.
    DeliveryFailed => "delivery_failed", BAD_GATEWAY, "Delivery failed";
    /// A wrong code.
    IncorrectCode => "incorrect_code", UNPROCESSABLE_ENTITY, "Incorrect code";
    /// The verification is locked after too many wrong codes.
    TooManyAttempts => "too_many_attempts", TOO_MANY_REQUESTS, "Too many attempts";
    /// The code is past its expiry, or was never delivered.
    Expired => "expired", GONE, "Code expired";
    /// The verification was approved before.
    AlreadyApproved => "already_approved", CONFLICT, "Already approved";
    /// A newer code went to the same destination.
    Replaced => "replaced", CONFLICT, "Code replaced";
    /// A keyed caller cancelled the verification.
    Canceled => "canceled", CONFLICT, "Verification canceled";
    /// Enrolling an authenticator app needs a verified contact (an approved verification).
    NotVerified => "not_verified", CONFLICT, "Not verified";
    /// The contact has an active authenticator app, or the verification enrolled one before.
    AlreadyEnrolled => "already_enrolled", CONFLICT, "Already enrolled";
    /// No such verification.
    NotFound => "not_found", NOT_FOUND, "Not found";
    /// The `Idempotency-Key` was used with other fields.
    IdempotencyKeyReused => "idempotency_key_reused", UNPROCESSABLE_ENTITY, "Idempotency key reused";
    /// A request with the `Idempotency-Key` is still running.
    IdempotencyKeyInUse => "idempotency_key_in_use", CONFLICT, "Idempotency key in use";
    /// An `Authorization` that is not a valid, unrevoked API key.
    InvalidKey => "invalid_key", UNAUTHORIZED, "Invalid API key";
    /// A keyed option or route without an API key.
    KeyRequired => "key_required", FORBIDDEN, "Key required";
    /// A dependency is unavailable.
    Unavailable => "unavailable", SERVICE_UNAVAILABLE, "Service unavailable";
}

struct Problem {
    code: ErrorCode,
    field: Option<&'static str>,
    retry_after: Option<u32>,
    attempts_remaining: Option<u32>,
}

impl Problem {
    fn new(code: ErrorCode) -> Self {
        Self {
            code,
            field: None,
            retry_after: None,
            attempts_remaining: None,
        }
    }
}

impl ApiError {
    fn problem(&self) -> Problem {
        use ErrorCode as C;
        use ServiceError as S;
        let p = Problem::new;
        match self {
            Self::InvalidBody(_) => p(C::InvalidBody),
            Self::BodyTooLarge => p(C::BodyTooLarge),
            Self::UnsupportedMediaType(_) => p(C::UnsupportedMediaType),
            Self::MethodNotAllowed(_) => p(C::MethodNotAllowed),
            Self::Input(e) => input_problem(e),
            Self::Service(e) => match e {
                S::ResendTooSoon { retry_after } => Problem {
                    retry_after: Some(*retry_after),
                    ..p(C::ResendTooSoon)
                },
                S::TooManySends { retry_after } | S::TooManySendsFromClient { retry_after } => {
                    Problem {
                        retry_after: Some(*retry_after),
                        ..p(C::TooManySends)
                    }
                }
                S::DeliveryFailed => p(C::DeliveryFailed),
                S::IncorrectCode { attempts_remaining } => Problem {
                    attempts_remaining: Some(*attempts_remaining),
                    field: Some("code"),
                    ..p(C::IncorrectCode)
                },
                S::TooManyAttempts { retry_after } | S::AppLocked { retry_after } => Problem {
                    attempts_remaining: Some(0),
                    retry_after: Some(*retry_after),
                    ..p(C::TooManyAttempts)
                },
                S::Expired(_) => p(C::Expired),
                S::AlreadyApproved => p(C::AlreadyApproved),
                S::Replaced => p(C::Replaced),
                S::NotFound(_) => p(C::NotFound),
                S::Canceled => p(C::Canceled),
                S::NotVerified(_) => p(C::NotVerified),
                S::AlreadyEnrolled(_) => p(C::AlreadyEnrolled),
                S::InvalidKey => p(C::InvalidKey),
                S::KeyRequired(field) => Problem {
                    field: Some(field),
                    ..p(C::KeyRequired)
                },
                S::Refused(e) => input_problem(e),
                S::IdempotencyKeyReused => Problem {
                    field: Some(IdempotencyKey::HEADER),
                    ..p(C::IdempotencyKeyReused)
                },
                S::IdempotencyKeyInUse => Problem {
                    retry_after: Some(1),
                    field: Some(IdempotencyKey::HEADER),
                    ..p(C::IdempotencyKeyInUse)
                },
                S::Unavailable(_) => Problem {
                    retry_after: Some(2),
                    ..p(C::Unavailable)
                },
            },
        }
    }

    /// The machine-readable `code` of this error.
    pub fn code(&self) -> &'static str {
        self.problem().code.as_str()
    }

    /// The detail shown to the client: never internal detail (that is logged instead).
    fn detail(&self) -> String {
        match self {
            Self::Service(ServiceError::Unavailable(_)) => {
                "a dependency is unavailable; try again shortly".to_owned()
            }
            other => other.to_string(),
        }
    }

    /// Logs what the client is not shown.
    fn log_internal(&self) {
        if let Self::Service(ServiceError::Unavailable(internal)) = self {
            tracing::error!(error = %internal, "dependency unavailable");
        }
    }

    /// The error as `application/problem+json`.
    pub fn to_response(&self) -> Response<Body> {
        self.log_internal();
        let p = self.problem();
        let mut body = Map::new();
        body.insert("type".into(), json!("about:blank"));
        body.insert("title".into(), json!(p.code.title()));
        body.insert("status".into(), json!(p.code.status().as_u16()));
        body.insert("detail".into(), json!(self.detail()));
        body.insert("code".into(), json!(p.code.as_str()));
        if let Some(field) = p.field {
            body.insert("field".into(), json!(field));
        }
        if let Some(seconds) = p.retry_after {
            body.insert("retry_after".into(), json!(seconds));
        }
        if let Some(n) = p.attempts_remaining {
            body.insert("attempts_remaining".into(), json!(n));
        }
        let mut response = respond(
            p.code.status(),
            "application/problem+json",
            Value::Object(body).to_string(),
        );
        if let Some(seconds) = p.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if p.code == ErrorCode::InvalidKey {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        response
    }

    /// The error as a form redirect's query parameters: `error` (the code), `status` (the
    /// HTTP status), and `field`, `retry_after`, `attempts_remaining` when they apply.
    fn redirect_params(&self) -> Vec<(&'static str, String)> {
        self.log_internal();
        let p = self.problem();
        let mut params = vec![
            ("status", p.code.status().as_u16().to_string()),
            ("error", p.code.as_str().to_owned()),
        ];
        params.extend(p.field.map(|f| ("field", f.to_owned())));
        params.extend(p.retry_after.map(|n| ("retry_after", n.to_string())));
        params.extend(
            p.attempts_remaining
                .map(|n| ("attempts_remaining", n.to_string())),
        );
        params
    }
}

/// The problem for a piece of bad input: `400`, its code, and the field at fault.
fn input_problem(e: &InputError) -> Problem {
    let code = match e {
        InputError::InvalidPhone(_) | InputError::UnfitPhone(_) => ErrorCode::InvalidPhone,
        InputError::CountryNotAllowed(_) => ErrorCode::CountryNotAllowed,
        InputError::InvalidEmail(_) => ErrorCode::InvalidEmail,
        InputError::InvalidChannel(_) | InputError::UnusableChannel { .. } => {
            ErrorCode::InvalidChannel
        }
        InputError::MissingDestination { .. } => ErrorCode::MissingDestination,
        InputError::InvalidField { .. } => ErrorCode::InvalidField,
        InputError::InvalidCodeFormat(_) => ErrorCode::InvalidCodeFormat,
        InputError::InvalidRedirect(_) => ErrorCode::InvalidRedirect,
    };
    Problem {
        field: e.field(),
        ..Problem::new(code)
    }
}

/// A successful answer: an HTTP status and a JSON object.
#[derive(Debug, Clone)]
pub struct Reply {
    status: StatusCode,
    body: Map<String, Value>,
}

impl Reply {
    /// A reply with `body`, which serializes to a JSON object.
    pub fn new(status: StatusCode, body: &impl Serialize) -> Self {
        let body = match serde_json::to_value(body) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        Self { status, body }
    }

    /// The reply as `application/json`.
    pub fn to_response(&self) -> Response<Body> {
        respond(
            self.status,
            "application/json",
            Value::Object(self.body.clone()).to_string(),
        )
    }

    /// The reply as remembered for an `Idempotency-Key`.
    pub fn to_stored(&self) -> StoredReply {
        StoredReply {
            status: self.status.as_u16(),
            body: Value::Object(self.body.clone()).to_string(),
        }
    }

    /// A remembered reply, answered again.
    pub fn from_stored(stored: &StoredReply) -> Self {
        let body = match serde_json::from_str(&stored.body) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        Self {
            status: StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK),
            body,
        }
    }

    /// The reply's text and number members, as a form redirect's query parameters.
    fn redirect_params(&self) -> Vec<(&str, String)> {
        self.body
            .iter()
            .filter_map(|(name, value)| match value {
                Value::String(s) => Some((name.as_str(), s.clone())),
                Value::Number(n) => Some((name.as_str(), n.to_string())),
                Value::Bool(b) => Some((name.as_str(), b.to_string())),
                _ => None,
            })
            .collect()
    }
}

/// A POST's fields and, for a plain form post that asked for one, where to send the browser.
#[derive(Debug)]
pub struct Submission {
    /// The request's fields.
    pub fields: Fields,
    redirect: Option<RedirectTarget>,
}

/// Reads a POST: its fields, and its `redirect`, which must be an allowed target whatever
/// the encoding, and is followed only for form posts (a script reads JSON instead).
pub fn read_submission(request: &Request, config: &Config) -> Result<Submission, ApiError> {
    let fields = parse_fields(request)?;
    let redirect = fields
        .get("redirect")?
        .map(|raw| RedirectTarget::parse(raw, &config.allowed_redirect_origins))
        .transpose()?;
    Ok(Submission {
        redirect: redirect.filter(|_| is_form(request)),
        fields,
    })
}

impl Submission {
    /// The answer to this submission: JSON or problem+json, or for a form post with a
    /// `redirect`, `303 See Other` to it with the outcome as query parameters.
    pub fn respond(&self, outcome: Result<Reply, ApiError>) -> Response<Body> {
        let Some(target) = &self.redirect else {
            return respond_with(outcome.map(|reply| reply.to_response()));
        };
        let location = match outcome {
            Ok(reply) => target.with_params(&reply.redirect_params()),
            Err(error) => {
                let mut params = error.redirect_params();
                // Carry the verification the form was about, so its page can offer a resend.
                if let Ok(Some(raw)) = self.fields.get("verification_id")
                    && let Some(id) = VerificationId::parse(raw)
                {
                    params.push(("verification_id", id.to_string()));
                }
                target.with_params(&params)
            }
        };
        see_other(&location)
    }
}

fn see_other(location: &str) -> Response<Body> {
    let mut response = respond(
        StatusCode::SEE_OTHER,
        "text/plain; charset=utf-8",
        String::new(),
    );
    match HeaderValue::from_str(location) {
        Ok(value) => {
            response.headers_mut().insert(header::LOCATION, value);
            response
        }
        // Unreachable for a parsed target (ASCII only), but never a 303 without a Location.
        Err(_) => ApiError::Input(InputError::InvalidRedirect("is not a valid URL".to_owned()))
            .to_response(),
    }
}

// ---- CORS ------------------------------------------------------------------------------
// The same answers as the HTTP API's CorsConfiguration in template.yaml (a test compares
// them), so that a browser sees the same behaviour locally and in AWS.

/// Methods a browser on an allowed origin may use.
pub const CORS_ALLOW_METHODS: &str = "GET,OPTIONS,POST";
/// Request headers a browser on an allowed origin may send.
pub const CORS_ALLOW_HEADERS: &str = "content-type,idempotency-key";
/// Response headers a script on an allowed origin may read.
pub const CORS_EXPOSE_HEADERS: &str = "retry-after";
/// How long a browser may cache a preflight answer, in seconds.
pub const CORS_MAX_AGE: u32 = 600;

fn allowed_origin(config: &Config, request: &Request) -> Option<HeaderValue> {
    let origin = request.headers().get(header::ORIGIN)?;
    let text = origin.to_str().ok()?;
    config
        .allowed_origins
        .iter()
        .any(|allowed| allowed.eq_ignore_ascii_case(text))
        .then(|| origin.clone())
}

/// The answer to a CORS preflight (`OPTIONS`): `204`, with the allowances when the origin
/// is allowed and without them otherwise (the browser then refuses the call).
pub fn preflight(config: &Config, request: &Request) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    headers.insert(header::VARY, HeaderValue::from_static("origin"));
    if let Some(origin) = allowed_origin(config, request) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(CORS_ALLOW_METHODS),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(CORS_ALLOW_HEADERS),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from(CORS_MAX_AGE),
        );
    }
    response
}

/// Adds the CORS headers of an actual (non-preflight) response for an allowed origin.
pub fn with_cors(
    config: &Config,
    request: &Request,
    mut response: Response<Body>,
) -> Response<Body> {
    let headers = response.headers_mut();
    // One Vary header: API Gateway keeps a single value per header name.
    let vary = match headers.get(header::VARY).and_then(|v| v.to_str().ok()) {
        Some(existing) if existing.split(',').any(|v| v.trim() == "origin") => existing.to_owned(),
        Some(existing) => format!("{existing}, origin"),
        None => "origin".to_owned(),
    };
    if let Ok(value) = HeaderValue::from_str(&vary) {
        headers.insert(header::VARY, value);
    }
    if let Some(origin) = allowed_origin(config, request) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(CORS_EXPOSE_HEADERS),
        );
    }
    response
}

fn respond(status: StatusCode, content_type: &'static str, body: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The response for an outcome: the success as it is, an error as problem+json.
pub fn respond_with(outcome: Result<Response<Body>, ApiError>) -> Response<Body> {
    outcome.unwrap_or_else(|e| e.to_response())
}

/// A request's fields, whatever the body's encoding: trimmed, empty ones dropped,
/// aliases folded into their canonical names.
#[derive(Debug, Default, Clone)]
pub struct Fields {
    values: HashMap<String, String>,
    not_text: HashSet<String>,
}

const ALIASES: [(&str, &str); 4] = [
    ("firstName", "first_name"),
    ("lastName", "last_name"),
    ("phoneNumber", "phone"),
    ("phone number", "phone"),
];

impl Fields {
    fn from_pairs(pairs: impl IntoIterator<Item = (String, Option<String>)>) -> Self {
        let mut fields = Self::default();
        let mut aliased: Vec<(String, Option<String>)> = Vec::new();
        for (name, value) in pairs {
            match ALIASES.iter().find(|(alias, _)| *alias == name) {
                Some((_, canonical)) => aliased.push(((*canonical).to_owned(), value)),
                None => fields.insert(name, value),
            }
        }
        // A canonical name wins over its alias.
        for (name, value) in aliased {
            if !fields.values.contains_key(&name) && !fields.not_text.contains(&name) {
                fields.insert(name, value);
            }
        }
        fields
    }

    fn insert(&mut self, name: String, value: Option<String>) {
        match value {
            Some(v) => {
                let v = v.trim();
                if !v.is_empty() && !self.values.contains_key(&name) {
                    self.values.insert(name, v.to_owned());
                }
            }
            None => {
                self.not_text.insert(name);
            }
        }
    }

    /// The field's text, if given. A JSON array or object where text belongs is an error.
    pub fn get(&self, name: &'static str) -> Result<Option<&str>, InputError> {
        if self.not_text.contains(name) {
            return Err(InputError::InvalidField {
                field: name,
                message: "must be a string".to_owned(),
            });
        }
        Ok(self.values.get(name).map(String::as_str))
    }
}

impl Fields {
    /// A hash of the fields, whatever their order or encoding: what an `Idempotency-Key`
    /// is bound to.
    pub fn fingerprint(&self) -> String {
        service::fingerprint(
            self.values
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .chain(self.not_text.iter().map(|k| (k.as_str(), "\u{0}"))),
        )
    }
}

/// The request's `Idempotency-Key` header, if it has one.
pub fn idempotency_key(request: &Request) -> Result<Option<IdempotencyKey>, ApiError> {
    match request.headers().get("idempotency-key") {
        None => Ok(None),
        Some(value) => {
            let text = value.to_str().map_err(|_| InputError::InvalidField {
                field: IdempotencyKey::HEADER,
                message: "must be visible ASCII".to_owned(),
            })?;
            Ok(Some(IdempotencyKey::parse(text)?))
        }
    }
}

/// Whether the request is a plain HTML form post.
pub fn is_form(request: &Request) -> bool {
    media_type(request).as_deref() == Some("application/x-www-form-urlencoded")
}

fn media_type(request: &Request) -> Option<String> {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
}

/// Reads a POST body: JSON or form-urlencoded, at most [`MAX_BODY_BYTES`].
pub fn parse_fields(request: &Request) -> Result<Fields, ApiError> {
    let bytes: &[u8] = match request.body() {
        Body::Empty => &[],
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::BodyTooLarge);
    }
    match media_type(request).as_deref() {
        Some("application/json") => {
            let value: Value = serde_json::from_slice(bytes)
                .map_err(|e| ApiError::InvalidBody(format!("the body is not valid JSON: {e}")))?;
            let Value::Object(map) = value else {
                return Err(ApiError::InvalidBody(
                    "the body must be a JSON object".to_owned(),
                ));
            };
            Ok(Fields::from_pairs(map.into_iter().filter_map(
                |(name, value)| {
                    match value {
                        Value::Null => None,
                        Value::String(s) => Some((name, Some(s))),
                        Value::Number(n) => Some((name, Some(n.to_string()))),
                        Value::Bool(b) => Some((name, Some(b.to_string()))),
                        // An ordered list of channels may be a JSON array of names;
                        // anything else in it, or nothing, is an unknown channel.
                        Value::Array(items) if name == "channels" => Some((
                            name,
                            Some(if items.is_empty() {
                                "[]".to_owned()
                            } else {
                                items
                                    .iter()
                                    .map(|item| {
                                        item.as_str()
                                            .map_or_else(|| item.to_string(), str::to_owned)
                                    })
                                    .collect::<Vec<_>>()
                                    .join(",")
                            }),
                        )),
                        Value::Array(_) | Value::Object(_) => Some((name, None)),
                    }
                },
            )))
        }
        Some("application/x-www-form-urlencoded") => {
            let pairs: Vec<(String, String)> =
                serde_urlencoded::from_bytes(bytes).map_err(|e| {
                    ApiError::InvalidBody(format!("the body is not valid form data: {e}"))
                })?;
            Ok(Fields::from_pairs(
                pairs.into_iter().map(|(k, v)| (k, Some(v))),
            ))
        }
        other => Err(ApiError::UnsupportedMediaType(
            other.unwrap_or("none").chars().take(60).collect(),
        )),
    }
}

/// What a sign-up post asks for.
#[derive(Debug, Clone)]
pub enum SignUp {
    /// A code to the given destination (the contract's sign-up and resend).
    Send(SendRequest),
    /// A new code to the destination of an earlier verification, named by its id: for forms
    /// and IVRs that hold only the id. Used when neither `phone` nor `email` is given.
    Resend {
        /// The earlier verification.
        id: VerificationId,
        /// The message language, if one was asked for.
        locale: Option<Locale>,
        /// The sending client, for the per-client limit.
        client: Option<String>,
        /// A keyed caller's settings for the new code.
        options: SendOptions,
    },
}

/// The request's API key, if it has an `Authorization` header: `Bearer <key>`, or
/// [`ServiceError::InvalidKey`].
pub fn api_key(request: &Request) -> Result<Option<ApiKey>, ApiError> {
    let Some(value) = request.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .and_then(|(_, key)| ApiKey::parse(key.trim()));
    match key {
        Some(key) => Ok(Some(key)),
        None => Err(ServiceError::InvalidKey.into()),
    }
}

/// Who is calling: anonymous without `Authorization`, keyed with a valid key; a key that is
/// not valid is an error on every route.
pub async fn caller(request: &Request, core: &Core, keys: &KeyRing) -> Result<Caller, ApiError> {
    match api_key(request)? {
        None => Ok(Caller::Anonymous),
        Some(key) => Ok(keys.authenticate(core, &key).await?),
    }
}

/// Refuses an anonymous caller: `403 key_required`, naming `what`.
pub fn require_key(caller: &Caller, what: &'static str) -> Result<(), ApiError> {
    match caller {
        Caller::Keyed(_) => Ok(()),
        Caller::Anonymous => Err(ServiceError::KeyRequired(what).into()),
    }
}

/// The keyed settings of a sign-up (`code_length`, `ttl_seconds`, `custom_code`).
pub fn send_options(fields: &Fields, caller: &Caller) -> Result<SendOptions, ApiError> {
    for name in ["code_length", "ttl_seconds", "custom_code"] {
        if fields.get(name)?.is_some() {
            require_key(caller, name)?;
        }
    }
    let number = |name: &'static str, min: u32, max: u32| -> Result<Option<u32>, InputError> {
        fields
            .get(name)?
            .map(|raw| {
                // Plain digits without a sign or leading zeros, as the description says.
                let plain = raw.bytes().all(|b| b.is_ascii_digit()) && !raw.starts_with('0');
                plain
                    .then(|| raw.parse::<u32>().ok())
                    .flatten()
                    .filter(|n| (min..=max).contains(n))
                    .ok_or_else(|| InputError::InvalidField {
                        field: name,
                        message: format!("must be a whole number from {min} to {max}"),
                    })
            })
            .transpose()
    };
    let code_length = number("code_length", 4, 10)?.and_then(|n| u8::try_from(n).ok());
    let ttl_seconds = number("ttl_seconds", 60, 86_400)?;
    let custom_code = fields
        .get("custom_code")?
        .map(|raw| OtpCode::custom(raw, "custom_code"))
        .transpose()?;
    if let (Some(code), Some(length)) = (&custom_code, code_length)
        && code.length() != length
    {
        return Err(InputError::InvalidField {
            field: "custom_code",
            message: format!("has {} digits, but code_length is {length}", code.length()),
        }
        .into());
    }
    Ok(SendOptions {
        code_length,
        ttl_seconds,
        custom_code,
    })
}

/// The destinations of a contact lookup: `phone` and/or `email` in the query string.
pub fn lookup_request(request: &Request, config: &Config) -> Result<Vec<Destination>, ApiError> {
    let query = request.query_string_parameters();
    let given = |name: &str| query.first(name).map(str::trim).filter(|v| !v.is_empty());
    let mut destinations = Vec::new();
    if let Some(raw) = given("phone") {
        destinations.push(Destination::Sms(PhoneNumber::parse(
            raw,
            config.default_country,
        )?));
    }
    if let Some(raw) = given("email") {
        destinations.push(Destination::Email(EmailAddress::parse(raw)?));
    }
    if destinations.is_empty() {
        return Err(InputError::MissingDestination {
            field: "phone",
            message: "give a phone number or an email address to look up",
        }
        .into());
    }
    Ok(destinations)
}

/// The client's key for the per-client send limit: from the source address API Gateway saw
/// (never from a header the client controls).
pub fn client_of(request: &Request) -> Option<String> {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context
            .http
            .source_ip
            .as_deref()
            .filter(|ip| !ip.is_empty())
            .map(service::client_key),
        _ => None,
    }
}

/// Turns sign-up fields into a send, or a resend by `verification_id`, from `client`
/// (whose per-client limit does not apply to a keyed caller).
pub fn sign_up_request(
    fields: &Fields,
    config: &Config,
    caller: &Caller,
    client: Option<String>,
) -> Result<SignUp, ApiError> {
    let options = send_options(fields, caller)?;
    let client = client.filter(|_| *caller == Caller::Anonymous);
    if fields.get("phone")?.is_none()
        && fields.get("email")?.is_none()
        && let Some(raw) = fields.get("verification_id")?
    {
        return Ok(SignUp::Resend {
            id: verification_id(raw)?,
            locale: fields.get("locale")?.map(Locale::parse).transpose()?,
            client,
            options,
        });
    }
    let mut send = send_request(fields, config)?;
    send.client = client;
    send.options = options;
    Ok(SignUp::Send(send))
}

/// Turns sign-up fields into a send request: one `channel` (default `sms` with a phone,
/// else `email`), or an ordered `channels` list whose first entry goes first.
pub fn send_request(fields: &Fields, config: &Config) -> Result<SendRequest, InputError> {
    let phone = fields.get("phone")?;
    let email = fields.get("email")?;
    let list = fields
        .get("channels")?
        .map(ChannelList::parse)
        .transpose()?;
    let channel = match (fields.get("channel")?, &list) {
        (Some(raw), list) => {
            let channel = Channel::parse(raw)?;
            if let Some(list) = list
                && list.at(0) != channel
            {
                return Err(InputError::InvalidField {
                    field: "channel",
                    message: format!(
                        "is {}, but channels starts with {}: give one of them",
                        channel.as_str(),
                        list.at(0).as_str()
                    ),
                });
            }
            channel
        }
        (None, Some(list)) => list.at(0),
        (None, None) if phone.is_some() => Channel::Sms,
        (None, None) => Channel::Email,
    };
    // The channel's own destination first (missing, then malformed); the other, when given,
    // must be well formed too, though it is not used yet.
    let missing = match channel {
        Channel::Sms | Channel::Voice => InputError::MissingDestination {
            field: "phone",
            message: "a phone number is needed to send an SMS or call",
        },
        Channel::Email => InputError::MissingDestination {
            field: if phone.is_none() && fields.get("channel")?.is_none() {
                "phone"
            } else {
                "email"
            },
            message: "give a phone number or an email address",
        },
        Channel::Totp => {
            return Err(InputError::UnusableChannel {
                field: "channel",
                message: "totp codes come from the authenticator app; enrol with POST /totp/enroll"
                    .to_owned(),
            });
        }
    };
    let parse_phone = || {
        phone
            .map(|raw| PhoneNumber::parse(raw, config.default_country))
            .transpose()
    };
    let parse_email = || email.map(EmailAddress::parse).transpose();
    let (phone, email, destination) = if channel == Channel::Email {
        let email = parse_email()?.ok_or(missing)?;
        (
            parse_phone()?,
            Some(email.clone()),
            Destination::Email(email),
        )
    } else {
        let phone = parse_phone()?.ok_or(missing)?;
        (Some(phone.clone()), parse_email()?, Destination::Sms(phone))
    };
    let fallback = list
        .map(|list| Fallback::new(list, phone, email))
        .transpose()?;
    Ok(SendRequest {
        destination,
        channel,
        fallback,
        first_name: fields
            .get("first_name")?
            .map(|v| PersonName::parse(v, "first_name"))
            .transpose()?,
        last_name: fields
            .get("last_name")?
            .map(|v| PersonName::parse(v, "last_name"))
            .transpose()?,
        locale: fields.get("locale")?.map(Locale::parse).transpose()?,
        client: None,
        options: SendOptions::default(),
    })
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
    let code = SubmittedCode::parse_any(
        fields.get("code")?.unwrap_or_default(),
        crate::totp::DIGITS as u8,
    )?;
    Ok(Some((destination, code)))
}

/// The contact that `phone` or `email` (exactly one) names.
fn contact_destination(
    fields: &Fields,
    config: &Config,
    purpose: &'static str,
) -> Result<Destination, ApiError> {
    match (fields.get("phone")?, fields.get("email")?) {
        (Some(phone), None) => Ok(Destination::Sms(PhoneNumber::parse(
            phone,
            config.default_country,
        )?)),
        (None, Some(email)) => Ok(Destination::Email(EmailAddress::parse(email)?)),
        (Some(_), Some(_)) => Err(InputError::InvalidField {
            field: "phone",
            message: format!("give phone or email to {purpose}, not both"),
        }
        .into()),
        (None, None) => Err(InputError::MissingDestination {
            field: "phone",
            message: "give the phone number or email address of the contact",
        }
        .into()),
    }
}

/// Who enrols an authenticator app (`POST /totp/enroll`): the holder of a just-approved
/// `verification_id`, or a keyed caller naming a verified contact by `phone` or `email`
/// (with `replace=true` to replace an active app).
pub fn enroll_request(
    fields: &Fields,
    config: &Config,
    caller: &Caller,
) -> Result<EnrollBy, ApiError> {
    let replace = match fields.get("replace")? {
        None => false,
        Some(raw) => {
            require_key(caller, "replace")?;
            match raw.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                _ => {
                    return Err(InputError::InvalidField {
                        field: "replace",
                        message: "must be true or false".to_owned(),
                    }
                    .into());
                }
            }
        }
    };
    if let Some(raw) = fields.get("verification_id")? {
        if fields.get("phone")?.is_some() || fields.get("email")?.is_some() {
            return Err(InputError::InvalidField {
                field: "verification_id",
                message: "give verification_id, or (with an API key) phone or email".to_owned(),
            }
            .into());
        }
        if replace {
            return Err(InputError::InvalidField {
                field: "replace",
                message: "replacing an app takes phone or email, not a verification_id".to_owned(),
            }
            .into());
        }
        return Ok(EnrollBy::Verification(verification_id(raw)?));
    }
    if fields.get("phone")?.is_none() && fields.get("email")?.is_none() {
        return Err(InputError::MissingDestination {
            field: "verification_id",
            message: "give the verification_id of a code you just confirmed",
        }
        .into());
    }
    let field = if fields.get("phone")?.is_some() {
        "phone"
    } else {
        "email"
    };
    require_key(caller, field)?;
    Ok(EnrollBy::Contact {
        destination: contact_destination(fields, config, "enrol an app")?,
        replace,
    })
}

/// Parses a verification id; a malformed one is simply unknown (404).
pub fn verification_id(raw: &str) -> Result<VerificationId, ApiError> {
    VerificationId::parse(raw).ok_or(ApiError::Service(ServiceError::NotFound(
        "no verification has this id",
    )))
}

/// Formats unix milliseconds as RFC 3339 UTC, to the second.
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1_000))
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http;

    fn post(content_type: &str, body: &str) -> Request {
        http::Request::builder()
            .method("POST")
            .header("content-type", content_type)
            .body(Body::Text(body.to_owned()))
            .unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn json_and_form_bodies_give_the_same_fields_with_aliases_and_trimming() {
        let json = parse_fields(&post(
            "application/json; charset=utf-8",
            r#"{"phoneNumber":" +4989202451100 ","firstName":"Ada","email":"","extra":{"x":1}}"#,
        ))
        .expect("json");
        let form = parse_fields(&post(
            "application/x-www-form-urlencoded",
            "phone+number=+%2B4989202451100&firstName=Ada&email=",
        ))
        .expect("form");
        for f in [&json, &form] {
            assert_eq!(f.get("phone").expect("text"), Some("+4989202451100"));
            assert_eq!(f.get("first_name").expect("text"), Some("Ada"));
            assert_eq!(f.get("email").expect("text"), None);
        }
    }

    #[test]
    fn bad_bodies_get_their_codes() {
        assert_eq!(
            parse_fields(&post("application/json", "{nope"))
                .expect_err("bad")
                .code(),
            "invalid_body"
        );
        assert_eq!(
            parse_fields(&post("application/json", "[1]"))
                .expect_err("bad")
                .code(),
            "invalid_body"
        );
        assert_eq!(
            parse_fields(&post("text/plain", "phone=1"))
                .expect_err("bad")
                .code(),
            "unsupported_media_type"
        );
        let big = format!(r#"{{"x":"{}"}}"#, "a".repeat(MAX_BODY_BYTES));
        assert_eq!(
            parse_fields(&post("application/json", &big))
                .expect_err("bad")
                .code(),
            "body_too_large"
        );
    }

    #[test]
    fn a_problem_has_the_contract_shape() {
        let r = ApiError::Service(ServiceError::ResendTooSoon { retry_after: 12 }).to_response();
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        assert_eq!(r.headers()["retry-after"], "12");
        let Body::Text(text) = r.body() else {
            panic!("text body")
        };
        let v: Value = serde_json::from_str(text).expect("json");
        assert_eq!(v["code"], "resend_too_soon");
        assert_eq!(v["retry_after"], 12);
        assert_eq!(v["type"], "about:blank");
        assert_eq!(v["status"], 429);
    }

    #[test]
    fn every_error_code_is_answered_by_an_error_with_its_status_and_title() {
        use ServiceError as S;
        let errors: Vec<ApiError> = vec![
            ApiError::InvalidBody(String::new()),
            ApiError::BodyTooLarge,
            ApiError::UnsupportedMediaType("text/plain".to_owned()),
            ApiError::MethodNotAllowed("PUT".to_owned()),
            InputError::InvalidPhone("1".to_owned()).into(),
            InputError::UnfitPhone("premium-rate").into(),
            InputError::CountryNotAllowed("FR".to_owned()).into(),
            InputError::InvalidEmail("a".to_owned()).into(),
            InputError::InvalidChannel("fax".to_owned()).into(),
            InputError::MissingDestination {
                field: "phone",
                message: "",
            }
            .into(),
            InputError::InvalidField {
                field: "locale",
                message: String::new(),
            }
            .into(),
            InputError::InvalidCodeFormat(String::new()).into(),
            InputError::InvalidRedirect(String::new()).into(),
            S::ResendTooSoon { retry_after: 1 }.into(),
            S::TooManySends { retry_after: 1 }.into(),
            S::TooManySendsFromClient { retry_after: 1 }.into(),
            S::DeliveryFailed.into(),
            S::IncorrectCode {
                attempts_remaining: 1,
            }
            .into(),
            S::TooManyAttempts { retry_after: 30 }.into(),
            S::AppLocked { retry_after: 30 }.into(),
            S::Expired("").into(),
            S::AlreadyApproved.into(),
            S::Replaced.into(),
            S::NotFound("").into(),
            S::Canceled.into(),
            S::NotVerified("").into(),
            S::AlreadyEnrolled("").into(),
            S::InvalidKey.into(),
            S::KeyRequired("code_length").into(),
            S::Unavailable(String::new()).into(),
            S::IdempotencyKeyReused.into(),
            S::IdempotencyKeyInUse.into(),
            S::Refused(InputError::CountryNotAllowed("FR".to_owned())).into(),
        ];
        let mut answered = HashSet::new();
        for error in &errors {
            let response = error.to_response();
            let Body::Text(text) = response.body() else {
                panic!("text body")
            };
            let v: Value = serde_json::from_str(text).expect("json");
            let code = ErrorCode::ALL
                .iter()
                .find(|c| c.as_str() == error.code())
                .expect("a listed code");
            assert_eq!(response.status(), code.status(), "{error:?}");
            assert_eq!(v["status"], code.status().as_u16(), "{error:?}");
            assert_eq!(v["title"], code.title(), "{error:?}");
            answered.insert(error.code());
        }
        for code in ErrorCode::ALL {
            assert!(
                answered.contains(code.as_str()),
                "no error answers {}",
                code.as_str()
            );
        }
    }

    #[test]
    fn an_unavailable_dependency_reveals_nothing() {
        let r = ApiError::Service(ServiceError::Unavailable(
            "secret table arn:aws:dynamodb".to_owned(),
        ))
        .to_response();
        assert_eq!(r.status(), 503);
        let Body::Text(text) = r.body() else {
            panic!("text body")
        };
        assert!(!text.contains("arn:aws"));
    }

    /// `POST /signup` as API Gateway (HTTP API, payload 2.0) delivers it to the function.
    fn api_gateway_post(headers: Value, source_ip: &str, body: &str, base64: bool) -> Request {
        let event = json!({
            "version": "2.0", "routeKey": "POST /signup", "rawPath": "/signup",
            "rawQueryString": "",
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012", "apiId": "api", "domainName": "api.example.com",
                "domainPrefix": "api", "requestId": "r", "routeKey": "POST /signup",
                "stage": "$default", "time": "23/Nov/2026:13:00:00 +0000",
                "timeEpoch": 1795438800000_i64,
                "http": {"method": "POST", "path": "/signup", "protocol": "HTTP/1.1",
                         "sourceIp": source_ip, "userAgent": "test"}
            },
            "body": body, "isBase64Encoded": base64
        });
        lambda_http::request::from_str(&event.to_string()).expect("event")
    }

    #[test]
    fn the_client_is_the_source_address_api_gateway_saw_not_a_header() {
        let request = |source: &str| {
            let headers =
                json!({"content-type": "application/json", "x-forwarded-for": "10.9.8.7"});
            api_gateway_post(headers, source, "{}", false)
        };
        let a = client_of(&request("198.51.100.7")).expect("a client");
        assert_eq!(a, service::client_key("198.51.100.7"));
        assert_ne!(a, service::client_key("10.9.8.7"));
        assert_eq!(client_of(&request("198.51.100.7")), Some(a.clone()));
        assert_ne!(client_of(&request("198.51.100.8")), Some(a));
        assert!(!service::client_key("198.51.100.7").contains("198"));
    }

    #[test]
    fn a_body_or_header_that_is_not_utf8_is_refused_with_a_400() {
        // As API Gateway delivers them: such a body base64-encoded, a header as text.
        // (The local runner cannot build this event and answers 500 itself; see
        // tests/fuzz/hooks.py.)
        let headers =
            json!({"content-type": "application/json", "idempotency-key": "k\u{d7}\u{f8}"});
        let request = api_gateway_post(headers, "198.51.100.7", "/w==", true);
        let error = parse_fields(&request).expect_err("not JSON");
        assert_eq!(error.code(), "invalid_body");
        assert_eq!(error.to_response().status(), 400);
        let error = idempotency_key(&request).expect_err("not visible ASCII");
        assert_eq!(error.code(), "invalid_field");
        assert_eq!(error.to_response().status(), 400);
    }

    #[test]
    fn every_service_error_has_the_status_and_code_of_the_contract() {
        use ServiceError as S;
        let cases = [
            (S::ResendTooSoon { retry_after: 7 }, 429, "resend_too_soon"),
            (S::TooManySends { retry_after: 7 }, 429, "too_many_sends"),
            (
                S::TooManySendsFromClient { retry_after: 7 },
                429,
                "too_many_sends",
            ),
            (S::DeliveryFailed, 502, "delivery_failed"),
            (
                S::IncorrectCode {
                    attempts_remaining: 2,
                },
                422,
                "incorrect_code",
            ),
            (
                S::TooManyAttempts { retry_after: 7 },
                429,
                "too_many_attempts",
            ),
            (S::Expired("the code has expired"), 410, "expired"),
            (S::AlreadyApproved, 409, "already_approved"),
            (S::Replaced, 409, "replaced"),
            (S::NotFound("no verification has this id"), 404, "not_found"),
            (S::Canceled, 409, "canceled"),
            (S::NotVerified("x"), 409, "not_verified"),
            (S::AlreadyEnrolled("x"), 409, "already_enrolled"),
            (S::InvalidKey, 401, "invalid_key"),
            (S::KeyRequired("custom_code"), 403, "key_required"),
            (S::Unavailable("throttled".to_owned()), 503, "unavailable"),
            (S::IdempotencyKeyReused, 422, "idempotency_key_reused"),
            (S::IdempotencyKeyInUse, 409, "idempotency_key_in_use"),
            (
                S::Refused(InputError::CountryNotAllowed("FR".to_owned())),
                400,
                "country_not_allowed",
            ),
            (
                S::Refused(InputError::UnfitPhone("premium-rate")),
                400,
                "invalid_phone",
            ),
        ];
        for (error, status, code) in cases {
            let name = format!("{error:?}");
            let response = ApiError::Service(error).to_response();
            assert_eq!(response.status(), status, "{name}");
            let Body::Text(text) = response.body() else {
                panic!("text body")
            };
            let v: Value = serde_json::from_str(text).expect("json");
            assert_eq!(v["code"], code, "{name}");
        }
        let in_use = ApiError::Service(S::IdempotencyKeyInUse).to_response();
        assert_eq!(in_use.headers()["retry-after"], "1");
        let unavailable = ApiError::Service(S::Unavailable(String::new())).to_response();
        assert!(unavailable.headers().contains_key("retry-after"));
    }

    #[test]
    fn a_sign_up_and_a_resend_by_id_carry_the_client_for_its_limit() {
        let config = crate::config::test_config(&[]);
        let client = Some(service::client_key("198.51.100.7"));
        let fields = |body: &str| parse_fields(&post("application/json", body)).expect("fields");
        let anonymous = Caller::Anonymous;
        let keyed = Caller::Keyed(crate::domain::ApiKeyId::parse("0123456789ab").expect("id"));
        let phone = fields(r#"{"phone":"+4989202451100"}"#);
        match sign_up_request(&phone, &config, &anonymous, client.clone()) {
            Ok(SignUp::Send(send)) => assert_eq!(send.client, client),
            other => panic!("{other:?}"),
        }
        match sign_up_request(&phone, &config, &keyed, client.clone()) {
            Ok(SignUp::Send(send)) => assert_eq!(send.client, None, "keyed: no per-client limit"),
            other => panic!("{other:?}"),
        }
        let resend = fields(r#"{"verification_id":"01JD3Z6Q0Y4S8V1M2N3P4Q5R6S"}"#);
        match sign_up_request(&resend, &config, &anonymous, client.clone()) {
            Ok(SignUp::Resend { client: c, .. }) => assert_eq!(c, client),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(1_795_889_400_000), "2026-11-28T18:10:00Z");
    }
}
