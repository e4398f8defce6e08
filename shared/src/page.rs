//! `GET /`, the demo page: one HTML file (`shared/web/page.html`, inline CSS and script),
//! rendered in the visitor's language. Without JavaScript its forms post to the API with a
//! `redirect` back to the page, which then shows the outcome from the query parameters; with
//! JavaScript the same forms are sent with `fetch`.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use rand::TryRng;
use serde_json::json;

use crate::config::Config;
use crate::domain::VerificationId;
use crate::i18n::{Language, fill};
use crate::messages::{escape_html, lifetime};

const TEMPLATE: &str = include_str!("../web/page.html");

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
    let language = outcome
        .language
        .or_else(|| {
            request
                .headers()
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(Language::from_accept_language)
        })
        .unwrap_or(Language::En);
    let nonce = nonce();
    let html = render(config, language, &outcome, &nonce);

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

    let code_sent = match (&outcome.to, step) {
        (Some(to), Step::Code) => fill(t("code_sent"), &[("to", to), ("lifetime", &ttl)]),
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
            "lang" => language.code().to_owned(),
            "brand" => escape_html(&config.brand_name),
            "nonce" => nonce.to_owned(),
            "redirect" => escape_html(&home),
            "home" => escape_html(&home),
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
            "resend_note" => resend_note.clone(),
            "countdown_css" => countdown_css.clone(),
            "language_links" => links.clone(),
            // JSON inside <script>: no "<" can close the element.
            "data" => data.to_string().replace('<', "\\u003c"),
            other => match other.strip_prefix("error_") {
                Some(slot) => escape_html(&error_at(slot)),
                None => other
                    .strip_prefix("invalid_")
                    .map(invalid)
                    .unwrap_or_default(),
            },
        }
    };

    let mut out = String::with_capacity(TEMPLATE.len() + 8_192);
    let mut rest = TEMPLATE;
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
    const KEYS: [&str; 5] = ["code_sent", "minutes", "seconds", "resend_wait", "working"];
    language
        .texts()
        .iter()
        .filter(|(key, _)| KEYS.contains(key) || key.starts_with("error_"))
        .map(|(key, text)| ((*key).to_owned(), json!(text)))
        .collect()
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
    fn waits_read_as_seconds_or_whole_minutes() {
        assert_eq!(wait(Language::En, 12), "12 s");
        assert_eq!(wait(Language::En, 61), "2 min");
        assert_eq!(
            wait(Language::De, 120),
            fill(Language::De.text("minutes"), &[("n", "2")])
        );
    }
}
