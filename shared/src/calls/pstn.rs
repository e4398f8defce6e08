//! The Amazon Chime SDK PSTN Audio protocol: the events a SIP media application invokes its
//! Lambda function with, and the actions the function answers with. Read leniently (the
//! service's documented examples differ in details): only the event type and each
//! participant's call id are required.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// One invocation by the SIP media application.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CallEvent {
    /// `1.0`.
    #[serde(default)]
    pub schema_version: Option<String>,
    /// Goes up by one on every invocation of a call.
    #[serde(default)]
    pub sequence: Option<u64>,
    /// `NEW_OUTBOUND_CALL`, `CALL_ANSWERED`, `ACTION_SUCCESSFUL`, `HANGUP`, …
    pub invocation_event_type: String,
    /// The action that finished (or failed), or the call's creation request.
    #[serde(default)]
    pub action_data: Option<ActionData>,
    /// The call.
    #[serde(default)]
    pub call_details: CallDetails,
}

/// The action an event reports on.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ActionData {
    /// The action's type (`SpeakAndGetDigits`, `CallCreateRequest`, `Hangup`, …).
    #[serde(rename = "Type", default)]
    pub kind: Option<String>,
    /// The action's parameters, as the function sent them.
    #[serde(default)]
    pub parameters: Option<Value>,
    /// The digits a *GetDigits action collected.
    #[serde(default)]
    pub received_digits: Option<String>,
    /// Why an action failed.
    #[serde(default)]
    pub error_type: Option<String>,
}

/// The call an event belongs to.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CallDetails {
    /// The call's transaction.
    #[serde(default)]
    pub transaction_id: Option<String>,
    /// What the function stored on the transaction.
    #[serde(default)]
    pub transaction_attributes: Option<BTreeMap<String, String>>,
    /// The SIP media application (some examples say `SipApplicationId`).
    #[serde(default, alias = "SipApplicationId")]
    pub sip_media_application_id: Option<String>,
    /// The call's legs.
    #[serde(default)]
    pub participants: Vec<Participant>,
}

/// One leg of a call.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Participant {
    /// The leg's id, which actions name.
    pub call_id: String,
    /// `LEG-A` or `LEG-B`.
    #[serde(default)]
    pub participant_tag: Option<String>,
    /// The number called (E.164).
    #[serde(default)]
    pub to: Option<String>,
    /// The number calling (E.164).
    #[serde(default)]
    pub from: Option<String>,
    /// `Inbound` or `Outbound`.
    #[serde(default)]
    pub direction: Option<String>,
}

impl CallEvent {
    /// The first leg (the person), if the event names one.
    pub fn leg(&self) -> Option<&Participant> {
        let legs = &self.call_details.participants;
        legs.iter()
            .find(|p| {
                p.participant_tag
                    .as_deref()
                    .is_some_and(|t| t.eq_ignore_ascii_case("LEG-A"))
            })
            .or_else(|| legs.first())
    }

    /// A transaction attribute the function stored.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.call_details
            .transaction_attributes
            .as_ref()?
            .get(name)
            .map(String::as_str)
    }

    /// An argument of `CreateSipMediaApplicationCall` (only on `NEW_OUTBOUND_CALL`).
    pub fn argument(&self, name: &str) -> Option<&str> {
        self.action_data
            .as_ref()?
            .parameters
            .as_ref()?
            .get("Arguments")?
            .get(name)?
            .as_str()
    }

    /// The type of the action the event reports on.
    pub fn action_kind(&self) -> Option<&str> {
        self.action_data.as_ref()?.kind.as_deref()
    }
}

/// The function's answer: the actions to run next and the transaction's attributes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CallResponse {
    /// `1.0`.
    pub schema_version: &'static str,
    /// At most ten actions; empty runs nothing and keeps the call up.
    pub actions: Vec<Value>,
    /// The transaction's attributes: sent, they replace the stored ones; absent, the stored
    /// ones stay. Never a code: the service echoes them in every later event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_attributes: Option<BTreeMap<String, String>>,
}

impl CallResponse {
    /// `actions`, leaving the attributes as they are.
    pub fn run(actions: Vec<Value>) -> Self {
        Self {
            schema_version: "1.0",
            actions,
            transaction_attributes: None,
        }
    }

    /// Nothing to run (an event whose answer the service ignores, or nothing to do).
    pub fn nothing() -> Self {
        Self::run(Vec::new())
    }

    /// The same, storing `attributes` on the transaction.
    pub fn with_attributes(mut self, attributes: BTreeMap<String, String>) -> Self {
        self.transaction_attributes = Some(attributes);
        self
    }
}

/// How an action speaks: SSML in a Polly voice.
#[derive(Debug, Clone, Copy)]
pub struct Voice<'a> {
    /// The Polly voice (`Joanna`).
    pub voice_id: &'a str,
    /// Its language (`en-US`).
    pub language_code: &'a str,
}

impl Voice<'_> {
    fn speech(&self, ssml: &str) -> Value {
        json!({
            "Text": ssml,
            "TextType": "ssml",
            "Engine": "standard",
            "LanguageCode": self.language_code,
            "VoiceId": self.voice_id,
        })
    }
}

/// `Speak`: says `ssml` on the leg `call_id`.
pub fn speak(call_id: &str, voice: Voice<'_>, ssml: &str) -> Value {
    let mut parameters = voice.speech(ssml);
    parameters["CallId"] = json!(call_id);
    json!({"Type": "Speak", "Parameters": parameters})
}

/// What a `SpeakAndGetDigits` waits for.
#[derive(Debug, Clone, Copy)]
pub struct Digits<'a> {
    /// The fewest digits.
    pub min: u8,
    /// The most digits.
    pub max: u8,
    /// The digits must match this.
    pub regex: &'a str,
    /// Whether `#` ends the input.
    pub terminator: bool,
    /// Tries (the prompt is said again after the failure speech).
    pub repeat: u8,
    /// How long each try waits (ms).
    pub wait_ms: u32,
}

/// `SpeakAndGetDigits`: says `ssml`, collects digits as `digits` says; `failure_ssml` is said
/// when a try gets nothing valid.
pub fn speak_and_get_digits(
    call_id: &str,
    voice: Voice<'_>,
    ssml: &str,
    failure_ssml: &str,
    digits: Digits<'_>,
) -> Value {
    let mut parameters = json!({
        "CallId": call_id,
        "InputDigitsRegex": digits.regex,
        "SpeechParameters": voice.speech(ssml),
        "FailureSpeechParameters": voice.speech(failure_ssml),
        "MinNumberOfDigits": digits.min,
        "MaxNumberOfDigits": digits.max,
        "Repeat": digits.repeat,
        "RepeatDurationInMilliseconds": digits.wait_ms,
        "InBetweenDigitsDurationInMilliseconds": 5000,
    });
    if digits.terminator {
        parameters["TerminatorDigits"] = json!(["#"]);
    }
    json!({"Type": "SpeakAndGetDigits", "Parameters": parameters})
}

/// `Hangup`, normally (SIP 0).
pub fn hangup(call_id: &str) -> Value {
    json!({"Type": "Hangup", "Parameters": {"CallId": call_id, "SipResponseCode": "0"}})
}
