"""Genesys Intelligent Automation's two-factor MicroApp, as its web-service calls reach twostep.

The MicroApp (docs/integrations/genesys.md) has the caller's account number; it calls three web
services and branches on the <status> of their XML:
  1. checkVerifiedContactMethods?customer_id=...: `success` with a <method> per verified
     method ("press 1 for a text message"), or `not found`;
  2. sendAuthenticationCode (TwoFactorAuthSelectedMethod=SMS): `success`, the code is sent; or
     `error` with a <reason> (resend_too_soon with <retryAfter>, not_found, ...);
  3. codeAuthentication (authCode_nbest1, as the recogniser heard it: "1 2 3 4 5 6"):
     `incorrect code` with <attemptsRemaining>, then `success`.
The customer's phone was linked to the account at sign-up (POST /signup with customer_id, then
POST /verify).

    TWOSTEP_API_KEY=tsk_... python3 docs/integrations/genesys_flow.py

Environment: TWOSTEP_URL (default http://127.0.0.1:9000), TWOSTEP_API_KEY (required),
TWOSTEP_MOTO_URL (default http://127.0.0.1:5000). Python 3.11, standard library only.
"""
import random
import re
import time
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

from _client import API, API_KEY, call, check, expect, http, signup, sms_outbox, wait_for_new_sms


def service(name, params, method="GET"):
    """One web-service call as the MicroApp makes it; the parsed XML answer."""
    query = urllib.parse.urlencode(params)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    if method == "GET":
        status, hdrs, text = http("GET", f"{API}/genesys/{name}?{query}", headers=headers)
    else:  # a form post
        request = urllib.request.Request(f"{API}/genesys/{name}", data=query.encode(), method="POST",
                                         headers={**headers, "Content-Type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(request, timeout=30) as response:
            status, hdrs, text = response.status, dict(response.headers), response.read().decode()
        hdrs = {k.lower(): v for k, v in hdrs.items()}
    check(hdrs.get("content-type", "").startswith("text/xml"), f"{name}: XML, got {hdrs.get('content-type')}")
    root = ET.fromstring(text)
    check(root.tag == name, f"the root element is <{name}>: {text}")
    print(f"{method} /genesys/{name} {params}\n  -> {status} {text.strip()}")
    return status, root


def main():
    phone = f"+49301{random.randrange(10**7):07d}"
    account = f"{random.randrange(10**8):08d}"
    print(f"# at sign-up: account {account} verifies its phone")
    seen = len(sms_outbox(phone))
    sent = expect(signup({"phone": phone, "customer_id": account}), 202)
    code = re.search(r"\b\d{6}\b", wait_for_new_sms(phone, seen)).group()
    expect(call("POST", "/verify", {"verification_id": sent["verification_id"], "code": code}), 200)

    print("# the MicroApp: which methods does this caller have?")
    status, root = service("checkVerifiedContactMethods", {"customer_id": account})
    check(status == 200 and root.findtext("status") == "success", "success")
    methods = [m.get("name") for m in root.iter("method")]
    check(methods == ["SMS"], f"one verified method, SMS: {methods}")
    check("*" in root.find("methods/method").get("value"), "the number is masked")

    print("# 'press 1 for a text message': send the code")
    seen = len(sms_outbox(phone))
    for _ in range(5):
        status, root = service("sendAuthenticationCode",
                               {"customer_id": account, "TwoFactorAuthSelectedMethod": "SMS"}, method="POST")
        if root.findtext("reason") != "resend_too_soon":
            break
        wait = int(root.findtext("retryAfter"))
        print(f"  (the last code went out moments ago: waiting {wait} s, as <retryAfter> says)")
        time.sleep(wait)
    check(root.findtext("status") == "success", "the code was sent")
    code = re.search(r"\b\d{6}\b", wait_for_new_sms(phone, seen)).group()

    print("# the caller says the code; first misheard, then right")
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    status, root = service("codeAuthentication", {"customer_id": account, "TwoFactorAuthSelectedMethod": "SMS",
                                                  "authCode_nbest1": " ".join(wrong)})
    check(root.findtext("status") == "incorrect code", "incorrect code")
    check(root.findtext("attemptsRemaining") is not None, "with the attempts left")
    status, root = service("codeAuthentication", {"customer_id": account, "TwoFactorAuthSelectedMethod": "SMS",
                                                  "authCode_nbest1": " ".join(code)})
    check(root.findtext("status") == "success", "success")

    print("# an account nobody linked")
    status, root = service("checkVerifiedContactMethods", {"customer_id": f"x{account}"})
    check(root.findtext("status") == "not found", "not found")
    print("genesys_flow: OK")


if __name__ == "__main__":
    main()
