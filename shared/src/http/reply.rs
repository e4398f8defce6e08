//! Answers: a success as JSON ([`Reply`]), an error as problem+json, and, for a plain form
//! post that asked for one, a `303 See Other` back to the form with the outcome.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::Config;
use crate::domain::{InputError, VerificationId};
use crate::store::StoredReply;

use super::error::ApiError;
use super::fields::{Fields, is_form, parse_fields};
use super::redirect::RedirectTarget;

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

    /// A reply of these members.
    pub(super) fn of_members(status: StatusCode, body: Map<String, Value>) -> Self {
        Self { status, body }
    }

    /// The reply's members.
    pub(super) fn members(&self) -> &Map<String, Value> {
        &self.body
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
    pub(super) fn redirect_params(&self) -> Vec<(&str, String)> {
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

pub(super) fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: String,
) -> Response<Body> {
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
