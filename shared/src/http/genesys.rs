//! Genesys Intelligent Automation's two-factor MicroApp, as web services it calls (keyed):
//! `checkVerifiedContactMethods`, `sendAuthenticationCode` and `codeAuthentication`, answered
//! in XML (`docs/integrations/genesys.md`). Parameters come by query or form, their names in
//! any case; business outcomes are `200` with a `<status>`, so that the MicroApp branches on
//! them.

use std::collections::HashMap;

use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};

use crate::channels::Sender;
use crate::domain::{
    Channel, CustomerId, CustomerRecord, Destination, FactorState, Scope, SubmittedCode,
};
use crate::http::App;
use crate::http::TotpKey;
use crate::http::auth::{caller, key_limit};
use crate::http::error::ApiError;
use crate::http::fields::parse_fields;
use crate::messages::escape_xml;
use crate::service::keys::Caller;
use crate::service::{self, CheckTarget, ServiceError, customers, factors};
use crate::time::rfc3339;

/// The path prefix of the three services.
pub const PREFIX: &str = "/genesys/";

/// Which service a path names.
pub fn service(request: &Request) -> Option<&str> {
    let path = request.uri().path();
    path.find(PREFIX)
        .map(|at| path[at + PREFIX.len()..].trim_end_matches('/'))
}

/// A request's parameters, from the query and a form or JSON body, by lower-cased name.
struct Params(HashMap<String, String>);

impl Params {
    fn of(request: &Request) -> Result<Self, ApiError> {
        let mut map = HashMap::new();
        for (name, value) in request.query_string_parameters().iter() {
            let value = value.trim();
            if !value.is_empty() {
                map.entry(name.to_ascii_lowercase())
                    .or_insert_with(|| value.to_owned());
            }
        }
        if *request.method() == Method::POST && request.headers().contains_key(header::CONTENT_TYPE)
        {
            for (name, value) in parse_fields(request)?.pairs() {
                map.insert(name.to_ascii_lowercase(), value.to_owned());
            }
        }
        Ok(Self(map))
    }

    fn get(&self, names: &[&str]) -> Option<&str> {
        names
            .iter()
            .find_map(|n| self.0.get(*n).map(String::as_str))
    }

    /// The customer: `customer_id` (also `customerId`, `accountNumber`, `account_number`).
    fn customer(&self) -> Result<CustomerId, Outcome> {
        let raw = self
            .get(&[
                "customer_id",
                "customerid",
                "accountnumber",
                "account_number",
            ])
            .ok_or_else(|| Outcome::error("missing_customer_id"))?;
        CustomerId::parse(raw).map_err(|_| Outcome::error("invalid_customer_id"))
    }

    /// `TwoFactorAuthSelectedMethod`: `SMS`, `voice`, `email` or `authenticator`.
    fn method(&self) -> Result<Channel, Outcome> {
        match self
            .get(&["twofactorauthselectedmethod", "method"])
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("sms") => Ok(Channel::Sms),
            Some("voice" | "call") => Ok(Channel::Voice),
            Some("email") => Ok(Channel::Email),
            Some("authenticator" | "totp") => Ok(Channel::Totp),
            Some(_) => Err(Outcome::error("unknown_method")),
            None => Err(Outcome::error("missing_method")),
        }
    }
}

/// The method's name as the MicroApp's XML writes it.
fn method_name(channel: Channel) -> &'static str {
    match channel {
        Channel::Sms => "SMS",
        Channel::Voice => "voice",
        Channel::Call => "call",
        Channel::Email => "email",
        Channel::Totp => "authenticator",
    }
}

/// One answer: a status and its elements, or a refusal with a reason.
struct Outcome {
    status: &'static str,
    elements: Vec<(&'static str, String)>,
    raw: String,
}

impl Outcome {
    fn new(status: &'static str) -> Self {
        Self {
            status,
            elements: Vec::new(),
            raw: String::new(),
        }
    }

    fn error(reason: &str) -> Self {
        Self::new("error").with("reason", reason)
    }

    fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.elements.push((name, value.into()));
        self
    }

    /// A twostep error as an outcome: its `code` as the reason, and the wait when there is one.
    fn refused(error: &ApiError) -> Self {
        let mut outcome = Self::error(error.code());
        if let ApiError::Service(
            ServiceError::ResendTooSoon { retry_after }
            | ServiceError::TooManySends { retry_after }
            | ServiceError::TooManySendsForKey { retry_after }
            | ServiceError::TooManyAttempts { retry_after }
            | ServiceError::AppLocked { retry_after },
        ) = error
        {
            outcome = outcome.with("retryAfter", retry_after.to_string());
        }
        outcome
    }

    fn to_xml(&self, root: &str) -> String {
        let mut xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{root}><status>{}</status>",
            self.status
        );
        for (name, value) in &self.elements {
            xml.push_str(&format!("<{name}>{}</{name}>", escape_xml(value)));
        }
        xml.push_str(&self.raw);
        xml.push_str(&format!("</{root}>\n"));
        xml
    }
}

fn xml(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Runs one service for a keyed caller: an unkeyed or invalid one is `401`/`403` (with an
/// XML reason), anything else is `200` with its outcome.
async fn keyed(
    app: &App,
    request: &Request,
    root: &str,
    scope: Scope,
    run: impl AsyncFnOnce(Params, Caller) -> Outcome,
) -> Response<Body> {
    let refused = |status, reason: &str| xml(status, Outcome::error(reason).to_xml(root));
    let caller = match caller(request, &app.core, &app.keys, scope).await {
        Ok(caller @ Caller::Keyed(_)) => caller,
        Ok(Caller::Anonymous) => return refused(StatusCode::FORBIDDEN, "key_required"),
        Err(e) if e.code() == "invalid_key" => {
            return refused(StatusCode::UNAUTHORIZED, "invalid_key");
        }
        Err(e) if e.code() == "scope_required" => {
            return refused(StatusCode::FORBIDDEN, "scope_required");
        }
        Err(e) => {
            return xml(
                StatusCode::SERVICE_UNAVAILABLE,
                Outcome::refused(&e).to_xml(root),
            );
        }
    };
    let outcome = match Params::of(request) {
        Ok(params) => run(params, caller).await,
        Err(e) => Outcome::refused(&e),
    };
    let status = if outcome.elements.iter().any(|(_, v)| v == "unavailable") {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    xml(status, outcome.to_xml(root))
}

/// `checkVerifiedContactMethods`: the customer's verified methods, masked.
pub async fn check_methods(app: &App, request: &Request) -> Response<Body> {
    keyed(
        app,
        request,
        "checkVerifiedContactMethods",
        Scope::Lookup,
        async |params, _| {
            let customer = match params.customer() {
                Ok(c) => c,
                Err(outcome) => return outcome,
            };
            let record = match app.core.store.customer(&customer.key()).await {
                Ok(record) => record,
                Err(e) => return Outcome::refused(&ApiError::Service(e.into())),
            };
            let found = record.as_ref().map(customers::views).unwrap_or_default();
            if found.is_empty() {
                let mut outcome = Outcome::new("not found");
                outcome.raw = "<methods/>".to_owned();
                return outcome;
            }
            let mut methods = String::from("<methods>");
            for contact in &found {
                let name = method_name(contact.channel);
                methods.push_str(&format!(
                    "<method name=\"{name}\" value=\"{}\"/>",
                    escape_xml(&contact.to)
                ));
            }
            if let Some(record) = &record
                && has_active_app(app, record).await
            {
                methods.push_str("<method name=\"authenticator\"/>");
            }
            methods.push_str("</methods>");
            let mut outcome = Outcome::new("success");
            outcome.raw = methods;
            outcome
        },
    )
    .await
}

/// Whether one of the customer's destinations has an active authenticator app.
async fn has_active_app(app: &App, record: &CustomerRecord) -> bool {
    let candidates = record
        .phone
        .iter()
        .map(|(p, _)| Destination::Sms(p.clone()))
        .chain(
            record
                .email
                .iter()
                .map(|(e, _)| Destination::Email(e.clone())),
        );
    for destination in candidates {
        if let Ok(Some(factor)) = app.core.store.factor(&destination).await
            && factor.state == FactorState::Active
        {
            return true;
        }
    }
    false
}

/// `sendAuthenticationCode`: a code to the customer by the selected method.
pub async fn send_code(app: &App, sender: &dyn Sender, request: &Request) -> Response<Body> {
    keyed(
        app,
        request,
        "sendAuthenticationCode",
        Scope::Send,
        async |params, caller| {
            let (customer, channel) = match (params.customer(), params.method()) {
                (Ok(c), Ok(m)) => (c, m),
                (Err(o), _) | (_, Err(o)) => return o,
            };
            if channel == Channel::Totp {
                // Nothing to send: the app shows the code.
                return Outcome::new("success").with("method", method_name(channel));
            }
            let (core, hasher) = match app.hasher.get().await {
                Ok(hasher) => (&app.core, hasher),
                Err(e) => return Outcome::refused(&ApiError::Service(e)),
            };
            let options = service::SendOptions {
                key_limit: key_limit(&caller),
                ..service::SendOptions::default()
            };
            match customers::send(core, hasher, sender, &customer, channel, None, options).await {
                Ok(sent) => Outcome::new("success")
                    .with("method", method_name(sent.channel))
                    .with("to", sent.to)
                    .with("verificationId", sent.verification_id.to_string())
                    .with("expiresAt", rfc3339(sent.expires_at)),
                Err(e) => Outcome::refused(&ApiError::Service(e)),
            }
        },
    )
    .await
}

/// `codeAuthentication`: the code the caller keyed in (`authCode_nbest1`), for the method.
pub async fn check_code(app: &App, totp: Option<&TotpKey>, request: &Request) -> Response<Body> {
    keyed(
        app,
        request,
        "codeAuthentication",
        Scope::Check,
        async |params, _| {
            let (customer, channel) = match (params.customer(), params.method()) {
                (Ok(c), Ok(m)) => (c, m),
                (Err(o), _) | (_, Err(o)) => return o,
            };
            let Some(raw) = params.get(&["authcode_nbest1", "authcode", "code"]) else {
                return Outcome::error("missing_code");
            };
            // A recogniser's n-best result may space the digits out: "1 2 3 4 5 6".
            let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
            let destination = match customers::destination(&app.core, &customer, channel).await {
                Ok(d) => d,
                Err(e) => return Outcome::refused(&ApiError::Service(e)),
            };
            let result = match channel {
                Channel::Totp => match (totp, SubmittedCode::parse_any(&digits, 6)) {
                    (Some(key), Ok(code)) => match key.get().await {
                        Ok(cipher) => factors::check(&app.core, cipher, destination, &code).await,
                        Err(e) => Err(e),
                    },
                    (None, _) => return Outcome::error("authenticator_off"),
                    (_, Err(_)) => return Outcome::new("incorrect code"),
                },
                _ => match SubmittedCode::parse_any(&digits, app.core.config.code_length) {
                    Ok(code) => {
                        let target = CheckTarget::Destination(destination);
                        match app.hasher.get().await {
                            Ok(hasher) => service::check(&app.core, hasher, target, &code).await,
                            Err(e) => Err(e),
                        }
                    }
                    Err(_) => return Outcome::new("incorrect code"),
                },
            };
            match result {
                Ok(approval) => Outcome::new("success")
                    .with("verificationId", approval.verification_id.to_string())
                    .with("verifiedAt", rfc3339(approval.verified_at)),
                Err(ServiceError::IncorrectCode { attempts_remaining }) => {
                    Outcome::new("incorrect code")
                        .with("attemptsRemaining", attempts_remaining.to_string())
                }
                Err(ServiceError::Refused(crate::domain::InputError::InvalidCodeFormat(_))) => {
                    Outcome::new("incorrect code")
                }
                Err(e) => Outcome::refused(&ApiError::Service(e)),
            }
        },
    )
    .await
}
