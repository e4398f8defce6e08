//! The Twilio Verify v2 routes over HTTP on the local stack (docs/integrations/twilio.md): the
//! wire format Twilio's clients rely on, each error code, and the same limits and records as
//! the native API. (Twilio's own libraries run against the stack in test.sh:
//! docs/integrations/twilio_flow.py and .mjs.)

use reqwest::Method;
use serde_json::Value;
use twostep_tests::{Api, Reply, api_key, last_sms_code, sms_to, unique_phone, wrong_code};

const SERVICE: &str = "VA0123456789abcdef0123456789abcdef";

/// `Authorization: Basic` for the suite's key: its id and its secret.
fn basic() -> String {
    use base64::Engine as _;
    let key = api_key();
    let (id, secret) = key
        .strip_prefix("tsk_")
        .and_then(|rest| rest.split_once('_'))
        .expect("tsk_<id>_<secret>");
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    format!("Basic {credentials}")
}

fn form(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).expect("a form")
}

async fn twilio(api: &Api, method: Method, path: &str, pairs: Option<&[(&str, &str)]>) -> Reply {
    let auth = basic();
    let body = pairs.map(|p| ("application/x-www-form-urlencoded", form(p)));
    api.request(
        method,
        &format!("/v2/Services/{SERVICE}{path}"),
        &[("authorization", &auth)],
        body,
    )
    .await
}

async fn create(api: &Api, to: &str) -> Reply {
    twilio(
        api,
        Method::POST,
        "/Verifications",
        Some(&[("To", to), ("Channel", "sms")]),
    )
    .await
}

/// Starts a verification to `to`; its SID.
async fn created_sid(api: &Api, to: &str) -> String {
    let created = create(api, to).await;
    created.json["sid"].as_str().expect("sid").to_owned()
}

async fn check(api: &Api, pairs: &[(&str, &str)]) -> Reply {
    twilio(api, Method::POST, "/VerificationCheck", Some(pairs)).await
}

/// A Twilio error's HTTP status and code.
fn error(reply: &Reply) -> (u16, i64) {
    assert_eq!(
        reply.json["status"].as_u64(),
        Some(u64::from(reply.status)),
        "{}",
        reply.text
    );
    assert!(
        reply.json["more_info"]
            .as_str()
            .is_some_and(|m| m.contains("twilio.com/docs/errors/"))
    );
    assert!(
        reply.json.get("type").is_none() && reply.json.get("title").is_none(),
        "{}",
        reply.text
    );
    (reply.status, reply.json["code"].as_i64().unwrap_or(0))
}

fn is_twilio_date(value: &Value) -> bool {
    let text = value.as_str().unwrap_or_default();
    text.len() == 20 && text.ends_with('Z') && text.as_bytes()[10] == b'T'
}

#[tokio::test]
async fn a_create_answers_a_twilio_verification_and_sends_the_code() {
    let api = Api::new();
    let phone = unique_phone();
    let r = create(&api, &phone).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let v = &r.json;
    let sid = v["sid"].as_str().expect("sid");
    assert!(
        sid.starts_with("VE") && sid.len() == 34 && sid[2..].bytes().all(|b| b.is_ascii_hexdigit())
    );
    assert_eq!(v["service_sid"], SERVICE);
    let account = v["account_sid"].as_str().expect("account_sid");
    assert!(account.starts_with("AC") && account.len() == 34);
    assert_eq!(
        (
            v["to"].as_str(),
            v["channel"].as_str(),
            v["status"].as_str()
        ),
        (Some(phone.as_str()), Some("sms"), Some("pending"))
    );
    assert_eq!(v["valid"], false);
    assert!(
        is_twilio_date(&v["date_created"]) && is_twilio_date(&v["date_updated"]),
        "{v}"
    );
    assert_eq!(v["lookup"], serde_json::json!({}));
    assert!(v["amount"].is_null() && v["payee"].is_null());
    assert_eq!(v["send_code_attempts"][0]["channel"], "sms");
    assert!(
        v["url"]
            .as_str()
            .is_some_and(|u| u.ends_with(&format!("/v2/Services/{SERVICE}/Verifications/{sid}")))
    );
    assert_eq!(sms_to(&phone).await.len(), 1);
    // The same limits as the native API: a second create within the cooldown.
    let again = create(&api, &phone).await;
    assert_eq!(error(&again), (429, 60203), "{}", again.text);
    assert!(!again.header("retry-after").is_empty());
    assert_eq!(
        again.json["details"]["retry_after"].as_u64(),
        again.header("retry-after").parse().ok()
    );
}

#[tokio::test]
async fn a_wrong_code_is_a_pending_check_and_the_right_one_approves_once() {
    let api = Api::new();
    let phone = unique_phone();
    let sid = created_sid(&api, &phone).await;
    let code = last_sms_code(&phone).await;
    let wrong = check(&api, &[("To", &phone), ("Code", &wrong_code(&code))]).await;
    assert_eq!(wrong.status, 200, "{}", wrong.text);
    assert_eq!(
        (wrong.json["status"].as_str(), wrong.json["valid"].as_bool()),
        (Some("pending"), Some(false))
    );
    assert_eq!(wrong.json["sid"], sid.as_str());
    let right = check(&api, &[("VerificationSid", &sid), ("Code", &code)]).await;
    assert_eq!(right.status, 200, "{}", right.text);
    assert_eq!(
        (right.json["status"].as_str(), right.json["valid"].as_bool()),
        (Some("approved"), Some(true))
    );
    assert_eq!(
        (right.json["to"].as_str(), right.json["sid"].as_str()),
        (Some(phone.as_str()), Some(sid.as_str()))
    );
    let again = check(&api, &[("To", &phone), ("Code", &code)]).await;
    assert_eq!(error(&again), (404, 20404), "{}", again.text);
    let by_sid = check(&api, &[("VerificationSid", &sid), ("Code", &code)]).await;
    assert_eq!(error(&by_sid), (404, 20404));
    assert_eq!(by_sid.json["details"]["reason"], "approved");
    // Unlike Twilio, a fetch still answers, with the final status.
    let fetched = twilio(&api, Method::GET, &format!("/Verifications/{sid}"), None).await;
    assert_eq!(fetched.status, 200, "{}", fetched.text);
    assert_eq!(
        (
            fetched.json["status"].as_str(),
            fetched.json["valid"].as_bool()
        ),
        (Some("approved"), Some(true))
    );
}

#[tokio::test]
async fn the_attempts_lock_the_verification_at_the_limit_with_60202() {
    let api = Api::new();
    let phone = unique_phone();
    create(&api, &phone).await;
    let code = last_sms_code(&phone).await;
    for _ in 0..4 {
        let r = check(&api, &[("To", &phone), ("Code", &wrong_code(&code))]).await;
        assert_eq!(r.json["status"], "pending", "{}", r.text);
    }
    let last = check(&api, &[("To", &phone), ("Code", &wrong_code(&code))]).await;
    assert_eq!(
        (last.json["status"].as_str(), last.json["valid"].as_bool()),
        (Some("max_attempts_reached"), Some(false))
    );
    let locked = check(&api, &[("To", &phone), ("Code", &code)]).await;
    assert_eq!(error(&locked), (429, 60202), "{}", locked.text);
    assert!(!locked.header("retry-after").is_empty());
}

#[tokio::test]
async fn an_update_cancels_or_approves_and_a_repeat_answers_the_same() {
    let api = Api::new();
    let phone = unique_phone();
    let sid = created_sid(&api, &phone).await;
    let code = last_sms_code(&phone).await;
    let path = format!("/Verifications/{sid}");
    for _ in 0..2 {
        let r = twilio(&api, Method::POST, &path, Some(&[("Status", "canceled")])).await;
        assert_eq!(
            (r.status, r.json["status"].as_str()),
            (200, Some("canceled")),
            "{}",
            r.text
        );
    }
    let spent = check(&api, &[("To", &phone), ("Code", &code)]).await;
    assert_eq!(error(&spent), (404, 20404));
    let late = twilio(&api, Method::POST, &path, Some(&[("Status", "approved")])).await;
    assert_eq!(error(&late), (404, 20404));
    assert_eq!(late.json["details"]["reason"], "canceled");

    let other = unique_phone();
    let sid = create(&api, &other).await.json["sid"]
        .as_str()
        .expect("sid")
        .to_owned();
    let approved = twilio(
        &api,
        Method::POST,
        &format!("/Verifications/{sid}"),
        Some(&[("Status", "approved")]),
    )
    .await;
    assert_eq!(
        (approved.status, approved.json["status"].as_str()),
        (200, Some("approved")),
        "{}",
        approved.text
    );
    let contact = api
        .request(
            Method::GET,
            &format!("/contacts?phone={}", other.replace('+', "%2B")),
            &[("authorization", &format!("Bearer {}", api_key()))],
            None,
        )
        .await;
    assert_eq!(
        contact.json["channels"][0]["status"], "verified",
        "{}",
        contact.text
    );
    let bad = twilio(
        &api,
        Method::POST,
        &format!("/Verifications/{sid}"),
        Some(&[("Status", "deleted")]),
    )
    .await;
    assert_eq!(error(&bad), (400, 60200));
}

#[tokio::test]
async fn credentials_and_identifiers_are_checked_before_anything_else() {
    let api = Api::new();
    let phone = unique_phone();
    let body = || {
        Some((
            "application/x-www-form-urlencoded",
            form(&[("To", &phone), ("Channel", "sms")]),
        ))
    };
    let path = format!("/v2/Services/{SERVICE}/Verifications");
    let none = api.request(Method::POST, &path, &[], body()).await;
    assert_eq!(error(&none), (401, 20003));
    assert!(none.header("www-authenticate").starts_with("Basic"));
    let bearer = format!("Bearer {}", api_key());
    let not_basic = api
        .request(Method::POST, &path, &[("authorization", &bearer)], body())
        .await;
    assert_eq!(error(&not_basic), (401, 20003));
    let wrong_secret = {
        use base64::Engine as _;
        let id = api_key()[4..16].to_owned();
        let credentials =
            base64::engine::general_purpose::STANDARD.encode(format!("{id}:{}", "0".repeat(64)));
        format!("Basic {credentials}")
    };
    let refused = api
        .request(
            Method::POST,
            &path,
            &[("authorization", &wrong_secret)],
            body(),
        )
        .await;
    assert_eq!(error(&refused), (401, 20003));
    let auth = basic();
    let bad_service = api
        .request(
            Method::POST,
            "/v2/Services/VA123/Verifications",
            &[("authorization", &auth)],
            body(),
        )
        .await;
    assert_eq!(error(&bad_service), (404, 20404));
    let unknown = twilio(
        &api,
        Method::GET,
        &format!("/Verifications/VE{}", "0".repeat(32)),
        None,
    )
    .await;
    assert_eq!(error(&unknown), (404, 20404));
    let malformed = twilio(&api, Method::GET, "/Verifications/VE12", None).await;
    assert_eq!(error(&malformed), (404, 20404));
    assert!(sms_to(&phone).await.is_empty(), "nothing was sent");
}

#[tokio::test]
async fn bad_parameters_are_60200_and_change_nothing() {
    let api = Api::new();
    let phone = unique_phone();
    for pairs in [
        vec![("Channel", "sms")],
        vec![("To", "not a number"), ("Channel", "sms")],
        vec![("To", phone.as_str())],
        vec![("To", phone.as_str()), ("Channel", "whatsapp")],
        vec![
            ("To", phone.as_str()),
            ("Channel", "sms"),
            ("CustomCode", "12ab"),
        ],
        vec![
            ("To", phone.as_str()),
            ("Channel", "sms"),
            ("Locale", "not a locale!"),
        ],
        vec![("To", phone.as_str()), ("Channel", "email")],
    ] {
        let r = twilio(&api, Method::POST, "/Verifications", Some(&pairs)).await;
        assert_eq!(error(&r), (400, 60200), "{pairs:?}: {}", r.text);
    }
    let no_target = check(&api, &[("Code", "123456")]).await;
    assert_eq!(error(&no_target), (400, 60221));
    let short = check(&api, &[("To", &phone), ("Code", "12")]).await;
    assert_eq!(error(&short), (400, 60200));
    let premium = twilio(
        &api,
        Method::POST,
        "/Verifications",
        Some(&[("To", "+4990012345678"), ("Channel", "sms")]),
    )
    .await;
    assert_eq!(error(&premium), (403, 60605), "{}", premium.text);
    assert!(sms_to(&phone).await.is_empty());
}

#[tokio::test]
async fn a_json_body_and_a_friendly_name_work_too() {
    let api = Api::new();
    let phone = unique_phone();
    let auth = basic();
    let body =
        serde_json::json!({"To": phone, "Channel": "sms", "CustomFriendlyName": "Acme Bank"});
    let r = api
        .request(
            Method::POST,
            &format!("/v2/Services/{SERVICE}/Verifications"),
            &[("authorization", &auth)],
            Some(("application/json", body.to_string())),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let texts = sms_to(&phone).await;
    assert!(texts[0].contains("Acme Bank"), "{texts:?}");
}
