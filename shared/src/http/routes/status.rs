//! `GET /verifications/{id}`: a verification's status, for workflows that poll.

use lambda_http::http::StatusCode;
use lambda_http::{Request, RequestExt};
use serde::Serialize;

use crate::domain::Scope;
use crate::http::auth::caller;
use crate::http::fields::verification_id;
use crate::http::reply::Reply;
use crate::http::{ApiError, App};
use crate::service::{self, StatusView};
use crate::time::rfc3339;

#[derive(Serialize)]
struct Status {
    verification_id: String,
    status: &'static str,
    channel: &'static str,
    to: String,
    expires_at: String,
    attempts_remaining: u32,
}

/// `GET /verifications/{id}`.
pub async fn get(app: &App, request: &Request) -> Result<Reply, ApiError> {
    caller(request, &app.core, &app.keys, Scope::Status).await?;
    let id = verification_id(&path_id(request))?;
    Ok(status_reply(service::status(&app.core, &id).await?))
}

/// A status as the API answers it (also after a cancel).
pub(super) fn status_reply(view: StatusView) -> Reply {
    Reply::new(
        StatusCode::OK,
        &Status {
            verification_id: view.verification_id.to_string(),
            status: view.status.as_str(),
            channel: view.channel.as_str(),
            to: view.to,
            expires_at: rfc3339(view.expires_at),
            attempts_remaining: view.attempts_remaining,
        },
    )
}

/// The `{id}` of the path: from the router's parameters, else the last segment before any
/// `/cancel`.
pub(super) fn path_id(request: &Request) -> String {
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
