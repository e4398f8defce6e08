//! Plain HTML forms against the running API: 303 redirects with the outcome, refused
//! redirect targets (never an open redirect), CORS as the deployed HTTP API answers it,
//! the demo page, resend by verification id, and messages in the asked language.
//!
//! The local stack of `scripts/test.sh` allows the origin https://forms.example.com for
//! both CORS and redirects.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use twostep_tests::{Api, Reply, last_sms_code, sign_up_by_sms, sms_to, unique_phone};

const FORMS: &str = "https://forms.example.com";

fn location_params(reply: &Reply) -> Vec<(String, String)> {
    let location = reply.header("location");
    let query = location
        .split_once('?')
        .map(|(_, q)| q.split('#').next().unwrap_or(""))
        .unwrap_or("");
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.replace("%2B", "+").replace("%2A", "*")))
        .collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn a_form_post_with_an_allowed_redirect_is_sent_back_with_the_outcome() {
    let api = Api::new();
    let phone = unique_phone();
    let target = format!("{FORMS}/thanks?campaign=spring#top");
    let reply = api
        .post_form("/signup", &[("phone", &phone), ("redirect", &target)])
        .await;
    assert_eq!(reply.status, 303, "{reply:?}");
    let location = reply.header("location");
    assert!(
        location.starts_with(&format!("{FORMS}/thanks?campaign=spring&")),
        "{location}"
    );
    assert!(location.ends_with("#top"), "{location}");
    let params = location_params(&reply);
    assert_eq!(param(&params, "status"), Some("pending"));
    assert_eq!(param(&params, "channel"), Some("sms"));
    let id = param(&params, "verification_id").expect("an id");
    assert_eq!(id.len(), 26);
    assert_eq!(sms_to(&phone).await.len(), 1, "the code was sent");

    // The code form posts back the same way.
    let code = last_sms_code(&phone).await;
    let reply = api
        .post_form(
            "/verify",
            &[
                ("verification_id", id),
                ("code", &code),
                ("redirect", FORMS),
            ],
        )
        .await;
    assert_eq!(reply.status, 303, "{reply:?}");
    let params = location_params(&reply);
    assert_eq!(param(&params, "status"), Some("approved"));
    assert_eq!(param(&params, "verification_id"), Some(id));
    assert!(reply.header("location").starts_with(&format!("{FORMS}?")));
}

#[tokio::test]
async fn an_error_goes_back_to_the_form_with_its_code_and_field() {
    let api = Api::new();
    let reply = api
        .post_form("/signup", &[("phone", "12"), ("redirect", FORMS)])
        .await;
    assert_eq!(reply.status, 303, "{reply:?}");
    let params = location_params(&reply);
    assert_eq!(param(&params, "error"), Some("invalid_phone"));
    assert_eq!(param(&params, "field"), Some("phone"));
    assert_eq!(param(&params, "status"), Some("400"));

    let phone = unique_phone();
    let (id, code) = sign_up_by_sms(&api, &phone).await;
    let wrong = format!(
        "{:06}",
        (code.parse::<u32>().expect("digits") + 1) % 1_000_000
    );
    let reply = api
        .post_form(
            "/verify",
            &[
                ("verification_id", &id),
                ("code", &wrong),
                ("redirect", "/?locale=de"),
            ],
        )
        .await;
    assert_eq!(reply.status, 303, "{reply:?}");
    assert!(reply.header("location").starts_with("/?locale=de&"));
    let params = location_params(&reply);
    assert_eq!(param(&params, "error"), Some("incorrect_code"));
    assert_eq!(param(&params, "attempts_remaining"), Some("4"));
    assert_eq!(param(&params, "verification_id"), Some(id.as_str()));
}

#[tokio::test]
async fn every_open_redirect_attempt_is_refused_and_changes_nothing() {
    let api = Api::new();
    let attacks = [
        "https://evil.example/",
        "https://forms.example.com.evil.example/",
        "https://forms.example.com@evil.example/",
        "https://user:pw@forms.example.com/",
        "http://forms.example.com/",
        "https://forms.example.com:8443/",
        "//evil.example/",
        "///evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/%2F/evil.example",
        "%2F%2Fevil.example",
        "/%252F%252Fevil.example",
        "/\t/evil.example",
        "https://forms.example.com%40evil.example",
        "https://forms.example.com\\@evil.example",
        "javascript:alert(document.cookie)",
        "JaVaScRiPt:alert(1)",
        "java%0ascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "https:evil.example",
        "evil.example",
    ];
    let phone = unique_phone();
    for attack in attacks {
        for (path, fields) in [
            ("/signup", vec![("phone", phone.as_str())]),
            (
                "/verify",
                vec![("phone", phone.as_str()), ("code", "123456")],
            ),
        ] {
            let mut pairs = fields.clone();
            pairs.push(("redirect", attack));
            let reply = api.post_form(path, &pairs).await;
            assert_eq!(reply.status, 400, "{path} {attack:?}: {reply:?}");
            assert_eq!(reply.code(), "invalid_redirect", "{path} {attack:?}");
            assert_eq!(reply.json["field"], "redirect");
            assert_eq!(reply.header("location"), "", "{path} {attack:?}");
        }
        // The same target in a JSON body is refused too.
        let reply = api
            .post_json("/signup", &json!({ "phone": phone, "redirect": attack }))
            .await;
        assert_eq!(reply.code(), "invalid_redirect", "json {attack:?}");
    }
    assert!(sms_to(&phone).await.is_empty(), "nothing was sent");
}

#[tokio::test]
async fn a_json_client_gets_json_even_with_a_redirect() {
    let api = Api::new();
    let reply = api
        .post_json(
            "/signup",
            &json!({ "phone": unique_phone(), "redirect": FORMS }),
        )
        .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    assert_eq!(reply.json["status"], "pending");
}

/// `Access-Control-*` values of template.yaml's CorsConfiguration, as API Gateway sends them.
fn template_cors() -> (String, String, String, String) {
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml"))
            .expect("template.yaml");
    let block = template
        .split("CorsConfiguration:")
        .nth(1)
        .expect("a CorsConfiguration");
    let list = |key: &str| -> String {
        let line = block
            .lines()
            .find(|l| l.trim_start().starts_with(key))
            .unwrap_or_else(|| panic!("{key} in CorsConfiguration"));
        let inner = line
            .split_once('[')
            .and_then(|(_, rest)| rest.split_once(']'))
            .map(|(inner, _)| inner)
            .unwrap_or_else(|| panic!("{key}: [..]"));
        let mut items: Vec<String> = inner.split(',').map(|s| s.trim().to_lowercase()).collect();
        items.sort();
        items.join(",")
    };
    let max_age = block
        .lines()
        .find_map(|l| l.trim().strip_prefix("MaxAge:"))
        .map(|v| v.trim().to_owned())
        .expect("MaxAge");
    (
        list("AllowMethods:"),
        list("AllowHeaders:"),
        list("ExposeHeaders:"),
        max_age,
    )
}

fn sorted(value: &str) -> String {
    let mut items: Vec<String> = value.split(',').map(|s| s.trim().to_lowercase()).collect();
    items.sort();
    items.join(",")
}

#[tokio::test]
async fn preflights_are_answered_as_the_deployed_http_api_answers_them() {
    let api = Api::new();
    let (methods, headers, expose, max_age) = template_cors();
    for path in [
        "/signup",
        "/verify",
        "/verifications/01JD3Z6Q0Y4S8V1M2N3P4Q5R6S",
    ] {
        let reply = api
            .request(
                Method::OPTIONS,
                path,
                &[
                    ("origin", FORMS),
                    ("access-control-request-method", "POST"),
                    ("access-control-request-headers", "content-type"),
                ],
                None,
            )
            .await;
        assert_eq!(reply.status, 204, "{path}: {reply:?}");
        assert_eq!(reply.header("access-control-allow-origin"), FORMS);
        assert_eq!(
            sorted(reply.header("access-control-allow-methods")),
            methods
        );
        assert_eq!(
            sorted(reply.header("access-control-allow-headers")),
            headers
        );
        assert_eq!(reply.header("access-control-max-age"), max_age);
        assert_eq!(reply.header("vary"), "origin", "{path}: one Vary value");

        let other = api
            .request(
                Method::OPTIONS,
                path,
                &[
                    ("origin", "https://evil.example"),
                    ("access-control-request-method", "POST"),
                ],
                None,
            )
            .await;
        assert_eq!(other.header("access-control-allow-origin"), "", "{path}");
        assert_eq!(other.header("access-control-allow-methods"), "", "{path}");
    }

    let call = api
        .request(
            Method::POST,
            "/signup",
            &[("origin", FORMS)],
            Some(("application/json", json!({ "phone": "12" }).to_string())),
        )
        .await;
    assert_eq!(call.status, 400);
    assert_eq!(call.header("access-control-allow-origin"), FORMS);
    assert_eq!(sorted(call.header("access-control-expose-headers")), expose);
    let foreign = api
        .request(
            Method::POST,
            "/signup",
            &[("origin", "https://evil.example")],
            Some(("application/json", json!({ "phone": "12" }).to_string())),
        )
        .await;
    assert_eq!(foreign.header("access-control-allow-origin"), "");
}

/// GETs the demo page. `cargo lambda watch` now and then loses a large response body on its
/// way from the function (it answers 500 with its own problem document); a GET is safe to repeat.
async fn demo_page(api: &Api, path: &str, headers: &[(&str, &str)]) -> Reply {
    for _ in 0..5 {
        let reply = api.request(Method::GET, path, headers, None).await;
        if reply.status != 500 || reply.text.contains("<html") {
            return reply;
        }
    }
    panic!("the demo page did not load");
}

#[tokio::test]
async fn the_demo_page_is_served_at_the_root_in_the_visitors_language() {
    let api = Api::new();
    let page = demo_page(&api, "/", &[("accept-language", "nl-BE,nl;q=0.9,en;q=0.5")]).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type"), "text/html; charset=utf-8");
    assert!(
        page.header("content-security-policy")
            .contains("script-src 'nonce-")
    );
    assert!(page.text.contains(r#"<html lang="nl">"#));
    assert!(
        page.text
            .contains(r#"<form id="signup" method="post" action="/signup""#)
    );
    assert!(page.text.contains(r#"autocomplete="one-time-code""#));

    let page = demo_page(&api, "/?locale=pt-BR", &[]).await;
    assert!(page.text.contains(r#"<html lang="pt">"#));
}

#[tokio::test]
async fn a_resend_by_verification_id_replaces_the_code_within_the_limits() {
    let api = Api::new();
    let phone = unique_phone();
    let (first, _) = sign_up_by_sms(&api, &phone).await;
    let too_soon = api
        .post_json("/signup", &json!({ "verification_id": first }))
        .await;
    assert_eq!(too_soon.status, 429, "{too_soon:?}");
    assert_eq!(too_soon.code(), "resend_too_soon");

    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let resent = api
        .post_json(
            "/signup",
            &json!({ "verification_id": first, "locale": "it" }),
        )
        .await;
    assert_eq!(resent.status, 202, "{resent:?}");
    let second = resent.json["verification_id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_ne!(second, first);
    let texts = sms_to(&phone).await;
    assert_eq!(texts.len(), 2);
    assert!(texts[1].contains("il tuo codice"), "{}", texts[1]);
    assert_eq!(
        api.get(&format!("/verifications/{first}")).await.json["status"],
        "replaced"
    );

    let again = api
        .post_json("/signup", &json!({ "verification_id": first }))
        .await;
    assert_eq!((again.status, again.code()), (409, "replaced"));
    let unknown = api
        .post_json(
            "/signup",
            &json!({ "verification_id": "01JD3Z6Q0Y4S8V1M2N3P4Q5R6S" }),
        )
        .await;
    assert_eq!((unknown.status, unknown.code()), (404, "not_found"));

    let code = last_sms_code(&phone).await;
    let ok = api
        .post_json(
            "/verify",
            &json!({ "verification_id": second, "code": code }),
        )
        .await;
    assert_eq!(ok.status, 200);
    let spent = api
        .post_json("/signup", &json!({ "verification_id": second }))
        .await;
    assert_eq!((spent.status, spent.code()), (409, "already_approved"));
}

#[tokio::test]
async fn the_sms_speaks_the_asked_locale_with_fallback_to_the_language() {
    let api = Api::new();
    for (locale, words) in [
        ("de-AT", "ist Ihr"),
        ("fr", "est votre code"),
        ("es-MX", "es tu codigo"),
        ("nl", "is uw"),
        ("ja", "is your"),
    ] {
        let phone = unique_phone();
        let reply = api
            .post_json("/signup", &json!({ "phone": phone, "locale": locale }))
            .await;
        assert_eq!(reply.status, 202, "{reply:?}");
        let texts = sms_to(&phone).await;
        assert!(texts[0].contains(words), "{locale}: {}", texts[0]);
    }
}

#[tokio::test]
async fn sms_pumping_targets_are_refused_before_anything_is_stored_or_sent() {
    // The test stack allows SMS to DE and US only.
    let api = Api::new();
    for (number, code) in [
        ("+33612345678", "country_not_allowed"),
        ("+447400123456", "country_not_allowed"),
        ("+4990012345678", "invalid_phone"),
        ("+19002345678", "invalid_phone"),
        ("+18002345678", "invalid_phone"),
    ] {
        let reply = api.post_json("/signup", &json!({ "phone": number })).await;
        assert_eq!(
            (reply.status, reply.code()),
            (400, code),
            "{number}: {reply:?}"
        );
        assert_eq!(reply.json["field"], "phone");
        assert!(sms_to(number).await.is_empty(), "{number}");
    }
}
