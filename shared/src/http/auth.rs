//! Who is calling: anonymous (a browser, a plain form), or a server with an API key.

use lambda_http::Request;
use lambda_http::http::header;

use crate::domain::ApiKey;
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

/// Who is calling: anonymous without `Authorization`, keyed with a valid key; a key that is
/// not valid is an error on every route.
pub async fn caller(request: &Request, core: &Core, keys: &KeyRing) -> Result<Caller, ApiError> {
    match api_key(request)? {
        None => Ok(Caller::Anonymous),
        Some(key) => Ok(keys.authenticate(core, &key).await?),
    }
}

/// Refuses an anonymous caller: `403 key_required`, naming `what`.
pub fn require_key(caller: &Caller, what: &'static str) -> Result<(), ApiError> {
    match caller {
        Caller::Keyed(_) => Ok(()),
        Caller::Anonymous => Err(ServiceError::KeyRequired(what).into()),
    }
}
