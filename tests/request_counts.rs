//! DynamoDB requests per operation, counted as AWS would bill them: every call the functions
//! make passes through `scripts/aws_calls.py`, which writes it down. Each operation must
//! make no more requests than docs/data-model.md ("Requests per operation") says.
//!
//! One test in its own binary: cargo runs test binaries one after another, so nothing else
//! calls the functions while it counts.

use std::time::Duration;

use serde_json::{Value, json};
use twostep_tests::*;

/// The recorder's log, read from a mark onwards.
struct Calls(String);

impl Calls {
    fn open() -> Self {
        Self(std::env::var("AWS_CALLS_LOG").expect("AWS_CALLS_LOG is set by scripts/test.sh"))
    }

    fn records(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.0)
            .expect("the calls log")
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn mark(&self) -> usize {
        self.records().len()
    }

    /// The functions' calls to `service` since `mark`, as operation names. The outcome
    /// pipeline (the events and webhooks functions) runs beside the requests, on its own
    /// schedule: its calls are no request's (the benchmark counts them on their own).
    fn since(&self, mark: usize, service: &str) -> Vec<String> {
        self.records()
            .into_iter()
            .skip(mark)
            .filter(|r| {
                r["app"].as_str().is_some_and(|a| {
                    a.starts_with("twostep-") && a != "twostep-events" && a != "twostep-webhooks"
                })
            })
            .filter(|r| r["service"] == service)
            .map(|r| r["operation"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

/// Runs one operation and returns what it answered and the DynamoDB requests it made; also
/// checks that it made no Secrets Manager call (the key is read once, at start).
macro_rules! counted {
    ($calls:expr, $what:expr, $op:expr) => {{
        let mark = $calls.mark();
        let reply = $op.await;
        // The recorder writes a call before it hands the answer on, so the log is complete
        // when the function answers; a short pause covers the file system.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let made = $calls.since(mark, "dynamodb");
        assert_eq!(
            $calls.since(mark, "secretsmanager"),
            Vec::<String>::new(),
            "{}: the key is read at start, not per request",
            $what
        );
        println!("{:<44} {} {:?}", $what, made.len(), made);
        (reply, made)
    }};
}

#[tokio::test]
async fn each_operation_makes_no_more_dynamodb_requests_than_documented() {
    let api = Api::new();
    let calls = Calls::open();
    let phone = unique_phone();
    let email = unique_email();

    let (sent, made) = counted!(
        calls,
        "send to a new destination",
        api.post_json("/signup", &json!({"phone": phone}))
    );
    assert_eq!(sent.status, 202, "{sent:?}");
    assert_eq!(made, ["TransactWriteItems"]);
    let id = sent.json["verification_id"]
        .as_str()
        .expect("id")
        .to_owned();

    let (early, made) = counted!(
        calls,
        "resend within the cooldown (refused)",
        api.post_json("/signup", &json!({"phone": phone}))
    );
    assert_eq!(early.status, 429, "{early:?}");
    assert_eq!(made.len(), 1, "{made:?}");

    let (status, made) = counted!(
        calls,
        "status, pending",
        api.get(&format!("/verifications/{id}"))
    );
    assert_eq!(status.status, 200, "{status:?}");
    assert_eq!(made, ["GetItem", "GetItem"]);

    tokio::time::sleep(Duration::from_millis(1_100)).await; // RESEND_COOLDOWN_SECONDS=1
    let (resent, made) = counted!(
        calls,
        "resend (the contact exists)",
        api.post_json("/signup", &json!({"phone": phone}))
    );
    assert_eq!(resent.status, 202, "{resent:?}");
    assert_eq!(made, ["TransactWriteItems", "TransactWriteItems"]);
    let code = last_sms_code(&phone).await;

    let (wrong, made) = counted!(
        calls,
        "verify by phone, wrong code",
        api.post_json(
            "/verify",
            &json!({"phone": phone, "code": wrong_code(&code)})
        )
    );
    assert_eq!(wrong.status, 422, "{wrong:?}");
    // The count, then (after the comparison) the record that it was wrong: the change the
    // incorrect_code event is made from.
    assert_eq!(made, ["UpdateItem", "UpdateItem"]);

    let (right, made) = counted!(
        calls,
        "verify by phone, right code",
        api.post_json("/verify", &json!({"phone": phone, "code": code}))
    );
    assert_eq!(right.status, 200, "{right:?}");
    assert_eq!(made, ["UpdateItem", "TransactWriteItems"]);

    let (sent, _) = counted!(
        calls,
        "send by email",
        api.post_json("/signup", &json!({"email": email}))
    );
    assert_eq!(sent.status, 202, "{sent:?}");
    let id = sent.json["verification_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let code = emails_to(&email)
        .await
        .last()
        .map(|(_, body)| code_in(body, 6))
        .expect("an email");
    let (wrong, made) = counted!(
        calls,
        "verify by verification_id, wrong code",
        api.post_json(
            "/verify",
            &json!({"verification_id": id, "code": wrong_code(&code)})
        )
    );
    assert_eq!(wrong.status, 422, "{wrong:?}");
    assert_eq!(made, ["GetItem", "UpdateItem", "UpdateItem"]);
    let (right, made) = counted!(
        calls,
        "verify by verification_id, right code",
        api.post_json("/verify", &json!({"verification_id": id, "code": code}))
    );
    assert_eq!(right.status, 200, "{right:?}");
    assert_eq!(made, ["GetItem", "UpdateItem", "TransactWriteItems"]);
    let (status, made) = counted!(
        calls,
        "status, approved",
        api.get(&format!("/verifications/{id}"))
    );
    assert_eq!(status.status, 200, "{status:?}");
    assert_eq!(made, ["GetItem"]);

    let key = [("idempotency-key", "count-me-once-0001")];
    let body = json!({"phone": unique_phone()}).to_string();
    let (first, made) = counted!(
        calls,
        "send with an Idempotency-Key",
        api.request(
            reqwest::Method::POST,
            "/signup",
            &key,
            Some(("application/json", body.clone()))
        )
    );
    assert_eq!(first.status, 202, "{first:?}");
    assert_eq!(made, ["PutItem", "TransactWriteItems", "UpdateItem"]);
    let (replay, made) = counted!(
        calls,
        "the same request again (replayed)",
        api.request(
            reqwest::Method::POST,
            "/signup",
            &key,
            Some(("application/json", body))
        )
    );
    assert_eq!(replay.status, 202, "{replay:?}");
    assert_eq!(made, ["PutItem"]);
}
