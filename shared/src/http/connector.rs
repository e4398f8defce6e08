//! The workflow connector's routes (keyed; `connectors/power-automate/`): `POST
//! /connector/send`, `POST /connector/resend` and `POST /connector/check`, the same service
//! as `POST /signup` and `POST /verify`, answered so that a flow can branch on them. A flow
//! fails an action on any 4xx and retries a 429 for minutes, so what depends on the person
//! (their number, their code, the time they took) is `200` with an `outcome`, and only the
//! flow author's mistakes (no key, a malformed request) and outages stay errors. The key may
//! come bare (`tsk_…`), as a connection sends its API-key setting verbatim.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};

use crate::channels::Sender;
use crate::domain::{InputError, Scope};
use crate::http::TotpKey;
use crate::http::auth::keyed_caller_or_bare;
use crate::http::fields::{Fields, parse_fields};
use crate::http::routes::{signup, verify};
use crate::http::{ApiError, App, ErrorCode, Reply, respond_with};

/// The path prefix of the connector's routes.
pub const PREFIX: &str = "/connector/";

/// Which connector route a path names (`send`, `resend`, `check`).
pub fn route(request: &Request) -> Option<&str> {
    let path = request.uri().path();
    path.find(PREFIX)
        .map(|at| path[at + PREFIX.len()..].trim_end_matches('/'))
}

/// The outcomes of a send that are the person's, not the flow's: answered `200`.
pub const SEND_OUTCOMES: [ErrorCode; 10] = [
    ErrorCode::ResendTooSoon,
    ErrorCode::TooManySends,
    ErrorCode::DeliveryFailed,
    ErrorCode::InvalidPhone,
    ErrorCode::InvalidEmail,
    ErrorCode::CountryNotAllowed,
    ErrorCode::NotFound,
    ErrorCode::AlreadyApproved,
    ErrorCode::Replaced,
    ErrorCode::Canceled,
];

/// The outcomes of a check that are the person's: answered `200`.
pub const CHECK_OUTCOMES: [ErrorCode; 8] = [
    ErrorCode::IncorrectCode,
    ErrorCode::InvalidCodeFormat,
    ErrorCode::Expired,
    ErrorCode::TooManyAttempts,
    ErrorCode::NotFound,
    ErrorCode::AlreadyApproved,
    ErrorCode::Replaced,
    ErrorCode::Canceled,
];

/// `POST /connector/send`: a code to `phone`, `email` or a `customer_id`'s verified
/// destination, as `POST /signup` (with `Idempotency-Key`).
pub async fn send(app: &App, sender: &dyn Sender, request: &Request) -> Response<Body> {
    let outcome = async {
        let fields = parse_fields(request)?;
        if fields.get("verification_id")?.is_some() {
            return Err(InputError::InvalidField {
                field: "verification_id",
                message: "a new code for a verification is POST /connector/resend".to_owned(),
            }
            .into());
        }
        sign_up(app, sender, request, &fields).await
    };
    answer(outcome.await, "sent", "sent", &SEND_OUTCOMES)
}

/// `POST /connector/resend`: a new code for `verification_id`, to where it went.
pub async fn resend(app: &App, sender: &dyn Sender, request: &Request) -> Response<Body> {
    let outcome = async {
        let fields = parse_fields(request)?;
        if fields.get("verification_id")?.is_none() {
            return Err(InputError::MissingDestination {
                field: "verification_id",
                message: "give the verification_id of the code to send again",
            }
            .into());
        }
        for other in ["phone", "email", "customer_id"] {
            if fields.get(other)?.is_some() {
                return Err(InputError::InvalidField {
                    field: other,
                    message: "a resend goes where the first code went: give verification_id only"
                        .to_owned(),
                }
                .into());
            }
        }
        sign_up(app, sender, request, &fields).await
    };
    answer(outcome.await, "sent", "sent", &SEND_OUTCOMES)
}

async fn sign_up(
    app: &App,
    sender: &dyn Sender,
    request: &Request,
    fields: &Fields,
) -> Result<Reply, ApiError> {
    let caller = keyed_caller_or_bare(request, &app.core, &app.keys, Scope::Send).await?;
    signup::sign_up_as(app, sender, request, &caller, fields).await
}

/// `POST /connector/check`: `code` with `verification_id`, `phone`, `email` or
/// `customer_id`, as `POST /verify`.
pub async fn check(app: &App, totp: Option<&TotpKey>, request: &Request) -> Response<Body> {
    let outcome = async {
        let fields = parse_fields(request)?;
        let caller = keyed_caller_or_bare(request, &app.core, &app.keys, Scope::Check).await?;
        verify::check_as(app, totp, &caller, &fields).await
    };
    answer(outcome.await, "approved", "approved", &CHECK_OUTCOMES)
}

/// The `200` of a success (its members, with `outcome` and `flag` true) or of one of
/// `outcomes` (the error's `outcome`, `detail` and figures, `flag` false); any other error
/// as problem+json.
fn answer(
    result: Result<Reply, ApiError>,
    success: &str,
    flag: &str,
    outcomes: &[ErrorCode],
) -> Response<Body> {
    let reply = match result {
        Ok(reply) => {
            let mut members = reply.members().clone();
            members.insert("outcome".into(), json!(success));
            members.insert(flag.into(), Value::Bool(true));
            Reply::of_members(StatusCode::OK, members)
        }
        Err(error) if outcomes.iter().any(|c| c.as_str() == error.code()) => {
            let mut members = error.outcome_members();
            members.insert(flag.into(), Value::Bool(false));
            Reply::of_members(StatusCode::OK, members)
        }
        Err(error) => return error.to_response(),
    };
    respond_with(Ok(reply.to_response()))
}
