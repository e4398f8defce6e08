//! The verify function's routes: `POST /verify` (check a code, also an authenticator
//! app's), `GET /verifications/{id}` (status), `POST /totp/enroll` (an authenticator app),
//! and for keyed callers `POST /verifications/{id}/cancel`, `GET /contacts` (lookup) and
//! Twilio Verify's fetch, update and check (`/v2/Services/{ServiceSid}/…`), Genesys IA's
//! `/genesys/checkVerifiedContactMethods` and `/genesys/codeAuthentication`, and the workflow
//! connector's `POST /connector/check`.

use std::sync::Arc;

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use twostep::http::routes::{cancel, contacts, status, totp, verify};
use twostep::http::twilio::{self, Path};
use twostep::http::{ApiError, TotpKey, connector, cors, genesys, respond_with};

/// What the verify function holds between invocations.
pub struct App {
    /// What every route needs.
    pub http: twostep::http::App,
    /// The key that seals authenticator-app secrets; `None`: apps are off.
    pub totp: Option<Arc<TotpKey>>,
}

/// Handles one request; every outcome is a response.
pub async fn handle(app: &App, request: Request) -> Result<Response<Body>, lambda_http::Error> {
    let (http, config) = (&app.http, &app.http.core.config);
    if let Some(route) = Path::of(&request) {
        return Ok(twilio_route(app, &request, &route.rest).await);
    }
    match genesys::service(&request) {
        Some("checkVerifiedContactMethods") => {
            return Ok(genesys::check_methods(http, &request).await);
        }
        Some("codeAuthentication") => {
            return Ok(genesys::check_code(http, app.totp.as_deref(), &request).await);
        }
        _ => {}
    }
    if connector::route(&request) == Some("check") && request.method() == Method::POST {
        return Ok(connector::check(http, app.totp.as_deref(), &request).await);
    }
    let path = request.uri().path();
    // No preflight for the keyed routes: browsers never hold a key.
    let keyed = path.ends_with("/cancel") || path.ends_with("/contacts");
    let answer = |reply: Result<twostep::http::Reply, ApiError>| {
        respond_with(reply.map(|r| r.to_response()))
    };
    let response = match *request.method() {
        Method::OPTIONS if !keyed => cors::preflight(config, &request),
        Method::POST if path.ends_with("/totp/enroll") => {
            answer(totp::post(http, app.totp.as_deref(), &request).await)
        }
        Method::GET if path.ends_with("/contacts") => answer(contacts::get(http, &request).await),
        Method::GET if !keyed => answer(status::get(http, &request).await),
        Method::POST if path.ends_with("/cancel") => answer(cancel::post(http, &request).await),
        Method::POST if !keyed => verify::post(http, app.totp.as_deref(), &request).await,
        ref other => ApiError::MethodNotAllowed(other.to_string()).to_response(),
    };
    Ok(cors::with_cors(config, &request, response))
}

/// Twilio Verify's routes (keyed, for servers: no CORS).
async fn twilio_route(app: &App, request: &Request, rest: &str) -> Response<Body> {
    let http = &app.http;
    match (request.method(), rest) {
        (&Method::POST, "VerificationCheck") => twilio::check::post(http, request).await,
        (&Method::GET, r) if r.starts_with("Verifications/") => {
            twilio::verifications::fetch(http, request).await
        }
        (&Method::POST, r) if r.starts_with("Verifications/") => {
            twilio::verifications::update(http, request).await
        }
        (method, _) => twilio::TwilioError::from_api(
            &ApiError::MethodNotAllowed(method.to_string()),
            request.uri().path(),
        )
        .to_response(),
    }
}
