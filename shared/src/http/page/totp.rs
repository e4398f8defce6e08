//! The authenticator-app enrolment page (`GET /totp?verification_id=…`).

use serde_json::json;

use crate::config::Config;
use crate::domain::VerificationId;
use crate::i18n::Language;
use crate::messages::escape_html;

use super::{TOTP_TEMPLATE, fill_page};

/// The enrolment page for verification `id`, in `language`.
pub(super) fn render_totp(
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
    fill_page(
        (TOTP_TEMPLATE, "totp_title"),
        config,
        language,
        nonce,
        &data,
        value,
    )
}

#[cfg(test)]
mod tests {
    use crate::http::page::page;
    use crate::http::page::tests::{config, get, text_of};
    use crate::i18n::Language;
    use crate::messages::escape_html;
    use lambda_http::Body;

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
}
