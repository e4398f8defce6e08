"""Interactive calls (channel call) and an Amazon Connect contact flow, end to end.

A server with an API key asks twostep to call a person; locally the voice stub plays the phone
network (in AWS it is the Chime SDK SIP media application and a real phone):
  1. read mode: POST /signup {phone, channel: call, mode: read}; the person answers, hears the
     code, presses 1 to hear it again, hangs up, and types it into the web form (POST /verify);
  2. input mode: the page shows a code it chose (custom_code); the call asks for it, the person
     types a wrong one (the call says how many attempts are left), then the right one: approved;
  3. a missed call with sms_after_call: the code arrives by SMS instead;
  4. an IVR on Amazon Connect invokes the calls function: send a PIN to the caller, check the
     digits the caller keyed in, look the caller up (flat maps of strings).

    TWOSTEP_API_KEY=tsk_... python3 docs/integrations/call_flow.py

Environment: TWOSTEP_URL (default http://127.0.0.1:9000), TWOSTEP_API_KEY (required),
TWOSTEP_MOTO_URL (default http://127.0.0.1:5000), TWOSTEP_VOICE_URL (default the moto port
+ 2: the voice stub, whose /sma/* API answers calls and presses keys). Standard library only.
"""
import os
import random
import re
import urllib.parse

from _client import API, MOTO, call, check, expect, http, wait_for_new_sms

VOICE = os.environ.get("TWOSTEP_VOICE_URL") or (
    lambda u: f"{u.scheme}://{u.hostname}:{(u.port or 5000) + 2}"
)(urllib.parse.urlsplit(MOTO))


def phone_call(path, body=None):
    """A step on the simulated phone: answer, press, miss, hang up, or call in."""
    status, _, answer = http("POST", f"{VOICE}{path}", body or {})
    check(status == 200, f"POST {VOICE}{path} answered {status}: {answer}")
    said = [e["said"] for e in answer["transcript"] if "said" in e]
    print(f"  phone {path.rsplit('/', 1)[-1]} -> {answer['state']}: {said[-1] if said else ''!r}")
    return answer, said


def the_call_to(phone):
    status, _, calls = http("GET", f"{VOICE}/sma/calls")
    check(status == 200, f"GET {VOICE}/sma/calls answered {status}")
    placed = [c for c in calls if c["to"] == phone]
    check(placed, f"no call was placed to {phone}")
    check(placed[-1]["arguments"] == {"verification_id": placed[-1]["arguments"].get("verification_id")},
          "a call carries only the verification id")
    return placed[-1]["transaction_id"]


def digits_in(text, n):
    found = "".join(re.findall(r"\d", text))
    check(len(found) >= n, f"no {n}-digit code in {text!r}")
    return found[:n]


def new_phone():
    return f"+49301{random.randrange(10**7):07d}"


def read_mode():
    print("# 1. read mode: the call reads the code, 1 repeats it")
    phone = new_phone()
    sent = expect(call("POST", "/signup", {"phone": phone, "channel": "call", "mode": "read"}), 202)
    tx = the_call_to(phone)
    _, said = phone_call(f"/sma/calls/{tx}/answer")
    code = digits_in(said[-1], 6)
    _, said = phone_call(f"/sma/calls/{tx}/press", {"digits": "1"})
    check(digits_in(said[-1], 6) == code, "1 reads the same code again")
    phone_call(f"/sma/calls/{tx}/hangup")
    expect(call("POST", "/verify", {"verification_id": sent["verification_id"], "code": code}), 200)


def input_mode():
    print("# 2. input mode: the person types the code the page showed")
    phone, shown = new_phone(), f"{random.randrange(10**6):06d}"
    wrong = f"{(int(shown) + 1) % 10**6:06d}"
    sent = expect(call("POST", "/signup", {"phone": phone, "channel": "call", "mode": "input",
                                           "custom_code": shown}), 202)
    tx = the_call_to(phone)
    phone_call(f"/sma/calls/{tx}/answer")
    _, said = phone_call(f"/sma/calls/{tx}/press", {"digits": wrong})
    check("incorrect" in said[-1], f"a wrong code is said to be wrong: {said[-1]!r}")
    answer, said = phone_call(f"/sma/calls/{tx}/press", {"digits": shown})
    check(answer["state"] == "ended" and any("confirmed" in s for s in said), "approved on the keypad")
    status = expect(call("GET", f"/verifications/{sent['verification_id']}"), 200)
    check(status["status"] == "approved", f"the verification is approved: {status}")


def missed_call():
    print("# 3. a missed call: the code follows by SMS")
    phone = new_phone()
    sent = expect(call("POST", "/signup", {"phone": phone, "channel": "call", "sms_after_call": True}), 202)
    tx = the_call_to(phone)
    phone_call(f"/sma/calls/{tx}/miss")
    code = digits_in(wait_for_new_sms(phone, 0), 6)
    expect(call("POST", "/verify", {"verification_id": sent["verification_id"], "code": code}), 200)


def connect_flow():
    print("# 4. an Amazon Connect contact flow invokes the calls function")
    caller = new_phone()

    def invoke(parameters):
        event = {"Name": "ContactFlowEvent", "Details": {
            "ContactData": {"CustomerEndpoint": {"Address": caller, "Type": "TELEPHONE_NUMBER"}},
            "Parameters": parameters}}
        status, _, answer = http("POST", f"{API}/2015-03-31/functions/calls/invocations", event)
        check(status == 200 and all(isinstance(v, str) for v in answer.values()),
              f"a flat map of strings: {answer}")
        print(f"  flow {parameters} -> {answer}")
        return answer

    check(invoke({"action": "send"})["result"] == "sent", "a PIN is sent to the caller")
    pin = digits_in(wait_for_new_sms(caller, 0), 6)
    check(invoke({"action": "check", "code": pin})["result"] == "approved", "the PIN is approved")
    check(invoke({"action": "lookup"})["verified"] == "true", "the caller is verified")


def main():
    read_mode()
    input_mode()
    missed_call()
    connect_flow()
    print("call flow: OK")


if __name__ == "__main__":
    main()
