//! The one place that maps errors to HTTP: every [`ApiError`] to its status, its stable
//! `code` ([`ErrorCode`], one table) and its problem+json body or a form redirect's query.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde_json::{Map, Value, json};

use crate::domain::{IdempotencyKey, InputError};
use crate::service::ServiceError;

use super::fields::MAX_BODY_BYTES;
use super::reply::respond;

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
    /// The API key's own send window is full.
    TooManySendsForKey => "too_many_sends_for_key", TOO_MANY_REQUESTS, "Too many sends for this key";
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
    /// A valid API key without the scope the call needs.
    ScopeRequired => "scope_required", FORBIDDEN, "Scope required";
    /// A dependency is unavailable.
    Unavailable => "unavailable", SERVICE_UNAVAILABLE, "Service unavailable";
}

struct Problem {
    code: ErrorCode,
    field: Option<&'static str>,
    retry_after: Option<u32>,
    attempts_remaining: Option<u32>,
    /// The scope a key lacks (`scope_required`).
    scope: Option<&'static str>,
}

impl Problem {
    fn new(code: ErrorCode) -> Self {
        Self {
            code,
            field: None,
            retry_after: None,
            attempts_remaining: None,
            scope: None,
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
                S::TooManySendsForKey { retry_after } => Problem {
                    retry_after: Some(*retry_after),
                    ..p(C::TooManySendsForKey)
                },
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
                S::ScopeRequired(scope) => Problem {
                    scope: Some(scope.as_str()),
                    ..p(C::ScopeRequired)
                },
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
        body.insert("code".into(), json!(p.code.as_str()));
        self.add_particulars(&p, &mut body);
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

    /// The error as the members of an answer that reports it as an outcome rather than a
    /// failure (the workflow connector's `200`): `outcome` (the code), `detail`, and
    /// `field`, `retry_after`, `attempts_remaining` when they apply.
    pub(crate) fn outcome_members(&self) -> Map<String, Value> {
        self.log_internal();
        let p = self.problem();
        let mut body = Map::new();
        body.insert("outcome".into(), json!(p.code.as_str()));
        self.add_particulars(&p, &mut body);
        body
    }

    /// `detail`, and `field`, `retry_after`, `attempts_remaining` when they apply.
    fn add_particulars(&self, p: &Problem, body: &mut Map<String, Value>) {
        body.insert("detail".into(), json!(self.detail()));
        if let Some(field) = p.field {
            body.insert("field".into(), json!(field));
        }
        if let Some(seconds) = p.retry_after {
            body.insert("retry_after".into(), json!(seconds));
        }
        if let Some(n) = p.attempts_remaining {
            body.insert("attempts_remaining".into(), json!(n));
        }
        if let Some(scope) = p.scope {
            body.insert("scope".into(), json!(scope));
        }
    }

    /// The error as a form redirect's query parameters: `error` (the code), `status` (the
    /// HTTP status), and `field`, `retry_after`, `attempts_remaining` when they apply.
    pub(super) fn redirect_params(&self) -> Vec<(&'static str, String)> {
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

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

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
            S::TooManySendsForKey { retry_after: 1 }.into(),
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
            S::ScopeRequired(crate::domain::Scope::Lookup).into(),
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
}
