#!/usr/bin/env bash
# Prints the SMS and emails the local stack "sent" (moto's record), oldest first.
set -euo pipefail
port="${MOTO_PORT:-5000}"
curl -s "http://127.0.0.1:$port/moto-api/data.json" | python3 -c '
import json, sys
data = json.load(sys.stdin)
for sms in data.get("sns", {}).get("SMS", []):
    print("SMS   to %s: %s" % (sms["phone_number"], sms["message"]))
for mail in data.get("ses", {}).get("Message", []):
    to = ", ".join(mail.get("destinations", {}).get("ToAddresses", []))
    print("EMAIL to %s: %s" % (to, mail.get("subject")))
    print("      " + str(mail.get("body", ""))[:300])
'
