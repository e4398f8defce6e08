"""A workflow tool (or a CI pipeline) that drives a verification step by step, in test mode.

What it shows, each call with the API key:
  1. start: POST /signup with an Idempotency-Key, so that the workflow engine may retry the
     step: the retry gets the same 202 and nothing is sent again;
  2. poll GET /verifications/{id} until it is pending;
  3. "not received" -> resend by id (POST /signup {"verification_id"}; after a 429
     resend_too_soon, wait Retry-After seconds): a new id, and the old one says `replaced`;
  4. check the code by verification_id -> 200 approved;
  5. start a second verification and cancel it (POST /verifications/{id}/cancel, no body):
     200 canceled, again on a retry; its status says canceled; its code answers 409 canceled
     by id, and 404 not_found by destination (no pending code).

Test mode: the destinations are in the stack's TEST_DESTINATIONS, so their code is TEST_CODE
(123456, cut to the code's length) and no message is sent. Run it against the local stack
(./scripts/dev.sh prints a key; it lists +15005550006 and test@twostep.example):

    TWOSTEP_API_KEY=tsk_... python3 docs/integrations/workflow_flow.py

Environment: TWOSTEP_URL (default http://127.0.0.1:9000), TWOSTEP_API_KEY (required),
TWOSTEP_TEST_DESTINATION (default +15005550006), TWOSTEP_TEST_DESTINATION_2 (default
test@twostep.example), TWOSTEP_TEST_CODE (default 123456). Python 3.11, standard library only.
Each run sends two codes to the first destination and one to the second: mind the stack's
MAX_SENDS_PER_WINDOW (a destination gets at most that many codes per SEND_WINDOW_SECONDS).
"""
import os
import time
import uuid

from _client import call, check, check_masked, destination, expect, fail, signup

FIRST = os.environ.get("TWOSTEP_TEST_DESTINATION", "+15005550006")
SECOND = os.environ.get("TWOSTEP_TEST_DESTINATION_2", "test@twostep.example")
CODE_LENGTH = 6  # asked for explicitly, so the code does not depend on the stack's CODE_LENGTH
CODE = (os.environ.get("TWOSTEP_TEST_CODE", "123456") * CODE_LENGTH)[:CODE_LENGTH]


def wait_for(verification_id, wanted, timeout=10.0):
    """Polls the status, as a workflow's "wait until" step would, until it is `wanted`."""
    deadline = time.monotonic() + timeout
    while True:
        status = expect(call("GET", f"/verifications/{verification_id}"), 200)
        if status["status"] == wanted:
            return status
        if time.monotonic() > deadline:
            fail(f"{verification_id} is still {status['status']!r} after {timeout} s, not {wanted!r}")
        time.sleep(0.5)


def main():
    print(f"# start a verification of {FIRST} (a workflow step that may be retried)")
    step = {"Idempotency-Key": str(uuid.uuid4())}
    start = {**destination(FIRST), "code_length": CODE_LENGTH}
    first = expect(signup(start, step), 202)
    check_masked(first["to"], FIRST)
    retried = expect(call("POST", "/signup", start, step), 202)
    check(retried["verification_id"] == first["verification_id"], f"the retry is the same send: {retried}")

    print("# wait until it is pending")
    status = wait_for(first["verification_id"], "pending")
    check(status["to"] == first["to"] and status["attempts_remaining"] > 0, f"the status shape: {status}")

    print("# 'not received': resend by id")
    resent = expect(signup({"verification_id": first["verification_id"], "code_length": CODE_LENGTH}), 202)
    check(resent["verification_id"] != first["verification_id"], "a resend is a new verification")
    wait_for(first["verification_id"], "replaced")
    wait_for(resent["verification_id"], "pending")

    print(f"# check the code by verification_id (test mode: {CODE})")
    approved = expect(call("POST", "/verify", {"verification_id": resent["verification_id"], "code": CODE}), 200)
    check(approved["status"] == "approved" and approved["verified_at"], f"approved: {approved}")
    wait_for(resent["verification_id"], "approved")

    print(f"# start another verification, of {SECOND}, and cancel it")
    other = expect(signup({**destination(SECOND), "code_length": CODE_LENGTH}), 202)
    path = f"/verifications/{other['verification_id']}/cancel"
    canceled = expect(call("POST", path), 200)
    want = {"verification_id": other["verification_id"], "status": "canceled", "channel": other["channel"],
            "to": other["to"], "expires_at": other["expires_at"]}
    check(canceled.items() >= want.items() and "attempts_remaining" in canceled, f"the cancel's answer: {canceled}")
    again = expect(call("POST", path), 200)  # a retried cancel is safe
    check(again["status"] == "canceled", f"a second cancel answers the same: {again}")
    wait_for(other["verification_id"], "canceled")
    expect(call("POST", "/verify", {"verification_id": other["verification_id"], "code": CODE}), 409, "canceled")
    expect(call("POST", "/verify", {**destination(SECOND), "code": CODE}), 404, "not_found")  # no pending code
    print("workflow_flow: OK")


if __name__ == "__main__":
    main()
