//! The pages, rendered in the visitor's language with the same look (`shared/web/page.css`),
//! the same script helpers (`shared/web/common.js`) and the same strict headers:
//!
//! - `GET /`, the demo page (`shared/web/page.html`, inline script). Without JavaScript its
//!   forms post to the API with a `redirect` back to the page, which then shows the outcome
//!   from the query parameters; with JavaScript the same forms are sent with `fetch`.
//! - `GET /totp?verification_id=…`, the authenticator-app enrolment that the demo page's last
//!   step links to (`shared/web/totp.html`). It needs JavaScript: the secret and its QR code
//!   come from `POST /totp/enroll` as JSON and are never put in a URL.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use rand::TryRng;
use serde_json::json;

use crate::config::Config;
use crate::domain::VerificationId;
use crate::i18n::{Language, fill};
use crate::messages::{escape_html, lifetime};

const TEMPLATE: &str = include_str!("../web/page.html");
const TOTP_TEMPLATE: &str = include_str!("../web/totp.html");
const CSS: &str = include_str!("../web/page.css");
/// The helpers both pages' scripts start with (`{{v:script}}`, inside their nonce'd script element).
const SCRIPT: &str = include_str!("../web/common.js");

/// Error codes the page has a text for (`error_<code>` in the catalogs).
const KNOWN_ERRORS: [&str; 20] = [
    "invalid_phone",
    "invalid_email",
    "invalid_channel",
    "missing_destination",
    "invalid_field",
    "invalid_redirect",
    "country_not_allowed",
    "resend_too_soon",
    "too_many_sends",
    "delivery_failed",
    "invalid_code_format",
    "incorrect_code",
    "too_many_attempts",
    "expired",
    "already_approved",
    "replaced",
    "not_found",
    "unavailable",
    "other",
    "network",
];

/// Which part of the page is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    SignUp,
    Code,
    Done,
}

/// What the page shows, read from its query: the outcome a form redirect appended.
#[derive(Debug, Default)]
struct Outcome {
    language: Option<Language>,
    status: Option<String>,
    verification_id: Option<VerificationId>,
    to: Option<String>,
    /// The channel the code went by (`voice`: a call is coming).
    channel: Option<&'static str>,
    resend_after: u32,
    error: Option<&'static str>,
    field: Option<String>,
    retry_after: u32,
    attempts_remaining: Option<u32>,
}

impl Outcome {
    /// Reads the query, keeping only values of the expected form: the page never echoes
    /// arbitrary text.
    fn from_query(query: &str) -> Self {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
        let mut outcome = Self::default();
        let seconds = |v: &str| v.parse::<u32>().ok().filter(|n| *n <= 86_400);
        for (name, value) in &pairs {
            let value = value.trim();
            match name.as_str() {
                "locale" => outcome.language = Language::from_tag(value),
                "status" => outcome.status = Some(value.chars().take(20).collect()),
                "verification_id" => outcome.verification_id = VerificationId::parse(value),
                "to" if is_masked_destination(value) => outcome.to = Some(value.to_owned()),
                "channel" => {
                    outcome.channel = ["sms", "voice", "email"].into_iter().find(|c| *c == value)
                }
                "resend_after" => outcome.resend_after = seconds(value).unwrap_or(0),
                "retry_after" => outcome.retry_after = seconds(value).unwrap_or(0),
                "attempts_remaining" => {
                    outcome.attempts_remaining = value.parse().ok().filter(|n| *n <= 100)
                }
                "error" => outcome.error = KNOWN_ERRORS.iter().copied().find(|c| *c == value),
                "field" if value.chars().all(|c| c.is_ascii_lowercase() || c == '_') => {
                    outcome.field = Some(value.chars().take(30).collect())
                }
                _ => {}
            }
        }
        outcome
    }

    fn step(&self) -> Step {
        match (self.status.as_deref(), &self.verification_id, self.error) {
            (Some("approved"), Some(_), None) => Step::Done,
            (_, Some(_), _) => Step::Code,
            _ => Step::SignUp,
        }
    }
}

/// A masked destination as the API writes it (`+49*******1100`, `a***@example.com`).
fn is_masked_destination(value: &str) -> bool {
    value.len() <= 120
        && value.contains('*')
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+*@.-_".contains(c))
}

/// The page for `request`: in the language its query (`locale`) or `Accept-Language` asks
/// for, showing the outcome its query carries.
pub fn page(config: &Config, request: &Request) -> Response<Body> {
    let outcome = Outcome::from_query(request.uri().query().unwrap_or_default());
    let language = language_of(request, outcome.language);
    let nonce = nonce();
    let html = render(config, language, &outcome, &nonce);
    html_response(html, &nonce)
}

/// The authenticator-app enrolment page for `request`: for the `verification_id` of its
/// query, in the language its query (`locale`) or `Accept-Language` asks for.
pub fn totp_page(config: &Config, request: &Request) -> Response<Body> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(request.uri().query().unwrap_or_default()).unwrap_or_default();
    let given = |name: &str| pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.trim());
    let language = language_of(request, given("locale").and_then(Language::from_tag));
    let id = given("verification_id").and_then(VerificationId::parse);
    let nonce = nonce();
    let html = render_totp(config, language, id.as_ref(), &nonce);
    html_response(html, &nonce)
}

/// The language a query asked for, else the most preferred of `Accept-Language`, else English.
fn language_of(request: &Request, asked: Option<Language>) -> Language {
    asked
        .or_else(|| {
            request
                .headers()
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(Language::from_accept_language)
        })
        .unwrap_or(Language::En)
}

/// A page's response: `200` with the strict headers every page has. Only the page's own
/// nonce'd `<style>` and `<script>` run; it talks to its own origin only; images are its own or
/// `data:`; nothing may frame it.
fn html_response(html: String, nonce: &str) -> Response<Body> {
    let mut response = Response::new(Body::Text(html));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    let csp = format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; \
         connect-src 'self'; form-action 'self'; img-src 'self' data:; base-uri 'none'; \
         frame-ancestors 'none'"
    );
    let set = |headers: &mut lambda_http::http::HeaderMap, name, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set(headers, header::CONTENT_TYPE, "text/html; charset=utf-8");
    set(headers, header::CONTENT_SECURITY_POLICY, &csp);
    set(headers, header::CACHE_CONTROL, "no-store");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::VARY, "accept-language");
    response
}

/// A fresh CSP nonce: 128 bits from the OS, hex.
fn nonce() -> String {
    let mut bytes = [0u8; 16];
    // Without OS randomness the nonce is constant; the page still works (the CSP then only
    // allows our own inline code, as a hash would) and nothing secret depends on it.
    let _ = rand::rngs::SysRng.try_fill_bytes(&mut bytes);
    crate::domain::hex(&bytes)
}

fn render(config: &Config, language: Language, outcome: &Outcome, nonce: &str) -> String {
    let t = |key: &str| language.text(key);
    let step = outcome.step();
    let wait_text = |seconds: u32| wait(language, seconds);
    let home = format!("/?locale={}", language.code());
    let ttl = lifetime(language, config.code_ttl_seconds);

    // The error, placed next to the field at fault when that field is on the shown step.
    let message = outcome.error.map(|code| {
        fill(
            t(&format!("error_{code}")),
            &[
                ("wait", &wait_text(outcome.retry_after)),
                (
                    "n",
                    &outcome
                        .attempts_remaining
                        .map(|n| n.to_string())
                        .unwrap_or_default(),
                ),
                ("length", &config.code_length.to_string()),
            ],
        )
    });
    let step_fields: &[&str] = match step {
        Step::SignUp => &["first_name", "last_name", "channel", "phone", "email"],
        Step::Code => &["code"],
        Step::Done => &[],
    };
    let at_field = outcome.field.as_deref().filter(|f| step_fields.contains(f));
    let error_at = |slot: &str| -> String {
        match (&message, at_field) {
            (Some(m), Some(f)) if f == slot => m.clone(),
            (Some(m), None)
                if (slot == "signup" && step == Step::SignUp)
                    || (slot == "verify" && step == Step::Code) =>
            {
                m.clone()
            }
            _ => String::new(),
        }
    };
    let invalid = |field: &str| {
        if at_field == Some(field) && message.is_some() {
            " aria-invalid=\"true\"".to_owned()
        } else {
            String::new()
        }
    };
    let hidden = |shown: bool| if shown { "" } else { " hidden" };

    let resend_after = if step == Step::Code {
        outcome
            .resend_after
            .max(if outcome.error == Some("resend_too_soon") {
                outcome.retry_after
            } else {
                0
            })
    } else {
        0
    };
    let (countdown_css, resend_note) = if resend_after > 0 {
        let n = resend_after;
        (
            format!(
                "@property --left{{syntax:'<integer>';inherits:false;initial-value:0}}\
                 .countdown{{animation:gone 0s linear {n}s forwards}}\
                 .countdown .cd{{animation:cd {n}s steps({n},end) forwards;counter-reset:left var(--left)}}\
                 .countdown .cd::after{{content:counter(left)}}\
                 @keyframes cd{{from{{--left:{n}}}to{{--left:0}}}}\
                 @keyframes gone{{to{{visibility:hidden}}}}"
            ),
            escape_html(&fill(
                t("resend_wait"),
                &[("wait", &fill(t("seconds"), &[("n", "\u{1}")]))],
            ))
            .replace('\u{1}', "<span class=\"cd\"></span>"),
        )
    } else {
        (String::new(), String::new())
    };

    let calling = outcome.channel == Some("voice");
    let code_sent = match (&outcome.to, step) {
        (Some(to), Step::Code) => fill(
            t(if calling { "code_calling" } else { "code_sent" }),
            &[("to", to), ("lifetime", &ttl)],
        ),
        _ => String::new(),
    };
    let data = json!({
        "lang": language.code(),
        "step": match step { Step::SignUp => "signup", Step::Code => "code", Step::Done => "done" },
        "verification_id": outcome.verification_id.as_ref().map(|v| v.to_string()),
        "resend_after": resend_after,
        "code_length": config.code_length,
        "lifetime": ttl,
        "texts": script_texts(language),
    });
    let voice = config.voice_origination_identity.is_some();
    let voice_choice = if voice {
        format!(
            "<label><input type=\"radio\" name=\"channel\" value=\"voice\" id=\"channel-voice\"> {}</label>\n          ",
            escape_html(t("channel_voice"))
        )
    } else {
        String::new()
    };
    let links: String = Language::ALL
        .iter()
        .map(|l| {
            format!(
                "<a href=\"/?locale={code}\" lang=\"{code}\" hreflang=\"{code}\"{current}>{name}</a>",
                code = l.code(),
                name = escape_html(l.text("language_name")),
                current = if *l == language {
                    " aria-current=\"true\""
                } else {
                    ""
                },
            )
        })
        .collect();

    let value = |name: &str| -> String {
        match name {
            "redirect" => escape_html(&home),
            "verification_id" => outcome
                .verification_id
                .as_ref()
                .map(|v| v.to_string())
                .unwrap_or_default(),
            "hide_signup" => hidden(step == Step::SignUp).to_owned(),
            "hide_code" => hidden(step == Step::Code).to_owned(),
            "hide_done" => hidden(step == Step::Done).to_owned(),
            "phone_hint" => escape_html(&fill(
                t("phone_hint"),
                &[("country", &config.default_country.code())],
            )),
            "code_hint" => escape_html(&fill(
                t("code_hint"),
                &[("length", &config.code_length.to_string())],
            )),
            "code_sent" => escape_html(&code_sent),
            "choices_class" => if voice { " three" } else { "" }.to_owned(),
            "voice_choice" => voice_choice.clone(),
            "resend_label" => escape_html(t(if calling { "resend_call" } else { "resend" })),
            // The verification the last step offers an authenticator app for (the script sets
            // it after a check by `fetch`).
            "totp_link" => escape_html(&totp_link(
                language,
                outcome
                    .verification_id
                    .as_ref()
                    .filter(|_| step == Step::Done),
            )),
            "resend_note" => resend_note.clone(),
            "countdown_css" => countdown_css.clone(),
            "language_links" => links.clone(),
            other => match other.strip_prefix("error_") {
                Some(slot) => escape_html(&error_at(slot)),
                None => other
                    .strip_prefix("invalid_")
                    .map(invalid)
                    .unwrap_or_default(),
            },
        }
    };

    fill_page(TEMPLATE, config, language, nonce, &data, value)
}

/// Fills a page's template: the values every page has (`lang`, `brand`, `nonce`, `css`,
/// `script`, `home`, and `data`, the JSON its script reads), else `value(name)`.
fn fill_page(
    template: &str,
    config: &Config,
    language: Language,
    nonce: &str,
    data: &serde_json::Value,
    value: impl Fn(&str) -> String,
) -> String {
    let shared = |name: &str| -> String {
        match name {
            "lang" => language.code().to_owned(),
            "brand" => escape_html(&config.brand_name),
            "nonce" => nonce.to_owned(),
            "css" => CSS.to_owned(),
            "script" => SCRIPT.to_owned(),
            "home" => escape_html(&format!("/?locale={}", language.code())),
            // JSON inside <script>: no "<" can close the element.
            "data" => data.to_string().replace('<', "\\u003c"),
            other => value(other),
        }
    };
    fill_template(template, language, shared)
}

/// Fills a template's `{{t:key}}` (a text, HTML-escaped) and `{{v:name}}` (`value(name)`,
/// inserted as it is) placeholders.
fn fill_template(template: &str, language: Language, value: impl Fn(&str) -> String) -> String {
    let t = |key: &str| language.text(key);
    let mut out = String::with_capacity(template.len() + 8_192);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let placeholder = &after[..end];
        match placeholder.split_once(':') {
            Some(("t", key)) => out.push_str(&escape_html(t(key))),
            Some(("v", name)) => out.push_str(&value(name)),
            _ => out.push_str(&rest[start..start + 4 + end]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// The texts the page's script shows (the rest are in the HTML already).
fn script_texts(language: Language) -> serde_json::Map<String, serde_json::Value> {
    const KEYS: [&str; 11] = [
        "code_sent",
        "code_calling",
        "resend",
        "resend_call",
        "resend_next_sms",
        "resend_next_voice",
        "resend_next_email",
        "minutes",
        "seconds",
        "resend_wait",
        "working",
    ];
    language
        .texts()
        .iter()
        .filter(|(key, _)| KEYS.contains(key) || key.starts_with("error_"))
        .map(|(key, text)| ((*key).to_owned(), json!(text)))
        .collect()
}

/// The enrolment page's address for a verification (`/totp?verification_id=…&locale=…`).
fn totp_link(language: Language, id: Option<&VerificationId>) -> String {
    let mut pairs = Vec::with_capacity(2);
    if let Some(id) = id {
        pairs.push(("verification_id", id.to_string()));
    }
    pairs.push(("locale", language.code().to_owned()));
    format!(
        "/totp?{}",
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    )
}

fn render_totp(
    config: &Config,
    language: Language,
    id: Option<&VerificationId>,
    nonce: &str,
) -> String {
    let t = |key: &str| language.text(key);
    // The texts its script shows: its own, the API's errors, and the words it needs.
    let texts: serde_json::Map<String, serde_json::Value> = language
        .texts()
        .iter()
        .filter(|(key, _)| {
            key.starts_with("totp_")
                || key.starts_with("error_")
                || ["minutes", "seconds", "working", "phone", "email"].contains(key)
        })
        .map(|(key, text)| ((*key).to_owned(), json!(text)))
        .collect();
    let data = json!({
        "lang": language.code(),
        "verification_id": id.map(|v| v.to_string()),
        "texts": texts,
    });
    let hidden = |shown: bool| if shown { "" } else { " hidden" };
    let value = |name: &str| -> String {
        match name {
            // Without an id there is nothing to enrol: said with or without JavaScript.
            "problem" => {
                if id.is_none() {
                    escape_html(t("totp_no_id"))
                } else {
                    String::new()
                }
            }
            "hide_problem" => hidden(id.is_none()).to_owned(),
            "hide_nojs" => hidden(id.is_some()).to_owned(),
            _ => String::new(),
        }
    };
    fill_page(TOTP_TEMPLATE, config, language, nonce, &data, value)
}

/// A wait in words: seconds under a minute, else whole minutes rounded up.
fn wait(language: Language, seconds: u32) -> String {
    if seconds < 60 {
        fill(language.text("seconds"), &[("n", &seconds.to_string())])
    } else {
        fill(
            language.text("minutes"),
            &[("n", &seconds.div_ceil(60).to_string())],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        crate::config::test_config(&[])
    }

    fn render_query(query: &str) -> String {
        render(
            &config(),
            Outcome::from_query(query).language.unwrap_or(Language::En),
            &Outcome::from_query(query),
            "n0nce",
        )
    }

    #[test]
    fn the_first_visit_shows_the_sign_up_form_with_accessible_fields() {
        let html = render_query("");
        assert!(!html.contains("{{"), "every placeholder is filled");
        assert!(html.contains(r#"<section id="step-signup" aria-labelledby="title-signup">"#));
        assert!(html.contains(r#"<section id="step-code" aria-labelledby="title-code" hidden>"#));
        assert!(html.contains(r#"autocomplete="one-time-code" inputmode="numeric""#));
        assert!(html.contains(r#"<label for="code">"#));
        assert!(
            html.contains(r#"<style nonce="n0nce">"#) && html.contains(r#"<script nonce="n0nce">"#)
        );
        assert!(html.contains(r#"name="redirect" value="/?locale=en""#));
    }

    #[test]
    fn a_pending_outcome_shows_the_code_form_with_a_countdown() {
        let id = "01JD3Z6Q0Y4S8V1M2N3P4Q5R6S";
        let html = render_query(&format!(
            "locale=de&status=pending&verification_id={id}&to=%2B49*******1100&resend_after=30"
        ));
        assert!(html.contains(r#"<html lang="de">"#));
        assert!(
            html.contains(r#"<section id="step-signup" aria-labelledby="title-signup" hidden>"#)
        );
        assert!(html.contains(&format!(r#"name="verification_id" value="{id}""#)));
        assert!(html.contains("+49*******1100"));
        assert!(html.contains("@keyframes cd{from{--left:30}"));
        assert!(html.contains(r#"<span class="cd"></span>"#));
    }

    #[test]
    fn an_error_is_shown_next_to_its_field_in_the_visitors_language() {
        let html = render_query(
            "locale=fr&error=incorrect_code&status=422&field=code&attempts_remaining=2&verification_id=01JD3Z6Q0Y4S8V1M2N3P4Q5R6S",
        );
        let slot = html
            .split(r#"<p class="error" id="error-code">"#)
            .nth(1)
            .and_then(|rest| rest.split("</p>").next())
            .expect("slot");
        assert!(slot.contains('2'), "{slot}");
        assert_eq!(
            slot,
            escape_html(&fill(
                Language::Fr.text("error_incorrect_code"),
                &[("n", "2")]
            ))
        );
        assert!(html.contains(r#"id="code" name="code" autocomplete="one-time-code" inputmode="numeric" maxlength="24" aria-describedby="hint-code" aria-invalid="true""#));
    }

    #[test]
    fn the_query_cannot_inject_markup_or_text() {
        let html = render_query(
            "to=<script>alert(1)</script>&error=<b>x</b>&field=\"><img>&status=approved&locale=\"><x",
        );
        assert!(
            !html.contains("<script>alert") && !html.contains("<b>x") && !html.contains("<img>")
        );
        let html =
            render_query("to=Call%20%2B1%20900%20now*&verification_id=01JD3Z6Q0Y4S8V1M2N3P4Q5R6S");
        assert!(!html.contains("Call +1 900"));
        let data = render_query("")
            .split(r#"id="twostep-data">"#)
            .nth(1)
            .map(str::to_owned)
            .expect("data");
        assert!(
            !data
                .split("</script>")
                .next()
                .unwrap_or_default()
                .contains('<')
        );
    }

    #[test]
    fn an_approved_outcome_shows_the_result() {
        let html = render_query("status=approved&verification_id=01JD3Z6Q0Y4S8V1M2N3P4Q5R6S");
        assert!(
            html.contains(r#"<section id="step-done" class="done" aria-labelledby="title-done">"#)
        );
    }

    #[test]
    fn the_page_speaks_the_asked_language() {
        let request = lambda_http::http::Request::builder()
            .uri("/")
            .header("accept-language", "it-IT,it;q=0.9,en;q=0.5")
            .body(Body::Empty)
            .expect("request");
        let response = page(&config(), &request);
        assert_eq!(response.status(), 200);
        let csp = response.headers()["content-security-policy"]
            .to_str()
            .expect("ascii");
        assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
        let Body::Text(html) = response.body() else {
            panic!("text")
        };
        assert!(html.contains(r#"<html lang="it">"#));
        assert!(html.contains(&escape_html(Language::It.text("send"))));
    }

    #[test]
    fn a_stack_that_calls_offers_call_me_and_says_a_call_is_coming() {
        let off = render_query("");
        assert!(!off.contains(r#"value="voice""#) && !off.contains("choices three"));
        let voice = config_with(&[("VOICE_ORIGINATION_IDENTITY", "+15005550000")]);
        let html = render(&voice, Language::Es, &Outcome::from_query(""), "n0nce");
        assert!(html.contains(r#"<div class="choices three">"#));
        assert!(html.contains(&format!(
            r#"<input type="radio" name="channel" value="voice" id="channel-voice"> {}</label>"#,
            escape_html(Language::Es.text("channel_voice"))
        )));
        let query = "status=pending&channel=voice&verification_id=01JD3Z6Q0Y4S8V1M2N3P4Q5R6S&to=%2B49*******1100";
        let html = render(&voice, Language::En, &Outcome::from_query(query), "n0nce");
        assert!(html.contains("We are calling +49*******1100"), "{html}");
        assert!(html.contains(r#"id="resend-button">Call me again</button>"#));
        let sms = render_query(&query.replace("channel=voice", "channel=sms"));
        assert!(sms.contains("We sent a code to +49*******1100"));
    }

    #[test]
    fn the_fallback_option_is_for_the_script_only_and_never_posted() {
        for language in Language::ALL {
            let html = render(&config(), language, &Outcome::from_query(""), "n0nce");
            assert!(html.contains(&format!(
                r#"<div class="field check" id="field-fallback" hidden>
        <label><input type="checkbox" id="fallback"> {}</label>"#,
                escape_html(language.text("fallback"))
            )));
            let texts = script_texts(language);
            for channel in ["sms", "voice", "email"] {
                let key = format!("resend_next_{channel}");
                assert_eq!(texts[&key], json!(language.text(&key)), "{key}");
            }
        }
        assert!(!TEMPLATE.contains(r#"name="fallback""#));
        assert!(!TEMPLATE.contains(r#"name="channels""#));
    }

    #[test]
    fn the_last_step_links_to_the_authenticator_page_for_its_verification() {
        let html =
            render_query("locale=pt&status=approved&verification_id=01JD3Z6Q0Y4S8V1M2N3P4Q5R6S");
        assert!(html.contains(
            r#"href="/totp?verification_id=01JD3Z6Q0Y4S8V1M2N3P4Q5R6S&amp;locale=pt" id="totp-link""#
        ));
        // Before the last step the script fills the id in.
        assert!(render_query("").contains(r#"href="/totp?locale=en" id="totp-link""#));
    }

    fn config_with(extra: &[(&str, &str)]) -> Config {
        crate::config::test_config(extra)
    }

    fn get(uri: &str, accept_language: &str) -> Response<Body> {
        let request = lambda_http::http::Request::builder()
            .uri(uri)
            .header("accept-language", accept_language)
            .body(Body::Empty)
            .expect("request");
        totp_page(&config(), &request)
    }

    fn text_of(response: &Response<Body>) -> &str {
        match response.body() {
            Body::Text(html) => html,
            _ => panic!("text"),
        }
    }

    #[test]
    fn the_authenticator_page_has_the_demo_pages_headers_and_language() {
        let response = get(
            "/totp?verification_id=01JD3Z6Q0Y4S8V1M2N3P4Q5R6S",
            "nl-BE,nl;q=0.9",
        );
        assert_eq!(response.status(), 200);
        let demo = page(
            &config(),
            &lambda_http::http::Request::builder()
                .uri("/")
                .body(Body::Empty)
                .expect("request"),
        );
        for name in [
            "content-type",
            "cache-control",
            "referrer-policy",
            "x-content-type-options",
            "x-frame-options",
            "vary",
        ] {
            assert_eq!(response.headers()[name], demo.headers()[name], "{name}");
        }
        let csp = response.headers()["content-security-policy"]
            .to_str()
            .expect("ascii");
        let nonce = csp
            .split("'nonce-")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .expect("nonce");
        assert!(csp.starts_with("default-src 'none'; script-src 'nonce-"));
        let html = text_of(&response);
        assert!(html.contains(r#"<html lang="nl">"#));
        assert!(html.contains(&format!(r#"<script nonce="{nonce}">"#)));
        assert!(!html.contains("{{"), "every placeholder is filled");
        let handler = html.split(" on").skip(1).find(|rest| {
            rest.split_once('=').is_some_and(|(name, _)| {
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase())
            })
        });
        assert_eq!(handler, None, "no inline event handlers");
        // With an id: the script enrols; without JavaScript the page says it needs it.
        assert!(html.contains(r#""verification_id":"01JD3Z6Q0Y4S8V1M2N3P4Q5R6S""#));
        assert!(
            html.contains(r#"<section id="totp-problem" aria-labelledby="title-problem" hidden>"#)
        );
        assert!(html.contains(r#"<section id="totp-nojs" aria-labelledby="title-nojs">"#));
        assert!(html.contains(&escape_html(Language::Nl.text("totp_nojs"))));
        let locale = get(
            "/totp?locale=fr&verification_id=01JD3Z6Q0Y4S8V1M2N3P4Q5R6S",
            "de",
        );
        assert!(text_of(&locale).contains(r#"<html lang="fr">"#));
    }

    #[test]
    fn the_authenticator_page_without_a_valid_id_says_what_is_missing() {
        for uri in [
            "/totp",
            "/totp?verification_id=%3Cscript%3E",
            "/totp?verification_id=01JD3Z6Q0Y4S8V1M2N3P4Q5R6",
        ] {
            let response = get(uri, "en");
            let html = text_of(&response);
            assert!(
                html.contains(r#"<section id="totp-problem" aria-labelledby="title-problem">"#)
            );
            assert!(html.contains(Language::En.text("totp_no_id")));
            assert!(html.contains(r#""verification_id":null"#));
            assert!(
                html.contains(r#"<section id="totp-nojs" aria-labelledby="title-nojs" hidden>"#)
            );
            assert!(!html.contains("<script>"));
        }
    }

    #[test]
    fn both_pages_start_their_nonced_script_with_the_shared_helpers() {
        let totp = get("/totp?verification_id=01JD3Z6Q0Y4S8V1M2N3P4Q5R6S", "en");
        for html in [render_query(""), text_of(&totp).to_owned()] {
            let script = html
                .split("<script nonce=\"")
                .nth(1)
                .and_then(|rest| rest.split("</script>").next())
                .expect("script");
            assert!(script.contains(SCRIPT.trim()), "{script}");
            assert!(!script.contains("{{"));
        }
    }

    #[test]
    fn waits_read_as_seconds_or_whole_minutes() {
        assert_eq!(wait(Language::En, 12), "12 s");
        assert_eq!(wait(Language::En, 61), "2 min");
        assert_eq!(
            wait(Language::De, 120),
            fill(Language::De.text("minutes"), &[("n", "2")])
        );
    }
}
