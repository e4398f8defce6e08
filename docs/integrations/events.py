"""The outcome events a workflow tool consumes, and a receiver that dispatches on them.

twostep publishes an event for every outcome to the stack's EventBridge bus; in AWS they reach
your server by webhook (the template's WebhookUrl: EventBridge POSTs each envelope as JSON).
Locally, a rule copies every event to the log group /twostep/local/events in moto, where this
example reads them. What it does:
  1. a verification with one wrong code, then the right one: events sent, incorrect_code
     (with attempts_remaining), approved;
  2. a second verification, canceled: events sent, canceled;
  3. reads the events of those two ids and hands each to `handle`, as a webhook receiver
     would; checks every detail against docs/events.schema.json, and that none carries the
     code or the full destination.

The codes are the caller's own (the keyed option custom_code), so the example knows them
whatever the destination. Run it against the local stack (./scripts/dev.sh prints a key):

    TWOSTEP_API_KEY=tsk_... python3 docs/integrations/events.py

Environment: TWOSTEP_URL (default http://127.0.0.1:9000), TWOSTEP_API_KEY (required),
TWOSTEP_MOTO_URL (default http://127.0.0.1:5000), TWOSTEP_EVENTS_DESTINATION (default: a new
Berlin number each run). Python 3.11, standard library only.
"""
import json
import os
import pathlib
import random
import re
import time

from _client import MOTO, call, check, destination, expect, http, signup

SCHEMA = json.loads((pathlib.Path(__file__).resolve().parent.parent / "events.schema.json").read_text())
LOG_GROUP = "/twostep/local/events"


def handle(event):
    """A webhook receiver: one envelope in, what the workflow does about it out."""
    if event.get("source") != "twostep" or event["detail"].get("schema_version") != 1:
        return "ignored (not a twostep event of a known schema version)"
    detail = event["detail"]
    actions = {
        "sent": lambda d: f"show 'code sent to {d['to']}, valid until {d['expires_at']}'",
        "delivery_failed": lambda d: "offer another channel",
        "incorrect_code": lambda d: f"log a failed try ({d['attempts_remaining']} left)",
        "locked": lambda d: "flag for review; offer a new code",
        "approved": lambda d: "mark verified; continue the workflow",
        "expired": lambda d: "offer a new code",
        "canceled": lambda d: "close the step",
    }
    action = actions.get(detail["type"])
    return action(detail) if action else f"ignored (unknown type {detail['type']!r})"


def schema_errors(detail, schema=SCHEMA):
    """A tiny check against the schema: required members and each member's type/const/enum/pattern."""
    types = {"string": str, "integer": int, "boolean": bool}
    errors = [f"missing {name!r}" for name in schema["required"] if name not in detail]
    for name, value in detail.items():
        rule = schema["properties"].get(name)
        if rule is None:
            errors.append(f"unknown member {name!r}")
            continue
        if "$ref" in rule:  # "#/$defs/timestamp"
            rule = schema["$defs"][rule["$ref"].rsplit("/", 1)[1]]
        kind = types.get(rule.get("type"))
        if kind and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
            errors.append(f"{name}: not of type {rule['type']}")
        elif ("const" in rule and value != rule["const"]) or ("enum" in rule and value not in rule["enum"]):
            errors.append(f"{name}: {value!r} is not allowed")
        elif "pattern" in rule and not re.search(rule["pattern"], value):
            errors.append(f"{name}: {value!r} does not match {rule['pattern']}")
    return errors


def local_events(ids, since_ms):
    """The envelopes of these verifications in the local log group (CloudWatch Logs in moto)."""
    headers = {"X-Amz-Target": "Logs_20140328.FilterLogEvents", "Content-Type": "application/x-amz-json-1.1",
               # moto routes by this header's service name; it checks no signature.
               "Authorization": "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/logs/aws4_request, "
                                "SignedHeaders=host, Signature=0"}
    query, found = {"logGroupName": LOG_GROUP, "startTime": since_ms}, []
    while True:
        status, _, page = http("POST", MOTO + "/", query, headers)
        check(status == 200 and isinstance(page, dict), f"FilterLogEvents on {MOTO}: {status} {page}")
        found += page.get("events", [])
        if not page.get("nextToken") or not page.get("events"):
            break
        query["nextToken"] = page["nextToken"]
    found.sort(key=lambda e: e["timestamp"])
    envelopes = (json.loads(e["message"]) for e in found)
    return [e for e in envelopes if e.get("detail", {}).get("verification_id") in ids]


def main():
    since_ms = int(time.time() * 1000) - 5000
    to = os.environ.get("TWOSTEP_EVENTS_DESTINATION") or f"+49301{random.randrange(10**7):07d}"
    other = os.environ.get("TWOSTEP_EVENTS_DESTINATION") or f"+49301{random.randrange(10**7):07d}"
    code, other_code = (f"{random.randrange(10**6):06d}" for _ in range(2))
    wrong = f"{(int(code) + 1) % 10**6:06d}"

    print(f"# a verification of {to}: a wrong code, then the right one")
    first = expect(signup({**destination(to), "custom_code": code}), 202)
    refused = expect(call("POST", "/verify", {"verification_id": first["verification_id"], "code": wrong}),
                     422, "incorrect_code")
    expect(call("POST", "/verify", {"verification_id": first["verification_id"], "code": code}), 200)
    print(f"# a verification of {other}, canceled")
    second = expect(signup({**destination(other), "custom_code": other_code}), 202)
    expect(call("POST", f"/verifications/{second['verification_id']}/cancel"), 200)

    expected = {first["verification_id"]: ["sent", "incorrect_code", "approved"],
                second["verification_id"]: ["sent", "canceled"]}
    print(f"# the events of those two, from the log group {LOG_GROUP} at {MOTO}")
    deadline = time.monotonic() + 5
    while True:  # published before the HTTP answer; a short poll all the same
        events = local_events(expected, since_ms)
        got = {i: [e["detail"]["type"] for e in events if e["detail"]["verification_id"] == i] for i in expected}
        if got == expected or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    for event in events:
        detail = event["detail"]
        print(f"{event['detail-type']} {json.dumps(detail)}")
        print(f"  -> handle: {handle(event)}")
        errors = schema_errors(detail)
        check(not errors, f"{event['detail-type']} does not match events.schema.json: {errors}")
        check(event["source"] == "twostep" and event["detail-type"] == f"verification.{detail['type']}",
              f"the envelope's source and detail-type: {event}")
        sent = first if detail["verification_id"] == first["verification_id"] else second
        check(detail["to"] == sent["to"] and detail["channel"] == sent["channel"], f"`to` as in the 202: {detail}")
        text = json.dumps(detail)
        check(not any(secret in text for secret in (code, wrong, other_code, to, other)),
              f"an event carries a code or a full destination: {text}")
        check((detail["type"] == "sent") == ("expires_at" in detail), f"expires_at only on sent: {detail}")
    for i, types in expected.items():
        check(got[i] == types, f"events of {i}: expected {types}, got {got[i]} (after 5 s)")
    wrong_try = next(e["detail"] for e in events if e["detail"]["type"] == "incorrect_code")
    check(wrong_try.get("attempts_remaining") == refused["attempts_remaining"],
          f"incorrect_code has the 422's attempts_remaining ({refused['attempts_remaining']}): {wrong_try}")
    print("events: OK")


if __name__ == "__main__":
    main()
