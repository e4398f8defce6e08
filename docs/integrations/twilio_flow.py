"""Twilio Verify's official Python library (`pip install twilio`), unmodified, against twostep.

A script written for Twilio Verify switches by changing its base URL and its credentials:

    client = Client(key_id, key_secret)          # a twostep API key: tsk_<key_id>_<key_secret>
    client.verify.base_url = "https://<your stack's ApiUrl>"

It then runs as it did against Twilio (docs/integrations/twilio.md says what differs):
  1. start a verification by SMS (verifications.create): a code goes out, status pending;
  2. check a wrong code (verification_checks.create): 200, status pending, valid False;
  3. check the right code: status approved, valid True;
  4. fetch the verification: approved (Twilio would answer 404 here);
  5. check again: TwilioRestException 404, code 20404, reason "approved";
  6. start a second one and cancel it (verifications(sid).update(status="canceled")).

The code is read from the local stack's SMS outbox (moto), as the person would read their phone.

    TWOSTEP_API_KEY=tsk_... .tools/venv/bin/python docs/integrations/twilio_flow.py

Environment: TWOSTEP_URL (default http://127.0.0.1:9000), TWOSTEP_API_KEY (required),
TWOSTEP_MOTO_URL (default http://127.0.0.1:5000). Needs the `twilio` package (in .tools/venv).
"""
import os
import random
import re

from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from _client import API, API_KEY, check, fail, sms_outbox, wait_for_new_sms

SERVICE_SID = "VA" + "0123456789abcdef" * 2  # any VA SID: a stack is one service


def client():
    check(API_KEY.startswith("tsk_"), "set TWOSTEP_API_KEY (./scripts/keys.sh --local create examples)")
    _, key_id, secret = API_KEY.split("_", 2)
    # The library rewrites the host when TWILIO_REGION or TWILIO_EDGE are set: not here.
    for name in ("TWILIO_REGION", "TWILIO_EDGE"):
        os.environ.pop(name, None)
    c = Client(key_id, secret)
    c.verify.base_url = API
    return c


def code_for(phone, seen):
    text = wait_for_new_sms(phone, seen)
    found = re.search(r"\b\d{6}\b", text)
    check(found, f"no code in the SMS {text!r}")
    return found.group()


def main():
    service = client().verify.v2.services(SERVICE_SID)
    phone = f"+1415555{random.randint(2000, 9999)}"

    seen = len(sms_outbox(phone))
    v = service.verifications.create(to=phone, channel="sms", locale="en")
    print(f"verifications.create -> sid={v.sid} status={v.status} channel={v.channel} to={v.to} valid={v.valid}")
    check(v.status == "pending" and v.sid.startswith("VE") and len(v.sid) == 34, f"create: {v.status} {v.sid}")
    check(v.date_created is not None and hasattr(v.date_created, "year"), f"date_created parsed: {v.date_created!r}")
    code = code_for(phone, seen)

    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    c = service.verification_checks.create(to=phone, code=wrong)
    print(f"verification_checks.create (wrong code) -> status={c.status} valid={c.valid}")
    check(c.status == "pending" and c.valid is False, f"a wrong code: {c.status} {c.valid}")

    c = service.verification_checks.create(verification_sid=v.sid, code=code)
    print(f"verification_checks.create (right code) -> status={c.status} valid={c.valid} sid={c.sid}")
    check(c.status == "approved" and c.valid is True and c.sid == v.sid, f"the right code: {c.status} {c.valid}")

    f = service.verifications(v.sid).fetch()
    print(f"verifications(sid).fetch -> status={f.status} valid={f.valid} date_updated={f.date_updated}")
    check(f.status == "approved" and f.valid is True, f"fetch after approval: {f.status}")

    try:
        service.verification_checks.create(to=phone, code=code)
        fail("a second check of an approved code was accepted")
    except TwilioRestException as e:
        print(f"verification_checks.create (again) -> TwilioRestException status={e.status} code={e.code} details={e.details}")
        check(e.status == 404 and e.code == 20404, f"again: {e.status} {e.code}")

    other = f"+1415555{random.randint(2000, 9999)}"
    second = service.verifications.create(to=other, channel="sms")
    canceled = service.verifications(second.sid).update(status="canceled")
    print(f"verifications(sid).update(status='canceled') -> status={canceled.status}")
    check(canceled.status == "canceled", f"cancel: {canceled.status}")
    print("twilio: OK")


if __name__ == "__main__":
    main()
