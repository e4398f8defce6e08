//! `POST /signup`: register a contact and send it a code.

use std::sync::Arc;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use twostep::delivery::Sender;
use twostep::domain::CodeHasher;
use twostep::http::{self, ApiError};
use twostep::service::{self, Core};

/// What the send function holds between invocations.
pub struct App {
    /// Configuration, records and clock.
    pub core: Core,
    /// The code-hash key(s).
    pub hasher: CodeHasher,
    /// SMS and email delivery.
    pub sender: Arc<dyn Sender>,
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
    Ok(http::respond_with(run(app, &request).await))
}

async fn run(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    if request.method() != Method::POST {
        return Err(ApiError::MethodNotAllowed(request.method().to_string()));
    }
    let fields = http::parse_fields(request)?;
    let send = http::send_request(&fields, &app.core.config)?;
    let sent = service::send(&app.core, &app.hasher, app.sender.as_ref(), send).await?;
    Ok(http::json_response(
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
