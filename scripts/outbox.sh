#!/usr/bin/env bash
# Prints what the local stack "sent": the SMS, then the emails (moto's record, which has no
# times), then the voice calls (the voice stub's record, as the words a call speaks), then the
# interactive calls (the voice stub's SMA calls, each with what was said and pressed on it);
# each kind oldest first.
set -euo pipefail
port="${MOTO_PORT:-5000}"
voice_port="${VOICE_PORT:-$((port + 2))}"
python3 - "http://127.0.0.1:$port/moto-api/data.json" "http://127.0.0.1:$voice_port/calls" \
  "http://127.0.0.1:$voice_port/sma/calls" <<'PY'
import json, re, sys, urllib.error, urllib.request

def get(url, default):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.load(response)
    except (urllib.error.URLError, OSError):
        return default

data = get(sys.argv[1], {})
for sms in data.get("sns", {}).get("SMS", []):
    print("SMS   to %s: %s" % (sms["phone_number"], sms["message"]))
for mail in data.get("ses", {}).get("Message", []):
    to = ", ".join(mail.get("destinations", {}).get("ToAddresses", []))
    print("EMAIL to %s: %s" % (to, mail.get("subject")))
    print("      " + str(mail.get("body", ""))[:300])
for call in get(sys.argv[2], []):
    spoken = " ".join(re.sub(r"<[^>]+>", " ", call.get("body", "")).split())
    print("CALL  to %s (%s): %s" % (call["destination"], call.get("voice_id"), spoken))
# The SMA calls (503 when the stub has no function to invoke: none).
for call in get(sys.argv[3], []):
    print("CALL  %s %s -> %s [%s]" % (call["direction"], call["from"], call["to"], call["state"]))
    for entry in call.get("transcript", []):
        if "said" in entry:
            print("      said: " + entry["said"])
        elif "pressed" in entry:
            print("      pressed: " + (entry["pressed"] if entry["pressed"] is not None else "(nothing)"))
        elif "played" in entry:
            print("      played: " + entry["played"])
        elif "error" in entry:
            print("      error: " + entry["error"])
        elif "note" in entry:
            print("      (%s)" % entry["note"])
        elif entry.get("event") == "HANGUP":
            print("      hung up (SIP %s)" % entry["action_data"]["Parameters"]["SipResponseCode"])
PY
