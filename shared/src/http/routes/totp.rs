//! `POST /totp/enroll`: a pending authenticator app for a verified contact. Always JSON,
//! never a redirect: the answer holds the app's secret (and, like every API answer,
//! `Cache-Control: no-store`).

use lambda_http::Request;
use lambda_http::http::StatusCode;
use serde::Serialize;

use crate::channels::authenticator::TotpCipher;
use crate::config::Config;
use crate::domain::{InputError, Scope};
use crate::http::TotpKey;
use crate::http::auth::{caller, require_key, require_option};
use crate::http::fields::{Fields, contact_destination, parse_fields, verification_id};
use crate::http::reply::Reply;
use crate::http::{ApiError, App};
use crate::service::factors::{self, EnrollBy};
use crate::service::keys::Caller;
use crate::time::rfc3339;

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

/// `POST /totp/enroll`.
pub async fn post(app: &App, totp: Option<&TotpKey>, request: &Request) -> Result<Reply, ApiError> {
    let caller = caller(request, &app.core, &app.keys, Scope::Check).await?;
    let fields = parse_fields(request)?;
    let by = enroll_request(&fields, &app.core.config, &caller)?;
    let enrolled = factors::enroll(&app.core, cipher(totp).await?, by).await?;
    Ok(Reply::new(
        StatusCode::CREATED,
        &Enrolment {
            status: "pending",
            channel: "totp",
            to: enrolled.to,
            uri: enrolled.uri,
            secret: enrolled.secret,
            qr_svg: enrolled.qr_svg,
            activate_before: rfc3339(enrolled.activate_before),
        },
    ))
}

/// The sealing key, or `400 invalid_channel` on a stack without authenticator apps.
pub(super) async fn cipher(totp: Option<&TotpKey>) -> Result<&TotpCipher, ApiError> {
    let key = totp.ok_or_else(|| InputError::UnusableChannel {
        field: "channel",
        message: "authenticator apps are not enabled on this stack (TOTP_KEY_SECRET_ID is not set)"
            .to_owned(),
    })?;
    Ok(key.get().await?)
}

/// Who enrols an authenticator app (`POST /totp/enroll`): the holder of a just-approved
/// `verification_id`, or a keyed caller naming a verified contact by `phone` or `email`
/// (with `replace=true` to replace an active app).
pub fn enroll_request(
    fields: &Fields,
    config: &Config,
    caller: &Caller,
) -> Result<EnrollBy, ApiError> {
    let replace = match fields.get("replace")? {
        None => false,
        Some(raw) => {
            require_option(caller, "replace")?;
            match raw.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                _ => {
                    return Err(InputError::InvalidField {
                        field: "replace",
                        message: "must be true or false".to_owned(),
                    }
                    .into());
                }
            }
        }
    };
    if let Some(raw) = fields.get("verification_id")? {
        if fields.get("phone")?.is_some() || fields.get("email")?.is_some() {
            return Err(InputError::InvalidField {
                field: "verification_id",
                message: "give verification_id, or (with an API key) phone or email".to_owned(),
            }
            .into());
        }
        if replace {
            return Err(InputError::InvalidField {
                field: "replace",
                message: "replacing an app takes phone or email, not a verification_id".to_owned(),
            }
            .into());
        }
        return Ok(EnrollBy::Verification(verification_id(raw)?));
    }
    if fields.get("phone")?.is_none() && fields.get("email")?.is_none() {
        return Err(InputError::MissingDestination {
            field: "verification_id",
            message: "give the verification_id of a code you just confirmed",
        }
        .into());
    }
    let field = if fields.get("phone")?.is_some() {
        "phone"
    } else {
        "email"
    };
    require_key(caller, field)?;
    Ok(EnrollBy::Contact {
        destination: contact_destination(fields, config, "enrol an app")?,
        replace,
    })
}
