//! `POST /verifications/{id}/cancel` (keyed): the code stops working.

use lambda_http::Request;

use crate::domain::Scope;
use crate::http::auth::{caller, require_key};
use crate::http::fields::verification_id;
use crate::http::reply::Reply;
use crate::http::{ApiError, App};
use crate::service;

use super::status::{path_id, status_reply};

/// `POST /verifications/{id}/cancel`.
pub async fn post(app: &App, request: &Request) -> Result<Reply, ApiError> {
    let caller = caller(request, &app.core, &app.keys, Scope::Cancel).await?;
    require_key(&caller, "Authorization")?;
    let id = verification_id(&path_id(request))?;
    let view = service::cancel(&app.core, &id).await?;
    Ok(status_reply(view))
}
