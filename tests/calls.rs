//! Interactive calls (`channel=call`) over the local stack: the send function places the
//! call with `CreateSipMediaApplicationCall` (answered by scripts/voice_stub.py, which then
//! plays the phone network: it invokes the calls function through `cargo lambda watch`'s
//! Invoke API with each PSTN Audio event, runs the actions it answers, and takes the key
//! presses the test makes), and Amazon Connect contact flows invoking the same function.

use reqwest::Method;
use serde_json::{Value, json};
use twostep_tests::{
    Api, api_key, api_url, code_in, env, sms_to, status_of, unique_phone, with_key, wrong_code,
};

/// The simulator's base URL (the voice stub).
fn sim(path: &str) -> String {
    format!("{}{path}", env("TWOSTEP_VOICE_URL"))
}

async fn sim_post(path: &str, body: Value) -> Value {
    let response = reqwest::Client::new()
        .post(sim(path))
        .json(&body)
        .send()
        .await
        .expect("the simulator answers");
    let status = response.status();
    let text = response.text().await.expect("a body");
    assert!(status.is_success(), "{path}: {status} {text}");
    serde_json::from_str(&text).expect("JSON")
}

/// The simulated calls to `phone` (outbound) or from it (inbound), oldest first.
async fn calls_with(phone: &str) -> Vec<Value> {
    let all: Value = reqwest::get(sim("/sma/calls"))
        .await
        .expect("the simulator answers")
        .json()
        .await
        .expect("JSON");
    all.as_array()
        .expect("a list")
        .iter()
        .filter(|c| c["to"] == phone || c["from"] == phone)
        .cloned()
        .collect()
}

/// Places a call through the keyed API; the verification id and the call's transaction.
async fn place(api: &Api, phone: &str, options: Value) -> (String, String) {
    let mut body = json!({"phone": phone, "channel": "call"});
    if let (Some(body), Some(options)) = (body.as_object_mut(), options.as_object()) {
        body.extend(options.clone());
    }
    let r = with_key(api, &api_key(), Method::POST, "/signup", Some(body)).await;
    assert_eq!(r.status, 202, "{r:?}");
    assert_eq!(r.json["channel"], "call");
    let id = r.json["verification_id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let calls = calls_with(phone).await;
    let call = calls.last().expect("a call was placed");
    assert_eq!(
        call["arguments"],
        json!({"verification_id": id}),
        "the call carries only the id"
    );
    assert_eq!(call["state"], "ringing");
    (
        id,
        call["transaction_id"]
            .as_str()
            .expect("a transaction")
            .to_owned(),
    )
}

/// What the call said, in order.
fn said(call: &Value) -> Vec<String> {
    call["transcript"]
        .as_array()
        .expect("a transcript")
        .iter()
        .filter_map(|e| e["said"].as_str().map(str::to_owned))
        .collect()
}

/// The code a call read: the digits of the last thing it said that had `len` of them.
fn code_read(call: &Value, len: usize) -> String {
    let text = said(call)
        .into_iter()
        .rev()
        .find(|s| s.chars().filter(char::is_ascii_digit).count() >= len)
        .expect("a code was read");
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    digits[..len].to_owned()
}

fn assert_no_code_kept(call: &Value, code: &str) {
    for entry in call["transcript"].as_array().expect("a transcript") {
        let attributes = entry["transaction_attributes"].to_string();
        assert!(
            !attributes.contains(code),
            "a code in the attributes: {attributes}"
        );
        assert!(entry["slow"] != true, "an answer took over 5 s: {entry}");
    }
}

async fn verify(api: &Api, id: &str, code: &str) -> u16 {
    api.post_json("/verify", &json!({"verification_id": id, "code": code}))
        .await
        .status
}

#[tokio::test]
async fn read_mode_reads_the_code_repeats_it_on_1_and_says_goodbye() {
    let api = Api::new();
    let phone = unique_phone();
    let (id, tx) = place(&api, &phone, json!({"mode": "read"})).await;
    let call = sim_post(&format!("/sma/calls/{tx}/answer"), json!({})).await;
    assert_eq!(call["state"], "waiting_for_digits", "{call}");
    let code = code_read(&call, 6);
    let call = sim_post(&format!("/sma/calls/{tx}/press"), json!({"digits": "1"})).await;
    assert_eq!(code_read(&call, 6), code, "1 reads the same code again");
    let readings = said(&call)
        .iter()
        .filter(|s| {
            s.chars()
                .filter(char::is_ascii_digit)
                .collect::<String>()
                .starts_with(&code)
        })
        .count();
    assert_eq!(readings, 2);
    let call = sim_post(&format!("/sma/calls/{tx}/press"), json!({"digits": "9"})).await;
    assert_eq!(call["state"], "ended", "{call}");
    assert!(said(&call).last().expect("said").contains("Goodbye"));
    assert_no_code_kept(&call, &code);
    assert_eq!(
        verify(&api, &id, &code).await,
        200,
        "the code read is the one that works"
    );
}

#[tokio::test]
async fn input_mode_takes_a_wrong_then_the_right_code_on_the_keypad() {
    let api = Api::new();
    let phone = unique_phone();
    let shown = "731946";
    let (id, tx) = place(&api, &phone, json!({"mode": "input", "custom_code": shown})).await;
    // Whoever sees the code cannot approve it without the phone: the form is refused, and
    // counts no attempt.
    let form = api
        .post_json("/verify", &json!({"verification_id": id, "code": shown}))
        .await;
    assert_eq!(
        (form.status, form.json["field"].as_str()),
        (400, Some("code")),
        "{form:?}"
    );
    assert_eq!(status_of(&api, &id).await.json["attempts_remaining"], 5);
    let call = sim_post(&format!("/sma/calls/{tx}/answer"), json!({})).await;
    assert!(
        said(&call).last().expect("said").contains("enter your"),
        "{call}"
    );
    let call = sim_post(
        &format!("/sma/calls/{tx}/press"),
        json!({"digits": wrong_code(shown)}),
    )
    .await;
    let answer = said(&call).last().expect("said").clone();
    assert!(
        answer.contains("incorrect") && answer.contains('4'),
        "{answer}"
    );
    let call = sim_post(&format!("/sma/calls/{tx}/press"), json!({"digits": shown})).await;
    assert_eq!(call["state"], "ended");
    assert!(
        said(&call).iter().any(|s| s.contains("confirmed")),
        "{call}"
    );
    let status = status_of(&api, &id).await;
    assert_eq!(status.json["status"], "approved");
    assert_no_code_kept(&call, shown);
}

#[tokio::test]
async fn input_mode_locks_after_the_last_wrong_code() {
    let api = Api::new();
    let phone = unique_phone();
    let shown = "582014";
    let (id, tx) = place(&api, &phone, json!({"mode": "input", "custom_code": shown})).await;
    sim_post(&format!("/sma/calls/{tx}/answer"), json!({})).await;
    let mut call = Value::Null;
    for _ in 0..5 {
        call = sim_post(
            &format!("/sma/calls/{tx}/press"),
            json!({"digits": wrong_code(shown)}),
        )
        .await;
    }
    assert_eq!(call["state"], "ended");
    assert!(said(&call).iter().any(|s| s.contains("Too many")), "{call}");
    assert_eq!(
        verify(&api, &id, shown).await,
        429,
        "locked: the right code is refused"
    );
}

#[tokio::test]
async fn silence_in_input_mode_says_no_code_was_received_and_hangs_up() {
    let api = Api::new();
    let phone = unique_phone();
    let (_, tx) = place(
        &api,
        &phone,
        json!({"mode": "input", "custom_code": "120934"}),
    )
    .await;
    sim_post(&format!("/sma/calls/{tx}/answer"), json!({})).await;
    sim_post(&format!("/sma/calls/{tx}/press"), json!({"digits": null})).await;
    let call = sim_post(&format!("/sma/calls/{tx}/press"), json!({"digits": null})).await;
    assert_eq!(call["state"], "ended", "{call}");
    let said = said(&call);
    let missing = said
        .iter()
        .filter(|s| s.contains("did not receive"))
        .count();
    assert_eq!(missing, 2, "{said:?}");
    assert_eq!(
        said.last().map(String::as_str),
        Some("Goodbye."),
        "{said:?}"
    );
}

#[tokio::test]
async fn an_unknown_caller_hears_invalid_request_and_nothing_else() {
    let phone = unique_phone();
    let call = sim_post("/sma/inbound", json!({"from": phone})).await;
    assert_eq!(call["state"], "ended", "{call}");
    assert_eq!(said(&call), ["Invalid request."]);
}

#[tokio::test]
async fn a_missed_call_is_followed_by_an_sms_and_can_be_called_back() {
    let api = Api::new();
    let phone = unique_phone();
    let (id, tx) = place(
        &api,
        &phone,
        json!({"mode": "read", "sms_after_call": true}),
    )
    .await;
    let call = sim_post(&format!("/sma/calls/{tx}/miss"), json!({})).await;
    assert_eq!(call["state"], "ended");
    let sms = sms_to(&phone).await;
    assert_eq!(sms.len(), 1, "one SMS after the missed call: {sms:?}");
    let texted = code_in(&sms[0], 6);
    // The person calls back: the call reads a new code, which replaces the texted one.
    let back = sim_post("/sma/inbound", json!({"from": phone})).await;
    assert_eq!(back["state"], "waiting_for_digits", "{back}");
    let read = code_read(&back, 6);
    sim_post(
        &format!(
            "/sma/calls/{}/hangup",
            back["transaction_id"].as_str().expect("tx")
        ),
        json!({}),
    )
    .await;
    assert_eq!(
        sms_to(&phone).await.len(),
        1,
        "no second SMS after a call that read a code"
    );
    if read != texted {
        assert_eq!(
            verify(&api, &id, &texted).await,
            422,
            "the texted code was replaced"
        );
    }
    assert_eq!(verify(&api, &id, &read).await, 200);
}

#[tokio::test]
async fn a_call_is_keyed_and_its_options_are_checked() {
    let api = Api::new();
    let phone = unique_phone();
    let anonymous = api
        .post_json(
            "/signup",
            &json!({"phone": phone, "channel": "call", "mode": "input"}),
        )
        .await;
    assert_eq!(anonymous.status, 403, "{anonymous:?}");
    for (options, field) in [
        (json!({"mode": "input"}), "custom_code"),
        (
            json!({"mode": "read", "custom_code": "123456"}),
            "custom_code",
        ),
        (json!({"mode": "sing"}), "mode"),
    ] {
        let mut body = json!({"phone": phone, "channel": "call"});
        body.as_object_mut()
            .expect("an object")
            .extend(options.as_object().expect("an object").clone());
        let r = with_key(&api, &api_key(), Method::POST, "/signup", Some(body)).await;
        assert_eq!(
            (r.status, r.json["field"].as_str()),
            (400, Some(field)),
            "{r:?}"
        );
    }
    assert!(calls_with(&phone).await.is_empty(), "no call placed");
}

/// Invokes the calls function as a contact flow does.
async fn flow(parameters: Value, caller: &str) -> Value {
    let event = json!({"Name": "ContactFlowEvent", "Details": {
        "ContactData": {"Channel": "VOICE", "ContactId": "c-1", "InitiationMethod": "INBOUND",
            "CustomerEndpoint": {"Address": caller, "Type": "TELEPHONE_NUMBER"}},
        "Parameters": parameters}});
    let response = reqwest::Client::new()
        .post(format!(
            "{}/2015-03-31/functions/calls/invocations",
            api_url()
        ))
        .json(&event)
        .send()
        .await
        .expect("the runner answers");
    let answer: Value = response.json().await.expect("JSON");
    assert!(
        answer
            .as_object()
            .expect("a flat map")
            .values()
            .all(Value::is_string),
        "Connect needs a flat map of strings: {answer}"
    );
    answer
}

#[tokio::test]
async fn an_amazon_connect_flow_sends_a_pin_checks_the_digits_and_looks_the_caller_up() {
    let phone = unique_phone();
    let sent = flow(json!({"action": "send"}), &phone).await;
    assert_eq!(sent["result"], "sent", "{sent}");
    let code = code_in(sms_to(&phone).await.last().expect("an SMS"), 6);
    let wrong = flow(
        json!({"action": "check", "code": wrong_code(&code)}),
        &phone,
    )
    .await;
    assert_eq!(
        (wrong["result"].as_str(), wrong["attempts_left"].as_str()),
        (Some("incorrect"), Some("4"))
    );
    let right = flow(
        json!({"action": "check", "code": code, "verification_id": sent["verification_id"]}),
        &phone,
    )
    .await;
    assert_eq!(right["result"], "approved", "{right}");
    let found = flow(json!({"action": "lookup"}), &phone).await;
    assert_eq!(
        (found["result"].as_str(), found["verified"].as_str()),
        (Some("found"), Some("true"))
    );
    let again = flow(json!({"action": "send"}), &phone).await;
    assert_eq!(again["result"], "resend_too_soon", "{again}");
    assert!(
        again["retry_after"]
            .as_str()
            .is_some_and(|s| s.parse::<u32>().is_ok())
    );
}

#[tokio::test]
async fn an_amazon_connect_flow_reaches_a_customer_by_account_number() {
    let (phone, caller) = (unique_phone(), unique_phone());
    let account = format!("ACCT-{}", &phone[phone.len() - 7..]);
    // The account's number is verified once, linked to the account on approval.
    let linked = flow(
        json!({"action": "send", "phone": phone, "customer_id": account}),
        &caller,
    )
    .await;
    assert_eq!(linked["result"], "sent", "{linked}");
    let code = code_in(sms_to(&phone).await.last().expect("an SMS"), 6);
    let approved = flow(
        json!({"action": "check", "code": code, "verification_id": linked["verification_id"]}),
        &caller,
    )
    .await;
    assert_eq!(approved["result"], "approved", "{approved}");
    // Later an IVR caller keys in the account number from another phone: the PIN goes to the
    // account's verified number, and is checked against it.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let sent = flow(json!({"action": "send", "customer_id": account}), &caller).await;
    assert_eq!(
        (sent["result"].as_str(), sent["to"].as_str()),
        (Some("sent"), Some(&*mask(&phone))),
        "{sent}"
    );
    assert!(
        sms_to(&caller).await.is_empty(),
        "nothing to the calling phone"
    );
    let pin = code_in(sms_to(&phone).await.last().expect("an SMS"), 6);
    let right = flow(
        json!({"action": "check", "code": pin, "customer_id": account}),
        &caller,
    )
    .await;
    assert_eq!(right["result"], "approved", "{right}");
    let found = flow(json!({"action": "lookup", "customer_id": account}), &caller).await;
    assert_eq!(
        (found["verified"].as_str(), found["phone"].as_str()),
        (Some("true"), Some(&*mask(&phone)))
    );
    let unknown = flow(
        json!({"action": "lookup", "customer_id": "ACCT-nobody"}),
        &caller,
    )
    .await;
    assert_eq!(unknown["result"], "not_found", "{unknown}");
}

/// A number as twostep masks it: the prefix and the last four digits.
fn mask(phone: &str) -> String {
    format!(
        "{}{}{}",
        &phone[..3],
        "*".repeat(phone.len() - 7),
        &phone[phone.len() - 4..]
    )
}
