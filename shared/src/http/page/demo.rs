//! The demo page (`GET /`): its steps, and the outcome a form redirect carries in its query.

use serde_json::json;

use crate::config::Config;
use crate::domain::VerificationId;
use crate::i18n::{Language, fill};
use crate::messages::{escape_html, lifetime};

use super::{TEMPLATE, fill_page, wait};

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
pub(super) struct Outcome {
    pub(super) language: Option<Language>,
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
    pub(super) fn from_query(query: &str) -> Self {
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

/// The demo page for an outcome, in `language`, with `nonce` on its style and script.
pub(super) fn render(
    config: &Config,
    language: Language,
    outcome: &Outcome,
    nonce: &str,
) -> String {
    let view = View::new(config, language, outcome);
    fill_page(
        (TEMPLATE, "page_title"),
        config,
        language,
        nonce,
        &view.data(),
        |name| view.value(name),
    )
}

/// What the demo page shows, worked out from its outcome.
struct View<'a> {
    config: &'a Config,
    language: Language,
    outcome: &'a Outcome,
    step: Step,
    /// The error's text, if there is one.
    message: Option<String>,
    /// The field at fault, when it is on the shown step.
    at_field: Option<&'a str>,
    /// Seconds until the resend button works.
    resend_after: u32,
    /// Whether the code comes by a call.
    calling: bool,
    /// Whether this stack places calls.
    voice: bool,
}

impl<'a> View<'a> {
    fn new(config: &'a Config, language: Language, outcome: &'a Outcome) -> Self {
        let step = outcome.step();
        // The error, placed next to the field at fault when that field is on the shown step.
        let message = outcome.error.map(|code| {
            let n = outcome
                .attempts_remaining
                .map(|n| n.to_string())
                .unwrap_or_default();
            fill(
                language.text(&format!("error_{code}")),
                &[
                    ("wait", &wait(language, outcome.retry_after)),
                    ("n", &n),
                    ("length", &config.code_length.to_string()),
                ],
            )
        });
        let step_fields: &[&str] = match step {
            Step::SignUp => &["first_name", "last_name", "channel", "phone", "email"],
            Step::Code => &["code"],
            Step::Done => &[],
        };
        let too_soon = outcome.error == Some("resend_too_soon");
        let resend_after = match step {
            Step::Code => outcome
                .resend_after
                .max(if too_soon { outcome.retry_after } else { 0 }),
            Step::SignUp | Step::Done => 0,
        };
        Self {
            config,
            language,
            outcome,
            step,
            message,
            at_field: outcome.field.as_deref().filter(|f| step_fields.contains(f)),
            resend_after,
            calling: outcome.channel == Some("voice"),
            voice: config.voice_origination_identity.is_some(),
        }
    }

    fn t(&self, key: &str) -> &'static str {
        self.language.text(key)
    }

    /// The value of a `{{v:name}}` placeholder of `page.html`.
    fn value(&self, name: &str) -> String {
        let hidden = |shown: bool| if shown { "" } else { " hidden" }.to_owned();
        let config = self.config;
        match name {
            "redirect" => escape_html(&format!("/?locale={}", self.language.code())),
            "verification_id" => self.verification_id().unwrap_or_default(),
            "hide_signup" => hidden(self.step == Step::SignUp),
            "hide_code" => hidden(self.step == Step::Code),
            "hide_done" => hidden(self.step == Step::Done),
            "phone_hint" => escape_html(&fill(
                self.t("phone_hint"),
                &[("country", &config.default_country.code())],
            )),
            "code_hint" => escape_html(&fill(
                self.t("code_hint"),
                &[("length", &config.code_length.to_string())],
            )),
            "code_sent" => escape_html(&self.code_sent()),
            "choices_class" => if self.voice { " three" } else { "" }.to_owned(),
            "voice_choice" => self.voice_choice(),
            "resend_label" => escape_html(self.t(if self.calling {
                "resend_call"
            } else {
                "resend"
            })),
            // The verification the last step offers an authenticator app for (the script sets
            // it after a check by `fetch`).
            "totp_link" => escape_html(&totp_link(
                self.language,
                self.outcome
                    .verification_id
                    .as_ref()
                    .filter(|_| self.step == Step::Done),
            )),
            "resend_note" => self.countdown().1,
            "countdown_css" => self.countdown().0,
            "language_links" => self.language_links(),
            other => match other.strip_prefix("error_") {
                Some(slot) => escape_html(&self.error_at(slot)),
                None => other
                    .strip_prefix("invalid_")
                    .map(|field| self.invalid(field))
                    .unwrap_or_default(),
            },
        }
    }

    fn verification_id(&self) -> Option<String> {
        self.outcome.verification_id.as_ref().map(|v| v.to_string())
    }

    /// The error's text at `slot`: a field's, or the step's form when no field is at fault.
    fn error_at(&self, slot: &str) -> String {
        match (&self.message, self.at_field) {
            (Some(m), Some(f)) if f == slot => m.clone(),
            (Some(m), None)
                if (slot == "signup" && self.step == Step::SignUp)
                    || (slot == "verify" && self.step == Step::Code) =>
            {
                m.clone()
            }
            _ => String::new(),
        }
    }

    fn invalid(&self, field: &str) -> String {
        if self.at_field == Some(field) && self.message.is_some() {
            " aria-invalid=\"true\"".to_owned()
        } else {
            String::new()
        }
    }

    /// The resend countdown: its CSS animation, and the note it counts down in.
    fn countdown(&self) -> (String, String) {
        let n = self.resend_after;
        if n == 0 {
            return (String::new(), String::new());
        }
        let css = format!(
            "@property --left{{syntax:'<integer>';inherits:false;initial-value:0}}\
             .countdown{{animation:gone 0s linear {n}s forwards}}\
             .countdown .cd{{animation:cd {n}s steps({n},end) forwards;counter-reset:left var(--left)}}\
             .countdown .cd::after{{content:counter(left)}}\
             @keyframes cd{{from{{--left:{n}}}to{{--left:0}}}}\
             @keyframes gone{{to{{visibility:hidden}}}}"
        );
        let note = escape_html(&fill(
            self.t("resend_wait"),
            &[("wait", &fill(self.t("seconds"), &[("n", "\u{1}")]))],
        ))
        .replace('\u{1}', "<span class=\"cd\"></span>");
        (css, note)
    }

    fn lifetime(&self) -> String {
        lifetime(self.language, self.config.code_ttl_seconds)
    }

    fn code_sent(&self) -> String {
        match (&self.outcome.to, self.step) {
            (Some(to), Step::Code) => fill(
                self.t(if self.calling {
                    "code_calling"
                } else {
                    "code_sent"
                }),
                &[("to", to), ("lifetime", &self.lifetime())],
            ),
            _ => String::new(),
        }
    }

    /// The JSON the page's script reads.
    fn data(&self) -> serde_json::Value {
        json!({
            "lang": self.language.code(),
            "step": match self.step { Step::SignUp => "signup", Step::Code => "code", Step::Done => "done" },
            "verification_id": self.verification_id(),
            "resend_after": self.resend_after,
            "code_length": self.config.code_length,
            "lifetime": self.lifetime(),
            "texts": script_texts(self.language),
        })
    }

    fn voice_choice(&self) -> String {
        if !self.voice {
            return String::new();
        }
        format!(
            "<label><input type=\"radio\" name=\"channel\" value=\"voice\" id=\"channel-voice\"> {}</label>\n          ",
            escape_html(self.t("channel_voice"))
        )
    }

    fn language_links(&self) -> String {
        Language::ALL
            .iter()
            .map(|l| {
                format!(
                    "<a href=\"/?locale={code}\" lang=\"{code}\" hreflang=\"{code}\"{current}>{name}</a>",
                    code = l.code(),
                    name = escape_html(l.text("language_name")),
                    current = if *l == self.language {
                        " aria-current=\"true\""
                    } else {
                        ""
                    },
                )
            })
            .collect()
    }
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

#[cfg(test)]
mod tests {
    use lambda_http::Body;

    use super::*;
    use crate::http::page::page;
    use crate::http::page::tests::{config, config_with, render_query};

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
}
