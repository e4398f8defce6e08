//! `POST /verify` (check a code, also an authenticator app's), `GET /verifications/{id}`
//! (status), `POST /totp/enroll` (an authenticator app), and for keyed callers
//! `POST /verifications/{id}/cancel` and `GET /contacts` (lookup).

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use twostep::domain::{CodeHasher, InputError};
use twostep::factors;
use twostep::http::{self, ApiError, Reply};
use twostep::keyring::KeyRing;
use twostep::service::{self, Approval, Core, StatusView};
use twostep::totp::TotpCipher;

/// What the verify function holds between invocations.
pub struct App {
    /// Configuration, records and clock.
    pub core: Core,
    /// The code-hash key(s).
    pub hasher: CodeHasher,
    /// The API keys, cached.
    pub keys: KeyRing,
    /// The key that seals authenticator-app secrets; `None`: apps are off.
    pub totp: Option<TotpCipher>,
}

#[derive(Serialize)]
struct Approved {
    status: &'static str,
    verification_id: String,
    verified_at: String,
    /// `totp` for an authenticator code; absent otherwise, as the contract's answer has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    channel: Option<&'static str>,
}

#[derive(Serialize)]
struct Enrolment {
    status: &'static str,
    channel: &'static str,
    to: String,
    uri: String,
    secret: String,
    qr_svg: String,
    activate_before: String,
}

#[derive(Serialize)]
struct Lookup {
    exists: bool,
    channels: Vec<ContactChannel>,
}

#[derive(Serialize)]
struct ContactChannel {
    channel: &'static str,
    to: String,
    status: &'static str,
    verified_at: Option<String>,
}

#[derive(Serialize)]
struct Status {
    verification_id: String,
    status: &'static str,
    channel: &'static str,
    to: String,
    expires_at: String,
    attempts_remaining: u32,
}

/// Handles one request; every outcome is a response.
pub async fn handle(app: &App, request: Request) -> Result<Response<Body>, lambda_http::Error> {
    let config = &app.core.config;
    let path = request.uri().path();
    let keyed = path.ends_with("/cancel") || path.ends_with("/contacts");
    let response = match *request.method() {
        Method::OPTIONS if !keyed => http::preflight(config, &request),
        // Always JSON, never a redirect: the answer holds the app's secret (and, like every
        // API answer, `Cache-Control: no-store`).
        Method::POST if path.ends_with("/totp/enroll") => {
            http::respond_with(enroll(app, &request).await.map(|r| r.to_response()))
        }
        Method::GET if path.ends_with("/contacts") => {
            http::respond_with(lookup(app, &request).await.map(|r| r.to_response()))
        }
        Method::GET if !keyed => {
            http::respond_with(status(app, &request).await.map(|r| r.to_response()))
        }
        Method::POST if path.ends_with("/cancel") => {
            http::respond_with(cancel(app, &request).await.map(|r| r.to_response()))
        }
        Method::POST if !keyed => match http::read_submission(&request, config) {
            Ok(submission) => submission.respond(check(app, &request, &submission.fields).await),
            Err(error) => error.to_response(),
        },
        ref other => ApiError::MethodNotAllowed(other.to_string()).to_response(),
    };
    Ok(http::with_cors(config, &request, response))
}

/// `POST /verifications/{id}/cancel` (keyed).
async fn cancel(app: &App, request: &Request) -> Result<Reply, ApiError> {
    let caller = http::caller(request, &app.core, &app.keys).await?;
    http::require_key(&caller, "Authorization")?;
    let id = http::verification_id(&path_id(request))?;
    let view = service::cancel(&app.core, &id).await?;
    Ok(status_reply(view))
}

/// `GET /contacts?phone=…&email=…` (keyed).
async fn lookup(app: &App, request: &Request) -> Result<Reply, ApiError> {
    let caller = http::caller(request, &app.core, &app.keys).await?;
    http::require_key(&caller, "Authorization")?;
    let destinations = http::lookup_request(request, &app.core.config)?;
    let found = service::lookup(&app.core, &destinations).await?;
    Ok(Reply::new(
        StatusCode::OK,
        &Lookup {
            exists: !found.is_empty(),
            channels: found
                .into_iter()
                .map(|c| ContactChannel {
                    channel: c.channel.as_str(),
                    to: c.to,
                    status: c.status.as_str(),
                    verified_at: c.verified_at.map(http::rfc3339),
                })
                .collect(),
        },
    ))
}

async fn check(app: &App, request: &Request, fields: &http::Fields) -> Result<Reply, ApiError> {
    http::caller(request, &app.core, &app.keys).await?;
    if let Some((destination, code)) = http::app_check_request(fields, &app.core.config)? {
        let approval = factors::check(&app.core, cipher(app)?, destination, &code).await?;
        return Ok(approved(approval, Some("totp")));
    }
    let (target, code) = http::check_request(fields, &app.core.config)?;
    let approval = service::check(&app.core, &app.hasher, target, &code).await?;
    Ok(approved(approval, None))
}

fn approved(approval: Approval, channel: Option<&'static str>) -> Reply {
    Reply::new(
        StatusCode::OK,
        &Approved {
            status: "approved",
            verification_id: approval.verification_id.to_string(),
            verified_at: http::rfc3339(approval.verified_at),
            channel,
        },
    )
}

/// The sealing key, or `400 invalid_channel` on a stack without authenticator apps.
fn cipher(app: &App) -> Result<&TotpCipher, ApiError> {
    app.totp.as_ref().ok_or_else(|| {
        InputError::UnusableChannel {
            field: "channel",
            message:
                "authenticator apps are not enabled on this stack (TOTP_KEY_SECRET_ID is not set)"
                    .to_owned(),
        }
        .into()
    })
}

/// `POST /totp/enroll`: a pending authenticator app for a verified contact.
async fn enroll(app: &App, request: &Request) -> Result<Reply, ApiError> {
    let caller = http::caller(request, &app.core, &app.keys).await?;
    let fields = http::parse_fields(request)?;
    let by = http::enroll_request(&fields, &app.core.config, &caller)?;
    let enrolled = factors::enroll(&app.core, cipher(app)?, by).await?;
    Ok(Reply::new(
        StatusCode::CREATED,
        &Enrolment {
            status: "pending",
            channel: "totp",
            to: enrolled.to,
            uri: enrolled.uri,
            secret: enrolled.secret,
            qr_svg: enrolled.qr_svg,
            activate_before: http::rfc3339(enrolled.activate_before),
        },
    ))
}

async fn status(app: &App, request: &Request) -> Result<Reply, ApiError> {
    http::caller(request, &app.core, &app.keys).await?;
    let id = http::verification_id(&path_id(request))?;
    Ok(status_reply(service::status(&app.core, &id).await?))
}

fn status_reply(view: StatusView) -> Reply {
    Reply::new(
        StatusCode::OK,
        &Status {
            verification_id: view.verification_id.to_string(),
            status: view.status.as_str(),
            channel: view.channel.as_str(),
            to: view.to,
            expires_at: http::rfc3339(view.expires_at),
            attempts_remaining: view.attempts_remaining,
        },
    )
}

/// The `{id}` of the path: from the router's parameters, else the last segment before any
/// `/cancel`.
fn path_id(request: &Request) -> String {
    let params = request.path_parameters();
    params
        .first("id")
        .or_else(|| params.first("verification_id"))
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let path = request.uri().path();
            path.strip_suffix("/cancel")
                .unwrap_or(path)
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned()
        })
}
