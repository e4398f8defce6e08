"""A local stand-in for AWS End User Messaging SMS and Voice v2 (`pinpoint-sms-voice-v2`) that
answers `SendVoiceMessage` and writes each call down, so the tests can hear what a caller would.

moto does not speak this service; the local functions reach this stub as they would reach AWS:
their SDK sends to AWS_ENDPOINT_URL (scripts/aws_calls.py, the call recorder), which routes
requests signed for the service `sms-voice` here.

The protocol (the service model, `pinpoint-sms-voice-v2` 2022-03-31):
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

What the stub adds to the API:
  - With `MessageBodyTextType: SSML` the body must be one well-formed XML element `<speak>`
    (Amazon Polly refuses anything else when it reads the call); else a ValidationException.
  - Destinations listed in the environment variable VOICE_STUB_FAIL (comma-separated E.164
    numbers) get 400 ValidationException, Reason `DESTINATION_COUNTRY_BLOCKED`: a delivery that
    AWS refuses. Refused and `DryRun` calls are not recorded.
  - `GET /calls`: the recorded calls, oldest first, as a JSON list of
    `{"destination", "origination", "voice_id", "body_type", "body", "message_id", "at"}`
    (`at`: RFC 3339 UTC with milliseconds; `voice_id` and `body_type` null when not sent).
  - `POST /reset`: forgets the recorded calls (204).

usage: voice_stub.py PORT
"""
import datetime
import json
import os
import re
import sys
import threading
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
        try:
            root = ElementTree.fromstring(body)
        except ElementTree.ParseError as e:
            raise invalid("MessageBody", f"Invalid SSML: {e}") from None
        if root.tag != "speak":
            raise invalid("MessageBody", "Invalid SSML: the root element must be <speak>")
    if destination in failing:
        raise invalid("DestinationPhoneNumber", "Destination country is blocked", "DESTINATION_COUNTRY_BLOCKED")
    return {
        "destination": destination,
        "origination": origination,
        "voice_id": voice_id,
        "body_type": body_type,
        "body": body,
    }


class VoiceStub(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    calls = []
    failing = set()
    lock = threading.Lock()

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
        if self.path.split("?", 1)[0] == "/calls":
            with self.lock:
                calls = list(self.calls)
            self.answer(200, calls)
        else:
            self.answer(404, {"message": "not found: GET /calls lists the recorded calls"})

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        if path == "/reset":
            with self.lock:
                self.calls.clear()
            self.answer(204)
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
            now = datetime.datetime.now(datetime.timezone.utc)
            call["message_id"] = message_id
            call["at"] = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            with self.lock:
                self.calls.append(call)
        return {"MessageId": message_id}


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: voice_stub.py PORT")
    VoiceStub.failing = {n.strip() for n in os.environ.get("VOICE_STUB_FAIL", "").split(",") if n.strip()}
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), VoiceStub)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
