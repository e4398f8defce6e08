//! An interactive call, event by event: what the SIP media application's events mean for
//! the verification, and the actions that answer them. The transaction's attributes hold
//! the verification id, the mode and the repeats so far: never a code. A code a call reads
//! is made when it is read (its hash replaces the stored one), and said again from the
//! action the service echoes back, so no code is stored where it could be read back.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Calls;
use super::pstn::{CallEvent, CallResponse, Digits, Voice, hangup, speak, speak_and_get_digits};
use crate::domain::{CallMode, Channel, Locale, PhoneNumber, SubmittedCode, VerificationId};
use crate::messages::{CallScript, Closing, MessageBuilder};
use crate::metrics::Metric;
use crate::service::calls::{
    PendingCall, admit_inbound, code_to_read, pending_call, pending_call_from, sms_after_call,
};
use crate::service::{ServiceError, check_on_keypad};

/// The transaction attribute that names the verification.
pub const VERIFICATION: &str = "verification_id";
const MODE: &str = "mode";
const REPEATS: &str = "repeats";
/// The call's language, so that its last words are in it when the verification is gone.
const LOCALE: &str = "locale";
/// How long a read-mode call waits for `1` (ms).
const REPEAT_WAIT_MS: u32 = 6_000;
/// How long an input-mode call waits for the code (ms), per try.
const INPUT_WAIT_MS: u32 = 15_000;

/// Answers one event of a call.
pub async fn answer(calls: &Calls, event: &CallEvent) -> CallResponse {
    let id = event
        .attribute(VERIFICATION)
        .and_then(VerificationId::parse);
    // The call is over: an SMS may follow. Its answer is ignored, and it needs no call leg.
    if event.invocation_event_type == "HANGUP" {
        if let Some(id) = id {
            missed(calls, &id).await;
        }
        return CallResponse::nothing();
    }
    let Some(call_id) = event.leg().map(|leg| leg.call_id.clone()) else {
        tracing::warn!(event = %event.invocation_event_type, "an event without a call leg");
        return CallResponse::nothing();
    };
    match event.invocation_event_type.as_str() {
        // Its actions are ignored, but its attributes are kept: the only event that carries
        // the call's arguments hands the verification id on to the rest.
        "NEW_OUTBOUND_CALL" => match event.argument(VERIFICATION).and_then(VerificationId::parse) {
            Some(id) => CallResponse::nothing().with_attributes(attributes(&id, None, 0)),
            None => CallResponse::nothing(),
        },
        "CALL_ANSWERED" => match id {
            Some(id) => match pending_call(&calls.core, &id).await {
                Ok(Some(call)) => start(calls, &call_id, &call).await,
                Ok(None) => close(calls, &call_id, &locale_of(event), Closing::Expired),
                Err(e) => failed(calls, &call_id, &e),
            },
            None => CallResponse::run(vec![hangup(&call_id)]),
        },
        "NEW_INBOUND_CALL" => inbound(calls, event, &call_id).await,
        "ACTION_SUCCESSFUL" if event.action_kind() == Some("SpeakAndGetDigits") => {
            let digits = event
                .action_data
                .as_ref()
                .and_then(|a| a.received_digits.clone())
                .unwrap_or_default();
            pressed(calls, event, &call_id, id, &digits).await
        }
        // Nothing valid before the tries ran out: a read call's failure speech said goodbye;
        // an input call's said that no code came, and now says goodbye. Any other failed
        // action (a goodbye that could not be said) just ends the call.
        "ACTION_FAILED"
            if event.action_kind() == Some("SpeakAndGetDigits")
                && event.attribute(MODE) == Some(CallMode::Input.as_str()) =>
        {
            close(calls, &call_id, &locale_of(event), Closing::Bye)
        }
        "ACTION_FAILED" | "INVALID_LAMBDA_RESPONSE" => CallResponse::run(vec![hangup(&call_id)]),
        // RINGING, ACTION_SUCCESSFUL of a Speak, ACTION_INTERRUPTED, …: nothing to add.
        _ => CallResponse::nothing(),
    }
}

fn attributes(
    id: &VerificationId,
    mode: Option<(CallMode, &Locale)>,
    repeats: u32,
) -> BTreeMap<String, String> {
    let mut map = BTreeMap::from([(VERIFICATION.to_owned(), id.as_str().to_owned())]);
    if let Some((mode, locale)) = mode {
        map.insert(MODE.to_owned(), mode.as_str().to_owned());
        map.insert(REPEATS.to_owned(), repeats.to_string());
        map.insert(LOCALE.to_owned(), locale.as_str().to_owned());
    }
    map
}

/// The language the call speaks in, as its attributes keep it (the default before the call
/// found its verification).
fn locale_of(event: &CallEvent) -> Locale {
    event
        .attribute(LOCALE)
        .and_then(|raw| Locale::parse(raw).ok())
        .unwrap_or_default()
}

fn script(calls: &Calls, locale: &Locale) -> CallScript {
    let config = &calls.core.config;
    MessageBuilder::new(&config.brand_name, config.code_ttl_seconds, None).call(locale)
}

fn voice(script: &CallScript) -> Voice<'_> {
    Voice {
        voice_id: script.voice_id(),
        language_code: script.language_code(),
    }
}

/// Says the closing sentence and hangs up.
fn close(calls: &Calls, call_id: &str, locale: &Locale, closing: Closing) -> CallResponse {
    let script = script(calls, locale);
    CallResponse::run(vec![
        speak(call_id, voice(&script), &script.closing(closing)),
        hangup(call_id),
    ])
}

fn failed(calls: &Calls, call_id: &str, e: &ServiceError) -> CallResponse {
    tracing::error!(error = %e, "call: a dependency failed");
    close(calls, call_id, &Locale::default(), Closing::Error)
}

/// The first actions of a call for a pending verification: the code read out (read mode)
/// or asked for (input mode).
async fn start(calls: &Calls, call_id: &str, call: &PendingCall) -> CallResponse {
    let attributes = attributes(&call.verification_id, Some((call.mode, &call.locale)), 0);
    let actions = match call.mode {
        CallMode::Read => {
            match async { code_to_read(&calls.core, calls.hasher.get().await?, call).await }.await {
                Ok(Some(code)) => {
                    let script = script(calls, &call.locale);
                    tracing::info!(verification_id = %call.verification_id, "call: code read");
                    vec![read_action(call_id, &script, &script.read_code(&code))]
                }
                Ok(None) => return close(calls, call_id, &call.locale, Closing::Expired),
                Err(e) => return failed(calls, call_id, &e),
            }
        }
        CallMode::Input => vec![ask_action(
            call_id,
            &script(calls, &call.locale),
            call,
            None,
        )],
    };
    CallResponse::run(actions).with_attributes(attributes)
}

fn read_action(call_id: &str, script: &CallScript, ssml: &str) -> Value {
    // Any one key ends the wait: 1 repeats, another says goodbye; silence says goodbye.
    let digits = Digits {
        min: 1,
        max: 1,
        regex: "^[0-9#*]$",
        terminator: false,
        repeat: 1,
        wait_ms: REPEAT_WAIT_MS,
    };
    speak_and_get_digits(
        call_id,
        voice(script),
        ssml,
        &script.closing(Closing::Bye),
        digits,
    )
}

fn ask_action(call_id: &str, script: &CallScript, call: &PendingCall, wrong: Option<u32>) -> Value {
    let length = call.code_length;
    let regex = format!("^[0-9]{{{length}}}$");
    let digits = Digits {
        min: length,
        max: length,
        regex: &regex,
        terminator: true,
        repeat: 2,
        wait_ms: INPUT_WAIT_MS,
    };
    speak_and_get_digits(
        call_id,
        voice(script),
        &script.ask_code(wrong),
        &script.no_input(),
        digits,
    )
}

/// What a key press (read mode) or a typed code (input mode) does.
async fn pressed(
    calls: &Calls,
    event: &CallEvent,
    call_id: &str,
    id: Option<VerificationId>,
    digits: &str,
) -> CallResponse {
    let Some(id) = id else {
        return CallResponse::run(vec![hangup(call_id)]);
    };
    let repeats: u32 = event
        .attribute(REPEATS)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    match event.attribute(MODE).and_then(|m| CallMode::parse(m).ok()) {
        Some(CallMode::Read) => {
            // The service echoes the action it ran: the same reading, said again, so the
            // code is neither stored nor made anew.
            let again = event
                .action_data
                .as_ref()
                .and_then(|a| a.parameters.clone())
                .filter(|_| digits == "1" && repeats < calls.core.config.calls.max_repeats);
            match again {
                Some(parameters) => CallResponse::run(vec![serde_json::json!({
                    "Type": "SpeakAndGetDigits",
                    "Parameters": parameters,
                })])
                .with_attributes(attributes(
                    &id,
                    Some((CallMode::Read, &locale_of(event))),
                    repeats + 1,
                )),
                None => close(calls, call_id, &locale_of(event), Closing::Bye),
            }
        }
        Some(CallMode::Input) => typed(calls, call_id, &id, digits, &locale_of(event)).await,
        None => CallResponse::run(vec![hangup(call_id)]),
    }
}

/// Checks a typed code through the same service as `POST /verify`: the attempt is counted
/// first, the same limits and lock apply.
async fn typed(
    calls: &Calls,
    call_id: &str,
    id: &VerificationId,
    digits: &str,
    locale: &Locale,
) -> CallResponse {
    let call = match pending_call(&calls.core, id).await {
        Ok(Some(call)) => call,
        Ok(None) => return close(calls, call_id, locale, Closing::Expired),
        Err(e) => return failed(calls, call_id, &e),
    };
    let Ok(code) = SubmittedCode::parse(digits, call.code_length) else {
        // The action's own regex lets no other length through; should one arrive, ask again.
        let script = script(calls, &call.locale);
        return CallResponse::run(vec![ask_action(call_id, &script, &call, None)]);
    };
    let outcome =
        async { check_on_keypad(&calls.core, calls.hasher.get().await?, id, &code).await }.await;
    let closing = match outcome {
        Ok(_) => {
            tracing::info!(verification_id = %id, "call: code approved on the keypad");
            Closing::Approved
        }
        Err(ServiceError::IncorrectCode { attempts_remaining }) if attempts_remaining > 0 => {
            let script = script(calls, &call.locale);
            return CallResponse::run(vec![ask_action(
                call_id,
                &script,
                &call,
                Some(attempts_remaining),
            )]);
        }
        Err(ServiceError::IncorrectCode { .. } | ServiceError::TooManyAttempts { .. }) => {
            Closing::Locked
        }
        Err(ServiceError::Unavailable(e)) => {
            tracing::error!(verification_id = %id, error = %e, "call: the check failed");
            Closing::Error
        }
        Err(_) => Closing::Expired,
    };
    close(calls, call_id, &call.locale, closing)
}

/// A call in: over its number's limit, rejected unanswered; a number with a pending call
/// verification (when call-backs are on) continues it; any other hears "Invalid request".
/// Neither answer says whether the number is known.
async fn inbound(calls: &Calls, event: &CallEvent, call_id: &str) -> CallResponse {
    let core = &calls.core;
    let reject = |why: &str| {
        core.metrics
            .count(Metric::RejectedCalls, Channel::Call, &[("reason", why)]);
    };
    let Some(phone) = event
        .leg()
        .and_then(|leg| leg.from.as_deref())
        .and_then(|from| PhoneNumber::from_e164(from).ok())
    else {
        reject("unknown");
        return close(calls, call_id, &Locale::default(), Closing::Invalid);
    };
    match admit_inbound(core, &phone).await {
        Ok(true) => {}
        Ok(false) => {
            reject("limit");
            // A bare hangup leaves the call unanswered (and unbilled).
            return CallResponse::run(vec![hangup(call_id)]);
        }
        Err(e) => return failed(calls, call_id, &e),
    }
    let pending = if core.config.calls.call_back {
        pending_call_from(core, &phone).await
    } else {
        Ok(None)
    };
    match pending {
        Ok(Some(call)) => {
            tracing::info!(verification_id = %call.verification_id, "call: a call-back continues the verification");
            start(calls, call_id, &call).await
        }
        Ok(None) => {
            reject("unknown");
            close(calls, call_id, &Locale::default(), Closing::Invalid)
        }
        Err(e) => failed(calls, call_id, &e),
    }
}

/// The call ended: an SMS with a code follows if the verification asked for one and no
/// code was read or approved.
async fn missed(calls: &Calls, id: &VerificationId) {
    let sent = async {
        let hasher = calls.hasher.get().await?;
        sms_after_call(&calls.core, hasher, calls.sender.as_ref(), id).await
    };
    match sent.await {
        Ok(true) | Ok(false) => {}
        Err(e) => tracing::warn!(verification_id = %id, error = %e, "call: no SMS after the call"),
    }
}
