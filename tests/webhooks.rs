//! Signed webhooks (docs/deploy.md, "Events and the webhook"), on the local stack: the bus's
//! rule puts each event on a queue in moto, scripts/queues.py plays Lambda's SQS mapping into
//! the webhooks function, which POSTs each event to docs/integrations/webhook_receiver.py.
//! That receiver verifies every delivery with the Standard Webhooks library (PyPI
//! `standardwebhooks`) and records it; it can be told to refuse deliveries, as a receiver
//! that is down would. The local waits between attempts are 1, 2 and 2 s
//! (`WEBHOOK_RETRY_SECONDS`): four attempts, then the dead-letter queue.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use twostep::time::{Clock, SystemClock};
use twostep_tests::{Api, env, sign_up_by_sms, unique_phone, wrong_then_right_by_phone};

fn receiver() -> String {
    env("TWOSTEP_HOOK_URL")
}

/// Every delivery the receiver recorded whose event is about verification `id`, oldest first.
async fn deliveries_for(id: &str) -> Vec<Value> {
    let all: Vec<Value> = reqwest::get(format!("{}/deliveries", receiver()))
        .await
        .expect("the receiver answers")
        .json()
        .await
        .expect("its record");
    all.into_iter()
        .filter(|d| body(d)["data"]["verification_id"] == id)
        .collect()
}

fn body(delivery: &Value) -> Value {
    delivery["body"]
        .as_str()
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null)
}

fn of_type<'a>(deliveries: &'a [Value], kind: &str) -> Vec<&'a Value> {
    deliveries
        .iter()
        .filter(|d| body(d)["type"] == kind)
        .collect()
}

/// Waits (up to `seconds`) until `done` holds for the deliveries of `id`; gives them.
async fn wait_for(id: &str, seconds: u64, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        let found = deliveries_for(id).await;
        if done(&found) || Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Makes the receiver refuse the next `times` deliveries of `kind` about `id` (-1: all).
async fn refuse(id: &str, kind: &str, status: u16, times: i32, retry_after: Option<u32>) {
    let mut fault = json!({"verification_id": id, "type": kind, "status": status, "times": times});
    if let Some(seconds) = retry_after {
        fault["retry_after"] = json!(seconds);
    }
    let answer = reqwest::Client::new()
        .post(format!("{}/faults", receiver()))
        .json(&fault)
        .send()
        .await
        .expect("the receiver answers");
    assert_eq!(answer.status(), 204);
}

fn timestamp(delivery: &Value) -> i64 {
    delivery["timestamp"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("a webhook-timestamp")
}

#[tokio::test]
async fn every_outcome_is_posted_signed_and_the_library_verifies_it() {
    let api = Api::new();
    let phone = unique_phone();
    let (id, code) = wrong_then_right_by_phone(&api, &phone).await;
    let found = wait_for(&id, 30, |d| d.len() >= 3).await;
    // One delivery each (the queue is not ordered: the last two may come in either order).
    let mut kinds: Vec<String> = found
        .iter()
        .map(|d| body(d)["type"].as_str().unwrap_or_default().to_owned())
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "verification.approved",
            "verification.incorrect_code",
            "verification.sent"
        ],
        "{found:#?}"
    );
    for delivery in &found {
        assert_eq!(delivery["verified"], true, "{delivery:#}");
        assert_eq!(delivery["outcome"], "accepted", "{delivery:#}");
        let sent = body(delivery);
        // webhook-id is the event's id, the one a consumer de-duplicates by.
        assert_eq!(delivery["id"], sent["data"]["event_id"], "{delivery:#}");
        assert_eq!(sent["data"]["schema_version"], 2);
        assert_eq!(sent["timestamp"], sent["data"]["occurred_at"]);
        assert!((timestamp(delivery) - now()).abs() < 60, "{delivery:#}");
        let text = delivery["body"].as_str().expect("a body");
        assert!(!text.contains(&code), "the code went out: {text}");
        assert!(!text.contains(&phone[1..]), "the number went out: {text}");
    }
    let wrong = of_type(&found, "verification.incorrect_code");
    assert_eq!(
        body(wrong[0])["data"]["attempts_remaining"],
        4,
        "{found:#?}"
    );
}

/// Now, in unix seconds (as `webhook-timestamp`).
fn now() -> i64 {
    SystemClock.now_ms() / 1000
}

#[tokio::test]
async fn a_refused_delivery_comes_again_after_retry_after_with_the_same_id_and_a_new_signature() {
    let api = Api::new();
    let phone = unique_phone();
    let (id, code) = sign_up_by_sms(&api, &phone).await;
    // The receiver is overloaded for the approval: 429, come back in 3 s, twice.
    refuse(&id, "verification.approved", 429, 2, Some(3)).await;
    let right = api
        .post_json("/verify", &json!({"verification_id": id, "code": code}))
        .await;
    assert_eq!(right.status, 200, "{right:?}");
    let found = wait_for(&id, 40, |d| {
        of_type(d, "verification.approved")
            .iter()
            .any(|a| a["outcome"] == "accepted")
    })
    .await;
    let approved = of_type(&found, "verification.approved");
    let outcomes: Vec<&Value> = approved.iter().map(|a| &a["outcome"]).collect();
    assert_eq!(outcomes, ["fault", "fault", "accepted"], "{approved:#?}");
    for attempt in &approved {
        assert_eq!(
            attempt["verified"], true,
            "every attempt is signed: {attempt:#}"
        );
        assert_eq!(
            attempt["id"], approved[0]["id"],
            "one webhook-id for every attempt"
        );
        assert_eq!(attempt["body"], approved[0]["body"], "the same body");
    }
    // Retry-After (3 s) is longer than the schedule's 1 and 2 s: it is the wait.
    for pair in approved.windows(2) {
        let gap = pair[1]["received_at"].as_f64().unwrap_or(0.0)
            - pair[0]["received_at"].as_f64().unwrap_or(0.0);
        assert!(gap >= 2.5, "attempts {gap:.1} s apart: {approved:#?}");
        assert!(
            timestamp(pair[1]) > timestamp(pair[0]),
            "signed at each attempt"
        );
        assert_ne!(pair[1]["signature"], pair[0]["signature"]);
    }
}

#[tokio::test]
async fn a_delivery_refused_every_time_ends_in_the_dead_letter_queue() {
    let api = Api::new();
    let phone = unique_phone();
    let (id, code) = sign_up_by_sms(&api, &phone).await;
    refuse(&id, "verification.approved", 503, -1, None).await;
    let right = api
        .post_json("/verify", &json!({"verification_id": id, "code": code}))
        .await;
    assert_eq!(right.status, 200, "{right:?}");
    let attempts: u32 = env("WEBHOOK_RETRY_SECONDS")
        .split(',')
        .count()
        .try_into()
        .expect("a few");
    let attempts = attempts + 1;
    let found = wait_for(&id, 40, |d| {
        of_type(d, "verification.approved").len() >= attempts as usize
    })
    .await;
    let approved = of_type(&found, "verification.approved");
    assert_eq!(approved.len(), attempts as usize, "{approved:#?}");
    assert!(approved.iter().all(|a| a["verified"] == true));
    // The waits of the schedule between them (1, 2, 2 s), give or take the polling.
    let waits: Vec<f64> = env("WEBHOOK_RETRY_SECONDS")
        .split(',')
        .map(|w| w.parse().expect("seconds"))
        .collect();
    for (pair, wait) in approved.windows(2).zip(&waits) {
        let gap = pair[1]["received_at"].as_f64().unwrap_or(0.0)
            - pair[0]["received_at"].as_f64().unwrap_or(0.0);
        assert!(gap >= wait - 0.3, "{gap:.1} s, not {wait} s: {approved:#?}");
    }
    // Then it is in the dead-letter queue, whole, and tried no more.
    let dead = dead_letter_for(&id).await;
    let event: Value = serde_json::from_str(&dead).expect("the EventBridge event");
    assert_eq!(event["detail-type"], "verification.approved");
    assert_eq!(event["detail"]["event_id"], approved[0]["id"]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        of_type(&deliveries_for(&id).await, "verification.approved").len(),
        attempts as usize
    );
}

/// The body of the message about `id` in the webhook's dead-letter queue (waiting for it).
async fn dead_letter_for(id: &str) -> String {
    let sdk = twostep::aws::sdk_config("tests");
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = format!("{}-dead-letters", env("WEBHOOK_QUEUE_URL"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let out = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .visibility_timeout(1)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("the dead-letter queue answers");
        for message in out.messages() {
            let body = message.body().unwrap_or_default();
            if body.contains(id) {
                return body.to_owned();
            }
        }
    }
    panic!("no message about {id} in the dead-letter queue");
}

/// The webhook secret's value (JSON).
async fn secret() -> Value {
    let sdk = twostep::aws::sdk_config("tests");
    let text = aws_sdk_secretsmanager::Client::new(&sdk)
        .get_secret_value()
        .secret_id(env("WEBHOOK_SECRET_ID"))
        .send()
        .await
        .expect("the secret")
        .secret_string()
        .expect("a string")
        .to_owned();
    serde_json::from_str(&text).expect("JSON")
}

/// Puts `value` as the webhook secret.
async fn put_secret(value: &Value) {
    let sdk = twostep::aws::sdk_config("tests");
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let id = env("WEBHOOK_SECRET_ID");
    secrets
        .put_secret_value()
        .secret_id(&id)
        .secret_string(value.to_string())
        .send()
        .await
        .expect("a new value");
}

async fn verifies_with(delivery: &Value, secret: &str) -> bool {
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/check", receiver()))
        .json(&json!({"secret": secret, "delivery": delivery}))
        .send()
        .await
        .expect("the receiver answers")
        .json()
        .await
        .expect("JSON");
    answer["verified"] == true
}

#[tokio::test]
async fn during_a_rotation_both_secrets_sign_every_delivery() {
    let api = Api::new();
    // The receiver holds the current secret; the new one is 33 random bytes, as generated.
    let new = "Q2hhbmdlZCBzZWNyZXQgZm9yIGEgcm90YXRpb24gdGVzdC4";
    let old = secret().await["current"]
        .as_str()
        .expect("current")
        .to_owned();
    put_secret(&json!({"current": new, "previous": old})).await;
    // The function reads the secret again after WEBHOOK_SECRET_CACHE_SECONDS (1 s here).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (id, _) = sign_up_by_sms(&api, &unique_phone()).await;
    let found = wait_for(&id, 30, |d| !d.is_empty()).await;
    put_secret(&json!({"current": old})).await;
    let sent = found.first().expect("the sent event's delivery");
    let signatures: Vec<&str> = sent["signature"]
        .as_str()
        .expect("a signature header")
        .split(' ')
        .collect();
    assert_eq!(signatures.len(), 2, "{sent:#}");
    assert!(signatures.iter().all(|s| s.starts_with("v1,")));
    // A receiver on either secret verifies it; one on another does not.
    assert_eq!(sent["verified"], true, "the receiver's (previous) secret");
    assert!(verifies_with(sent, &format!("whsec_{new}")).await);
    assert!(verifies_with(sent, &old).await, "the prefix is optional");
    assert!(!verifies_with(sent, &format!("whsec_{}", "A".repeat(44))).await);
}

/// POSTs a delivery to the receiver as twostep would, with these headers.
async fn post_to_receiver(id: &str, timestamp: i64, signature: &str, body: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{}/twostep", receiver()))
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("the receiver answers")
        .status()
        .as_u16()
}

#[tokio::test]
async fn the_receiver_refuses_a_forged_or_replayed_delivery_and_drops_a_repeat() {
    let secret = secret().await["current"]
        .as_str()
        .expect("current")
        .to_owned();
    let keys = twostep::webhooks::SigningKeys {
        current: twostep::webhooks::WebhookSecret::parse(&secret).expect("the stack's secret"),
        previous: None,
    };
    let body = json!({"type": "verification.approved", "timestamp": "2026-01-01T00:00:00Z",
        "data": {"verification_id": "forged"}})
    .to_string();
    // Signed with another key: refused.
    let other = twostep::webhooks::WebhookSecret::parse(&"B".repeat(44)).expect("a key");
    let forged = other.sign("forged-1", now(), body.as_bytes());
    assert_eq!(
        post_to_receiver("forged-1", now(), &forged, &body).await,
        401
    );
    // Signed with the stack's key ten minutes ago (a captured delivery played again): refused.
    let old = now() - 600;
    let replayed = keys.signature_header("forged-1", old, body.as_bytes());
    assert_eq!(
        post_to_receiver("forged-1", old, &replayed, &body).await,
        401
    );
    // A real delivery sent again (at least once): accepted, and handled once.
    let api = Api::new();
    let (id, _) = sign_up_by_sms(&api, &unique_phone()).await;
    let first = wait_for(&id, 30, |d| !d.is_empty()).await;
    let sent = first.first().expect("the sent event's delivery");
    let again = post_to_receiver(
        sent["id"].as_str().expect("an id"),
        timestamp(sent),
        sent["signature"].as_str().expect("a signature"),
        sent["body"].as_str().expect("a body"),
    )
    .await;
    assert_eq!(again, 204);
    let after = deliveries_for(&id).await;
    let outcomes: Vec<&Value> = after.iter().map(|d| &d["outcome"]).collect();
    assert_eq!(outcomes, ["accepted", "duplicate"], "{after:#?}");
}

/// Every delivery of the whole run verified with the library (but the forged ones above).
#[test]
#[ignore = "reads the deliveries of the whole suite: scripts/test.sh runs it last"]
fn every_delivery_of_the_suite_verified() {
    let log = std::fs::read_to_string(env("TWOSTEP_WEBHOOKS_LOG")).expect("the receiver's record");
    let deliveries: Vec<Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .filter(|d: &Value| d["id"] != "forged-1")
        .collect();
    assert!(deliveries.len() > 50, "{} deliveries", deliveries.len());
    let unverified: Vec<&Value> = deliveries
        .iter()
        .filter(|d| d["verified"] != true)
        .collect();
    assert!(unverified.is_empty(), "{unverified:#?}");
    println!("{} deliveries, each verified", deliveries.len());
}
