//! Helpers for the integration tests: a client of the running API, the messages the
//! local SNS/SES emulator recorded, and unique destinations per test.
//!
//! The tests need the local stack that `scripts/test.sh` starts; they say so if it is not there.

pub mod faults;

use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use rand::RngExt;
use serde_json::Value;

/// A variable that `scripts/test.sh` sets; a clear panic when it is missing.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the integration tests with ./scripts/test.sh, which starts the local stack")
    })
}

/// The API's base URL (`cargo lambda watch` with its router).
pub fn api_url() -> String {
    env("TWOSTEP_API_URL")
}

/// A response as a client sees it.
#[derive(Debug)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body as JSON (`Null` when it is not JSON).
    pub json: Value,
    /// The body as text.
    pub text: String,
}

impl Reply {
    /// A header's value, or "" when it is absent.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The `code` member of a problem body.
    pub fn code(&self) -> &str {
        self.json["code"].as_str().unwrap_or("")
    }
}

/// An HTTP client of the local API.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
}

impl Default for Api {
    fn default() -> Self {
        Self::new()
    }
}

impl Api {
    /// A client of `TWOSTEP_API_URL`.
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            // A form's 303 is what the tests look at; they never follow it.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Self {
            http,
            base: api_url(),
        }
    }

    /// A request to `path` with any method and headers.
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, String)>,
    ) -> Reply {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some((content_type, body)) = body {
            request = request.header("content-type", content_type).body(body);
        }
        Self::reply(request.send().await.expect("the API answers")).await
    }

    async fn reply(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        Reply {
            status,
            headers,
            json: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        }
    }

    /// POSTs a JSON body.
    pub async fn post_json(&self, path: &str, body: &Value) -> Reply {
        self.post_raw(path, "application/json", body.to_string())
            .await
    }

    /// POSTs a form-urlencoded body, as a plain HTML form does.
    pub async fn post_form(&self, path: &str, pairs: &[(&str, &str)]) -> Reply {
        let body = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.post_raw(path, "application/x-www-form-urlencoded", body)
            .await
    }

    /// POSTs any body with any content type.
    pub async fn post_raw(&self, path: &str, content_type: &str, body: String) -> Reply {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("the API answers");
        Self::reply(response).await
    }

    /// GETs a path.
    pub async fn get(&self, path: &str) -> Reply {
        Self::reply(
            self.http
                .get(format!("{}{path}", self.base))
                .send()
                .await
                .expect("the API answers"),
        )
        .await
    }

    /// Invokes the cleanup function as the schedule (or an operator) would.
    pub async fn invoke_cleanup(&self, payload: &Value) -> Value {
        let response = self
            .http
            .post(format!(
                "{}/2015-03-31/functions/cleanup/invocations",
                self.base
            ))
            .body(payload.to_string())
            .send()
            .await
            .expect("the runner answers");
        response.json().await.expect("a JSON report")
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A fresh, valid German landline number in E.164, unique to the caller.
pub fn unique_phone() -> String {
    format!("+49301{:07}", rand::rng().random_range(0..10_000_000u32))
}

/// A fresh email address.
pub fn unique_email() -> String {
    format!("user{}@example.com", rand::rng().random_range(0..u64::MAX))
}

async fn outbox() -> Value {
    let url = format!("{}/moto-api/data.json", env("TWOSTEP_MOTO_URL"));
    reqwest::get(url)
        .await
        .expect("moto answers")
        .json()
        .await
        .expect("moto's record")
}

/// Every SMS text the emulator recorded for `phone`, oldest first.
pub async fn sms_to(phone: &str) -> Vec<String> {
    let data = outbox().await;
    data["sns"]["SMS"]
        .as_array()
        .map(|all| {
            all.iter()
                .filter(|m| m["phone_number"] == phone)
                .filter_map(|m| m["message"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Every email (subject, body) the emulator recorded for `address`, oldest first.
pub async fn emails_to(address: &str) -> Vec<(String, String)> {
    let data = outbox().await;
    data["ses"]["Message"]
        .as_array()
        .map(|all| {
            all.iter()
                .filter(|m| {
                    m["destinations"]["ToAddresses"]
                        .as_array()
                        .is_some_and(|to| to.iter().any(|a| a == address))
                })
                .map(|m| {
                    (
                        m["subject"].as_str().unwrap_or("").to_owned(),
                        m["body"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The voice stub's base URL (scripts/voice_stub.py: `GET /calls`, `POST /reset`).
pub fn voice_url() -> String {
    env("TWOSTEP_VOICE_URL")
}

/// Every call the voice stub recorded to `phone`, oldest first: `{"destination",
/// "origination", "voice_id", "body_type", "body", "message_id", "at"}`.
pub async fn calls_to(phone: &str) -> Vec<Value> {
    let calls: Value = reqwest::get(format!("{}/calls", voice_url()))
        .await
        .expect("the voice stub answers")
        .json()
        .await
        .expect("the voice stub's record");
    calls
        .as_array()
        .map(|all| {
            all.iter()
                .filter(|c| c["destination"] == phone)
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// The code in a message: the first run of `len` digits.
pub fn code_in(text: &str, len: usize) -> String {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == len)
        .unwrap_or_else(|| panic!("no {len}-digit code in {text:?}"))
        .to_owned()
}

/// The newest code sent by SMS to `phone`.
pub async fn last_sms_code(phone: &str) -> String {
    let all = sms_to(phone).await;
    code_in(all.last().unwrap_or_else(|| panic!("no SMS to {phone}")), 6)
}

/// A code that is not `code`.
pub fn wrong_code(code: &str) -> String {
    let n: u32 = code.parse().expect("digits");
    format!("{:06}", (n + 1) % 1_000_000)
}

/// Signs `phone` up by SMS, expecting 202; the verification id and the code it received.
pub async fn sign_up_by_sms(api: &Api, phone: &str) -> (String, String) {
    let sent = api
        .post_json("/signup", &serde_json::json!({ "phone": phone }))
        .await;
    assert_eq!(sent.status, 202, "{sent:?}");
    let id = sent.json["verification_id"]
        .as_str()
        .expect("a verification id")
        .to_owned();
    (id, last_sms_code(phone).await)
}

/// The API key that `scripts/test.sh` created for the suite.
pub fn api_key() -> String {
    env("TWOSTEP_API_KEY")
}

/// Every event the local bus copied to its log group for `verification_id`, oldest first
/// (each an EventBridge envelope: `source`, `detail-type`, `detail`).
pub async fn events_for(verification_id: &str) -> Vec<Value> {
    let url = format!("{}/", env("TWOSTEP_MOTO_URL"));
    let mut found = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = serde_json::json!({ "logGroupName": "/twostep/local/events" });
        if let Some(t) = &token {
            body["nextToken"] = Value::from(t.clone());
        }
        let answer: Value = reqwest::Client::new()
            .post(&url)
            .header("x-amz-target", "Logs_20140328.FilterLogEvents")
            .header("content-type", "application/x-amz-json-1.1")
            // moto routes by the signature's service; it does not check it.
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/logs/aws4_request, SignedHeaders=host, Signature=0",
            )
            .body(body.to_string())
            .send()
            .await
            .expect("moto answers")
            .json()
            .await
            .expect("FilterLogEvents JSON");
        for event in answer["events"].as_array().into_iter().flatten() {
            let message: Value = event["message"]
                .as_str()
                .and_then(|m| serde_json::from_str(m).ok())
                .expect("an event envelope");
            if message["detail"]["verification_id"] == verification_id {
                found.push(message);
            }
        }
        match answer["nextToken"].as_str() {
            Some(t) if Some(t) != token.as_deref() => token = Some(t.to_owned()),
            _ => return found,
        }
    }
}

/// The events of `id`, once at least `at_least` arrived (or after 20 s): they come from the
/// table's stream (scripts/streams.py reads it about five times a second) through the
/// events function, and the emulator's rule copies them to the log group.
pub async fn events_of(id: &str, at_least: usize) -> Vec<Value> {
    for _ in 0..200 {
        let found = events_for(id).await;
        if found.len() >= at_least {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    events_for(id).await
}

/// Signs `phone` up by SMS, checks one wrong code (`422`) and then the right one (`200`), by
/// phone; the verification id and its code.
pub async fn wrong_then_right_by_phone(api: &Api, phone: &str) -> (String, String) {
    let (id, code) = sign_up_by_sms(api, phone).await;
    let wrong = api
        .post_json(
            "/verify",
            &serde_json::json!({ "phone": phone, "code": wrong_code(&code) }),
        )
        .await;
    assert_eq!(wrong.status, 422, "{wrong:?}");
    let right = api
        .post_json(
            "/verify",
            &serde_json::json!({ "phone": phone, "code": code }),
        )
        .await;
    assert_eq!(right.status, 200, "{right:?}");
    (id, code)
}

// ---- tables of their own ----------------------------------------------------------------

fn keys(list: &Value) -> Vec<KeySchemaElement> {
    list.as_array()
        .expect("a key schema")
        .iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(k["AttributeName"].as_str().expect("name"))
                .key_type(KeyType::from(k["KeyType"].as_str().expect("type")))
                .build()
                .expect("key")
        })
        .collect()
}

/// A table of its own, with the definition template.yaml gives.
pub async fn fresh_table(sdk: &aws_config::SdkConfig) -> String {
    let path = std::env::var("TWOSTEP_TABLE_DEFINITION")
        .expect("TWOSTEP_TABLE_DEFINITION is set by scripts/test.sh");
    let def: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("definition")).expect("json");
    let name = format!("test-{}", rand::rng().random_range(0..u64::MAX));
    let mut create = aws_sdk_dynamodb::Client::new(sdk)
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::from(
            def["BillingMode"].as_str().expect("billing"),
        ))
        .set_key_schema(Some(keys(&def["KeySchema"])));
    for a in def["AttributeDefinitions"].as_array().expect("attributes") {
        create = create.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(a["AttributeName"].as_str().expect("name"))
                .attribute_type(ScalarAttributeType::from(
                    a["AttributeType"].as_str().expect("type"),
                ))
                .build()
                .expect("attribute"),
        );
    }
    for g in def["GlobalSecondaryIndexes"].as_array().expect("indexes") {
        let projection = Projection::builder()
            .projection_type(ProjectionType::from(
                g["Projection"]["ProjectionType"]
                    .as_str()
                    .expect("projection"),
            ))
            .build();
        create = create.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(g["IndexName"].as_str().expect("index"))
                .set_key_schema(Some(keys(&g["KeySchema"])))
                .projection(projection)
                .build()
                .expect("index"),
        );
    }
    create
        .send()
        .await
        .expect("DynamoDB Local creates the table");
    name
}

/// Just over the stack's cooldown (`RESEND_COOLDOWN_SECONDS=1`).
pub async fn after_cooldown() {
    tokio::time::sleep(Duration::from_millis(1_200)).await;
}

/// The `verification_id` of an answer.
pub fn id_of(reply: &Reply) -> String {
    reply.json["verification_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no verification id: {reply:?}"))
        .to_owned()
}

/// Asserts an answer's status and problem `code`.
pub fn assert_problem(reply: &Reply, status: u16, code: &str) {
    assert_eq!((reply.status, reply.code()), (status, code), "{reply:?}");
}

/// The `(type, channel)` of each event.
pub fn kinds(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            let text = |name: &str| e["detail"][name].as_str().unwrap_or("").to_owned();
            (text("type"), text("channel"))
        })
        .collect()
}

/// `GET /verifications/{id}`, expecting 200.
pub async fn status_of(api: &Api, id: &str) -> Reply {
    let r = api.get(&format!("/verifications/{id}")).await;
    assert_eq!(r.status, 200, "{r:?}");
    r
}

/// A request with `Authorization: Bearer <key>` and, if given, a JSON body.
pub async fn with_key(
    api: &Api,
    key: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Reply {
    let auth = format!("Bearer {key}");
    api.request(
        method,
        path,
        &[("authorization", &auth)],
        body.map(|b| ("application/json", b.to_string())),
    )
    .await
}
