"""A local stand-in for the two AWS voice services twostep calls people with, so the tests can
hear what a caller would:

  - AWS End User Messaging SMS and Voice v2 (`pinpoint-sms-voice-v2`): answers
    `SendVoiceMessage` (a one-way spoken message) and writes each call down;
  - Amazon Chime SDK Voice (`chime-sdk-voice`), PSTN Audio: answers
    `CreateSipMediaApplicationCall` and plays the phone network and the SIP media application
    ("SMA") around the local `calls` function: it invokes the function with the call's events,
    runs the actions the function answers with (writing down what they say), and lets a test,
    or a person with curl, answer the call, press keys, hang up, miss it or call in
    (the `/sma/*` API below).

moto speaks neither; the local functions reach this stub as they would reach AWS: their SDK sends
to AWS_ENDPOINT_URL (scripts/aws_calls.py, the call recorder), which routes requests signed for
the services `sms-voice` and `chime` here.

End User Messaging, the protocol (the service model, `pinpoint-sms-voice-v2` 2022-03-31):
  - awsJson1_0: `POST /`, `Content-Type: application/x-amz-json-1.0`, the operation in the header
    `X-Amz-Target: PinpointSMSVoiceV2.SendVoiceMessage`, the input as a JSON object. SigV4 with the
    signing name `sms-voice` (also the IAM prefix: `sms-voice:SendVoiceMessage`); the stub does not
    check signatures.
  - Input members: DestinationPhoneNumber (required, E.164, `\\+?[1-9][0-9]{1,18}`, at most 20),
    OriginationIdentity (required: phone number, its ID or ARN, pool ID or ARN;
    `[A-Za-z0-9_:/\\+-]+`, 1 to 256), MessageBody (1 to 6000, not blank), MessageBodyTextType
    (`TEXT` | `SSML`), VoiceId (an upper-case Polly voice name of the model's list, `JOANNA`,
    `VICKI`, …), ConfigurationSetName, MaxPricePerMinute, TimeToLive (5 to 259200 s), Context
    (at most 5 entries), DryRun, ProtectConfigurationId, MessageFeedbackEnabled.
  - Output: 200 `{"MessageId": "<id>"}` with `Content-Type: application/x-amz-json-1.0`.
  - Errors: a 4xx/5xx status, the header `x-amzn-ErrorType` and a JSON body
    `{"__type": "<code>", "Message": "...", ...}`. A ValidationException carries `Reason`
    (`MISSING_PARAMETER`, `FIELD_VALIDATION_FAILED`, `DESTINATION_COUNTRY_BLOCKED`, …) and
    `Fields` `[{"Name", "Message"}]`. An unknown target is 400 `UnknownOperationException`, a body
    that is not a JSON object 400 `SerializationException`.

What the stub adds to that API:
  - With `MessageBodyTextType: SSML` the body must be one well-formed XML element `<speak>`
    (Amazon Polly refuses anything else when it reads the call); else a ValidationException.
  - Destinations listed in the environment variable VOICE_STUB_FAIL (comma-separated E.164
    numbers) get 400 ValidationException, Reason `DESTINATION_COUNTRY_BLOCKED`: a delivery that
    AWS refuses. Refused and `DryRun` calls are not recorded.
  - `GET /calls`: the recorded calls, oldest first, as a JSON list of
    `{"destination", "origination", "voice_id", "body_type", "body", "message_id", "at"}`
    (`at`: RFC 3339 UTC with milliseconds; `voice_id` and `body_type` null when not sent).
  - `POST /reset`: forgets the recorded calls, and the SMA calls below (204).

Chime SDK Voice, `CreateSipMediaApplicationCall` (the service model `chime-sdk-voice` 2022-08-03):
  - restJson1: `POST /sip-media-applications/{SipMediaApplicationId}/calls` with a JSON object
    {FromPhoneNumber, ToPhoneNumber (both required, E.164 `^\\+?[1-9]\\d{1,14}$`), SipHeaders,
    ArgumentsMap (string-to-string maps of at most 20 entries)}. SigV4 with the signing name
    `chime`, also the IAM prefix (`chime:CreateSipMediaApplicationCall`); signatures are not
    checked, nor that the SIP media application or FromPhoneNumber exist.
  - Output: 201 `{"SipMediaApplicationCall": {"TransactionId": "<uuid4>"}}`, application/json.
  - Errors as restJson1 has them: the status, the header `x-amzn-ErrorType: BadRequestException`
    and a body `{"Code": "BadRequest", "Message": "..."}` (400 for a bad input; other paths under
    /sip-media-applications/ are 404 NotFoundException).
  - A ToPhoneNumber listed in VOICE_STUB_FAIL gets that 400 and no call.

The phone network (needs `--lambda-url URL`, where the `calls` function is invoked: an HTTP POST
of the event's JSON, as `cargo lambda watch`'s Invoke API takes it; without it the calls are
still accepted, but nothing rings and every `/sma/*` request answers 503):
  - An accepted CreateSipMediaApplicationCall dials in a background thread: the function is
    invoked with NEW_OUTBOUND_CALL (ActionData `{"Type": "CallCreateRequest", "Parameters":
    {"Arguments": <ArgumentsMap>, "FromPhoneNumber", "ToPhoneNumber", "SipHeaders"}}`), then
    RINGING; the actions of both answers are ignored, their TransactionAttributes kept. Then the
    call rings until a test answers or misses it.
  - Each event is the envelope of the Chime SDK developer guide (`pstn-invocations.md`):
    `{"SchemaVersion": "1.0", "Sequence": n (1, 2, … per call), "InvocationEventType",
    "ActionData" (not on NEW_INBOUND_CALL, RINGING, CALL_ANSWERED), "CallDetails":
    {"TransactionId", "TransactionAttributes" (only while some are set), "AwsAccountId":
    "123456789012", "AwsRegion": "us-east-1", "SipRuleId" (inbound calls: "local-sip-rule"),
    "SipMediaApplicationId" (the path's id; inbound: $SIP_MEDIA_APPLICATION_ID or "local-sma"),
    "Participants": [{"CallId", "ParticipantTag": "LEG-A", "To", "From", "Direction":
    "Outbound" | "Inbound", "StartTimeInMilliseconds" (a string), "Status": "Connected" |
    "Disconnected" (on HANGUP)}]}}`.
  - The function's answer: `{"SchemaVersion": "1.0", "Actions": [...], "TransactionAttributes":
    {...}}`. An HTTP error, a body that is not JSON, or an object with `errorType` or
    `errorMessage` is a failed invocation: written down; after an event whose actions count
    (below) the call drops, as AWS hangs up (SIP 480) when its retries run out (the stub does
    not retry). Each invocation's wall time is written down; over 5 s (AWS's wait before it
    retries) it is marked `slow`.
  - TransactionAttributes (string to string, at most 100 pairs and 20 KB): when an answer has
    them they replace the stored ones; `{}` clears them.
  - The actions of the answers to NEW_INBOUND_CALL, CALL_ANSWERED, ACTION_SUCCESSFUL,
    ACTION_FAILED, INVALID_LAMBDA_RESPONSE and DIGITS_RECEIVED run. An answer that is not a JSON
    object, has no SchemaVersion "1.0", more than 10 actions, an action of an unknown Type
    (known: Speak, SpeakAndGetDigits, Pause, Hangup, PlayAudio, PlayAudioAndGetDigits,
    ReceiveDigits) or bad TransactionAttributes is written down as an error and answered with
    INVALID_LAMBDA_RESPONSE (ErrorType and ErrorMessage both in ActionData, as the reference
    notes say, and at the top level, as the developer guide's example has them; ErrorType
    `TransactionAttributesInvalidMapSize` for the attributes, else the stub's own
    `InvalidLambdaResponse`). A second invalid answer in a row ends the call.
  - The actions run in order. Each one's parameters are checked when its turn comes, as the
    service does (`speak.md`: MissingRequiredActionParameter, InvalidActionParameter): a missing
    CallId or Text (Speak; SpeechParameters.Text of SpeakAndGetDigits), a Text over 1000
    characters, SSML (TextType "ssml") that is not one well-formed `<speak>` element, a CallId
    or ParticipantTag not of this call, a missing RepeatDurationInMilliseconds (the *GetDigits
    actions) or DurationInMilliseconds (Pause), numbers out of range, a regex that does not
    compile. A failing action is written down as an error; the rest of the list is dropped and
    the function gets ACTION_FAILED (ActionData: the action, ErrorType, ErrorMessage).
      - Speak: `{"said": <the text, tags stripped, whitespace collapsed>, "ssml": <the SSML as
        sent, null for plain text>}`; Pause: `{"paused_ms": n}`; PlayAudio: `{"played":
        "s3://bucket/key"}`; ReceiveDigits: listens for digits (DIGITS_RECEIVED) from then on.
      - Hangup: the call ends; the function gets HANGUP (ActionData `{"Type": "Hangup",
        "Parameters": {"SipResponseCode": <the action's, "0" by default>, "CallId",
        "ParticipantTag": "LEG-A"}}`, Status "Disconnected"); its answer is ignored.
      - SpeakAndGetDigits, PlayAudioAndGetDigits: say (play) the prompt, then wait for the
        person (state `waiting_for_digits`).
      - When the whole list ran, the function gets ACTION_SUCCESSFUL, ActionData the last action
        as sent (`{"Type", "Parameters"}`, with "ReceivedDigits" for a *GetDigits action).
      - An empty (or null) list runs nothing and the call stays up (written down as a note).
  - Digits for a waiting *GetDigits action: read up to the first TerminatorDigits (default
    `#`, not included) or MaxNumberOfDigits (default 128); valid when at least
    MinNumberOfDigits (default 0) and InputDigitsRegex (if any) matches them in full
    (re.fullmatch). Valid: the rest of the list runs, then ACTION_SUCCESSFUL. Not valid, or
    silence: the failure speech (FailureSpeechParameters.Text, if any) is said; while tries
    are left (Repeat, default 1, counts them all) the prompt is said again and the call waits
    again; else ACTION_FAILED with ActionData `{"Type", "Parameters", "ErrorType":
    "SystemException", "ErrorMessage": "No valid digits were received"}` (the developer guide
    names no error type for this).
  - At most 1000 invocations per call (AWS's limit); the stub ends a call that reaches it.

The simulator's API (JSON in and out; errors `{"message": "..."}` with 400, 404, 409 or 503):
  - `POST /sma/calls/{transaction_id}/answer`: the person answers a ringing outbound call:
    CALL_ANSWERED, and its answer runs (409 for another call or state).
  - `POST /sma/calls/{transaction_id}/press` `{"digits": "123456"}` (0-9, *, #) or
    `{"digits": null}` (silence until the try times out): for a waiting *GetDigits action as
    above, else for a ReceiveDigits listener (matching digits: DIGITS_RECEIVED), else 409.
  - `POST /sma/calls/{transaction_id}/hangup`: the person hangs up (a ringing outbound call:
    declines it): HANGUP with SipResponseCode "0" (409 once the call ended).
  - `POST /sma/calls/{transaction_id}/miss`: nobody answers a ringing outbound call: HANGUP
    with SipResponseCode "480", never CALL_ANSWERED (409 for another call or state).
  - `POST /sma/inbound` `{"from": "+1…", "to": "+1…"}` (`to` optional: $CALL_FROM_NUMBER or
    "+15005550100"): a person calls the SMA's number: NEW_INBOUND_CALL, and its answer runs.
  - `GET /sma/calls`: every call, oldest first; `GET /sma/calls/{transaction_id}`: one.
  Each of these requests (but the GETs) answers with the call, after every invocation it caused
  ran, one after the other, so the call is settled: waiting for digits, up with nothing to do,
  or ended. The GETs wait (up to 30 s) for calls that are being driven. A call is
  `{"transaction_id", "call_id", "direction": "outbound" | "inbound", "from", "to", "sma_id",
  "arguments", "sip_headers", "state": "ringing" | "waiting_for_digits" | "connected" |
  "ended", "transaction_attributes" ({} when none), "transcript": [...], "at" (RFC 3339 UTC,
  ms)}`; its transcript lists, in order: each invocation `{"event", "sequence", "ms", "slow",
  "action_data" (when the event has ActionData), "actions" (the list answered, null when the
  invocation failed or had none), "transaction_attributes" (those answered, or null)}`, and
  `{"said", "ssml"}`, `{"paused_ms"}`, `{"played"}`, `{"pressed": "1"}` (`null`: silence),
  `{"note"}` and `{"error"}` entries.

usage: voice_stub.py PORT [--lambda-url URL]
"""
import argparse
import datetime
import html
import json
import os
import re
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ElementTree
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TARGET_PREFIX = "PinpointSMSVoiceV2."
JSON_1_0 = "application/x-amz-json-1.0"
# The service model's constraints on SendVoiceMessage's input (full-match patterns).
PHONE = re.compile(r"\+?[1-9][0-9]{1,18}")
IDENTITY = re.compile(r"[A-Za-z0-9_:/\+-]+")
NAME_OR_ARN = re.compile(r"[A-Za-z0-9_:/-]+")
PRICE = re.compile(r"[0-9]{0,2}\.[0-9]{1,5}")
TEXT_TYPES = {"TEXT", "SSML"}
VOICES = set(
    "AMY ASTRID BIANCA BRIAN CAMILA CARLA CARMEN CELINE CHANTAL CONCHITA CRISTIANO DORA EMMA "
    "ENRIQUE EWA FILIZ GERAINT GIORGIO GWYNETH HANS INES IVY JACEK JAN JOANNA JOEY JUSTIN KARL "
    "KENDRA KIMBERLY LEA LIV LOTTE LUCIA LUPE MADS MAJA MARLENE MATHIEU MATTHEW MAXIM MIA MIGUEL "
    "MIZUKI NAJA NICOLE PENELOPE RAVEENA RICARDO RUBEN RUSSELL SALLI SEOYEON TAKUMI TATYANA VICKI "
    "VITORIA ZEINA ZHIYU".split()
)


def now_rfc3339():
    """The time now, RFC 3339 UTC with milliseconds."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ssml_problem(text):
    """Why Amazon Polly would refuse `text` as SSML (one well-formed `<speak>` element), or None."""
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as e:
        return f"Invalid SSML: {e}"
    if root.tag != "speak":
        return "Invalid SSML: the root element must be <speak>"
    return None


# ---------------------------------------------------------------------------------------------
# End User Messaging SMS and Voice v2: SendVoiceMessage


class ServiceError(Exception):
    """An error answer: status, `__type` and the body's other members."""

    def __init__(self, status, code, message, **members):
        super().__init__(message)
        self.status, self.code, self.members = status, code, {"Message": message, **members}


def invalid(field, message, reason="FIELD_VALIDATION_FAILED"):
    return ServiceError(
        400,
        "ValidationException",
        f"1 validation error detected: {field}: {message}",
        Reason=reason,
        Fields=[{"Name": field, "Message": message}],
    )


def check_string(request, field, pattern=None, low=1, high=None, required=False):
    """The member `field` as the model constrains it: a string of `low`..`high` characters
    that `pattern` matches in full."""
    value = request.get(field)
    if value is None:
        if required:
            raise invalid(field, "Member must not be null", "MISSING_PARAMETER")
        return None
    if not isinstance(value, str):
        raise invalid(field, "Member must be a string")
    if len(value) < low or (high is not None and len(value) > high):
        raise invalid(field, f"Member must have length between {low} and {high}")
    if pattern is not None and not pattern.fullmatch(value):
        raise invalid(field, f"Member must satisfy regular expression pattern: {pattern.pattern}")
    return value


def check_send_voice_message(request, failing):
    """Validates a SendVoiceMessage input as the service does; returns what a call records."""
    destination = check_string(request, "DestinationPhoneNumber", PHONE, 1, 20, required=True)
    origination = check_string(request, "OriginationIdentity", IDENTITY, 1, 256, required=True)
    body = check_string(request, "MessageBody", None, 1, 6000)
    if body is not None and not body.strip():
        raise invalid("MessageBody", "Member must not be blank")
    body_type = check_string(request, "MessageBodyTextType")
    if body_type is not None and body_type not in TEXT_TYPES:
        raise invalid("MessageBodyTextType", f"Member must satisfy enum value set: {sorted(TEXT_TYPES)}")
    voice_id = check_string(request, "VoiceId")
    if voice_id is not None and voice_id not in VOICES:
        raise invalid("VoiceId", "Member must satisfy enum value set of the service's voices")
    for field in ("ConfigurationSetName", "ProtectConfigurationId"):
        check_string(request, field, NAME_OR_ARN, 1, 256)
    check_string(request, "MaxPricePerMinute", PRICE, 2, 8)
    ttl = request.get("TimeToLive")
    if ttl is not None and (not isinstance(ttl, int) or isinstance(ttl, bool) or not 5 <= ttl <= 259200):
        raise invalid("TimeToLive", "Member must have value between 5 and 259200")
    context = request.get("Context")
    if context is not None and (not isinstance(context, dict) or len(context) > 5):
        raise invalid("Context", "Member must be a map of at most 5 entries")
    for field in ("DryRun", "MessageFeedbackEnabled"):
        if field in request and not isinstance(request[field], bool):
            raise invalid(field, "Member must be a boolean")
    if body_type == "SSML" and body is not None:
        problem = ssml_problem(body)
        if problem:
            raise invalid("MessageBody", problem)
    if destination in failing:
        raise invalid("DestinationPhoneNumber", "Destination country is blocked", "DESTINATION_COUNTRY_BLOCKED")
    return {
        "destination": destination,
        "origination": origination,
        "voice_id": voice_id,
        "body_type": body_type,
        "body": body,
    }


# ---------------------------------------------------------------------------------------------
# Chime SDK Voice: CreateSipMediaApplicationCall

# The model's E164PhoneNumber (`^\+?[1-9]\d{1,14}$`), ASCII digits only.
E164 = re.compile(r"\+?[1-9][0-9]{1,14}")
CREATE_CALL = re.compile(r"/sip-media-applications/([^/]+)/calls")


class ChimeError(Exception):
    """A restJson1 error answer: status, the code (`BadRequest`) and a message."""

    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code = status, code


def check_string_map(request, field, most=20):
    """The member `field`: absent, or an object of at most `most` string pairs."""
    value = request.get(field)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ChimeError(400, "BadRequest", f"{field} must be a map of strings")
    if len(value) > most:
        raise ChimeError(400, "BadRequest", f"{field} must have at most {most} entries")
    return value


def check_create_call(sma_id, request, failing):
    """Validates a CreateSipMediaApplicationCall input; returns the call's numbers and maps."""
    if not sma_id.strip():
        raise ChimeError(400, "BadRequest", "SipMediaApplicationId must not be blank")
    numbers = {}
    for field in ("FromPhoneNumber", "ToPhoneNumber"):
        value = request.get(field)
        if value is None:
            raise ChimeError(400, "BadRequest", f"{field} is required")
        if not isinstance(value, str) or not E164.fullmatch(value):
            raise ChimeError(400, "BadRequest", f"{field} must satisfy the pattern ^\\+?[1-9]\\d{{1,14}}$")
        numbers[field] = value
    sip_headers = check_string_map(request, "SipHeaders")
    arguments = check_string_map(request, "ArgumentsMap")
    if numbers["ToPhoneNumber"] in failing:
        raise ChimeError(400, "BadRequest", "The call to ToPhoneNumber was refused (VOICE_STUB_FAIL)")
    return numbers["FromPhoneNumber"], numbers["ToPhoneNumber"], sip_headers, arguments


# ---------------------------------------------------------------------------------------------
# The phone network and the SIP media application's runtime, around the `calls` function

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
SIP_RULE_ID = "local-sip-rule"
# AWS waits this long for the function before it retries (timeouts.md): slower is marked `slow`.
SLOW_MS = 5000
# How long the stub waits for an answer: long, as `cargo lambda watch` may build the function first.
INVOKE_TIMEOUT_S = 300
# How long a GET waits for a call that is being driven before it answers as the call is.
SETTLE_TIMEOUT_S = 30
MAX_ACTIONS = 10
MAX_INVOCATIONS = 1000
MAX_ATTRIBUTES, MAX_ATTRIBUTE_BYTES = 100, 20 * 1024
# The events whose answers' actions run; the others' are ignored (their attributes are kept).
RUN_EVENTS = {
    "NEW_INBOUND_CALL",
    "CALL_ANSWERED",
    "ACTION_SUCCESSFUL",
    "ACTION_FAILED",
    "INVALID_LAMBDA_RESPONSE",
    "DIGITS_RECEIVED",
}
ACTION_TYPES = {"Speak", "SpeakAndGetDigits", "Pause", "Hangup", "PlayAudio", "PlayAudioAndGetDigits", "ReceiveDigits"}
GET_DIGITS = {"SpeakAndGetDigits", "PlayAudioAndGetDigits"}
SIP_RESPONSE_CODES = {"0", "480", "486"}
KEYS = re.compile(r"[0-9*#]*")
# No answer to run: the invocation failed, or the call now waits for the person, or ended.
NOTHING = object()
# Straight to the function, whatever proxy the environment names.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Invalid(Exception):
    """An answer or an action the service refuses: the ErrorType it reports, and why."""

    def __init__(self, error_type, message):
        super().__init__(message)
        self.error_type = error_type


class SimError(Exception):
    """A refused /sma/* request: the HTTP status and why."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def spoken(text, text_type):
    """What a voice says for `text`: SSML without its tags and entities, whitespace collapsed."""
    if text_type == "ssml":
        text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    return " ".join(text.split())


def s3_url(source):
    return f"s3://{source.get('BucketName')}/{source.get('Key')}"


def invoke_function(url, event):
    """POSTs an event to the function: its answer (any JSON value) and None, or None and why
    the invocation failed."""
    request = urllib.request.Request(url, data=json.dumps(event).encode(), headers={"content-type": "application/json"})
    try:
        with OPENER.open(request, timeout=INVOKE_TIMEOUT_S) as response:
            body = response.read()
    except urllib.error.HTTPError as e:
        return None, f"the invocation failed: HTTP {e.code}: {e.read()[:500].decode('utf-8', 'replace')}"
    except (urllib.error.URLError, OSError) as e:
        return None, f"the invocation failed: {e}"
    try:
        answer = json.loads(body)
    except ValueError:
        return None, f"the function's answer is not JSON: {body[:200]!r}"
    if isinstance(answer, dict) and ("errorType" in answer or "errorMessage" in answer):
        return None, f"the function failed: {answer.get('errorType')}: {answer.get('errorMessage')}"
    return answer, None


def attributes_problem(attributes):
    """Why TransactionAttributes are refused (an Invalid), or None."""
    if not isinstance(attributes, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in attributes.items()
    ):
        return Invalid("InvalidLambdaResponse", "TransactionAttributes must be a map of strings")
    size = sum(len(k.encode()) + len(v.encode()) for k, v in attributes.items())
    if len(attributes) > MAX_ATTRIBUTES or size > MAX_ATTRIBUTE_BYTES:
        return Invalid(
            "TransactionAttributesInvalidMapSize",
            f"Transaction Attributes has {len(attributes)} mappings of {size} bytes: "
            f"at most {MAX_ATTRIBUTES} mappings and {MAX_ATTRIBUTE_BYTES} bytes",
        )
    return None


def check_answer(answer):
    """The actions of an answer whose actions run; raises Invalid for what the service calls an
    invalid Lambda response."""
    if not isinstance(answer, dict):
        raise Invalid("InvalidLambdaResponse", "The answer is not a JSON object")
    if answer.get("SchemaVersion") != "1.0":
        raise Invalid("InvalidLambdaResponse", f"SchemaVersion must be \"1.0\", not {answer.get('SchemaVersion')!r}")
    # A null list keeps the pending actions; when the stub invokes, none are pending.
    actions = answer.get("Actions")
    if actions is None:
        actions = []
    if not isinstance(actions, list):
        raise Invalid("InvalidLambdaResponse", "Actions must be a list")
    if len(actions) > MAX_ACTIONS:
        raise Invalid("InvalidLambdaResponse", f"{len(actions)} actions: at most {MAX_ACTIONS} per answer")
    for action in actions:
        if not isinstance(action, dict) or action.get("Type") not in ACTION_TYPES:
            kind = action.get("Type") if isinstance(action, dict) else action
            raise Invalid("InvalidLambdaResponse", f"Unknown action type {kind!r}")
        if not isinstance(action.get("Parameters", {}), dict):
            raise Invalid("InvalidLambdaResponse", f"{action['Type']}: Parameters must be an object")
    if answer.get("TransactionAttributes") is not None:
        problem = attributes_problem(answer["TransactionAttributes"])
        if problem:
            raise problem
    return actions


def number(params, name, default=None, low=0, required=False):
    """The numeric parameter `name` (a JSON number or a string of digits) of at least `low`."""
    value = params.get(name, default)
    if value is None:
        if required:
            raise Invalid("MissingRequiredActionParameter", f"{name} is a required parameter")
        return None
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and re.fullmatch(r"[0-9]+", value))):
        raise Invalid("InvalidActionParameter", f"{name} must be a whole number, not {value!r}")
    if int(value) < low:
        raise Invalid("InvalidActionParameter", f"{name} must be at least {low}")
    return int(value)


def check_speech(speech, prefix, default_type="text"):
    """SpeechParameters (or Speak's own parameters): Text, TextType, Engine."""
    if not isinstance(speech, dict):
        raise Invalid("MissingRequiredActionParameter", f"{prefix}Text is a required parameter")
    text = speech.get("Text")
    if not isinstance(text, str) or not text:
        raise Invalid("MissingRequiredActionParameter", f"{prefix}Text is a required parameter")
    if len(text) > 1000:
        raise Invalid("MissingRequiredActionParameter", f"{prefix}Text is limited to 1,000 characters")
    text_type = speech.get("TextType") or default_type
    if text_type not in ("text", "ssml"):
        raise Invalid("InvalidActionParameter", f"{prefix}TextType must be text or ssml, not {text_type!r}")
    if speech.get("Engine") not in (None, "standard", "neural"):
        raise Invalid("InvalidActionParameter", f"{prefix}Engine must be standard or neural")
    if text_type == "ssml":
        problem = ssml_problem(text)
        if problem:
            raise Invalid("InvalidActionParameter", f"{prefix}Text: {problem}")


def check_audio(source, name):
    if not isinstance(source, dict) or source.get("Type") != "S3" or not source.get("BucketName") or not source.get("Key"):
        raise Invalid("InvalidAudioSource", f"{name} must be {{\"Type\": \"S3\", \"BucketName\", \"Key\"}}")


def check_regex(params):
    regex = params.get("InputDigitsRegex")
    if regex is None:
        return
    try:
        re.compile(regex)
    except (re.error, TypeError) as e:
        raise Invalid("InvalidActionParameter", f"InputDigitsRegex is not a valid regex: {e}") from None


def check_digits(params):
    """The digit parameters of the *GetDigits actions."""
    minimum = number(params, "MinNumberOfDigits", 0)
    if number(params, "MaxNumberOfDigits", 128, low=1) < minimum:
        raise Invalid("InvalidActionParameter", "MaxNumberOfDigits must not be below MinNumberOfDigits")
    number(params, "Repeat", 1, low=1)
    number(params, "RepeatDurationInMilliseconds", required=True, low=1)
    number(params, "InBetweenDigitsDurationInMilliseconds", low=1)
    terminators = params.get("TerminatorDigits", ["#"])
    if not isinstance(terminators, list) or not all(t in list("0123456789#*") for t in terminators):
        raise Invalid("InvalidActionParameter", "TerminatorDigits must be a list of 0-9, # or *")
    check_regex(params)


def check_action(call, kind, params):
    """Checks an action's parameters when its turn comes; raises Invalid as the service's
    ACTION_FAILED would report it."""
    call_id = params.get("CallId")
    if call_id is None and kind in ("Speak", "SpeakAndGetDigits"):
        raise Invalid("MissingRequiredActionParameter", "CallId is a required parameter")
    if call_id is not None and call_id != call.call_id:
        raise Invalid("InvalidActionParameter", f"CallId {call_id!r} is not a participant of this call")
    if params.get("ParticipantTag") not in (None, "LEG-A"):
        raise Invalid("InvalidActionParameter", f"ParticipantTag {params['ParticipantTag']!r}: this call has only LEG-A")
    if kind == "Speak":
        check_speech(params, "")
    elif kind == "SpeakAndGetDigits":
        speech = params.get("SpeechParameters")
        check_speech(speech, "SpeechParameters.")
        if params.get("FailureSpeechParameters") is not None:
            check_speech(params["FailureSpeechParameters"], "FailureSpeechParameters.", speech.get("TextType") or "text")
        check_digits(params)
    elif kind == "PlayAudio":
        check_audio(params.get("AudioSource"), "AudioSource")
    elif kind == "PlayAudioAndGetDigits":
        check_audio(params.get("AudioSource"), "AudioSource")
        if params.get("FailureAudioSource") is not None:
            check_audio(params["FailureAudioSource"], "FailureAudioSource")
        check_digits(params)
    elif kind == "Pause":
        number(params, "DurationInMilliseconds", required=True, low=1)
    elif kind == "Hangup":
        if str(params.get("SipResponseCode", "0")) not in SIP_RESPONSE_CODES:
            raise Invalid("InvalidActionParameter", "SipResponseCode must be 0, 480 or 486")
    elif kind == "ReceiveDigits":
        if params.get("InputDigitsRegex") is None:
            raise Invalid("MissingRequiredActionParameter", "InputDigitsRegex is a required parameter")
        check_regex(params)
        number(params, "InBetweenDigitsDurationInMilliseconds", required=True, low=1)
        number(params, "FlushDigitsDurationInMilliseconds", required=True, low=1)


def received_digits(params, pressed):
    """The digits a *GetDigits action takes from what was pressed: up to the first terminator
    (not included) or MaxNumberOfDigits; None for silence."""
    if pressed is None:
        return None
    terminators = params.get("TerminatorDigits", ["#"])
    most = number(params, "MaxNumberOfDigits", 128)
    digits = ""
    for key in pressed:
        if key in terminators or len(digits) >= most:
            break
        digits += key
    return digits


def digits_valid(params, digits):
    """Whether the digits satisfy the action: enough of them, and the regex matches them all."""
    if digits is None or len(digits) < number(params, "MinNumberOfDigits", 0):
        return False
    regex = params.get("InputDigitsRegex")
    return regex is None or re.fullmatch(regex, digits) is not None


class Call:
    """One SMA call (one leg, LEG-A): what the events say about it and what happened on it.
    `lock` is held while anything drives the call (events, actions, the person)."""

    def __init__(self, direction, caller, callee, sma_id, arguments=None, sip_headers=None):
        self.transaction_id = str(uuid.uuid4())
        self.call_id = str(uuid.uuid4())
        self.direction = direction  # "outbound" | "inbound"
        self.caller, self.callee = caller, callee
        self.sma_id = sma_id
        self.arguments = arguments or {}
        self.sip_headers = sip_headers or {}
        self.start_ms = str(int(time.time() * 1000))
        self.at = now_rfc3339()
        self.state = "ringing"  # | "waiting_for_digits" | "connected" | "ended"
        self.attributes = {}
        self.sequence = 0
        self.transcript = []
        self.pending = []  # the actions of the list being run that have not run yet
        self.waiting = None  # the *GetDigits action waiting for the person
        self.tries = 0  # its tries so far
        self.listener = None  # a ReceiveDigits action's parameters
        self.lock = threading.Lock()

    def note(self, **entry):
        self.transcript.append(entry)

    def details(self, status):
        """The event's CallDetails."""
        details = {"TransactionId": self.transaction_id}
        if self.attributes:
            details["TransactionAttributes"] = dict(self.attributes)
        details.update({"AwsAccountId": ACCOUNT_ID, "AwsRegion": REGION})
        if self.direction == "inbound":
            details["SipRuleId"] = SIP_RULE_ID
        details["SipMediaApplicationId"] = self.sma_id
        details["Participants"] = [
            {
                "CallId": self.call_id,
                "ParticipantTag": "LEG-A",
                "To": self.callee,
                "From": self.caller,
                "Direction": self.direction.capitalize(),
                "StartTimeInMilliseconds": self.start_ms,
                "Status": status,
            }
        ]
        return details

    def view(self):
        """The call as the simulator's API shows it."""
        return {
            "transaction_id": self.transaction_id,
            "call_id": self.call_id,
            "direction": self.direction,
            "from": self.caller,
            "to": self.callee,
            "sma_id": self.sma_id,
            "arguments": self.arguments,
            "sip_headers": self.sip_headers,
            "state": self.state,
            "transaction_attributes": dict(self.attributes),
            "transcript": list(self.transcript),
            "at": self.at,
        }


class Network:
    """The phone network and the SIP media application, played against one function. Each
    call is driven under its own lock, so the invocations of a call come one after the other;
    different calls run side by side."""

    def __init__(self, lambda_url, inbound_sma_id, inbound_number):
        self.lambda_url = lambda_url
        self.inbound_sma_id = inbound_sma_id
        self.inbound_number = inbound_number
        self.calls = {}  # transaction id -> Call, oldest first
        self.lock = threading.Lock()  # guards self.calls

    def reset(self):
        with self.lock:
            self.calls.clear()

    def find(self, transaction_id):
        with self.lock:
            call = self.calls.get(transaction_id)
        if call is None:
            raise SimError(404, f"no call {transaction_id}")
        return call

    def settled_view(self, call):
        """The call once nothing drives it (or after SETTLE_TIMEOUT_S, as it is)."""
        settled = call.lock.acquire(timeout=SETTLE_TIMEOUT_S)
        try:
            return call.view()
        finally:
            if settled:
                call.lock.release()

    def views(self):
        with self.lock:
            calls = list(self.calls.values())
        return [self.settled_view(call) for call in calls]

    # What CreateSipMediaApplicationCall and the person start ---------------------------------

    def dial(self, sma_id, caller, callee, sip_headers, arguments):
        """An accepted CreateSipMediaApplicationCall: the call, ringing in a background thread."""
        call = Call("outbound", caller, callee, sma_id, arguments, sip_headers)
        if self.lambda_url is None:
            call.note(error="the stub runs without --lambda-url: nothing rings")
        else:
            # Held by the dialing thread until RINGING was delivered: an answer (or a GET)
            # waits for that, so the function sees NEW_OUTBOUND_CALL and RINGING first.
            call.lock.acquire()
            threading.Thread(target=self.ring, args=(call,), daemon=True).start()
        with self.lock:
            self.calls[call.transaction_id] = call
        return call

    def ring(self, call):
        """The dialing thread: NEW_OUTBOUND_CALL, then RINGING; then it lets go of the call's
        lock, which dial() took for it."""
        try:
            parameters = {
                "Arguments": call.arguments,
                "FromPhoneNumber": call.caller,
                "ToPhoneNumber": call.callee,
                "SipHeaders": call.sip_headers,
            }
            self.invoke(call, "NEW_OUTBOUND_CALL", {"Type": "CallCreateRequest", "Parameters": parameters})
            self.invoke(call, "RINGING")
        except Exception as e:  # a bug in the stub: say so on the call, and let it go on
            traceback.print_exc()
            call.note(error=f"the stub failed: {e!r}")
        finally:
            call.lock.release()

    def call_in(self, caller, callee):
        """A person calls the SMA's number: NEW_INBOUND_CALL, and its answer runs."""
        call = Call("inbound", caller, callee, self.inbound_sma_id)
        with call.lock:
            with self.lock:
                self.calls[call.transaction_id] = call
            self.run(call, self.invoke(call, "NEW_INBOUND_CALL"))
            return call.view()

    def pick_up(self, transaction_id):
        """The person answers a ringing outbound call."""
        call = self.find(transaction_id)
        with call.lock:
            if call.direction != "outbound" or call.state != "ringing":
                raise SimError(409, f"only a ringing outbound call can be answered; this one is {call.direction}, {call.state}")
            call.state = "connected"
            self.run(call, self.invoke(call, "CALL_ANSWERED"))
            return call.view()

    def press(self, transaction_id, pressed):
        """The person presses keys (None: stays silent until the try times out)."""
        call = self.find(transaction_id)
        with call.lock:
            if call.state == "waiting_for_digits":
                call.note(pressed=pressed)
                self.take_digits(call, pressed)
            elif call.state == "connected" and call.listener is not None:
                call.note(pressed=pressed)
                self.listen(call, pressed)
            else:
                raise SimError(409, f"nothing waits for digits on this call ({call.state})")
            return call.view()

    def hang_up(self, transaction_id):
        """The person hangs up (or declines a ringing call)."""
        call = self.find(transaction_id)
        with call.lock:
            if call.state == "ended":
                raise SimError(409, "the call has ended")
            self.end(call, "0")
            return call.view()

    def miss(self, transaction_id):
        """Nobody answers a ringing outbound call."""
        call = self.find(transaction_id)
        with call.lock:
            if call.direction != "outbound" or call.state != "ringing":
                raise SimError(409, f"only a ringing outbound call can be missed; this one is {call.direction}, {call.state}")
            self.end(call, "480")
            return call.view()

    # The SMA's runtime (the caller holds call.lock) -----------------------------------------

    def invoke(self, call, event_type, action_data=None):
        """Sends one event to the function and writes it down. Returns the function's answer,
        or NOTHING when the invocation failed. Keeps the TransactionAttributes of answers whose
        actions are ignored (run() keeps the others' once it checked them)."""
        if call.sequence >= MAX_INVOCATIONS:
            call.note(error=f"{MAX_INVOCATIONS} invocations: the call ends")
            call.state = "ended"
            return NOTHING
        call.sequence += 1
        event = {"SchemaVersion": "1.0", "Sequence": call.sequence, "InvocationEventType": event_type}
        if action_data is not None:
            event["ActionData"] = action_data
        event["CallDetails"] = call.details("Disconnected" if event_type == "HANGUP" else "Connected")
        if event_type == "INVALID_LAMBDA_RESPONSE":
            event.update(action_data)  # the developer guide's example has them at the top level
        started = time.perf_counter()
        answer, failure = invoke_function(self.lambda_url, event)
        ms = (time.perf_counter() - started) * 1000
        entry = {"event": event_type, "sequence": call.sequence, "ms": round(ms, 1), "slow": ms > SLOW_MS}
        if action_data is not None:
            entry["action_data"] = action_data
        entry["actions"] = answer.get("Actions") if isinstance(answer, dict) else None
        entry["transaction_attributes"] = answer.get("TransactionAttributes") if isinstance(answer, dict) else None
        call.note(**entry)
        if failure:
            call.note(error=f"{event_type}: {failure}")
            if event_type in RUN_EVENTS:
                call.note(error="the call drops (AWS hangs up with SIP 480 when its retries run out)")
                call.state = "ended"
            return NOTHING
        if event_type not in RUN_EVENTS and isinstance(answer, dict) and answer.get("TransactionAttributes") is not None:
            problem = attributes_problem(answer["TransactionAttributes"])
            if problem:
                call.note(error=f"{event_type}: TransactionAttributes refused: {problem.error_type}: {problem}")
            else:
                call.attributes = dict(answer["TransactionAttributes"])
        return answer

    def run(self, call, answer):
        """Runs an answer's actions, and those of the answers that follow, until the call waits
        for the person, stays up with nothing to do, or ends."""
        refused = False
        while answer is not NOTHING and call.state != "ended":
            try:
                actions = check_answer(answer)
            except Invalid as e:
                call.note(error=f"invalid answer: {e.error_type}: {e}")
                if refused:
                    call.note(error="the answer to INVALID_LAMBDA_RESPONSE was invalid too: the call ends")
                    call.state = "ended"
                    return
                refused = True
                answer = self.invoke(call, "INVALID_LAMBDA_RESPONSE", {"ErrorType": e.error_type, "ErrorMessage": str(e)})
                continue
            refused = False
            if answer.get("TransactionAttributes") is not None:
                call.attributes = dict(answer["TransactionAttributes"])
            if not actions:
                call.note(note="no actions: the call stays up")
                return
            call.pending = list(actions)
            answer = self.proceed(call)

    def proceed(self, call, last=None):
        """Runs the call's pending actions in order. Returns the function's answer to the event
        that follows them (ACTION_SUCCESSFUL, ACTION_FAILED), or NOTHING when the call now waits
        for the person or ended. `last`: the ActionData of the action that ran before."""
        while call.pending:
            action = call.pending.pop(0)
            kind, params = action["Type"], action.get("Parameters", {})
            try:
                check_action(call, kind, params)
            except Invalid as e:
                call.note(error=f"{kind} failed: {e.error_type}: {e}")
                call.pending = []
                data = {"Type": kind, "Parameters": params, "ErrorType": e.error_type, "ErrorMessage": str(e)}
                return self.invoke(call, "ACTION_FAILED", data)
            if kind == "Hangup":
                call.pending = []
                self.end(call, str(params.get("SipResponseCode", "0")))
                return NOTHING
            # Any other action answers a ringing inbound call.
            call.state = "connected"
            if kind in GET_DIGITS:
                call.waiting, call.tries = action, 1
                call.state = "waiting_for_digits"
                self.prompt(call, params)
                return NOTHING
            if kind == "Speak":
                call.note(said=spoken(params["Text"], params.get("TextType")), ssml=self.ssml(params))
            elif kind == "Pause":
                call.note(paused_ms=number(params, "DurationInMilliseconds"))
            elif kind == "PlayAudio":
                call.note(played=s3_url(params["AudioSource"]))
            elif kind == "ReceiveDigits":
                call.listener = params
            last = {"Type": kind, "Parameters": params}
        return self.invoke(call, "ACTION_SUCCESSFUL", last)

    @staticmethod
    def ssml(speech, default_type=None):
        return speech["Text"] if (speech.get("TextType") or default_type) == "ssml" else None

    def prompt(self, call, params, failure=False):
        """What a *GetDigits action says (plays): its prompt, or its failure speech (if any)."""
        if call.waiting["Type"] == "SpeakAndGetDigits":
            main = params["SpeechParameters"]
            speech = params.get("FailureSpeechParameters") if failure else main
            if speech is not None:
                text_type = speech.get("TextType") or main.get("TextType")
                call.note(said=spoken(speech["Text"], text_type), ssml=self.ssml(speech, main.get("TextType")))
        else:
            source = params.get("FailureAudioSource") if failure else params["AudioSource"]
            if source is not None:
                call.note(played=s3_url(source))

    def take_digits(self, call, pressed):
        """What the person pressed for the waiting *GetDigits action."""
        action = call.waiting
        params = action.get("Parameters", {})
        digits = received_digits(params, pressed)
        if digits_valid(params, digits):
            call.waiting, call.state = None, "connected"
            last = {"Type": action["Type"], "Parameters": params, "ReceivedDigits": digits}
            self.run(call, self.proceed(call, last))
            return
        self.prompt(call, params, failure=True)
        if call.tries < number(params, "Repeat", 1):
            call.tries += 1
            self.prompt(call, params)
            return
        call.waiting, call.state, call.pending = None, "connected", []
        data = {
            "Type": action["Type"],
            "Parameters": params,
            "ErrorType": "SystemException",
            "ErrorMessage": "No valid digits were received",
        }
        self.run(call, self.invoke(call, "ACTION_FAILED", data))

    def listen(self, call, pressed):
        """Digits for a ReceiveDigits listener: DIGITS_RECEIVED when they match its regex."""
        if pressed is None or not re.fullmatch(call.listener["InputDigitsRegex"], pressed):
            call.note(note="the digits do not match ReceiveDigits' InputDigitsRegex")
            return
        data = {"Type": "ReceiveDigits", "Parameters": call.listener, "ReceivedDigits": pressed}
        self.run(call, self.invoke(call, "DIGITS_RECEIVED", data))

    def end(self, call, code):
        """The call ends (SIP `code`): HANGUP, whose answer is ignored."""
        call.state, call.waiting, call.pending, call.listener = "ended", None, [], None
        data = {"Type": "Hangup", "Parameters": {"SipResponseCode": code, "CallId": call.call_id, "ParticipantTag": "LEG-A"}}
        self.invoke(call, "HANGUP", data)


# ---------------------------------------------------------------------------------------------
# HTTP


class VoiceStub(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    calls = []
    failing = set()
    lock = threading.Lock()
    network = Network(None, "local-sma", "+15005550100")

    def log_message(self, *_args):
        pass

    def answer(self, status, payload=None, content_type="application/json", headers=None):
        data = b"" if payload is None else json.dumps(payload).encode("utf-8")
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/calls":
            with self.lock:
                calls = list(self.calls)
            self.answer(200, calls)
        elif path.startswith("/sma/"):
            self.simulator("GET", path, b"")
        else:
            self.answer(404, {"message": "not found: GET /calls lists the recorded calls, GET /sma/calls the SMA calls"})

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        if path == "/reset":
            with self.lock:
                self.calls.clear()
            self.network.reset()
            self.answer(204)
            return
        if path.startswith("/sma/"):
            self.simulator("POST", path, body)
            return
        if path.startswith("/sip-media-applications/"):
            self.chime(path, body)
            return
        try:
            self.answer(200, self.operation(path, body), JSON_1_0)
        except ServiceError as e:
            payload = {"__type": e.code, **e.members}
            self.answer(e.status, payload, JSON_1_0, {"x-amzn-ErrorType": e.code})

    def operation(self, path, body):
        target = self.headers.get("x-amz-target", "")
        if path != "/" or target != TARGET_PREFIX + "SendVoiceMessage":
            raise ServiceError(400, "UnknownOperationException", f"Unknown operation {target or path}")
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            request = None
        if not isinstance(request, dict):
            raise ServiceError(400, "SerializationException", "The request body is not a JSON object")
        call = check_send_voice_message(request, self.failing)
        message_id = str(uuid.uuid4())
        if not request.get("DryRun"):
            call["message_id"] = message_id
            call["at"] = now_rfc3339()
            with self.lock:
                self.calls.append(call)
        return {"MessageId": message_id}

    def chime(self, path, body):
        """Chime SDK Voice (restJson1): CreateSipMediaApplicationCall."""
        try:
            match = CREATE_CALL.fullmatch(path)
            if match is None:
                raise ChimeError(404, "NotFound", f"The stub answers only POST /sip-media-applications/{{id}}/calls, not {path}")
            try:
                request = json.loads(body or b"{}")
            except ValueError:
                request = None
            if not isinstance(request, dict):
                raise ChimeError(400, "BadRequest", "The request body is not a JSON object")
            sma_id = urllib.parse.unquote(match.group(1))
            caller, callee, sip_headers, arguments = check_create_call(sma_id, request, self.failing)
        except ChimeError as e:
            payload = {"Code": e.code, "Message": str(e)}
            self.answer(e.status, payload, headers={"x-amzn-ErrorType": e.code + "Exception"})
            return
        call = self.network.dial(sma_id, caller, callee, sip_headers, arguments)
        self.answer(201, {"SipMediaApplicationCall": {"TransactionId": call.transaction_id}})

    def simulator(self, method, path, body):
        """The /sma/* API: a test (or a person) plays the phone network's people."""
        network = self.network
        try:
            if network.lambda_url is None:
                raise SimError(503, "the phone network needs the calls function: start the stub with --lambda-url URL")
            try:
                request = json.loads(body or b"{}")
            except ValueError:
                request = None
            if not isinstance(request, dict):
                raise SimError(400, "the body must be a JSON object")
            parts = path.strip("/").split("/")  # ["sma", "calls", tid, verb] or ["sma", "inbound"]
            if method == "GET" and parts == ["sma", "calls"]:
                self.answer(200, network.views())
            elif method == "GET" and len(parts) == 3 and parts[1] == "calls":
                self.answer(200, network.settled_view(network.find(parts[2])))
            elif method == "POST" and parts == ["sma", "inbound"]:
                caller, callee = request.get("from"), request.get("to") or network.inbound_number
                for name, value in (("from", caller), ("to", callee)):
                    if not isinstance(value, str) or not E164.fullmatch(value):
                        raise SimError(400, f"{name!r} must be an E.164 number")
                self.answer(200, network.call_in(caller, callee))
            elif method == "POST" and len(parts) == 4 and parts[1] == "calls":
                tid, verb = parts[2], parts[3]
                if verb == "answer":
                    self.answer(200, network.pick_up(tid))
                elif verb == "press":
                    pressed = request.get("digits")
                    if "digits" not in request or not (pressed is None or (isinstance(pressed, str) and KEYS.fullmatch(pressed))):
                        raise SimError(400, "'digits' must be a string of 0-9, * and #, or null for silence")
                    self.answer(200, network.press(tid, pressed))
                elif verb == "hangup":
                    self.answer(200, network.hang_up(tid))
                elif verb == "miss":
                    self.answer(200, network.miss(tid))
                else:
                    raise SimError(404, f"unknown action {verb!r}: answer, press, hangup or miss")
            else:
                raise SimError(404, f"not found: {method} {path}")
        except SimError as e:
            self.answer(e.status, {"message": str(e)})
        except Exception as e:  # a bug in the stub: answer it rather than drop the connection
            traceback.print_exc()
            self.answer(500, {"message": f"the stub failed: {e!r}"})


def main():
    parser = argparse.ArgumentParser(description="AWS voice services, played locally (see the module docstring)")
    parser.add_argument("port", type=int)
    parser.add_argument("--lambda-url", help="where the calls function is invoked (an HTTP POST of each event)")
    options = parser.parse_args()
    VoiceStub.failing = {n.strip() for n in os.environ.get("VOICE_STUB_FAIL", "").split(",") if n.strip()}
    VoiceStub.network = Network(
        options.lambda_url,
        os.environ.get("SIP_MEDIA_APPLICATION_ID") or "local-sma",
        os.environ.get("CALL_FROM_NUMBER") or "+15005550100",
    )
    server = ThreadingHTTPServer(("127.0.0.1", options.port), VoiceStub)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
