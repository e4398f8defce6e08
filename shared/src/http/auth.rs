//! Who is calling: anonymous (a browser, a plain form), or a server with an API key.

use lambda_http::Request;
use lambda_http::http::header;

use crate::domain::{ApiKey, CustomerId, Scope};
use crate::service::KeyLimit;
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

/// Who is calling, by [`api_key_or_bare`], for a call that needs `scope`: keyed, or
/// `403 key_required`.
pub async fn keyed_caller_or_bare(
    request: &Request,
    core: &Core,
    keys: &KeyRing,
    scope: Scope,
) -> Result<Caller, ApiError> {
    let caller = match api_key_or_bare(request)? {
        None => Caller::Anonymous,
        Some(key) => keys.authenticate(core, &key, scope).await?,
    };
    require_key(&caller, "Authorization")?;
    Ok(caller)
}

/// Who is calling, for a call that needs `scope`: anonymous without `Authorization`, keyed
/// with a valid key that has the scope; a key that is not valid is `401 invalid_key`, one
/// without the scope `403 scope_required`, on every route.
pub async fn caller(
    request: &Request,
    core: &Core,
    keys: &KeyRing,
    scope: Scope,
) -> Result<Caller, ApiError> {
    match api_key(request)? {
        None => Ok(Caller::Anonymous),
        Some(key) => Ok(keys.authenticate(core, &key, scope).await?),
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

/// The caller's key's own send limit, if it has one.
pub fn key_limit(caller: &Caller) -> Option<KeyLimit> {
    match caller {
        Caller::Keyed(grant) => grant.max_sends.map(|max| KeyLimit::new(&grant.id, max)),
        Caller::Anonymous => None,
    }
}

/// Refuses what a keyed setting needs: an API key (`403 key_required`, naming `name`) with
/// the `options` scope (`403 scope_required`).
pub fn require_option(caller: &Caller, name: &'static str) -> Result<(), ApiError> {
    require_key(caller, name)?;
    Ok(caller.require_scope(Scope::Options)?)
}

/// Refuses an anonymous caller: `403 key_required`, naming `what`.
pub fn require_key(caller: &Caller, what: &'static str) -> Result<(), ApiError> {
    match caller {
        Caller::Keyed(_) => Ok(()),
        Caller::Anonymous => Err(ServiceError::KeyRequired(what).into()),
    }
}
