//! Who is calling: anonymous (a browser, a plain form), or a server with an API key.

use lambda_http::Request;
use lambda_http::http::header;

use crate::domain::{ApiKey, CustomerId};
use crate::service::keys::{Caller, KeyRing};
use crate::service::{Core, ServiceError};

use super::error::ApiError;

/// The request's API key, if it has an `Authorization` header: `Bearer <key>`, or
/// [`ServiceError::InvalidKey`].
pub fn api_key(request: &Request) -> Result<Option<ApiKey>, ApiError> {
    let Some(value) = request.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .and_then(|(_, key)| ApiKey::parse(key.trim()));
    match key {
        Some(key) => Ok(Some(key)),
        None => Err(ServiceError::InvalidKey.into()),
    }
}

/// As [`api_key`], but a bare `tsk_…` key (no `Bearer `) is read too: a workflow tool's
/// connection sends its API-key setting verbatim as the header (the connector routes).
pub fn api_key_or_bare(request: &Request) -> Result<Option<ApiKey>, ApiError> {
    let bare = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| ApiKey::parse(v.trim()));
    match bare {
        Some(key) => Ok(Some(key)),
        None => api_key(request),
    }
}

/// Who is calling, by [`api_key_or_bare`]: keyed, or `403 key_required`.
pub async fn keyed_caller_or_bare(
    request: &Request,
    core: &Core,
    keys: &KeyRing,
) -> Result<Caller, ApiError> {
    let caller = match api_key_or_bare(request)? {
        None => Caller::Anonymous,
        Some(key) => keys.authenticate(core, &key).await?,
    };
    require_key(&caller, "Authorization")?;
    Ok(caller)
}

/// Who is calling: anonymous without `Authorization`, keyed with a valid key; a key that is
/// not valid is an error on every route.
pub async fn caller(request: &Request, core: &Core, keys: &KeyRing) -> Result<Caller, ApiError> {
    match api_key(request)? {
        None => Ok(Caller::Anonymous),
        Some(key) => Ok(keys.authenticate(core, &key).await?),
    }
}

/// The request's `customer_id`, for a keyed caller only (`403 key_required` otherwise).
pub fn customer_id(
    fields: &crate::http::Fields,
    caller: &Caller,
) -> Result<Option<CustomerId>, ApiError> {
    let Some(raw) = fields.get("customer_id")? else {
        return Ok(None);
    };
    require_key(caller, "customer_id")?;
    Ok(Some(CustomerId::parse(raw)?))
}

/// Refuses an anonymous caller: `403 key_required`, naming `what`.
pub fn require_key(caller: &Caller, what: &'static str) -> Result<(), ApiError> {
    match caller {
        Caller::Keyed(_) => Ok(()),
        Caller::Anonymous => Err(ServiceError::KeyRequired(what).into()),
    }
}
