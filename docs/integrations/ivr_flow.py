"""An IVR (phone menu) that checks a caller with a 4-digit PIN by SMS.

What it shows, as the IVR's server would call twostep with its API key:
  1. look the caller up by the number they call from (GET /contacts?phone=...);
  2. text them a 4-digit PIN (POST /signup with the keyed option code_length);
  3. the caller types three wrong PINs (POST /verify by phone: 422 incorrect_code, with
     attempts_remaining going down; 429 too_many_attempts once none are left);
  4. "press 2 for a new PIN": a new code (POST /signup again; after a 429 resend_too_soon,
     wait Retry-After seconds), which the caller types right (200 approved);
  5. the lookup now says the number is verified; `to` is always masked.

The "keypad" reads the PIN from the local stack's SMS outbox (moto), as the caller would read
their phone. Run it against the local stack (./scripts/dev.sh prints a key):

    TWOSTEP_API_KEY=tsk_... python3 docs/integrations/ivr_flow.py

Environment: TWOSTEP_URL (default http://127.0.0.1:9000), TWOSTEP_API_KEY (required),
TWOSTEP_MOTO_URL (default http://127.0.0.1:5000). Python 3.11, standard library only.
With the dev stack's 30 s cooldown the new PIN takes about half a minute.
"""
import random
import re
import urllib.parse

from _client import call, check, check_masked, expect, signup, sms_outbox, wait_for_new_sms

PIN_LENGTH = 4


def keypad(phone, seen):
    """What the caller types: the PIN in the newest SMS to their phone."""
    text = wait_for_new_sms(phone, seen)
    found = re.search(rf"\b\d{{{PIN_LENGTH}}}\b", text)
    check(found, f"no {PIN_LENGTH}-digit PIN in the SMS {text!r}")
    print(f"  (the caller reads {text!r} and types {found.group()})")
    return found.group()


def look_up(phone):
    return expect(call("GET", "/contacts?phone=" + urllib.parse.quote(phone, safe="")), 200)


def main():
    # A new caller each run: a Berlin landline (+49 30), which the stack texts (SMS_ALLOWED_COUNTRIES).
    caller = f"+49301{random.randrange(10**7):07d}"
    print(f"# an incoming call from {caller}")
    known = look_up(caller)
    check(known == {"exists": False, "channels": []}, f"a new caller is unknown, got {known}")

    print("# 'we are texting you a PIN'")
    seen = len(sms_outbox(caller))
    sent = expect(signup({"phone": caller, "code_length": PIN_LENGTH}), 202)
    check(sent["status"] == "pending" and sent["channel"] == "sms", f"a pending sms verification: {sent}")
    check_masked(sent["to"], caller)
    pin = keypad(caller, seen)

    print("# three wrong PINs")
    remaining = None
    for i in range(1, 4):
        wrong = f"{(int(pin) + i) % 10**PIN_LENGTH:0{PIN_LENGTH}d}"
        answer = call("POST", "/verify", {"phone": caller, "code": wrong})
        if answer.status == 429:  # no attempts were left: the PIN is locked
            body = expect(answer, 429, "too_many_attempts")
            check(body.get("attempts_remaining") == 0, f"a locked PIN has no attempts left: {body}")
            print("  ('too many wrong PINs: press 2 for a new one')")
            break
        body = expect(answer, 422, "incorrect_code")
        left = body.get("attempts_remaining")
        check(isinstance(left, int) and left >= 0, f"incorrect_code has attempts_remaining: {body}")
        check(remaining is None or left == remaining - 1, f"attempts_remaining went {remaining} -> {left}")
        remaining = left

    print("# 'press 2 for a new PIN'")
    seen = len(sms_outbox(caller))
    resent = expect(signup({"phone": caller, "code_length": PIN_LENGTH}), 202)
    check(resent["verification_id"] != sent["verification_id"], "a new PIN is a new verification")
    pin = keypad(caller, seen)
    approved = expect(call("POST", "/verify", {"phone": caller, "code": pin}), 200)
    check(approved["status"] == "approved" and approved["verification_id"] == resent["verification_id"],
          f"the new PIN approves the new verification: {approved}")

    print("# the next call from this number")
    known = look_up(caller)
    check(known["exists"] is True and len(known["channels"]) == 1, f"one known channel: {known}")
    channel = known["channels"][0]
    check(channel["channel"] == "sms" and channel["status"] == "verified" and channel["verified_at"],
          f"the number is verified: {channel}")
    check_masked(channel["to"], caller)
    print("ivr_flow: OK")


if __name__ == "__main__":
    main()
