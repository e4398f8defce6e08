//! `POST /verify` (check a code) and `GET /verifications/{id}` (status).

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use twostep::domain::CodeHasher;
use twostep::http::{self, ApiError, Reply};
use twostep::service::{self, Core};

/// What the verify function holds between invocations.
pub struct App {
    /// Configuration, records and clock.
    pub core: Core,
    /// The code-hash key(s).
    pub hasher: CodeHasher,
}

#[derive(Serialize)]
struct Approved {
    status: &'static str,
    verification_id: String,
    verified_at: String,
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
    let response = match *request.method() {
        Method::OPTIONS => http::preflight(config, &request),
        Method::GET => http::respond_with(status(app, &request).await.map(|r| r.to_response())),
        Method::POST => match http::read_submission(&request, config) {
            Ok(submission) => submission.respond(check(app, &submission.fields).await),
            Err(error) => error.to_response(),
        },
        ref other => ApiError::MethodNotAllowed(other.to_string()).to_response(),
    };
    Ok(http::with_cors(config, &request, response))
}

async fn check(app: &App, fields: &http::Fields) -> Result<Reply, ApiError> {
    let (target, code) = http::check_request(fields, &app.core.config)?;
    let approval = service::check(&app.core, &app.hasher, target, &code).await?;
    Ok(Reply::new(
        StatusCode::OK,
        &Approved {
            status: "approved",
            verification_id: approval.verification_id.to_string(),
            verified_at: http::rfc3339(approval.verified_at),
        },
    ))
}

async fn status(app: &App, request: &Request) -> Result<Reply, ApiError> {
    let params = request.path_parameters();
    let raw = params
        .first("id")
        .or_else(|| params.first("verification_id"))
        .map(str::to_owned)
        .unwrap_or_else(|| {
            request
                .uri()
                .path()
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned()
        });
    let id = http::verification_id(&raw)?;
    let view = service::status(&app.core, &id).await?;
    Ok(Reply::new(
        StatusCode::OK,
        &Status {
            verification_id: view.verification_id.to_string(),
            status: view.status.as_str(),
            channel: view.channel.as_str(),
            to: view.to,
            expires_at: http::rfc3339(view.expires_at),
            attempts_remaining: view.attempts_remaining,
        },
    ))
}
