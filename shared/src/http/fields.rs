//! A request's fields, whatever the body's encoding (JSON or a plain HTML form), and the
//! values several routes read the same way.

use std::collections::{HashMap, HashSet};

use lambda_http::http::header;
use lambda_http::{Body, Request};
use serde_json::Value;

use crate::config::Config;
use crate::domain::{
    Destination, EmailAddress, IdempotencyKey, InputError, PhoneNumber, VerificationId,
};
use crate::service::{self, ServiceError};

use super::error::ApiError;

/// The largest body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 8 * 1024;

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
    /// Every text field, by its name.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

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
/// The contact that `phone` or `email` (exactly one) names; `purpose` says what for.
pub fn contact_destination(
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
/// Parses a verification id; a malformed one is simply unknown (404).
pub fn verification_id(raw: &str) -> Result<VerificationId, ApiError> {
    VerificationId::parse(raw).ok_or(ApiError::Service(ServiceError::NotFound(
        "no verification has this id",
    )))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use lambda_http::http;
    use serde_json::json;

    pub(crate) fn post(content_type: &str, body: &str) -> Request {
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

    /// `POST /signup` as API Gateway (HTTP API, payload 2.0) delivers it to the function.
    pub(crate) fn api_gateway_post(
        headers: Value,
        source_ip: &str,
        body: &str,
        base64: bool,
    ) -> Request {
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
}
