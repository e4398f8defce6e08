//! `POST /signup`: register a contact and send it a code, or a new code by the id of an
//! earlier verification; under an `Idempotency-Key`, once.

use lambda_http::http::StatusCode;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;

use crate::channels::Sender;
use crate::config::Config;
use crate::domain::{
    CallMode, Channel, ChannelList, CustomerId, Destination, EmailAddress, Fallback, InputError,
    Locale, OtpCode, PersonName, PhoneNumber, Scope, VerificationId,
};
use crate::http::auth::{caller, customer_id, key_limit, require_option};
use crate::http::fields::{Fields, idempotency_key, verification_id};
use crate::http::reply::{Reply, read_submission};
use crate::http::{ApiError, App};
use crate::service::keys::Caller;
use crate::service::{self, SendOptions, SendRequest, customers};
use crate::time::rfc3339;

/// The `202` of a sign-up.
#[derive(Serialize)]
struct Accepted {
    verification_id: String,
    status: &'static str,
    channel: &'static str,
    to: String,
    expires_at: String,
    resend_after: u32,
}

/// `POST /signup`.
pub async fn post(app: &App, sender: &dyn Sender, request: &Request) -> Response<Body> {
    match read_submission(request, &app.core.config) {
        Ok(submission) => {
            let outcome = sign_up_once(app, sender, request, &submission.fields).await;
            submission.respond(outcome)
        }
        Err(error) => error.to_response(),
    }
}

/// A sign-up under its `Idempotency-Key`, if it has one: a retry with the same key and
/// fields gets the first answer and sends nothing again.
async fn sign_up_once(
    app: &App,
    sender: &dyn Sender,
    request: &Request,
    fields: &Fields,
) -> Result<Reply, ApiError> {
    let caller = caller(request, &app.core, &app.keys, Scope::Send).await?;
    sign_up_as(app, sender, request, &caller, fields).await
}

/// A sign-up by a caller already identified, under its `Idempotency-Key` if it has one.
pub async fn sign_up_as(
    app: &App,
    sender: &dyn Sender,
    request: &Request,
    caller: &Caller,
    fields: &Fields,
) -> Result<Reply, ApiError> {
    let Some(key) = idempotency_key(request)? else {
        return sign_up(app, sender, request, caller, fields).await;
    };
    let scope = caller.key_id().map(|id| id.as_str());
    if let Some(first) =
        service::claim_idempotency_key(&app.core, scope, &key, &fields.fingerprint()).await?
    {
        return Ok(Reply::from_stored(&first));
    }
    let outcome = sign_up(app, sender, request, caller, fields).await;
    let kept = outcome.as_ref().ok().map(Reply::to_stored);
    service::settle_idempotency_key(&app.core, scope, &key, kept.as_ref()).await;
    outcome
}

async fn sign_up(
    app: &App,
    sender: &dyn Sender,
    request: &Request,
    caller: &Caller,
    fields: &Fields,
) -> Result<Reply, ApiError> {
    let core = &app.core;
    let client = client_of(request);
    let asked = sign_up_request(fields, &core.config, caller, client)?;
    // A bad request is answered as such even before the key has been read.
    let hasher = app.hasher.get().await?;
    let sent = match asked {
        SignUp::Send(send) => service::send(core, hasher, sender, send).await?,
        SignUp::Resend {
            id,
            locale,
            client,
            options,
        } => service::resend(core, hasher, sender, &id, locale, client, options).await?,
        SignUp::Customer {
            customer,
            channel,
            locale,
            options,
        } => customers::send(core, hasher, sender, &customer, channel, locale, options).await?,
    };
    Ok(Reply::new(
        StatusCode::ACCEPTED,
        &Accepted {
            verification_id: sent.verification_id.to_string(),
            status: "pending",
            channel: sent.channel.as_str(),
            to: sent.to,
            expires_at: rfc3339(sent.expires_at),
            resend_after: sent.resend_after,
        },
    ))
}

/// What a sign-up post asks for.
#[derive(Debug, Clone)]
pub enum SignUp {
    /// A code to the given destination (the contract's sign-up and resend).
    Send(SendRequest),
    /// A new code to the destination of an earlier verification, named by its id: for forms
    /// and IVRs that hold only the id. Used when neither `phone` nor `email` is given.
    Resend {
        /// The earlier verification.
        id: VerificationId,
        /// The message language, if one was asked for.
        locale: Option<Locale>,
        /// The sending client, for the per-client limit.
        client: Option<String>,
        /// A keyed caller's settings for the new code.
        options: SendOptions,
    },
    /// A code to a customer's verified phone number or email address (keyed): `customer_id`
    /// and `channel`, with neither `phone` nor `email`.
    Customer {
        /// The customer.
        customer: CustomerId,
        /// How: `sms` (the default), `voice` or `email`.
        channel: Channel,
        /// The message language, if one was asked for.
        locale: Option<Locale>,
        /// A keyed caller's settings for the code.
        options: SendOptions,
    },
}

/// The keyed settings of a sign-up (`code_length`, `ttl_seconds`, `custom_code`).
pub fn send_options(fields: &Fields, caller: &Caller) -> Result<SendOptions, ApiError> {
    for name in [
        "code_length",
        "ttl_seconds",
        "custom_code",
        "mode",
        "sms_after_call",
    ] {
        if fields.get(name)?.is_some() {
            require_option(caller, name)?;
        }
    }
    let number = |name: &'static str, min: u32, max: u32| -> Result<Option<u32>, InputError> {
        fields
            .get(name)?
            .map(|raw| {
                // Plain digits without a sign or leading zeros, as the description says.
                let plain = raw.bytes().all(|b| b.is_ascii_digit()) && !raw.starts_with('0');
                plain
                    .then(|| raw.parse::<u32>().ok())
                    .flatten()
                    .filter(|n| (min..=max).contains(n))
                    .ok_or_else(|| InputError::InvalidField {
                        field: name,
                        message: format!("must be a whole number from {min} to {max}"),
                    })
            })
            .transpose()
    };
    let code_length = number("code_length", 4, 10)?.and_then(|n| u8::try_from(n).ok());
    let ttl_seconds = number("ttl_seconds", 60, 86_400)?;
    let custom_code = fields
        .get("custom_code")?
        .map(|raw| OtpCode::custom(raw, "custom_code"))
        .transpose()?;
    if let (Some(code), Some(length)) = (&custom_code, code_length)
        && code.length() != length
    {
        return Err(InputError::InvalidField {
            field: "custom_code",
            message: format!("has {} digits, but code_length is {length}", code.length()),
        }
        .into());
    }
    let call_mode = fields.get("mode")?.map(CallMode::parse).transpose()?;
    let sms_after_call = fields
        .get("sms_after_call")?
        .map(|raw| match raw.to_ascii_lowercase().as_str() {
            "true" | "1" | "on" | "yes" => Ok(true),
            "false" | "0" | "off" | "no" => Ok(false),
            _ => Err(InputError::InvalidField {
                field: "sms_after_call",
                message: "must be true or false".to_owned(),
            }),
        })
        .transpose()?
        .unwrap_or(false);
    Ok(SendOptions {
        code_length,
        ttl_seconds,
        custom_code,
        brand: None,
        key_limit: key_limit(caller),
        call_mode,
        sms_after_call,
    })
}

/// (never from a header the client controls).
pub fn client_of(request: &Request) -> Option<String> {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context
            .http
            .source_ip
            .as_deref()
            .filter(|ip| !ip.is_empty())
            .map(service::client_key),
        _ => None,
    }
}

/// Turns sign-up fields into a send, or a resend by `verification_id`, from `client`
/// (whose per-client limit does not apply to a keyed caller).
pub fn sign_up_request(
    fields: &Fields,
    config: &Config,
    caller: &Caller,
    client: Option<String>,
) -> Result<SignUp, ApiError> {
    let options = send_options(fields, caller)?;
    let client = client.filter(|_| *caller == Caller::Anonymous);
    let customer = customer_id(fields, caller)?;
    let no_destination = fields.get("phone")?.is_none() && fields.get("email")?.is_none();
    if no_destination && let Some(raw) = fields.get("verification_id")? {
        return Ok(SignUp::Resend {
            id: verification_id(raw)?,
            locale: fields.get("locale")?.map(Locale::parse).transpose()?,
            client,
            options,
        });
    }
    if no_destination && let Some(customer) = customer {
        let channel = fields
            .get("channel")?
            .map(Channel::parse)
            .transpose()?
            .unwrap_or(Channel::Sms);
        return Ok(SignUp::Customer {
            customer,
            channel,
            locale: fields.get("locale")?.map(Locale::parse).transpose()?,
            options,
        });
    }
    let mut send = send_request(fields, config)?;
    send.client = client;
    send.options = options;
    send.customer = customer.map(|c| c.key());
    Ok(SignUp::Send(send))
}

/// Turns sign-up fields into a send request: one `channel` (default `sms` with a phone,
/// else `email`), or an ordered `channels` list whose first entry goes first.
pub fn send_request(fields: &Fields, config: &Config) -> Result<SendRequest, InputError> {
    let list = fields
        .get("channels")?
        .map(ChannelList::parse)
        .transpose()?;
    let channel = chosen_channel(fields, list.as_ref())?;
    let (phone, email, destination) = destinations(fields, config, channel)?;
    let fallback = list
        .map(|list| Fallback::new(list, phone, email))
        .transpose()?;
    Ok(SendRequest {
        destination,
        channel,
        fallback,
        first_name: fields
            .get("first_name")?
            .map(|v| PersonName::parse(v, "first_name"))
            .transpose()?,
        last_name: fields
            .get("last_name")?
            .map(|v| PersonName::parse(v, "last_name"))
            .transpose()?,
        locale: fields.get("locale")?.map(Locale::parse).transpose()?,
        client: None,
        options: SendOptions::default(),
        customer: None,
    })
}

/// The channel of the first send: `channel`, which must agree with a `channels` list's
/// first entry; else that entry; else `sms` with a phone number, `email` without.
fn chosen_channel(fields: &Fields, list: Option<&ChannelList>) -> Result<Channel, InputError> {
    Ok(match (fields.get("channel")?, list) {
        (Some(raw), list) => {
            let channel = Channel::parse(raw)?;
            if let Some(list) = list
                && list.at(0) != channel
            {
                return Err(InputError::InvalidField {
                    field: "channel",
                    message: format!(
                        "is {}, but channels starts with {}: give one of them",
                        channel.as_str(),
                        list.at(0).as_str()
                    ),
                });
            }
            channel
        }
        (None, Some(list)) => list.at(0),
        (None, None) if fields.get("phone")?.is_some() => Channel::Sms,
        (None, None) => Channel::Email,
    })
}

/// The phone number and email address given, and the destination of `channel` among them.
/// The channel's own destination is checked first (missing, then malformed); the other,
/// when given, must be well formed too, though it is not used yet.
fn destinations(
    fields: &Fields,
    config: &Config,
    channel: Channel,
) -> Result<(Option<PhoneNumber>, Option<EmailAddress>, Destination), InputError> {
    let (phone, email) = (fields.get("phone")?, fields.get("email")?);
    let missing = match channel {
        Channel::Sms | Channel::Voice | Channel::Call => InputError::MissingDestination {
            field: "phone",
            message: "a phone number is needed to send an SMS or call",
        },
        Channel::Email => InputError::MissingDestination {
            field: if phone.is_none() && fields.get("channel")?.is_none() {
                "phone"
            } else {
                "email"
            },
            message: "give a phone number or an email address",
        },
        Channel::Totp => {
            return Err(InputError::UnusableChannel {
                field: "channel",
                message: "totp codes come from the authenticator app; enrol with POST /totp/enroll"
                    .to_owned(),
            });
        }
    };
    let parse_phone = || {
        phone
            .map(|raw| PhoneNumber::parse(raw, config.default_country))
            .transpose()
    };
    let parse_email = || email.map(EmailAddress::parse).transpose();
    if channel == Channel::Email {
        let email = parse_email()?.ok_or(missing)?;
        Ok((
            parse_phone()?,
            Some(email.clone()),
            Destination::Email(email),
        ))
    } else {
        let phone = parse_phone()?.ok_or(missing)?;
        Ok((Some(phone.clone()), parse_email()?, Destination::Sms(phone)))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::http::fields::parse_fields;
    use crate::http::fields::tests::{api_gateway_post, post};

    #[test]
    fn the_client_is_the_source_address_api_gateway_saw_not_a_header() {
        let request = |source: &str| {
            let headers =
                json!({"content-type": "application/json", "x-forwarded-for": "10.9.8.7"});
            api_gateway_post(headers, source, "{}", false)
        };
        let a = client_of(&request("198.51.100.7")).expect("a client");
        assert_eq!(a, service::client_key("198.51.100.7"));
        assert_ne!(a, service::client_key("10.9.8.7"));
        assert_eq!(client_of(&request("198.51.100.7")), Some(a.clone()));
        assert_ne!(client_of(&request("198.51.100.8")), Some(a));
        assert!(!service::client_key("198.51.100.7").contains("198"));
    }

    #[test]
    fn a_sign_up_and_a_resend_by_id_carry_the_client_for_its_limit() {
        let config = crate::config::testing::test_config(&[]);
        let client = Some(service::client_key("198.51.100.7"));
        let fields = |body: &str| parse_fields(&post("application/json", body)).expect("fields");
        let anonymous = Caller::Anonymous;
        let keyed = Caller::Keyed(crate::service::keys::Grant::full(
            crate::domain::ApiKeyId::parse("0123456789ab").expect("id"),
        ));
        let phone = fields(r#"{"phone":"+4989202451100"}"#);
        match sign_up_request(&phone, &config, &anonymous, client.clone()) {
            Ok(SignUp::Send(send)) => assert_eq!(send.client, client),
            other => panic!("{other:?}"),
        }
        match sign_up_request(&phone, &config, &keyed, client.clone()) {
            Ok(SignUp::Send(send)) => assert_eq!(send.client, None, "keyed: no per-client limit"),
            other => panic!("{other:?}"),
        }
        let resend = fields(r#"{"verification_id":"01JD3Z6Q0Y4S8V1M2N3P4Q5R6S"}"#);
        match sign_up_request(&resend, &config, &anonymous, client.clone()) {
            Ok(SignUp::Resend { client: c, .. }) => assert_eq!(c, client),
            other => panic!("{other:?}"),
        }
    }
}
