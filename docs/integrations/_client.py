"""What the examples in this folder share: a small JSON client for twostep (standard library only).

Not part of twostep and not an SDK: copy what you need. `call` never raises on an HTTP error
status; it returns the status, the headers and the parsed body, for the caller to inspect as a
real integration would. `fail` ends the example with a message and exit status 1 (the examples
are run as tests by ./scripts/test.sh).

Environment: TWOSTEP_URL (default http://127.0.0.1:9000), TWOSTEP_API_KEY (required),
TWOSTEP_MOTO_URL (default http://127.0.0.1:5000: the local stack's emulator, for the SMS outbox).
"""
import json
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any, NamedTuple

API = os.environ.get("TWOSTEP_URL", "http://127.0.0.1:9000").rstrip("/")
MOTO = os.environ.get("TWOSTEP_MOTO_URL", "http://127.0.0.1:5000").rstrip("/")
API_KEY = os.environ.get("TWOSTEP_API_KEY", "")
# The members worth a glance in a step's output; the rest (problem titles, details) is noise.
PROBLEM_MEMBERS = ("code", "field", "attempts_remaining", "retry_after")


class Answer(NamedTuple):
    request: str  # "POST /signup", for messages
    status: int
    headers: dict  # names lower-cased
    body: Any  # the parsed JSON, or the text

    @property
    def code(self):
        """The problem's `code` (`resend_too_soon`, ...), or None for a success."""
        return self.body.get("code") if isinstance(self.body, dict) else None


def fail(message):
    sys.exit(f"FAILED: {message}")


def check(condition, message):
    if not condition:
        fail(message)


def http(method, url, body=None, headers=None):
    """One request; JSON in and out. Returns (status, headers, parsed body)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw, hdrs = response.status, response.read(), response.headers
    except urllib.error.HTTPError as e:  # 4xx and 5xx are answers too
        status, raw, hdrs = e.code, e.read(), e.headers
    except OSError as e:
        fail(f"{method} {url}: {e} (is the stack running? TWOSTEP_URL={API}, TWOSTEP_MOTO_URL={MOTO})")
    text = raw.decode()
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = text
    return status, {k.lower(): v for k, v in hdrs.items()}, parsed


def call(method, path, body=None, headers=None, quiet=False):
    """A call to twostep with the API key, printed as one step: the request, then the answer."""
    check(API_KEY, "set TWOSTEP_API_KEY (./scripts/keys.sh --local create examples)")
    sent = {"Authorization": f"Bearer {API_KEY}", **(headers or {})}
    status, hdrs, parsed = http(method, API + path, body, sent)
    answer = Answer(f"{method} {path}", status, hdrs, parsed)
    if not quiet:
        extra = "".join(f" [{k}: {v}]" for k, v in (headers or {}).items())
        print(f"{method} {path}{extra}" + (f" {json.dumps(body)}" if body is not None else ""))
        print(f"  -> {status} {summary(parsed)}")
    return answer


def summary(body):
    if not isinstance(body, dict):
        return "" if body is None else str(body)[:200]
    if "type" in body and "code" in body:  # a problem (RFC 9457)
        body = {k: body[k] for k in PROBLEM_MEMBERS if k in body}
    return " ".join(f"{k}={json.dumps(v)}" for k, v in body.items())


def expect(answer, status, code=None):
    """The body of `answer` if it has this status (and problem `code`), else the example fails."""
    if answer.status != status or (code is not None and answer.code != code):
        want = f"{status} {code or ''}".strip()
        fail(f"{answer.request}: expected {want}, got {answer.status} {json.dumps(answer.body)}")
    return answer.body


def signup(body, headers=None, tries=5):
    """POST /signup, honouring `resend_too_soon`: wait `Retry-After` seconds and post again.

    A destination gets a new code at most every RESEND_COOLDOWN_SECONDS; the 429 says how
    long to wait. `too_many_sends` (MAX_SENDS_PER_WINDOW per destination, usually per hour)
    is not worth waiting for in a script: it ends the example with the time to wait.
    """
    for _ in range(tries):
        answer = call("POST", "/signup", body, headers)
        if answer.status != 429:
            return answer
        check("retry-after" in answer.headers, f"{answer.request}: a 429 without Retry-After")
        wait = int(answer.headers["retry-after"])
        check(answer.body.get("retry_after") == wait, f"retry_after is not Retry-After: {answer.body}")
        if answer.code == "too_many_sends":
            fail(f"POST /signup {json.dumps(body)}: the destination's send window is full "
                 f"(MAX_SENDS_PER_WINDOW); try again in {wait} s, or use another destination")
        expect(answer, 429, "resend_too_soon")
        print(f"  (cooldown: waiting {wait} s, as Retry-After says)")
        time.sleep(wait)
    fail(f"POST /signup still answers resend_too_soon after {tries} tries")


def destination(to):
    """The /signup fields for a phone number or an email address."""
    return {"email": to} if "@" in to else {"phone": to}


def check_masked(to, full):
    check("*" in to and full not in to, f"`to` is not masked: {to!r}")


def sms_outbox(phone):
    """The texts the local stack 'sent' to `phone` (moto's record), oldest first."""
    status, _, data = http("GET", f"{MOTO}/moto-api/data.json")
    check(status == 200 and isinstance(data, dict), f"GET {MOTO}/moto-api/data.json answered {status}")
    return [m["message"] for m in data.get("sns", {}).get("SMS", []) if m.get("phone_number") == phone]


def wait_for_new_sms(phone, seen, timeout=5.0):
    """The newest text to `phone` once there are more than `seen` of them."""
    deadline = time.monotonic() + timeout
    while True:
        texts = sms_outbox(phone)
        if len(texts) > seen:
            return texts[-1]
        if time.monotonic() > deadline:
            fail(f"no new SMS to {phone} in the outbox at {MOTO} after {timeout} s")
        time.sleep(0.2)
