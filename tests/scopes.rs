//! Scoped keys and per-key send limits (docs/integrations/README.md): over HTTP on the local
//! stack, each route refuses a key without its scope and changes nothing; a key's own send
//! limit holds, also against twenty concurrent sends through the real route in-process
//! (`cargo lambda watch` runs one invocation at a time, so the race is driven here).

use std::collections::HashMap;
use std::sync::Arc;

use lambda_http::Body;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::task::JoinSet;
use twostep::Config;
use twostep::aws;
use twostep::domain::{ApiKey, ApiKeyRecord, Scopes};
use twostep::metrics::NoMetrics;
use twostep::service::Core;
use twostep::service::keys::KeyRing;
use twostep::store::KeyStore;
use twostep::store::dynamodb::DynamoStore;
use twostep::time::SystemClock;
use twostep_tests::{Api, Reply, env, fresh_table, sign_up_by_sms, sms_to, unique_phone, with_key};

/// A key with `scopes` and `max_sends`, made in `table` as `keys.sh create` makes one.
async fn key_in(table: &str, scopes: &str, max_sends: Option<u32>) -> ApiKey {
    let sdk = aws::sdk_config("tests");
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table.to_owned());
    let key = ApiKey::generate().expect("os rng");
    let record = ApiKeyRecord {
        scopes: Scopes::parse(scopes).expect("scopes"),
        max_sends,
        ..ApiKeyRecord::new(&key, "scoped", 0)
    };
    store.add_api_key(&record).await.expect("key added");
    key
}

/// A key in the local stack's table, once the functions know it: they read the key list
/// again after `API_KEY_CACHE_SECONDS` (2 in the test stack).
async fn key(scopes: &str, max_sends: Option<u32>) -> ApiKey {
    let key = key_in(&env("TABLE_NAME"), scopes, max_sends).await;
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    key
}

async fn call(api: &Api, key: &ApiKey, method: Method, path: &str, body: Option<Value>) -> Reply {
    with_key(api, key.reveal(), method, path, body).await
}

fn assert_scope_required(r: &Reply, scope: &str) {
    assert_eq!((r.status, r.code()), (403, "scope_required"), "{r:?}");
    assert_eq!(r.json["scope"], scope, "{r:?}");
}

#[tokio::test]
async fn a_key_is_refused_outside_its_scopes_on_every_route_and_nothing_changes() {
    let api = Api::new();
    let (id, _) = sign_up_by_sms(&api, &unique_phone()).await;
    let status_only = key("status", None).await;
    let phone = unique_phone();
    let signup = call(
        &api,
        &status_only,
        Method::POST,
        "/signup",
        Some(json!({ "phone": phone })),
    )
    .await;
    assert_scope_required(&signup, "send");
    let verify = json!({ "verification_id": id, "code": "000000" });
    let check = call(&api, &status_only, Method::POST, "/verify", Some(verify)).await;
    assert_scope_required(&check, "check");
    let cancel_path = format!("/verifications/{id}/cancel");
    let cancel = call(&api, &status_only, Method::POST, &cancel_path, None).await;
    assert_scope_required(&cancel, "cancel");
    let lookup_path = format!("/contacts?phone={}", phone.replace('+', "%2B"));
    let lookup = call(&api, &status_only, Method::GET, &lookup_path, None).await;
    assert_scope_required(&lookup, "lookup");
    let status_path = format!("/verifications/{id}");
    let status = call(&api, &status_only, Method::GET, &status_path, None).await;
    assert_eq!(status.status, 200, "in scope: {status:?}");
    assert_eq!(
        status.json["status"], "pending",
        "the refused check counted no attempt and the refused cancel changed nothing"
    );
    assert_eq!(status.json["attempts_remaining"], 5, "{status:?}");
    // A send-only key sends, but its keyed settings need `options`.
    let send_only = key("send", None).await;
    let options = json!({ "phone": phone, "code_length": 4 });
    let r = call(&api, &send_only, Method::POST, "/signup", Some(options)).await;
    assert_scope_required(&r, "options");
    assert!(sms_to(&phone).await.is_empty(), "nothing was sent");
    let plain = json!({ "phone": phone });
    let r = call(&api, &send_only, Method::POST, "/signup", Some(plain)).await;
    assert_eq!(r.status, 202, "{r:?}");
    assert_eq!(sms_to(&phone).await.len(), 1);
}

#[tokio::test]
async fn the_adapters_refuse_a_key_outside_its_scopes_in_their_own_shapes() {
    use base64::Engine as _;
    let api = Api::new();
    let check_only = key("check", None).await;
    let phone = unique_phone();
    let text = check_only.reveal();
    let (id, secret) = text[4..].split_once('_').expect("tsk_<id>_<secret>");
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    let form =
        serde_urlencoded::to_string([("To", phone.as_str()), ("Channel", "sms")]).expect("a form");
    let twilio = api
        .request(
            Method::POST,
            "/v2/Services/VA0123456789abcdef0123456789abcdef/Verifications",
            &[("authorization", &format!("Basic {basic}"))],
            Some(("application/x-www-form-urlencoded", form)),
        )
        .await;
    assert_eq!(
        (twilio.status, twilio.json["code"].as_u64()),
        (403, Some(20403)),
        "{twilio:?}"
    );
    let query = serde_urlencoded::to_string([
        ("customerId", "no-such-customer"),
        ("TwoFactorAuthSelectedMethod", "SMS"),
    ])
    .expect("a query");
    let genesys = api
        .request(
            Method::GET,
            &format!("/genesys/sendAuthenticationCode?{query}"),
            &[("authorization", &format!("Bearer {text}"))],
            None,
        )
        .await;
    assert_eq!(genesys.status, 403, "{genesys:?}");
    assert!(
        genesys.text.contains("<status>error</status>") && genesys.text.contains("scope_required"),
        "{}",
        genesys.text
    );
    let connector = api
        .request(
            Method::POST,
            "/connector/send",
            &[("authorization", text)],
            Some(("application/json", json!({ "phone": phone }).to_string())),
        )
        .await;
    assert_scope_required(&connector, "send");
    assert!(sms_to(&phone).await.is_empty(), "nothing was sent");
}

#[tokio::test]
async fn a_key_made_by_keys_sh_has_its_scopes_and_its_own_send_limit() {
    // scripts/test.sh made it: `keys.sh create … --scopes send,status --max-sends 2`.
    let key = ApiKey::parse(&env("TWOSTEP_LIMITED_KEY")).expect("a key");
    let api = Api::new();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let body = json!({ "phone": unique_phone() });
        let r = call(&api, &key, Method::POST, "/signup", Some(body)).await;
        assert_eq!(r.status, 202, "{r:?}");
        ids.push(r.json["verification_id"].as_str().expect("id").to_owned());
    }
    let phone = unique_phone();
    let over = call(
        &api,
        &key,
        Method::POST,
        "/signup",
        Some(json!({ "phone": phone })),
    )
    .await;
    assert_eq!(
        (over.status, over.code()),
        (429, "too_many_sends_for_key"),
        "{over:?}"
    );
    let retry_after = over.json["retry_after"].as_u64().expect("retry_after");
    assert!((3_000..=3_600).contains(&retry_after), "{over:?}");
    assert_eq!(over.header("retry-after"), retry_after.to_string());
    assert!(sms_to(&phone).await.is_empty(), "nothing was sent");
    // The limit is the key's: an anonymous form still sends.
    let r = api.post_json("/signup", &json!({ "phone": phone })).await;
    assert_eq!(r.status, 202, "{r:?}");
    let status = call(
        &api,
        &key,
        Method::GET,
        &format!("/verifications/{}", ids[0]),
        None,
    )
    .await;
    assert_eq!(status.status, 200, "{status:?}");
    let check = json!({ "verification_id": ids[0], "code": "000000" });
    let refused = call(&api, &key, Method::POST, "/verify", Some(check)).await;
    assert_scope_required(&refused, "check");
}

/// Twenty `POST /signup`s at once with a key limited to three sends, through the send
/// function's route in-process against DynamoDB Local and the SMS emulator.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_sends_with_a_key_limited_to_three_deliver_three() {
    let sdk = aws::sdk_config("tests");
    let table = fresh_table(&sdk).await;
    let mut vars: HashMap<String, String> = std::env::vars().collect();
    vars.insert("TABLE_NAME".into(), table.clone());
    let config = Config::from_vars(&vars).expect("config");
    let sender = Arc::new(aws::sender(&sdk, &config));
    // As the send function reads it: in the background, from the start.
    let hasher = aws::code_hasher_from_start(&sdk, &config);
    let key = key_in(&table, "send", Some(3)).await;
    let app = Arc::new(twostep::http::App {
        core: Core {
            config: Arc::new(config),
            store: Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table)),
            clock: Arc::new(SystemClock),
            metrics: Arc::new(NoMetrics),
        },
        hasher,
        keys: KeyRing::new(),
    });
    let phones: Vec<String> = (0..20).map(|_| unique_phone()).collect();
    let mut set = JoinSet::new();
    for phone in phones.clone() {
        let (app, sender, auth) = (
            app.clone(),
            sender.clone(),
            format!("Bearer {}", key.reveal()),
        );
        set.spawn(async move { signup(&app, sender.as_ref(), &auth, &phone).await });
    }
    let answers = set.join_all().await;
    let accepted = answers.iter().filter(|(status, _)| *status == 202).count();
    assert!((1..=3).contains(&accepted), "{answers:?}");
    for (status, body) in answers.iter().filter(|(status, _)| *status != 202) {
        assert_eq!(
            (*status, body["code"].as_str()),
            (429, Some("too_many_sends_for_key")),
            "{body}"
        );
    }
    let mut delivered = 0;
    for phone in &phones {
        delivered += sms_to(phone).await.len();
    }
    assert_eq!(
        delivered, accepted,
        "one SMS per accepted send, none for the refused ones"
    );
    // One at a time, the key's log fills up to exactly its limit.
    let send = |phone: String| {
        let (app, sender, auth) = (
            app.clone(),
            sender.clone(),
            format!("Bearer {}", key.reveal()),
        );
        async move { signup(&app, sender.as_ref(), &auth, &phone).await }
    };
    for _ in accepted..3 {
        assert_eq!(send(unique_phone()).await.0, 202, "within the key's limit");
    }
    let (status, body) = send(unique_phone()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("too_many_sends_for_key")),
        "{body}"
    );
}

/// `POST /signup` for `phone` through the send function's route, with `authorization`.
async fn signup(
    app: &twostep::http::App,
    sender: &dyn twostep::channels::Sender,
    authorization: &str,
    phone: &str,
) -> (u16, Value) {
    let request = lambda_http::http::Request::builder()
        .method("POST")
        .uri("/signup")
        .header("content-type", "application/json")
        .header("authorization", authorization)
        .body(Body::Text(json!({ "phone": phone }).to_string()))
        .expect("a request");
    let response = twostep::http::routes::signup::post(app, sender, &request).await;
    let body: Value = match response.body() {
        Body::Text(text) => serde_json::from_str(text).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    (response.status().as_u16(), body)
}
