//! The calls function over the in-memory adapters: each mode and branch, event by event.

use std::sync::Arc;

use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use twostep::calls::Calls;
use twostep::channels::memory::{RecordingSender, Sent};
use twostep::config::testing::test_config;
use twostep::domain::{
    CallMode, Channel, CodeHasher, Destination, OtpCode, PhoneNumber, SubmittedCode,
};
use twostep::messages::spoken_digits;
use twostep::metrics::{Metric, RecordingMetrics};
use twostep::service::deferred::Deferred;
use twostep::service::{self, CheckTarget, Core, SendOptions, SendRequest};
use twostep::store::memory::MemoryStore;
use twostep::time::testing::TestClock;

use super::handle;

const NUMBER: &str = "+12025550123";
const SMA: &str = "sma-1";

struct Harness {
    calls: Calls,
    sender: Arc<RecordingSender>,
    metrics: Arc<RecordingMetrics>,
    clock: Arc<TestClock>,
}

impl Harness {
    fn new(extra: &[(&str, &str)]) -> Self {
        let mut vars = vec![
            ("SIP_MEDIA_APPLICATION_ID", SMA),
            ("CALL_FROM_NUMBER", "+12025550100"),
            ("CALL_BACK_ENABLED", "true"),
        ];
        vars.extend_from_slice(extra);
        let sender = Arc::new(RecordingSender::new());
        let metrics = Arc::new(RecordingMetrics::default());
        let clock = Arc::new(TestClock::at(1_800_000_000_000));
        let calls = Calls {
            core: Core {
                config: Arc::new(test_config(&vars)),
                store: Arc::new(MemoryStore::new()),
                clock: clock.clone(),
                metrics: metrics.clone(),
            },
            hasher: Deferred::ready(CodeHasher::new(&[7u8; 32], None)),
            sender: sender.clone(),
        };
        Self {
            calls,
            sender,
            metrics,
            clock,
        }
    }

    fn phone() -> PhoneNumber {
        PhoneNumber::from_e164(NUMBER).expect("valid")
    }

    /// A `channel=call` send; the id it placed the call for.
    async fn call(&self, mode: CallMode, custom: Option<&str>, sms_after_call: bool) -> String {
        self.place(SendRequest {
            channel: Channel::Call,
            options: SendOptions {
                call_mode: Some(mode),
                custom_code: custom.map(|c| OtpCode::custom(c, "custom_code").expect("valid")),
                sms_after_call,
                ..SendOptions::default()
            },
            ..SendRequest::new(Destination::Sms(Self::phone()))
        })
        .await
    }

    /// Sends `request` (a `channel=call` one); the id it placed the call for.
    async fn place(&self, request: SendRequest) -> String {
        let core = &self.calls.core;
        let sent = service::send(
            core,
            self.calls.hasher.get().await.expect("key"),
            self.sender.as_ref(),
            request,
        )
        .await
        .expect("placed");
        assert_eq!(sent.channel, Channel::Call);
        match self.sender.sent().last() {
            Some(Sent::Call(to, id)) => {
                assert_eq!(
                    (to.as_str(), id.as_str()),
                    (NUMBER, sent.verification_id.as_str())
                );
            }
            other => panic!("no call placed: {other:?}"),
        }
        sent.verification_id.to_string()
    }

    async fn event(&self, event: Value) -> Value {
        handle(&self.calls, LambdaEvent::new(event, Context::default()))
            .await
            .expect("answered")
    }

    /// The answer to `action` of an outbound call having collected `digits`.
    async fn after(&self, attributes: &Value, action: &Value, digits: &str) -> Value {
        let ran = ran(action, digits);
        self.event(event(
            "ACTION_SUCCESSFUL",
            "Outbound",
            attributes,
            Some(ran),
        ))
        .await
    }

    async fn approves(&self, code: &str) -> bool {
        let code = SubmittedCode::parse(code, 6).expect("six digits");
        let target = CheckTarget::Destination(Destination::Sms(Self::phone()));
        service::check(
            &self.calls.core,
            self.calls.hasher.get().await.expect("key"),
            target,
            &code,
        )
        .await
        .is_ok()
    }
}

fn event(kind: &str, direction: &str, attributes: &Value, action: Option<Value>) -> Value {
    let (from, to) = if direction == "Inbound" {
        (NUMBER, "+12025550100")
    } else {
        ("+12025550100", NUMBER)
    };
    let mut event = json!({
        "SchemaVersion": "1.0",
        "Sequence": 1,
        "InvocationEventType": kind,
        "CallDetails": {
            "TransactionId": "tx-1",
            "AwsAccountId": "123456789012",
            "AwsRegion": "us-east-1",
            "SipMediaApplicationId": SMA,
            "Participants": [{"CallId": "call-1", "ParticipantTag": "LEG-A", "To": to, "From": from,
                "Direction": direction, "StartTimeInMilliseconds": "1800000000000", "Status": "Connected"}]
        }
    });
    if attributes.is_object() {
        event["CallDetails"]["TransactionAttributes"] = attributes.clone();
    }
    if let Some(action) = action {
        event["ActionData"] = action;
    }
    event
}

/// The answer's action types, in order.
fn kinds(answer: &Value) -> Vec<&str> {
    answer["Actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| a["Type"].as_str().expect("a type"))
        .collect()
}

/// The action the service echoes after it ran `action` and collected `digits`.
fn ran(action: &Value, digits: &str) -> Value {
    json!({"Type": action["Type"], "Parameters": action["Parameters"], "ReceivedDigits": digits})
}

/// An outbound call answered: the attributes it keeps and the first answer.
async fn answered(h: &Harness, id: &str) -> (Value, Value) {
    let created =
        json!({"Type": "CallCreateRequest", "Parameters": {"Arguments": {"verification_id": id}}});
    let first = h
        .event(event(
            "NEW_OUTBOUND_CALL",
            "Outbound",
            &Value::Null,
            Some(created),
        ))
        .await;
    assert_eq!(
        first["TransactionAttributes"],
        json!({"verification_id": id})
    );
    let attributes = first["TransactionAttributes"].clone();
    let answer = h
        .event(event("CALL_ANSWERED", "Outbound", &attributes, None))
        .await;
    (answer["TransactionAttributes"].clone(), answer)
}

#[tokio::test]
async fn read_mode_reads_a_new_code_repeats_it_on_1_and_keeps_no_code_in_attributes() {
    let h = Harness::new(&[("CALL_MAX_REPEATS", "2")]);
    let id = h.call(CallMode::Read, None, false).await;
    let (attributes, answer) = answered(&h, &id).await;
    assert_eq!(kinds(&answer), ["SpeakAndGetDigits"]);
    let action = answer["Actions"][0].clone();
    let code = spoken_digits(
        action["Parameters"]["SpeechParameters"]["Text"]
            .as_str()
            .expect("text"),
    );
    assert_eq!(code.len(), 6);
    assert!(!attributes.to_string().contains(&code), "{attributes}");
    // 1 repeats the same reading, twice at most; the code read is the one that works.
    let mut attributes = attributes;
    for repeat in 1..=2 {
        let again = h.after(&attributes, &action, "1").await;
        assert_eq!(again["Actions"][0], action, "repeat {repeat}");
        attributes = again["TransactionAttributes"].clone();
        assert_eq!(attributes["repeats"], repeat.to_string());
    }
    let bye = h.after(&attributes, &action, "1").await;
    assert_eq!(kinds(&bye), ["Speak", "Hangup"]);
    h.event(event("HANGUP", "Outbound", &attributes, None))
        .await;
    assert!(
        h.approves(&code).await,
        "the code the call read is approved"
    );
}

#[tokio::test]
async fn a_call_speaks_the_contacts_language_to_its_last_word() {
    let h = Harness::new(&[]);
    let id = h
        .place(SendRequest {
            channel: Channel::Call,
            locale: Some(twostep::domain::Locale::parse("de").expect("valid")),
            ..SendRequest::new(Destination::Sms(Harness::phone()))
        })
        .await;
    let (attributes, answer) = answered(&h, &id).await;
    assert_eq!(attributes["locale"], "de");
    let action = answer["Actions"][0].clone();
    assert_eq!(action["Parameters"]["SpeechParameters"]["VoiceId"], "Vicki");
    let bye = h.after(&attributes, &action, "7").await;
    assert_eq!(bye["Actions"][0]["Parameters"]["VoiceId"], "Vicki");
    let text = bye["Actions"][0]["Parameters"]["Text"].to_string();
    assert!(
        text.contains("de-DE") && !text.contains("Goodbye"),
        "{text}"
    );
}

#[tokio::test]
async fn read_mode_says_goodbye_on_another_key() {
    let h = Harness::new(&[]);
    let id = h.call(CallMode::Read, None, false).await;
    let (attributes, answer) = answered(&h, &id).await;
    let action = answer["Actions"][0].clone();
    let bye = h.after(&attributes, &action, "7").await;
    assert_eq!(kinds(&bye), ["Speak", "Hangup"]);
    let failed = h
        .event(event(
            "ACTION_FAILED",
            "Outbound",
            &attributes,
            Some(ran(&action, "")),
        ))
        .await;
    assert_eq!(kinds(&failed), ["Hangup"]);
}

#[tokio::test]
async fn input_mode_counts_a_wrong_code_then_approves_the_right_one() {
    let h = Harness::new(&[]);
    let id = h.call(CallMode::Input, Some("482913"), false).await;
    let (attributes, answer) = answered(&h, &id).await;
    let ask = answer["Actions"][0].clone();
    assert_eq!(ask["Parameters"]["MinNumberOfDigits"], 6);
    assert_eq!(ask["Parameters"]["TerminatorDigits"], json!(["#"]));
    let wrong = h.after(&attributes, &ask, "111111").await;
    assert_eq!(kinds(&wrong), ["SpeakAndGetDigits"]);
    let text = wrong["Actions"][0]["Parameters"]["SpeechParameters"]["Text"].to_string();
    assert!(text.contains("incorrect") && text.contains('4'), "{text}");
    assert_eq!(h.metrics.counted(Metric::WrongCodes), 1);
    let right = h.after(&attributes, &ask, "482913").await;
    assert_eq!(kinds(&right), ["Speak", "Hangup"]);
    assert!(
        right["Actions"][0]["Parameters"]["Text"]
            .to_string()
            .contains("confirmed")
    );
    let status = service::status(
        &h.calls.core,
        &twostep::domain::VerificationId::parse(&id).expect("id"),
    )
    .await
    .expect("found");
    assert_eq!(status.status.as_str(), "approved");
}

#[tokio::test]
async fn an_input_calls_code_is_refused_from_a_form_without_counting() {
    let h = Harness::new(&[]);
    let id = h.call(CallMode::Input, Some("482913"), false).await;
    assert!(
        !h.approves("482913").await,
        "the shown code does not approve without the phone"
    );
    let vid = twostep::domain::VerificationId::parse(&id).expect("id");
    let status = service::status(&h.calls.core, &vid).await.expect("found");
    assert_eq!(
        (status.status.as_str(), status.attempts_remaining),
        ("pending", 5),
        "the refused check counted no attempt"
    );
    let (attributes, answer) = answered(&h, &id).await;
    let ask = answer["Actions"][0].clone();
    let right = h.after(&attributes, &ask, "482913").await;
    assert_eq!(kinds(&right), ["Speak", "Hangup"]);
    let status = service::status(&h.calls.core, &vid).await.expect("found");
    assert_eq!(status.status.as_str(), "approved");
}

#[tokio::test]
async fn a_goodbye_that_fails_ends_the_call_without_saying_it_again() {
    let h = Harness::new(&[]);
    let id = h.call(CallMode::Input, Some("482913"), false).await;
    let (attributes, _) = answered(&h, &id).await;
    let speak = json!({"Type": "Speak", "Parameters": {"CallId": "call-1", "Text": "<speak>Goodbye.</speak>"},
        "ErrorType": "ActionExecutionThrottled", "ErrorMessage": "throttled"});
    let failed = h
        .event(event("ACTION_FAILED", "Outbound", &attributes, Some(speak)))
        .await;
    assert_eq!(kinds(&failed), ["Hangup"]);
}

#[tokio::test]
async fn input_mode_locks_after_the_last_wrong_code() {
    let h = Harness::new(&[("MAX_CHECK_ATTEMPTS", "2")]);
    let id = h.call(CallMode::Input, Some("482913"), false).await;
    let (attributes, answer) = answered(&h, &id).await;
    let ask = answer["Actions"][0].clone();
    h.after(&attributes, &ask, "111111").await;
    let locked = h.after(&attributes, &ask, "222222").await;
    assert_eq!(kinds(&locked), ["Speak", "Hangup"]);
    assert!(
        locked["Actions"][0]["Parameters"]["Text"]
            .to_string()
            .contains("Too many")
    );
    assert!(!h.approves("482913").await, "locked");
}

#[tokio::test]
async fn a_call_back_continues_the_verification_and_an_unknown_caller_hears_invalid_request() {
    let h = Harness::new(&[("MAX_INBOUND_CALLS_PER_WINDOW", "2")]);
    let unknown = h
        .event(event("NEW_INBOUND_CALL", "Inbound", &Value::Null, None))
        .await;
    assert_eq!(kinds(&unknown), ["Speak", "Hangup"]);
    assert!(
        unknown["Actions"][0]["Parameters"]["Text"]
            .to_string()
            .contains("Invalid request")
    );
    assert_eq!(h.metrics.counted(Metric::RejectedCalls), 1);

    h.call(CallMode::Read, None, false).await;
    let back = h
        .event(event("NEW_INBOUND_CALL", "Inbound", &Value::Null, None))
        .await;
    assert_eq!(kinds(&back), ["SpeakAndGetDigits"]);
    let code = spoken_digits(
        back["Actions"][0]["Parameters"]["SpeechParameters"]["Text"]
            .as_str()
            .expect("text"),
    );
    // The number's window holds two calls: the third is rejected unanswered.
    let over = h
        .event(event("NEW_INBOUND_CALL", "Inbound", &Value::Null, None))
        .await;
    assert_eq!(kinds(&over), ["Hangup"]);
    assert!(h.approves(&code).await);
}

#[tokio::test]
async fn call_backs_are_refused_unless_enabled() {
    let h = Harness::new(&[("CALL_BACK_ENABLED", "false")]);
    h.call(CallMode::Read, None, false).await;
    let back = h
        .event(event("NEW_INBOUND_CALL", "Inbound", &Value::Null, None))
        .await;
    assert_eq!(kinds(&back), ["Speak", "Hangup"]);
}

#[tokio::test]
async fn a_missed_call_is_followed_by_one_sms_whose_code_works() {
    let h = Harness::new(&[]);
    let id = h.call(CallMode::Read, None, true).await;
    let created =
        json!({"Type": "CallCreateRequest", "Parameters": {"Arguments": {"verification_id": id}}});
    let attributes = h
        .event(event(
            "NEW_OUTBOUND_CALL",
            "Outbound",
            &Value::Null,
            Some(created),
        ))
        .await["TransactionAttributes"]
        .clone();
    let hangup =
        json!({"Type": "Hangup", "Parameters": {"SipResponseCode": "480", "CallId": "call-1"}});
    h.event(event(
        "HANGUP",
        "Outbound",
        &attributes,
        Some(hangup.clone()),
    ))
    .await;
    h.event(event("HANGUP", "Outbound", &attributes, Some(hangup)))
        .await; // a retried event
    let sms: Vec<Sent> = h
        .sender
        .sent()
        .into_iter()
        .filter(|s| matches!(s, Sent::Sms(..)))
        .collect();
    assert_eq!(sms.len(), 1, "{sms:?}");
    let code = h.sender.last_code(6).expect("a code by SMS");
    assert!(h.approves(&code).await);
}

#[tokio::test]
async fn an_answered_call_that_read_the_code_sends_no_sms() {
    let h = Harness::new(&[]);
    let id = h.call(CallMode::Read, None, true).await;
    let (attributes, _) = answered(&h, &id).await;
    h.event(event("HANGUP", "Outbound", &attributes, None))
        .await;
    assert!(!h.sender.sent().iter().any(|s| matches!(s, Sent::Sms(..))));
}

#[tokio::test]
async fn an_expired_verification_is_not_read_and_another_application_is_refused() {
    let h = Harness::new(&[]);
    let id = h.call(CallMode::Read, None, false).await;
    h.clock.advance(3_600);
    let (_, answer) = answered(&h, &id).await;
    assert_eq!(kinds(&answer), ["Speak", "Hangup"]);
    let mut stray = event("NEW_INBOUND_CALL", "Inbound", &Value::Null, None);
    stray["CallDetails"]["SipMediaApplicationId"] = json!("someone-else");
    let refused = handle(&h.calls, LambdaEvent::new(stray, Context::default())).await;
    assert!(refused.is_err());
}

#[tokio::test]
async fn a_contact_flow_sends_checks_and_looks_up_with_flat_strings() {
    let h = Harness::new(&[("TEST_DESTINATIONS", NUMBER), ("TEST_CODE", "123456")]);
    let flow = |parameters: Value| {
        json!({"Name": "ContactFlowEvent", "Details": {
            "ContactData": {"CustomerEndpoint": {"Address": NUMBER, "Type": "TELEPHONE_NUMBER"}},
            "Parameters": parameters}})
    };
    let sent = h.event(flow(json!({"action": "send"}))).await;
    assert_eq!(sent["result"], "sent", "{sent}");
    assert_eq!(sent["to"], "+1******0123");
    let wrong = h
        .event(flow(json!({"action": "check", "code": "000000"})))
        .await;
    assert_eq!(
        (wrong["result"].as_str(), wrong["attempts_left"].as_str()),
        (Some("incorrect"), Some("4"))
    );
    let right = h
        .event(flow(json!({"action": "check", "code": "123456"})))
        .await;
    assert_eq!(right["result"], "approved");
    let found = h.event(flow(json!({"action": "lookup"}))).await;
    assert_eq!(
        (found["result"].as_str(), found["verified"].as_str()),
        (Some("found"), Some("true"))
    );
    let nobody = h
        .event(flow(json!({"action": "send", "customer_id": "ACCT-1"})))
        .await;
    assert_eq!(nobody["result"], "not_found", "{nobody}");
    let by_email = h
        .event(flow(json!({"action": "send", "channel": "email"})))
        .await;
    assert_eq!(
        (by_email["result"].as_str(), by_email["field"].as_str()),
        (Some("invalid_channel"), Some("channel")),
        "{by_email}"
    );
    let bad = h.event(flow(json!({"action": "dance"}))).await;
    assert_eq!(
        (bad["result"].as_str(), bad["field"].as_str()),
        (Some("invalid_field"), Some("action"))
    );
    for answer in [sent, wrong, right, found, nobody, bad] {
        assert!(
            answer
                .as_object()
                .expect("a map")
                .values()
                .all(Value::is_string),
            "{answer}"
        );
    }
}
