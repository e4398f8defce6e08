//! `POST /signup` (register a contact and send it a code), `GET /` (the demo page) and
//! `GET /totp` (the page that sets up an authenticator app).

use std::sync::Arc;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use twostep::delivery::Sender;
use twostep::domain::CodeHasher;
use twostep::http::{self, ApiError, Reply, SignUp};
use twostep::keyring::{Caller, KeyRing};
use twostep::page;
use twostep::service::{self, Core};

/// What the send function holds between invocations.
pub struct App {
    /// Configuration, records and clock.
    pub core: Core,
    /// The code-hash key(s).
    pub hasher: CodeHasher,
    /// SMS and email delivery.
    pub sender: Arc<dyn Sender>,
    /// The API keys, cached.
    pub keys: KeyRing,
}

#[derive(Serialize)]
struct Accepted {
    verification_id: String,
    status: &'static str,
    channel: &'static str,
    to: String,
    expires_at: String,
    resend_after: u32,
}

/// Handles one request; every outcome is a response.
pub async fn handle(app: &App, request: Request) -> Result<Response<Body>, lambda_http::Error> {
    let config = &app.core.config;
    let response = match *request.method() {
        Method::OPTIONS => http::preflight(config, &request),
        Method::GET | Method::HEAD if is_totp_page(&request) => page::totp_page(config, &request),
        Method::GET | Method::HEAD => page::page(config, &request),
        Method::POST => match http::read_submission(&request, config) {
            Ok(submission) => {
                let outcome = sign_up_once(app, &request, &submission.fields).await;
                submission.respond(outcome)
            }
            Err(error) => error.to_response(),
        },
        ref other => ApiError::MethodNotAllowed(other.to_string()).to_response(),
    };
    Ok(http::with_cors(config, &request, response))
}

/// Whether a GET asks for the authenticator-app page (`/totp`, also under a stage prefix).
fn is_totp_page(request: &Request) -> bool {
    request
        .uri()
        .path()
        .trim_end_matches('/')
        .ends_with("/totp")
}

/// A sign-up under its `Idempotency-Key`, if it has one: a retry with the same key and
/// fields gets the first answer and sends nothing again.
async fn sign_up_once(
    app: &App,
    request: &Request,
    fields: &http::Fields,
) -> Result<Reply, ApiError> {
    let caller = http::caller(request, &app.core, &app.keys).await?;
    let Some(key) = http::idempotency_key(request)? else {
        return sign_up(app, request, &caller, fields).await;
    };
    let scope = caller.key_id().map(|id| id.as_str());
    if let Some(first) =
        service::claim_idempotency_key(&app.core, scope, &key, &fields.fingerprint()).await?
    {
        return Ok(Reply::from_stored(&first));
    }
    let outcome = sign_up(app, request, &caller, fields).await;
    let kept = outcome.as_ref().ok().map(Reply::to_stored);
    service::settle_idempotency_key(&app.core, scope, &key, kept.as_ref()).await;
    outcome
}

async fn sign_up(
    app: &App,
    request: &Request,
    caller: &Caller,
    fields: &http::Fields,
) -> Result<Reply, ApiError> {
    let sender = app.sender.as_ref();
    let client = http::client_of(request);
    let sent = match http::sign_up_request(fields, &app.core.config, caller, client)? {
        SignUp::Send(send) => service::send(&app.core, &app.hasher, sender, send).await?,
        SignUp::Resend {
            id,
            locale,
            client,
            options,
        } => service::resend(&app.core, &app.hasher, sender, &id, locale, client, options).await?,
    };
    Ok(Reply::new(
        StatusCode::ACCEPTED,
        &Accepted {
            verification_id: sent.verification_id.to_string(),
            status: "pending",
            channel: sent.channel.as_str(),
            to: sent.to,
            expires_at: http::rfc3339(sent.expires_at),
            resend_after: sent.resend_after,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str) -> Request {
        lambda_http::http::Request::builder()
            .uri(path)
            .body(Body::Empty)
            .expect("request")
    }

    #[test]
    fn the_authenticator_page_is_found_with_or_without_a_stage_prefix() {
        for path in ["/totp", "/totp/", "/prod/totp", "/totp?verification_id=x"] {
            assert!(is_totp_page(&get(path)), "{path}");
        }
        for path in ["/", "/?locale=de", "/totp/enroll", "/nototp"] {
            assert!(!is_totp_page(&get(path)), "{path}");
        }
    }
}
