//! The workflow connector (connectors/power-automate/) against the local stack, as Power
//! Automate calls it: each operation of its swagger, read from the file so that an operation
//! cannot go untested, with the bare key a connection sends, every answer held to the
//! swagger's schema; a wrong code, a resend too soon and a bad number are `200` outcomes a
//! flow branches on, never a failed action.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use twostep_tests::{Api, Reply, api_key, last_sms_code, sms_to, unique_phone, wrong_code};

fn swagger() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../connectors/power-automate/apiDefinition.swagger.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("the swagger")).expect("json")
}

/// The swagger's operations by id: (path, its operation).
fn operation(swagger: &Value, id: &str) -> (String, Value) {
    for (path, item) in swagger["paths"].as_object().expect("paths") {
        if let Some(op) = item["post"].as_object()
            && op["operationId"] == id
        {
            return (path.clone(), Value::Object(op.clone()));
        }
    }
    panic!("no operation {id} in the swagger");
}

fn resolve<'a>(swagger: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(target) => swagger
            .pointer(target.trim_start_matches('#'))
            .expect("a definition"),
        None => schema,
    }
}

/// Holds `value` to a swagger 2.0 schema as Power Automate reads one: the required members,
/// no undeclared member, and each member's type and enum.
fn conforms(swagger: &Value, schema: &Value, value: &Value) -> Result<(), String> {
    let schema = resolve(swagger, schema);
    let object = value.as_object().ok_or("not an object")?;
    let properties = schema["properties"].as_object().ok_or("no properties")?;
    for required in schema["required"].as_array().into_iter().flatten() {
        let name = required.as_str().unwrap_or_default();
        if !object.contains_key(name) {
            return Err(format!("{name} is missing"));
        }
    }
    for (name, member) in object {
        let declared = properties
            .get(name)
            .ok_or_else(|| format!("{name} is not in the swagger"))?;
        let fits = match declared["type"].as_str() {
            Some("string") => member.is_string(),
            Some("boolean") => member.is_boolean(),
            Some("integer") => member.is_i64() || member.is_u64(),
            other => return Err(format!("{name}: type {other:?}")),
        };
        if !fits {
            return Err(format!("{name}: {member} is not a {}", declared["type"]));
        }
        if let Some(allowed) = declared["enum"].as_array()
            && !allowed.contains(member)
        {
            return Err(format!("{name}: {member} is not one of {allowed:?}"));
        }
    }
    Ok(())
}

/// A connector client: the swagger, and the key as a connection holds it (bare).
struct Connector {
    api: Api,
    swagger: Value,
    key: String,
}

impl Connector {
    fn new() -> Self {
        Self {
            api: Api::new(),
            swagger: swagger(),
            key: api_key(),
        }
    }

    /// Calls operation `id` with `body`, checks the body's fields against the swagger's and the
    /// answer against its response schema, and gives the answer.
    async fn call(&self, id: &str, body: Value) -> Reply {
        self.call_with(id, body, &self.key).await
    }

    async fn call_with(&self, id: &str, body: Value, authorization: &str) -> Reply {
        let (path, op) = operation(&self.swagger, id);
        let parameter = op["parameters"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["in"] == "body"))
            .expect("a body parameter");
        let request = resolve(&self.swagger, &parameter["schema"]);
        for name in body.as_object().expect("an object").keys() {
            assert!(
                request["properties"].get(name).is_some(),
                "{id}: the test sends {name}, which the swagger does not offer"
            );
        }
        let headers: Vec<(&str, &str)> = if authorization.is_empty() {
            Vec::new()
        } else {
            vec![("authorization", authorization)]
        };
        let reply = self
            .api
            .request(
                Method::POST,
                &path,
                &headers,
                Some(("application/json", body.to_string())),
            )
            .await;
        let status = reply.status.to_string();
        let declared = &op["responses"][&status];
        assert!(
            declared.is_object(),
            "{id}: a {status} that the swagger does not declare: {reply:?}"
        );
        if reply.status == 200 {
            conforms(&self.swagger, &declared["schema"], &reply.json)
                .unwrap_or_else(|e| panic!("{id}: {e}: {}", reply.text));
        }
        reply
    }
}

/// The operations the tests below call: every one of the swagger's, and no other.
const EXERCISED: [&str; 3] = ["SendCode", "ResendCode", "CheckCode"];

#[test]
fn every_operation_of_the_swagger_is_exercised_here() {
    let swagger = swagger();
    let ids: BTreeSet<String> = swagger["paths"]
        .as_object()
        .expect("paths")
        .values()
        .flat_map(|item| item.as_object().expect("an item").values())
        .filter_map(|op| op["operationId"].as_str().map(str::to_owned))
        .collect();
    let exercised: BTreeSet<String> = EXERCISED.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(
        ids, exercised,
        "an operation without a test, or a test without one"
    );
}

#[tokio::test]
async fn a_flow_sends_a_code_branches_on_a_wrong_one_resends_and_approves() {
    let c = Connector::new();
    let phone = unique_phone();
    let sent = c
        .call("SendCode", json!({ "phone": phone, "channel": "sms" }))
        .await;
    assert_eq!(
        (sent.status, &sent.json["outcome"], &sent.json["sent"]),
        (200, &json!("sent"), &json!(true)),
        "{sent:?}"
    );
    let id = sent.json["verification_id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let code = last_sms_code(&phone).await;

    let wrong = c
        .call(
            "CheckCode",
            json!({ "verification_id": id, "code": wrong_code(&code) }),
        )
        .await;
    assert_eq!(
        (
            wrong.status,
            &wrong.json["outcome"],
            &wrong.json["approved"]
        ),
        (200, &json!("incorrect_code"), &json!(false)),
        "a wrong code is a value to branch on: {wrong:?}"
    );
    assert_eq!(wrong.json["attempts_remaining"], 4, "{wrong:?}");

    // At once: within the cooldown, an outcome with the wait, not a 429 the platform retries.
    let early = c.call("ResendCode", json!({ "verification_id": id })).await;
    assert_eq!(
        (early.status, &early.json["outcome"], &early.json["sent"]),
        (200, &json!("resend_too_soon"), &json!(false)),
        "{early:?}"
    );
    assert!(early.json["retry_after"].as_u64().is_some(), "{early:?}");
    assert_eq!(sms_to(&phone).await.len(), 1, "nothing was sent");

    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let again = c.call("ResendCode", json!({ "verification_id": id })).await;
    assert_eq!(again.json["outcome"], "sent", "{again:?}");
    let new_id = again.json["verification_id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let new_code = last_sms_code(&phone).await;

    let old = c
        .call("CheckCode", json!({ "verification_id": id, "code": code }))
        .await;
    assert_eq!(old.json["outcome"], "replaced", "{old:?}");
    let right = c
        .call(
            "CheckCode",
            json!({ "verification_id": new_id, "code": new_code }),
        )
        .await;
    assert_eq!(
        (
            &right.json["outcome"],
            &right.json["approved"],
            &right.json["verification_id"]
        ),
        (&json!("approved"), &json!(true), &json!(new_id)),
        "{right:?}"
    );
    let twice = c
        .call(
            "CheckCode",
            json!({ "verification_id": new_id, "code": new_code }),
        )
        .await;
    assert_eq!(
        (
            twice.status,
            &twice.json["outcome"],
            &twice.json["approved"]
        ),
        (200, &json!("already_approved"), &json!(false)),
        "single use: {twice:?}"
    );
}

#[tokio::test]
async fn a_code_with_a_leading_zero_is_text_end_to_end() {
    let c = Connector::new();
    let phone = unique_phone();
    let sent = c
        .call(
            "SendCode",
            json!({ "phone": phone, "custom_code": "012345" }),
        )
        .await;
    assert_eq!(sent.json["outcome"], "sent", "{sent:?}");
    assert!(sms_to(&phone).await[0].contains("012345"));
    let id = sent.json["verification_id"].clone();
    let right = c
        .call(
            "CheckCode",
            json!({ "verification_id": id, "code": "012345" }),
        )
        .await;
    assert_eq!(right.json["outcome"], "approved", "{right:?}");
}

#[tokio::test]
async fn the_person_s_mistakes_are_outcomes_and_the_flow_author_s_are_errors() {
    let c = Connector::new();
    let premium = c
        .call("SendCode", json!({ "phone": "+4990012345678" }))
        .await;
    assert_eq!(
        (
            premium.status,
            &premium.json["outcome"],
            &premium.json["sent"]
        ),
        (200, &json!("invalid_phone"), &json!(false)),
        "{premium:?}"
    );
    assert!(
        premium.json["detail"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
    let unknown = c
        .call(
            "CheckCode",
            json!({ "verification_id": "01JD3Z6Q0Y4S8V1M2N3P4Q5R6S", "code": "123456" }),
        )
        .await;
    assert_eq!(unknown.json["outcome"], "not_found", "{unknown:?}");
    let short = c
        .call(
            "CheckCode",
            json!({ "verification_id": "01JD3Z6Q0Y4S8V1M2N3P4Q5R6S", "code": "12" }),
        )
        .await;
    assert_eq!(short.json["outcome"], "invalid_code_format", "{short:?}");
    let no_customer = c
        .call(
            "SendCode",
            json!({ "customer_id": "never-seen-1", "channel": "sms" }),
        )
        .await;
    assert_eq!(no_customer.json["outcome"], "not_found", "{no_customer:?}");

    // The flow author's: nothing to send to, no key, a wrong key.
    let nothing = c.call("SendCode", json!({ "channel": "sms" })).await;
    assert_eq!(
        (nothing.status, nothing.code()),
        (400, "missing_destination"),
        "{nothing:?}"
    );
    let no_id = c.call("ResendCode", json!({})).await;
    assert_eq!((no_id.status, no_id.code()), (400, "missing_destination"));
    let phone = unique_phone();
    let unkeyed = c.call_with("SendCode", json!({ "phone": phone }), "").await;
    assert_eq!((unkeyed.status, unkeyed.code()), (403, "key_required"));
    let made_up = format!("tsk_{}_{}", "0".repeat(12), "0".repeat(64));
    let wrong_key = c
        .call_with("SendCode", json!({ "phone": phone }), &made_up)
        .await;
    assert_eq!((wrong_key.status, wrong_key.code()), (401, "invalid_key"));
    assert!(
        sms_to(&phone).await.is_empty(),
        "a refused call sends nothing"
    );
    // A key typed with its scheme works as well as a bare one.
    let bearer = c
        .call_with(
            "SendCode",
            json!({ "phone": phone }),
            &format!("Bearer {}", api_key()),
        )
        .await;
    assert_eq!(bearer.json["outcome"], "sent", "{bearer:?}");
}

#[tokio::test]
async fn a_customer_s_verified_phone_gets_the_code_by_the_customer_id_alone() {
    let c = Connector::new();
    let phone = unique_phone();
    let customer = format!("ACCT-{}", &phone[phone.len() - 7..]);
    let linked = c
        .call(
            "SendCode",
            json!({ "phone": phone, "customer_id": customer }),
        )
        .await;
    let id = linked.json["verification_id"].clone();
    let code = last_sms_code(&phone).await;
    let approved = c
        .call("CheckCode", json!({ "verification_id": id, "code": code }))
        .await;
    assert_eq!(approved.json["outcome"], "approved", "{approved:?}");

    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let sent = c
        .call(
            "SendCode",
            json!({ "customer_id": customer, "channel": "sms" }),
        )
        .await;
    assert_eq!(sent.json["outcome"], "sent", "{sent:?}");
    assert_eq!(sms_to(&phone).await.len(), 2, "the customer's phone got it");
    let code = last_sms_code(&phone).await;
    let by_customer = c
        .call(
            "CheckCode",
            json!({ "customer_id": customer, "code": code }),
        )
        .await;
    assert_eq!(by_customer.json["outcome"], "approved", "{by_customer:?}");
}
