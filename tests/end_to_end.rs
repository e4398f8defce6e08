//! The API as a client uses it: HTTP to the functions under `cargo lambda watch`, with
//! DynamoDB Local behind them, reading the SMS and emails from the SNS/SES emulator.
//! The stack runs with the settings `scripts/test.sh` gives (short cooldown and expiry).

use std::time::Duration;

use serde_json::json;
use twostep_tests::*;

fn setting(name: &str) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} is set by scripts/test.sh"))
}

#[tokio::test]
async fn an_sms_sign_up_delivers_a_code_that_approves_exactly_once() {
    let api = Api::new();
    let phone = unique_phone();
    let sent = api
        .post_json(
            "/signup",
            &json!({"phone": phone, "first_name": "Ada", "last_name": "Lovelace"}),
        )
        .await;
    assert_eq!(sent.status, 202, "{sent:?}");
    assert_eq!(sent.json["status"], "pending");
    assert_eq!(sent.json["channel"], "sms");
    let hidden = "*".repeat(phone.len() - 3 - 4);
    assert_eq!(
        sent.json["to"],
        format!("+49{hidden}{}", &phone[phone.len() - 4..])
    );
    assert_eq!(
        sent.json["resend_after"],
        setting("RESEND_COOLDOWN_SECONDS")
    );
    assert!(
        sent.json["expires_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    let id = sent.json["verification_id"]
        .as_str()
        .expect("an id")
        .to_owned();

    let texts = sms_to(&phone).await;
    assert_eq!(texts.len(), 1, "exactly one SMS: {texts:?}");
    assert!(
        texts[0].contains("twostep") && texts[0].chars().count() <= 160,
        "{}",
        texts[0]
    );
    let code = code_in(&texts[0], 6);

    let status = api.get(&format!("/verifications/{id}")).await;
    assert_eq!(
        (status.status, status.json["status"].as_str()),
        (200, Some("pending"))
    );
    assert_eq!(status.json["attempts_remaining"], 5);

    let ok = api
        .post_json("/verify", &json!({"verification_id": id, "code": code}))
        .await;
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(ok.json["status"], "approved");
    assert_eq!(ok.json["verification_id"], id.as_str());

    let again = api
        .post_json("/verify", &json!({"verification_id": id, "code": code}))
        .await;
    assert_eq!(
        (again.status, again.code()),
        (409, "already_approved"),
        "{again:?}"
    );
    let by_phone = api
        .post_json("/verify", &json!({"phone": phone, "code": code}))
        .await;
    assert_eq!(
        (by_phone.status, by_phone.code()),
        (404, "not_found"),
        "{by_phone:?}"
    );
    let status = api.get(&format!("/verifications/{id}")).await;
    assert_eq!(status.json["status"], "approved");
    assert_eq!(
        status.json["attempts_remaining"], 4,
        "the right code was one check: {status:?}"
    );
}

#[tokio::test]
async fn a_national_number_is_read_with_the_default_country_and_verified_by_phone() {
    let api = Api::new();
    let suffix: u32 = rand_suffix();
    let national = format!("(201) 555-01{:02}", suffix % 100);
    let e164 = format!("+1201555{:04}", 100 + suffix % 100);
    // Another test may use the same fictional number; wait out its cooldown if so.
    let mut sent = api.post_json("/signup", &json!({"phone": national})).await;
    while sent.status == 429 {
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        sent = api.post_json("/signup", &json!({"phone": national})).await;
    }
    assert_eq!(sent.status, 202, "{sent:?}");
    assert_eq!(
        sent.json["to"],
        format!("+1******{}", &e164[e164.len() - 4..])
    );
    let code = last_sms_code(&e164).await;
    let ok = api
        .post_json(
            "/verify",
            &json!({"phone": e164, "code": format!("{}-{}", &code[..3], &code[3..])}),
        )
        .await;
    assert_eq!(ok.status, 200, "{ok:?}");
}

fn rand_suffix() -> u32 {
    use rand::RngExt;
    rand::rng().random_range(0..100)
}

#[tokio::test]
async fn an_email_sign_up_sends_an_email_and_verifies_by_address() {
    let api = Api::new();
    let email = unique_email();
    let sent = api
        .post_json(
            "/signup",
            &json!({"email": email.to_uppercase(), "locale": "en-GB"}),
        )
        .await;
    assert_eq!(sent.status, 202, "{sent:?}");
    assert_eq!(sent.json["channel"], "email");
    assert!(
        sent.json["to"]
            .as_str()
            .is_some_and(|t| t.starts_with("u***@example.com"))
    );
    let mails = emails_to(&email).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].0, "Your twostep code");
    let code = code_in(&mails[0].1, 6);
    let ok = api
        .post_json("/verify", &json!({"email": email, "code": code}))
        .await;
    assert_eq!(ok.status, 200, "{ok:?}");
}

#[tokio::test]
async fn a_plain_html_form_post_with_aliased_fields_works() {
    let api = Api::new();
    let phone = unique_phone();
    let sent = api
        .post_form(
            "/signup",
            &[
                ("phoneNumber", &phone),
                ("firstName", " Grace "),
                ("channel", "sms"),
            ],
        )
        .await;
    assert_eq!(sent.status, 202, "{sent:?}");
    let code = last_sms_code(&phone).await;
    let id = sent.json["verification_id"].as_str().expect("id");
    let ok = api
        .post_form("/verify", &[("verification_id", id), ("code", &code)])
        .await;
    assert_eq!(ok.status, 200, "{ok:?}");
}

#[tokio::test]
async fn wrong_codes_are_counted_and_lock_the_verification_at_the_limit() {
    let api = Api::new();
    let phone = unique_phone();
    let (id, code) = sign_up_by_sms(&api, &phone).await;
    for remaining in (0..5).rev() {
        let r = api
            .post_json(
                "/verify",
                &json!({"phone": phone, "code": wrong_code(&code)}),
            )
            .await;
        assert_eq!((r.status, r.code()), (422, "incorrect_code"), "{r:?}");
        assert_eq!(r.json["attempts_remaining"], remaining);
    }
    let locked = api
        .post_json("/verify", &json!({"verification_id": id, "code": code}))
        .await;
    assert_eq!(
        (locked.status, locked.code()),
        (429, "too_many_attempts"),
        "{locked:?}"
    );
    // Like every 429: when to come back (here, when a new code may be requested).
    let wait = locked.json["retry_after"].as_u64().expect("retry_after");
    assert!(wait >= 1, "{locked:?}");
    assert_eq!(locked.header("retry-after"), wait.to_string());
    let status = api.get(&format!("/verifications/{id}")).await;
    assert_eq!(
        (
            status.json["status"].as_str(),
            status.json["attempts_remaining"].as_u64()
        ),
        (Some("locked"), Some(0))
    );
}

#[tokio::test]
async fn a_resend_respects_the_cooldown_and_replaces_the_earlier_code() {
    let api = Api::new();
    let phone = unique_phone();
    let first = api.post_json("/signup", &json!({"phone": phone})).await;
    assert_eq!(first.status, 202);
    let early = api.post_json("/signup", &json!({"phone": phone})).await;
    assert_eq!(
        (early.status, early.code()),
        (429, "resend_too_soon"),
        "{early:?}"
    );
    assert!(early.json["retry_after"].as_u64().is_some_and(|s| s >= 1));
    assert!(early.headers.contains_key("retry-after"));
    assert_eq!(
        sms_to(&phone).await.len(),
        1,
        "a refused resend sends nothing"
    );

    tokio::time::sleep(
        Duration::from_secs(setting("RESEND_COOLDOWN_SECONDS")) + Duration::from_millis(100),
    )
    .await;
    let second = api.post_json("/signup", &json!({"phone": phone})).await;
    assert_eq!(second.status, 202, "{second:?}");
    let new_code = last_sms_code(&phone).await;
    let first_id = first.json["verification_id"].as_str().expect("id");
    let stale = api
        .post_json(
            "/verify",
            &json!({"verification_id": first_id, "code": new_code}),
        )
        .await;
    assert_eq!((stale.status, stale.code()), (409, "replaced"), "{stale:?}");
    assert_eq!(
        api.get(&format!("/verifications/{first_id}")).await.json["status"],
        "replaced"
    );
    let second_id = second.json["verification_id"].as_str().expect("id");
    let ok = api
        .post_json(
            "/verify",
            &json!({"verification_id": second_id, "code": new_code}),
        )
        .await;
    assert_eq!(ok.status, 200, "{ok:?}");
}

#[tokio::test]
async fn the_send_window_stops_sends_beyond_its_limit() {
    let api = Api::new();
    let phone = unique_phone();
    let limit = setting("MAX_SENDS_PER_WINDOW");
    let cooldown =
        Duration::from_secs(setting("RESEND_COOLDOWN_SECONDS")) + Duration::from_millis(100);
    for _ in 0..limit {
        let r = api.post_json("/signup", &json!({"phone": phone})).await;
        assert_eq!(r.status, 202, "{r:?}");
        tokio::time::sleep(cooldown).await;
    }
    let over = api.post_json("/signup", &json!({"phone": phone})).await;
    assert_eq!(
        (over.status, over.code()),
        (429, "too_many_sends"),
        "{over:?}"
    );
    assert!(over.json["retry_after"].as_u64().is_some_and(|s| s > 60));
    assert_eq!(sms_to(&phone).await.len() as u64, limit);
}

#[tokio::test]
async fn an_expired_code_is_refused_with_410() {
    let api = Api::new();
    let phone = unique_phone();
    let (id, code) = sign_up_by_sms(&api, &phone).await;
    tokio::time::sleep(Duration::from_secs(setting("CODE_TTL_SECONDS") + 1)).await;
    let late = api
        .post_json("/verify", &json!({"verification_id": id, "code": code}))
        .await;
    assert_eq!((late.status, late.code()), (410, "expired"), "{late:?}");
    let by_phone = api
        .post_json("/verify", &json!({"phone": phone, "code": code}))
        .await;
    assert_eq!(
        (by_phone.status, by_phone.code()),
        (410, "expired"),
        "{by_phone:?}"
    );
    assert_eq!(
        api.get(&format!("/verifications/{id}")).await.json["status"],
        "expired"
    );
}

#[tokio::test]
async fn bad_input_gets_the_contract_error_and_changes_nothing() {
    let api = Api::new();
    let phone = unique_phone();
    let cases = [
        (
            json!({"phone": "+1 555"}),
            400,
            "invalid_phone",
            Some("phone"),
        ),
        // An extension cannot receive a code.
        (
            json!({"phone": "+1 202 555 0100 ext. 5"}),
            400,
            "invalid_phone",
            Some("phone"),
        ),
        (
            json!({"email": "not-an-address"}),
            400,
            "invalid_email",
            Some("email"),
        ),
        (
            json!({"phone": phone, "channel": "fax"}),
            400,
            "invalid_channel",
            Some("channel"),
        ),
        (
            json!({"first_name": "Ada"}),
            400,
            "missing_destination",
            Some("phone"),
        ),
        (
            json!({"channel": "email", "phone": phone}),
            400,
            "missing_destination",
            Some("email"),
        ),
        (
            json!({"phone": phone, "first_name": "x".repeat(101)}),
            400,
            "invalid_field",
            Some("first_name"),
        ),
        (
            json!({"phone": phone, "locale": "not a locale"}),
            400,
            "invalid_field",
            Some("locale"),
        ),
        (
            json!({"phone": ["+4930123"]}),
            400,
            "invalid_field",
            Some("phone"),
        ),
    ];
    for (body, status, code, field) in cases {
        let r = api.post_json("/signup", &body).await;
        assert_eq!((r.status, r.code()), (status, code), "{body}: {r:?}");
        assert_eq!(r.json["field"].as_str(), field, "{body}");
        assert_eq!(r.headers["content-type"], "application/problem+json");
        assert_eq!(r.json["type"], "about:blank");
        assert_eq!(r.json["status"], status);
    }
    assert!(
        sms_to(&phone).await.is_empty(),
        "refused requests send nothing"
    );

    let verify_cases = [
        (
            json!({"phone": phone, "code": "12ab56"}),
            400,
            "invalid_code_format",
        ),
        (
            json!({"phone": phone, "code": "123"}),
            400,
            "invalid_code_format",
        ),
        (json!({"code": "123456"}), 400, "missing_destination"),
        (
            json!({"phone": phone, "email": "a@example.com", "code": "123456"}),
            400,
            "invalid_field",
        ),
        (
            json!({"verification_id": "01JD3Z6Q0Y4S8V1M2N3P4Q5R6S", "code": "123456"}),
            404,
            "not_found",
        ),
        (json!({"phone": phone, "code": "123456"}), 404, "not_found"),
    ];
    for (body, status, code) in verify_cases {
        let r = api.post_json("/verify", &body).await;
        assert_eq!((r.status, r.code()), (status, code), "{body}: {r:?}");
    }
    let unknown = api.get("/verifications/01JD3Z6Q0Y4S8V1M2N3P4Q5R6S").await;
    assert_eq!((unknown.status, unknown.code()), (404, "not_found"));
    let malformed = api.get("/verifications/not-an-id").await;
    assert_eq!((malformed.status, malformed.code()), (404, "not_found"));
}

#[tokio::test]
async fn malformed_oversized_and_foreign_bodies_are_refused_on_every_route() {
    let api = Api::new();
    for path in ["/signup", "/verify"] {
        let r = api
            .post_raw(path, "application/json", "{\"phone\": ".to_owned())
            .await;
        assert_eq!((r.status, r.code()), (400, "invalid_body"), "{path}");
        let r = api.post_raw(path, "text/plain", "phone=1".to_owned()).await;
        assert_eq!(
            (r.status, r.code()),
            (415, "unsupported_media_type"),
            "{path}"
        );
        let big = format!("{{\"phone\": \"{}\"}}", " ".repeat(9 * 1024));
        let r = api.post_raw(path, "application/json", big).await;
        assert_eq!((r.status, r.code()), (413, "body_too_large"), "{path}");
    }
}

#[tokio::test]
async fn a_retry_with_the_same_idempotency_key_gets_the_first_answer_and_sends_nothing() {
    let api = Api::new();
    let phone = unique_phone();
    let key = format!("signup-{phone}");
    let post = |body: serde_json::Value, key: String| {
        let api = &api;
        async move {
            api.request(
                reqwest::Method::POST,
                "/signup",
                &[("idempotency-key", key.as_str())],
                Some(("application/json", body.to_string())),
            )
            .await
        }
    };
    let first = post(json!({ "phone": phone, "first_name": "Ada" }), key.clone()).await;
    assert_eq!(first.status, 202, "{first:?}");
    // The same fields in another order and encoding are the same request.
    let form = api
        .request(
            reqwest::Method::POST,
            "/signup",
            &[("idempotency-key", key.as_str())],
            Some((
                "application/x-www-form-urlencoded",
                format!("firstName=Ada&phone={}", phone.replace('+', "%2B")),
            )),
        )
        .await;
    assert_eq!(form.status, 202, "{form:?}");
    assert_eq!(form.json, first.json, "the first answer, verbatim");
    let again = post(json!({ "first_name": "Ada", "phone": phone }), key.clone()).await;
    assert_eq!(again.json, first.json);
    assert_eq!(sms_to(&phone).await.len(), 1, "sent once");

    let other = post(json!({ "phone": phone, "first_name": "Bob" }), key.clone()).await;
    assert_eq!(
        (other.status, other.code()),
        (422, "idempotency_key_reused"),
        "{other:?}"
    );
    assert_eq!(sms_to(&phone).await.len(), 1);

    // An error keeps nothing: the corrected request runs under the same key.
    let fresh = format!("fix-{phone}");
    let bad = post(json!({ "phone": "12" }), fresh.clone()).await;
    assert_eq!(bad.code(), "invalid_phone");
    let other_phone = unique_phone();
    let fixed = post(json!({ "phone": other_phone }), fresh.clone()).await;
    assert_eq!(fixed.status, 202, "{fixed:?}");
    assert_eq!(sms_to(&other_phone).await.len(), 1);

    let too_long = post(json!({ "phone": unique_phone() }), "k".repeat(256)).await;
    assert_eq!((too_long.status, too_long.code()), (400, "invalid_field"));
    assert_eq!(too_long.json["field"], "Idempotency-Key");
}

#[tokio::test]
async fn answers_do_not_tell_whether_a_contact_exists_or_is_verified() {
    let api = Api::new();
    let shape = |reply: &Reply| {
        let mut keys: Vec<String> = reply
            .json
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        keys.sort();
        (reply.status, keys, reply.json["status"].clone())
    };
    // A verified contact, signing up again once the cooldown has passed…
    let known = unique_phone();
    let (id, code) = sign_up_by_sms(&api, &known).await;
    let ok = api
        .post_json("/verify", &json!({ "verification_id": id, "code": code }))
        .await;
    assert_eq!(ok.status, 200);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let again = api.post_json("/signup", &json!({ "phone": known })).await;
    // …gets the answer a stranger gets.
    let stranger = api
        .post_json("/signup", &json!({ "phone": unique_phone() }))
        .await;
    assert_eq!(shape(&again), shape(&stranger));
    assert_eq!(again.json["status"], "pending");

    // By destination, "nothing pending" reads the same for a verified contact (whose new
    // code was just approved) and for a number never seen.
    let code = last_sms_code(&known).await;
    let id = again.json["verification_id"].as_str().expect("id");
    let ok = api
        .post_json("/verify", &json!({ "verification_id": id, "code": code }))
        .await;
    assert_eq!(ok.status, 200);
    let verified = api
        .post_json("/verify", &json!({ "phone": known, "code": "123456" }))
        .await;
    let unknown = api
        .post_json(
            "/verify",
            &json!({ "phone": unique_phone(), "code": "123456" }),
        )
        .await;
    assert_eq!(verified.status, 404);
    assert_eq!(verified.json, unknown.json, "the same body, word for word");
}

/// The metric points (CloudWatch Embedded Metric Format lines) the functions wrote about
/// one verification, once there are at least `at_least` (the log is written a little
/// after the answer).
async fn metric_points(verification_id: &str, at_least: usize) -> Vec<String> {
    let mut points = Vec::new();
    for _ in 0..30 {
        points = read_metric_points(verification_id);
        if points.len() >= at_least {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    points
}

fn read_metric_points(verification_id: &str) -> Vec<String> {
    let path = std::env::var("TWOSTEP_FUNCTIONS_LOG").expect("set by scripts/test.sh");
    let log = std::fs::read_to_string(path).expect("the functions' log");
    log.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line.trim()).ok())
        .filter(|doc| doc["verification_id"] == verification_id)
        .map(|doc| {
            let directive = &doc["_aws"]["CloudWatchMetrics"][0];
            let name = directive["Metrics"][0]["Name"].as_str().expect("a metric");
            assert_eq!(doc[name], 1, "{doc}");
            assert_eq!(directive["Dimensions"], json!([["Channel"], []]), "{doc}");
            assert!(directive["Namespace"].is_string(), "{doc}");
            format!("{name}:{}", doc["Channel"].as_str().expect("a channel"))
        })
        .collect()
}

#[tokio::test]
async fn sends_wrong_codes_lockouts_and_approvals_are_written_as_metrics() {
    let api = Api::new();
    let phone = unique_phone();
    let (id, _) = wrong_then_right_by_phone(&api, &phone).await;
    assert_eq!(
        metric_points(&id, 3).await,
        ["CodesSent:sms", "WrongCodes:sms", "Approvals:sms"]
    );

    let email = unique_email();
    let sent = api.post_json("/signup", &json!({"email": email})).await;
    assert_eq!(sent.status, 202, "{sent:?}");
    let id = sent.json["verification_id"].as_str().expect("an id");
    let attempts = setting("MAX_CHECK_ATTEMPTS");
    for _ in 0..attempts {
        let r = api
            .post_json("/verify", &json!({"email": email, "code": "000000"}))
            .await;
        // "000000" may be the code itself, once in a million.
        assert!(matches!(r.status, 422 | 429 | 200), "{r:?}");
    }
    let points = metric_points(id, attempts as usize + 2).await;
    assert_eq!(points.first().map(String::as_str), Some("CodesSent:email"));
    assert!(
        points.ends_with(&["WrongCodes:email".to_owned(), "Lockouts:email".to_owned()])
            || points.last().map(String::as_str) == Some("Approvals:email"),
        "{points:?}"
    );
}
