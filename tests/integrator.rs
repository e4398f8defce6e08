//! The integrator API through HTTP on the local stack: API keys, per-call options, cancel,
//! contact lookup, outcome events and test mode (docs/integrations/README.md).

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use twostep::domain::{ApiKey, ApiKeyRecord};
use twostep::store::KeyStore;
use twostep::store::dynamodb::DynamoStore;
use twostep_tests::{
    Api, Reply, api_key, code_in, events_of, last_sms_code, sign_up_by_sms, sms_to, unique_email,
    unique_phone, with_key, wrong_code, wrong_then_right_by_phone,
};

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

async fn keyed(api: &Api, method: Method, path: &str, body: Option<Value>) -> Reply {
    with_key(api, &api_key(), method, path, body).await
}

async fn keyed_signup(api: &Api, body: Value) -> Reply {
    keyed(api, Method::POST, "/signup", Some(body)).await
}

fn id_of(reply: &Reply) -> String {
    reply.json["verification_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no verification id: {reply:?}"))
        .to_owned()
}

/// A key made straight in the table, as `scripts/keys.sh` does.
async fn new_key(name: &str) -> (ApiKey, DynamoStore) {
    let sdk = twostep::aws::sdk_config("tests");
    let table = std::env::var("TABLE_NAME").expect("TABLE_NAME is set by scripts/test.sh");
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table);
    let key = ApiKey::generate().expect("os rng");
    store
        .add_api_key(&ApiKeyRecord::new(&key, name, 0))
        .await
        .expect("key added");
    (key, store)
}

#[tokio::test]
async fn unkeyed_options_and_routes_need_a_key_and_change_nothing() {
    let api = Api::new();
    let phone = unique_phone();
    for (field, value) in [
        ("code_length", json!(4)),
        ("ttl_seconds", json!(120)),
        ("custom_code", json!("4815")),
    ] {
        let r = api
            .post_json("/signup", &json!({ "phone": phone, field: value }))
            .await;
        assert_eq!((r.status, r.code()), (403, "key_required"), "{r:?}");
        assert_eq!(r.json["field"], field);
    }
    let form = api
        .post_form("/signup", &[("phone", &phone), ("code_length", "4")])
        .await;
    assert_eq!(
        (form.status, form.code()),
        (403, "key_required"),
        "{form:?}"
    );
    assert!(sms_to(&phone).await.is_empty(), "nothing was sent");
    let cancel = api
        .request(
            Method::POST,
            "/verifications/01JD3Z6Q0Y4S8V1M2N3P4Q5R6S/cancel",
            &[],
            None,
        )
        .await;
    assert_eq!(
        (cancel.status, cancel.code()),
        (403, "key_required"),
        "{cancel:?}"
    );
    let lookup = api
        .get(&format!("/contacts?phone={}", phone.replace('+', "%2B")))
        .await;
    assert_eq!(
        (lookup.status, lookup.code()),
        (403, "key_required"),
        "{lookup:?}"
    );
}

#[tokio::test]
async fn a_wrong_malformed_or_revoked_key_is_refused_on_every_route() {
    let api = Api::new();
    let phone = unique_phone();
    let made_up = ApiKey::generate().expect("os rng");
    for auth in [
        bearer(made_up.reveal()),
        bearer("not-a-key"),
        format!("Basic {}", api_key()),
        "Bearer".to_owned(),
    ] {
        for (method, path, body) in [
            (Method::POST, "/signup", Some(json!({ "phone": phone }))),
            (
                Method::POST,
                "/verify",
                Some(json!({ "phone": phone, "code": "123456" })),
            ),
            (
                Method::GET,
                "/verifications/01JD3Z6Q0Y4S8V1M2N3P4Q5R6S",
                None,
            ),
            (Method::GET, "/contacts?email=a%40example.com", None),
        ] {
            let r = api
                .request(
                    method.clone(),
                    path,
                    &[("authorization", &auth)],
                    body.map(|b| ("application/json", b.to_string())),
                )
                .await;
            assert_eq!(
                (r.status, r.code()),
                (401, "invalid_key"),
                "{auth} {path}: {r:?}"
            );
            assert!(r.header("www-authenticate").starts_with("Bearer"), "{r:?}");
        }
    }
    assert!(
        sms_to(&phone).await.is_empty(),
        "a refused key sends nothing"
    );

    let (key, store) = new_key("revoked-in-a-test").await;
    let lookup = format!("/contacts?phone={}", phone.replace('+', "%2B"));
    // The made-up keys above had the list read again just now; a new key is seen at the next
    // read: after API_KEY_CACHE_SECONDS (2 in the test stack), 5 s at most.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let ok = with_key(&api, key.reveal(), Method::GET, &lookup, None).await;
    assert_eq!(ok.status, 200, "a new key works: {ok:?}");
    store.revoke_api_key(key.id(), 1).await.expect("revoked");
    // API_KEY_CACHE_SECONDS is 2 in the test stack.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let revoked = with_key(&api, key.reveal(), Method::GET, &lookup, None).await;
    assert_eq!(
        (revoked.status, revoked.code()),
        (401, "invalid_key"),
        "{revoked:?}"
    );
}

#[tokio::test]
async fn keyed_code_length_and_ttl_shape_the_code_and_its_check() {
    let api = Api::new();
    let phone = unique_phone();
    let sent = keyed_signup(
        &api,
        json!({ "phone": phone, "code_length": 4, "ttl_seconds": 120 }),
    )
    .await;
    assert_eq!(sent.status, 202, "{sent:?}");
    let expires = sent.json["expires_at"].as_str().expect("expires_at");
    let left = time::OffsetDateTime::parse(expires, &time::format_description::well_known::Rfc3339)
        .expect("rfc3339")
        - time::OffsetDateTime::now_utc();
    assert!((100..=121).contains(&left.whole_seconds()), "{expires}");
    let sms = sms_to(&phone).await;
    assert!(
        sms[0].contains("2 min"),
        "the message states the code's life: {sms:?}"
    );
    let pin = code_in(&sms[0], 4);
    let id = id_of(&sent);
    let six = api
        .post_json(
            "/verify",
            &json!({ "phone": phone, "code": format!("{pin}00") }),
        )
        .await;
    assert_eq!(
        (six.status, six.code()),
        (400, "invalid_code_format"),
        "{six:?}"
    );
    let wrong = format!("{:04}", (pin.parse::<u32>().expect("digits") + 1) % 10_000);
    let r = api
        .post_json("/verify", &json!({ "verification_id": id, "code": wrong }))
        .await;
    assert_eq!(
        (r.status, r.json["attempts_remaining"].as_u64()),
        (422, Some(4)),
        "{r:?}"
    );
    let ok = api
        .post_json("/verify", &json!({ "phone": phone, "code": pin }))
        .await;
    assert_eq!(ok.status, 200, "{ok:?}");

    for bad in [
        json!({ "phone": unique_phone(), "code_length": 3 }),
        json!({ "phone": unique_phone(), "code_length": "06" }),
        json!({ "phone": unique_phone(), "ttl_seconds": 59 }),
        json!({ "phone": unique_phone(), "custom_code": "12a4" }),
        json!({ "phone": unique_phone(), "custom_code": "1234", "code_length": 6 }),
    ] {
        let r = keyed_signup(&api, bad.clone()).await;
        assert_eq!((r.status, r.code()), (400, "invalid_field"), "{bad}: {r:?}");
        assert!(r.json["field"].is_string(), "{r:?}");
    }
}

#[tokio::test]
async fn a_custom_code_is_delivered_and_a_keyed_send_keeps_the_destination_limits() {
    let api = Api::new();
    let email = unique_email();
    let sent = keyed_signup(&api, json!({ "email": email, "custom_code": "73914682" })).await;
    assert_eq!(sent.status, 202, "{sent:?}");
    let mail = twostep_tests::emails_to(&email).await;
    assert!(mail[0].1.contains("73914682"), "{mail:?}");
    let again = keyed_signup(&api, json!({ "email": email, "custom_code": "73914682" })).await;
    assert_eq!(
        (again.status, again.code()),
        (429, "resend_too_soon"),
        "{again:?}"
    );
    let ok = api
        .post_json("/verify", &json!({ "email": email, "code": "7391-4682" }))
        .await;
    assert_eq!(ok.status, 200, "{ok:?}");
}

#[tokio::test]
async fn a_cancelled_verification_stops_its_code_and_says_canceled() {
    let api = Api::new();
    let phone = unique_phone();
    let (id, code) = sign_up_by_sms(&api, &phone).await;
    let path = format!("/verifications/{id}/cancel");
    let r = keyed(&api, Method::POST, &path, None).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json["status"], "canceled");
    assert_eq!(r.json["attempts_remaining"], 5);
    assert!(
        !r.json["to"].as_str().unwrap_or("").contains(&phone[3..]),
        "{r:?}"
    );
    let again = keyed(&api, Method::POST, &path, None).await;
    assert_eq!(
        (again.status, again.json["status"].as_str()),
        (200, Some("canceled"))
    );
    let status = api.get(&format!("/verifications/{id}")).await;
    assert_eq!(status.json["status"], "canceled", "{status:?}");
    let by_id = api
        .post_json("/verify", &json!({ "verification_id": id, "code": code }))
        .await;
    assert_eq!((by_id.status, by_id.code()), (409, "canceled"), "{by_id:?}");
    let by_phone = api
        .post_json("/verify", &json!({ "phone": phone, "code": code }))
        .await;
    assert_eq!(
        (by_phone.status, by_phone.code()),
        (404, "not_found"),
        "{by_phone:?}"
    );

    let (approved, code) = sign_up_by_sms(&api, &unique_phone()).await;
    let ok = api
        .post_json(
            "/verify",
            &json!({ "verification_id": approved, "code": code }),
        )
        .await;
    assert_eq!(ok.status, 200);
    let late = keyed(
        &api,
        Method::POST,
        &format!("/verifications/{approved}/cancel"),
        None,
    )
    .await;
    assert_eq!(
        (late.status, late.code()),
        (409, "already_approved"),
        "{late:?}"
    );
    let unknown = keyed(
        &api,
        Method::POST,
        "/verifications/01JD3Z6Q0Y4S8V1M2N3P4Q5R6S/cancel",
        None,
    )
    .await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (404, "not_found"),
        "{unknown:?}"
    );
}

#[tokio::test]
async fn a_lookup_tells_whether_and_when_each_destination_was_verified() {
    let api = Api::new();
    let phone = unique_phone();
    let email = unique_email();
    let query = format!(
        "/contacts?phone={}&email={}",
        phone.replace('+', "%2B"),
        email.replace('@', "%40")
    );
    let none = keyed(&api, Method::GET, &query, None).await;
    assert_eq!(none.status, 200, "{none:?}");
    assert_eq!(none.json, json!({ "exists": false, "channels": [] }));
    sign_up_by_sms(&api, &phone).await;
    let (_, code) = {
        let sent = api.post_json("/signup", &json!({ "email": email })).await;
        assert_eq!(sent.status, 202);
        let mail = twostep_tests::emails_to(&email).await;
        (id_of(&sent), code_in(&mail[0].1, 6))
    };
    api.post_json("/verify", &json!({ "email": email, "code": code }))
        .await;
    let found = keyed(&api, Method::GET, &query, None).await;
    assert_eq!(found.status, 200, "{found:?}");
    assert_eq!(found.json["exists"], true);
    let channels = found.json["channels"].as_array().expect("channels");
    assert_eq!(channels.len(), 2, "{found:?}");
    assert_eq!(channels[0]["channel"], "sms");
    assert_eq!(channels[0]["status"], "unverified");
    assert_eq!(channels[0]["verified_at"], Value::Null);
    assert_eq!(channels[1]["channel"], "email");
    assert_eq!(channels[1]["status"], "verified");
    assert!(channels[1]["verified_at"].is_string());
    assert!(
        !found.text.contains(&phone[1..]) && !found.text.contains(&email),
        "{found:?}"
    );

    let empty = keyed(&api, Method::GET, "/contacts", None).await;
    assert_eq!(
        (empty.status, empty.code()),
        (400, "missing_destination"),
        "{empty:?}"
    );
    let bad = keyed(&api, Method::GET, "/contacts?phone=12", None).await;
    assert_eq!((bad.status, bad.code()), (400, "invalid_phone"), "{bad:?}");
}

fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["detail"]["type"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// Each event against docs/events.schema.json: required members, no others, the envelope.
fn assert_schema(events: &[Value]) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/events.schema.json");
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(root).expect("the schema")).expect("JSON");
    let allowed = schema["properties"].as_object().expect("properties");
    for event in events {
        let detail = event["detail"].as_object().expect("detail");
        for required in schema["required"].as_array().expect("required") {
            let name = required.as_str().expect("a name");
            assert!(detail.contains_key(name), "{name} missing: {event}");
        }
        for name in detail.keys() {
            assert!(
                allowed.contains_key(name),
                "{name} is not in the schema: {event}"
            );
        }
        assert_eq!(event["source"], "twostep");
        assert_eq!(
            event["detail-type"],
            format!("verification.{}", detail["type"].as_str().unwrap_or(""))
        );
        assert_eq!(detail["schema_version"], 2);
    }
}

#[tokio::test]
async fn every_outcome_is_published_with_no_code_and_a_masked_destination() {
    let api = Api::new();
    let phone = unique_phone();
    let (id, first_code) = wrong_then_right_by_phone(&api, &phone).await;
    let events = events_of(&id, 3).await;
    assert_eq!(
        types(&events),
        ["sent", "incorrect_code", "approved"],
        "{events:?}"
    );
    assert_eq!(events[1]["detail"]["attempts_remaining"], 4);
    assert!(events[0]["detail"]["expires_at"].is_string());

    // Locked: the last attempt's incorrect_code, then locked.
    let other = unique_phone();
    let (locked, code) = sign_up_by_sms(&api, &other).await;
    for _ in 0..5 {
        api.post_json(
            "/verify",
            &json!({ "verification_id": locked, "code": wrong_code(&code) }),
        )
        .await;
    }
    let locked_events = events_of(&locked, 7).await;
    assert_eq!(
        types(&locked_events).last().map(String::as_str),
        Some("locked"),
        "{locked_events:?}"
    );
    assert_eq!(
        types(&locked_events).len(),
        7,
        "sent, 5 × incorrect_code, locked"
    );

    // Canceled, and expired (CODE_TTL_SECONDS is 15 in the test stack).
    let (canceled, _) = sign_up_by_sms(&api, &unique_phone()).await;
    keyed(
        &api,
        Method::POST,
        &format!("/verifications/{canceled}/cancel"),
        None,
    )
    .await;
    let (expired, _) = sign_up_by_sms(&api, &unique_phone()).await;
    tokio::time::sleep(Duration::from_secs(16)).await;
    for _ in 0..2 {
        let status = api.get(&format!("/verifications/{expired}")).await;
        assert_eq!(status.json["status"], "expired");
    }
    let canceled_events = events_of(&canceled, 2).await;
    assert_eq!(types(&canceled_events), ["sent", "canceled"]);
    let expired_events = events_of(&expired, 2).await;
    assert_eq!(
        types(&expired_events),
        ["sent", "expired"],
        "published once"
    );

    let all: Vec<Value> = [events, locked_events, canceled_events, expired_events].concat();
    assert_schema(&all);
    for event in &all {
        let text = event.to_string();
        for code in [&first_code, &code] {
            assert!(!text.contains(code.as_str()), "a code in {text}");
        }
        for number in [&phone, &other] {
            assert!(!text.contains(&number[1..]), "a full number in {text}");
        }
        assert_eq!(event["detail"]["test"], false);
    }
}

#[tokio::test]
async fn a_test_destination_gets_the_test_code_and_no_message() {
    let api = Api::new();
    let phone = "+15005550009";
    let sent = keyed_signup(&api, json!({ "phone": phone, "code_length": 4 })).await;
    assert_eq!(sent.status, 202, "{sent:?}");
    assert!(
        sms_to(phone).await.is_empty(),
        "no SMS to a test destination"
    );
    let id = id_of(&sent);
    let ok = api
        .post_json("/verify", &json!({ "verification_id": id, "code": "1234" }))
        .await;
    assert_eq!(ok.status, 200, "TEST_CODE cut to 4 digits: {ok:?}");
    let events = events_of(&id, 2).await;
    assert_eq!(types(&events), ["sent", "approved"]);
    assert!(
        events.iter().all(|e| e["detail"]["test"] == true),
        "{events:?}"
    );
    // An ordinary destination still gets a random code by SMS.
    let real = unique_phone();
    sign_up_by_sms(&api, &real).await;
    assert_ne!(last_sms_code(&real).await, "123456");
}
