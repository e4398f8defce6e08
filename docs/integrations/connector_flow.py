"""The Power Automate connector's two-step flow, as a flow runs it (connectors/power-automate/).

The actions are read from the connector's swagger, and called as the platform calls them: the
connection's API key verbatim in `Authorization` (a bare tsk_...), JSON bodies. A flow fails an
action on a 4xx, so what depends on the person is a 200 with an `outcome` to branch on:
  1. "Send a code" (SendCode) to a phone: outcome sent;
  2. the person types a wrong code: "Check a code" (CheckCode): 200, outcome incorrect_code,
     approved false: the flow's Condition takes the "no" branch and asks again;
  3. "Send a new code" (ResendCode) at once: outcome resend_too_soon with retry_after (the flow
     waits with a Delay action), then sent;
  4. the right code: outcome approved, approved true.

    TWOSTEP_API_KEY=tsk_... python3 docs/integrations/connector_flow.py

Environment: TWOSTEP_URL (default http://127.0.0.1:9000), TWOSTEP_API_KEY (required),
TWOSTEP_MOTO_URL (default http://127.0.0.1:5000). Python 3.11, standard library only.
"""
import json
import pathlib
import random
import re
import time

from _client import API, API_KEY, check, http, sms_outbox, wait_for_new_sms

SWAGGER = pathlib.Path(__file__).resolve().parents[2] / "connectors/power-automate/apiDefinition.swagger.json"


def action(swagger, operation_id, body):
    """Runs one action of the connector by its operationId; the 200's body."""
    path = next(p for p, item in swagger["paths"].items() if item["post"]["operationId"] == operation_id)
    summary = swagger["paths"][path]["post"]["summary"]
    status, _, answer = http("POST", API + path, body, {"Authorization": API_KEY})
    print(f"{summary!r} ({operation_id}, POST {path}) {json.dumps(body)}\n  -> {status} {json.dumps(answer)}")
    check(status == 200, f"{operation_id}: a flow's action fails on {status}")
    return answer


def main():
    check(API_KEY.startswith("tsk_"), "set TWOSTEP_API_KEY (./scripts/keys.sh --local create examples)")
    swagger = json.loads(SWAGGER.read_text())
    phone = f"+1415555{random.randint(2000, 9999)}"

    seen = len(sms_outbox(phone))
    sent = action(swagger, "SendCode", {"phone": phone, "channel": "sms"})
    check(sent["outcome"] == "sent" and sent["sent"] is True, f"sent: {sent}")
    code = re.search(r"\b\d{6}\b", wait_for_new_sms(phone, seen)).group()

    wrong = f"{(int(code) + 1) % 10**6:06d}"
    checked = action(swagger, "CheckCode", {"verification_id": sent["verification_id"], "code": wrong})
    check(checked["outcome"] == "incorrect_code" and checked["approved"] is False, f"a branch: {checked}")

    seen = len(sms_outbox(phone))
    resent = action(swagger, "ResendCode", {"verification_id": sent["verification_id"]})
    if resent["outcome"] == "resend_too_soon":
        print(f"  (Delay: {resent['retry_after']} s)")
        time.sleep(resent["retry_after"])
        seen = len(sms_outbox(phone))
        resent = action(swagger, "ResendCode", {"verification_id": sent["verification_id"]})
    check(resent["outcome"] == "sent", f"a new code: {resent}")
    code = re.search(r"\b\d{6}\b", wait_for_new_sms(phone, seen)).group()

    approved = action(swagger, "CheckCode", {"verification_id": resent["verification_id"], "code": code})
    check(approved["outcome"] == "approved" and approved["approved"] is True, f"approved: {approved}")
    print("connector_flow: OK")


if __name__ == "__main__":
    main()
