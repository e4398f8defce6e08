//! CORS, answered by the functions themselves: the same answers as the HTTP API's
//! CorsConfiguration in template.yaml (a test compares them), so that a browser sees the
//! same behaviour locally and in AWS.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};

use crate::config::Config;

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
