"""A webhook receiver that verifies twostep's signatures with the Standard Webhooks library.

twostep POSTs every outcome event to the stack's WebhookUrl, signed as the Standard Webhooks
specification says (https://www.standardwebhooks.com/): the headers webhook-id,
webhook-timestamp and webhook-signature, and a JSON body
{"type": "verification.approved", "timestamp": "...", "data": {...the event...}}
(docs/events.schema.json is `data`). The signing secret is in Secrets Manager (the stack's
WebhookSecretArn output): the receiver's secret is "whsec_" followed by its "current".

What a receiver must do, and `Receiver.handle` does:
  1. verify the signature over the raw body with the library (which also refuses a timestamp
     more than five minutes off, so an old delivery cannot be replayed);
  2. drop a repeat: the same webhook-id is the same event delivered again (deliveries are at
     least once);
  3. answer 2xx quickly; anything else (or no answer within 5 s) is tried again later.

    pip install standardwebhooks==1.3.0
    WEBHOOK_SECRET=whsec_... python3 docs/integrations/webhook_receiver.py --port 9700

The local stack (scripts/stack.sh) runs this file as its receiver, with two options for the
tests only: --record FILE writes each delivery down (served at GET /deliveries), and
POST /faults {"verification_id": ..., "type": "verification.approved", "status": 503,
"times": 2, "retry_after": 1} makes the receiver refuse that verification's next deliveries
(of that type; "times": -1 for ever), as a receiver that is down would, and POST /check
{"secret": ..., "delivery": <one of /deliveries>} verifies a recorded delivery with another
secret.
"""
import argparse
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


class Receiver:
    """Verifies and de-duplicates deliveries; `on_event` gets each event once."""

    def __init__(self, secret, on_event):
        self.webhook = Webhook(secret)
        self.on_event = on_event
        self.seen = set()  # in production: a store shared by the receiver's instances
        self.lock = threading.Lock()

    def handle(self, headers, body):
        """(status, what happened) for one delivery: 401 if the signature does not verify."""
        try:
            payload = self.webhook.verify(body, headers)
        except WebhookVerificationError as e:
            return 401, f"refused: {e}"
        with self.lock:
            if headers["webhook-id"] in self.seen:
                return 204, "duplicate"
            self.seen.add(headers["webhook-id"])
        self.on_event(payload["type"], payload["data"])
        return 204, "accepted"


def on_event(kind, data):
    """Your workflow goes here: e.g. mark the sign-up verified on verification.approved."""
    print(f"{kind} {data['verification_id']} to {data['to']}", flush=True)


def serve(port, secret, record=None):
    receiver = Receiver(secret, on_event)
    deliveries, faults, state = [], {}, threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, status, body=b"", headers=()):
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if record is not None and self.path == "/deliveries":
                with state:
                    return self.answer(200, json.dumps(deliveries).encode(), [("content-type", "application/json")])
            self.answer(404)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            if record is not None and self.path == "/faults":
                fault = json.loads(body)
                with state:
                    faults[(fault["verification_id"], fault.get("type"))] = fault
                return self.answer(204)
            if record is not None and self.path == "/check":
                ask = json.loads(body)
                d = ask["delivery"]
                sent = {"webhook-id": d["id"], "webhook-timestamp": d["timestamp"], "webhook-signature": d["signature"]}
                try:
                    Webhook(ask["secret"]).verify(d["body"].encode(), sent)
                    verified = True
                except WebhookVerificationError:
                    verified = False
                return self.answer(200, json.dumps({"verified": verified}).encode(), [("content-type", "application/json")])
            headers = {k.lower(): v for k, v in self.headers.items()}
            fault = None
            if record is not None:
                try:
                    sent = json.loads(body)
                    vid, kind = sent["data"]["verification_id"], sent["type"]
                except (ValueError, KeyError, TypeError):
                    vid = kind = None
                with state:
                    fault = faults.get((vid, kind)) or faults.get((vid, None))
                    if fault and fault.get("times", 1) != 0:
                        fault["times"] = fault.get("times", 1) - 1
                    else:
                        fault = None
            if fault:
                # A receiver that is down: the delivery is not looked at, and comes again.
                status, outcome = fault["status"], "fault"
                try:
                    receiver.webhook.verify(body, headers)
                    verified = True
                except WebhookVerificationError:
                    verified = False
            else:
                status, outcome = receiver.handle(headers, body)
                verified = not outcome.startswith("refused")
            if record is not None:
                entry = {
                    "received_at": time.time(),
                    "id": headers.get("webhook-id"),
                    "timestamp": headers.get("webhook-timestamp"),
                    "signature": headers.get("webhook-signature"),
                    "body": body.decode("utf-8", "replace"),
                    "verified": verified,
                    "outcome": outcome,
                    "status": status,
                }
                with state:
                    deliveries.append(entry)
                with open(record, "a") as f:
                    f.write(json.dumps(entry) + "\n")
            extra = [("retry-after", str(fault["retry_after"]))] if fault and "retry_after" in fault else []
            self.answer(status, headers=extra)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"receiving webhooks on http://127.0.0.1:{port}/", flush=True)
    server.serve_forever()


def secret_from_secrets_manager(secret_id):
    """The receiver's secret from the stack's secret (boto3; the local stack's moto)."""
    import boto3

    value = json.loads(boto3.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"])
    return "whsec_" + value["current"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=9700)
    parser.add_argument("--secret-id", help="read the secret from this Secrets Manager secret")
    parser.add_argument("--record", help="write each delivery to this JSON-lines file (tests)")
    args = parser.parse_args()
    secret = secret_from_secrets_manager(args.secret_id) if args.secret_id else os.environ.get("WEBHOOK_SECRET")
    if not secret:
        sys.exit("set WEBHOOK_SECRET=whsec_... or pass --secret-id")
    serve(args.port, secret, args.record)


if __name__ == "__main__":
    main()
