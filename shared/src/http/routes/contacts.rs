//! `GET /contacts?phone=…&email=…` (keyed): whether, and when, each destination was
//! verified, for an IVR that chooses where to send a PIN; `?customer_id=…`: the destinations
//! verified for a customer.

use lambda_http::http::StatusCode;
use lambda_http::{Request, RequestExt};
use serde::Serialize;

use crate::config::Config;
use crate::domain::{CustomerId, Destination, EmailAddress, InputError, PhoneNumber, Scope};
use crate::http::auth::{caller, require_key};
use crate::http::reply::Reply;
use crate::http::{ApiError, App};
use crate::service::{self, customers};
use crate::time::rfc3339;

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

/// `GET /contacts`.
pub async fn get(app: &App, request: &Request) -> Result<Reply, ApiError> {
    let caller = caller(request, &app.core, &app.keys, Scope::Lookup).await?;
    require_key(&caller, "Authorization")?;
    let query = request.query_string_parameters();
    let customer = query
        .first("customer_id")
        .map(str::trim)
        .filter(|v| !v.is_empty());
    let found = match customer {
        Some(raw) => customers::lookup(&app.core, &CustomerId::parse(raw)?).await?,
        None => {
            let destinations = lookup_request(request, &app.core.config)?;
            service::lookup(&app.core, &destinations).await?
        }
    };
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
                    verified_at: c.verified_at.map(rfc3339),
                })
                .collect(),
        },
    ))
}

/// The destinations of a contact lookup: `phone` and/or `email` in the query string.
pub fn lookup_request(request: &Request, config: &Config) -> Result<Vec<Destination>, ApiError> {
    let query = request.query_string_parameters();
    let given = |name: &str| query.first(name).map(str::trim).filter(|v| !v.is_empty());
    let mut destinations = Vec::new();
    if let Some(raw) = given("phone") {
        destinations.push(Destination::Sms(PhoneNumber::parse(
            raw,
            config.default_country,
        )?));
    }
    if let Some(raw) = given("email") {
        destinations.push(Destination::Email(EmailAddress::parse(raw)?));
    }
    if destinations.is_empty() {
        return Err(InputError::MissingDestination {
            field: "phone",
            message: "give a phone number or an email address to look up",
        }
        .into());
    }
    Ok(destinations)
}
