"""An IVR that checks a caller by account number: a PIN to the customer's verified phone.

The caller keys in their account number, not a phone number; the IVR's server asks twostep for
"the verified phone of customer 123456" with its API key:
  0. (earlier, at sign-up on the web) the customer's phone was verified with their account
     number: POST /signup {phone, customer_id}, then POST /verify: the approval links them;
  1. the IVR looks the account up (GET /contacts?customer_id=...): one verified phone, masked;
  2. texts a 4-digit PIN to it (POST /signup {customer_id, channel, code_length}), never
     knowing the number;
  3. the caller types a wrong PIN (POST /verify {customer_id, code}: 422 incorrect_code), then
     the right one (200 approved);
  4. an account number nobody linked has no phone (GET /contacts: exists false; POST /signup:
     404 not_found), and without the API key a customer_id is refused (403 key_required).

    TWOSTEP_API_KEY=tsk_... python3 docs/integrations/customer_ivr_flow.py

Environment: TWOSTEP_URL (default http://127.0.0.1:9000), TWOSTEP_API_KEY (required),
TWOSTEP_MOTO_URL (default http://127.0.0.1:5000). Python 3.11, standard library only.
"""
import random
import re
import urllib.parse

from _client import API, call, check, check_masked, expect, http, signup, sms_outbox, wait_for_new_sms

PIN_LENGTH = 4


def pin_in(phone, seen, length):
    text = wait_for_new_sms(phone, seen)
    found = re.search(rf"\b\d{{{length}}}\b", text)
    check(found, f"no {length}-digit code in the SMS {text!r}")
    return found.group()


def main():
    phone = f"+49301{random.randrange(10**7):07d}"
    account = f"ACCT-{random.randrange(10**9):09d}"

    print(f"# at sign-up on the web: account {account} verifies its phone")
    seen = len(sms_outbox(phone))
    sent = expect(signup({"phone": phone, "customer_id": account}), 202)
    code = pin_in(phone, seen, 6)
    expect(call("POST", "/verify", {"verification_id": sent["verification_id"], "code": code}), 200)

    print(f"# a call: the caller keys in account number {account}")
    known = expect(call("GET", "/contacts?customer_id=" + urllib.parse.quote(account)), 200)
    check(known["exists"] is True and len(known["channels"]) == 1, f"one verified phone: {known}")
    check(known["channels"][0]["status"] == "verified", f"verified: {known}")
    check_masked(known["channels"][0]["to"], phone)

    print("# 'we are texting a PIN to the phone on your account'")
    seen = len(sms_outbox(phone))
    pin_sent = expect(signup({"customer_id": account, "channel": "sms", "code_length": PIN_LENGTH}), 202)
    check_masked(pin_sent["to"], phone)
    pin = pin_in(phone, seen, PIN_LENGTH)

    wrong = f"{(int(pin) + 1) % 10**PIN_LENGTH:0{PIN_LENGTH}d}"
    body = expect(call("POST", "/verify", {"customer_id": account, "code": wrong}), 422, "incorrect_code")
    check(body["attempts_remaining"] >= 1, f"attempts left: {body}")
    approved = expect(call("POST", "/verify", {"customer_id": account, "code": pin}), 200)
    check(approved["verification_id"] == pin_sent["verification_id"], f"the PIN's verification: {approved}")

    print("# an account nobody linked, and a call without the key")
    stranger = f"ACCT-{random.randrange(10**9):09d}"
    unknown = expect(call("GET", "/contacts?customer_id=" + stranger), 200)
    check(unknown == {"exists": False, "channels": []}, f"unknown: {unknown}")
    expect(call("POST", "/signup", {"customer_id": stranger, "channel": "sms"}), 404, "not_found")
    status, _, refused = http("POST", API + "/signup", {"customer_id": account, "channel": "sms"})
    print(f"POST /signup (no key) -> {status} {refused.get('code')} field={refused.get('field')}")
    check(status == 403 and refused.get("field") == "customer_id", f"unkeyed: {status} {refused}")
    print("customer_ivr_flow: OK")


if __name__ == "__main__":
    main()
