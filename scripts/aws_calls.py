"""A pass-through proxy between the local functions and the emulators that writes down every
AWS call: which function made it (the SDK's `app/<name>` user-agent part), the service, the
IAM action it needs, and for DynamoDB the key prefixes it touched.

The functions reach it through the standard AWS_ENDPOINT_URL* variables, as they would reach
AWS. tests/permissions.rs compares what was called with what template.yaml grants, and
tests/request_counts.rs counts DynamoDB requests per operation.

Each record also holds the call's time in milliseconds as the caller saw it (`ms`, from its
request read to the answer ready).

Requests go by their SigV4 signing name: `dynamodb` to DYNAMODB_URL, `sms-voice` (End User
Messaging SMS and Voice v2) and `chime` (Chime SDK Voice, whose SDK signs as `chime`), which
moto does not speak, to the URL of --voice, the rest to OTHER_URL (moto).

  --voice URL      where `sms-voice` and `chime` calls go (scripts/voice_stub.py); without it,
                   to OTHER_URL.

Faults, for the tests that show nothing is lost when a service fails: `POST /_faults` with
`{"operation": "PutEvents"}` makes every later call of that operation answer a 500
InternalFailure (recorded, not forwarded) until `DELETE /_faults`.

Two options serve the benchmark (bench/bench.py):
  --requests       also records each DynamoDB request's JSON (`request`), from which the
                   benchmark works out the request units AWS would bill;
  --tls CERT KEY   serves HTTPS, as AWS endpoints do, so a cold start includes the TLS handshake.

usage: aws_calls.py PORT DYNAMODB_URL OTHER_URL LOG_FILE [--voice URL] [--requests] [--tls CERT KEY]
"""
import http.client
import json
import re
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# SigV4: "Credential=<key>/<date>/<region>/<service>/aws4_request".
SCOPE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")
APP = re.compile(r"\bapp/([A-Za-z0-9._-]+)")
# Chime SDK Voice (restJson1) operations by method and path; the IAM prefix is `chime`.
CHIME_OPERATIONS = [("POST", re.compile(r"/sip-media-applications/[^/]+/calls"), "CreateSipMediaApplicationCall")]
# Services whose calls go to the voice stub (--voice).
VOICE_SERVICES = ("sms-voice", "chime")
# Transaction parts and the IAM action each needs.
TRANSACT_PARTS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
# Hop-by-hop headers are not forwarded.
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}
def key_prefix(key):
    """The record kind of a DynamoDB key: the part of `pk` before its first '#'."""
    pk = (key or {}).get("pk", {}).get("S", "")
    return pk.split("#", 1)[0] + "#" if "#" in pk else pk


def describe(service, method, path, headers, body):
    """The IAM actions a request needs, each with the key prefixes it touches."""
    target = headers.get("x-amz-target", "")
    if service == "dynamodb":
        operation = target.split(".", 1)[-1]
        request = json.loads(body or b"{}")
        if operation == "TransactWriteItems":
            calls = []
            for part in request.get("TransactItems", []):
                for kind, action in TRANSACT_PARTS.items():
                    if kind in part:
                        calls.append((action, [key_prefix(part[kind].get("Key") or part[kind].get("Item"))]))
            return operation, calls
        if operation == "BatchWriteItem":
            prefixes = [
                key_prefix((w.get("DeleteRequest") or {}).get("Key") or (w.get("PutRequest") or {}).get("Item"))
                for writes in request.get("RequestItems", {}).values()
                for w in writes
            ]
            return operation, [(operation, prefixes)]
        if operation == "Query":
            return operation, [(operation, [request.get("IndexName", "")])]
        return operation, [(operation, [key_prefix(request.get("Key") or request.get("Item"))])]
    # JSON protocol services: Secrets Manager, EventBridge ("AWSEvents.PutEvents"), End User
    # Messaging SMS and Voice v2 ("PinpointSMSVoiceV2.SendVoiceMessage": sms-voice:SendVoiceMessage).
    if target:
        operation = target.split(".", 1)[-1]
        return operation, [(operation, [])]
    if service == "sns":
        operation = urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]
        return operation, [(operation, [])]
    if service == "ses" and method == "POST" and path.startswith("/v2/email/outbound-emails"):
        return "SendEmail", [("SendEmail", [])]
    if service == "chime":
        for verb, pattern, operation in CHIME_OPERATIONS:
            if method == verb and pattern.fullmatch(path):
                return operation, [(operation, [])]
    return f"{method} {path}", [(f"{method} {path}", [])]


class Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY the second waits for the
    # client's delayed ACK (40 ms) now and then.
    disable_nagle_algorithm = True
    upstreams = {}
    log_file = None
    requests = False
    lock = threading.Lock()
    faults = set()
    local = threading.local()

    def log_message(self, *_args):
        pass

    def upstream(self, service):
        url = self.upstreams.get(service) or self.upstreams["other"]
        pool = getattr(self.local, "pool", None)
        if pool is None:
            pool = self.local.pool = {}
        if url not in pool:
            parsed = urllib.parse.urlsplit(url)
            pool[url] = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
        return url, pool[url]

    def faults_control(self, body):
        with self.lock:
            if self.command == "POST":
                Recorder.faults.add(json.loads(body or b"{}")["operation"])
            else:
                Recorder.faults.clear()
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def forward(self):
        started = time.perf_counter()
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        if urllib.parse.urlsplit(self.path).path == "/_faults":
            self.faults_control(body)
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        match = SCOPE.search(headers.get("authorization", ""))
        service = match.group(1) if match else ""
        try:
            operation, calls = describe(service, self.command, urllib.parse.urlsplit(self.path).path, headers, body)
        except ValueError:
            operation, calls = "unparsed", []
        url, conn = self.upstream(service)
        out_headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        if operation in Recorder.faults:
            reply = FaultReply()
            data = b'{"__type":"InternalFailure","message":"injected by the test (aws_calls.py /_faults)"}'
        else:
            for attempt in range(2):
                try:
                    conn.request(self.command, self.path, body=body, headers=out_headers)
                    reply = conn.getresponse()
                    data = reply.read()
                    break
                except (ConnectionError, http.client.HTTPException, OSError):
                    conn.close()
                    if attempt == 1:
                        self.send_error(502, "upstream unreachable")
                        return
        app_match = APP.search(headers.get("x-amz-user-agent", "") + " " + headers.get("user-agent", ""))
        record = {
            "app": app_match.group(1) if app_match else "",
            "service": service,
            "operation": operation,
            "actions": [{"action": f"{'ses' if service == 'ses' else service}:{a}", "keys": k} for a, k in calls],
            "status": reply.status,
        }
        if self.requests and service == "dynamodb":
            try:
                record["request"] = json.loads(body or b"{}")
            except ValueError:
                pass
        record["ms"] = round((time.perf_counter() - started) * 1000, 3)
        with self.lock:
            self.log_file.write(json.dumps(record) + "\n")
            self.log_file.flush()
        self.send_response_only(reply.status, reply.reason)
        for name, value in reply.getheaders():
            if name.lower() not in HOP and name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = forward


class FaultReply:
    """The answer of an operation the tests made fail: AWS's own 500."""

    status = 500
    reason = "Internal Server Error"

    def getheaders(self):
        return [("Content-Type", "application/x-amz-json-1.1")]


def main():
    port, dynamodb, other, log_path = sys.argv[1:5]
    options = sys.argv[5:]
    Recorder.upstreams = {"dynamodb": dynamodb, "other": other}
    if "--voice" in options:
        for service in VOICE_SERVICES:
            Recorder.upstreams[service] = options[options.index("--voice") + 1]
    Recorder.log_file = open(log_path, "a", encoding="utf-8")
    Recorder.requests = "--requests" in options
    server = ThreadingHTTPServer(("127.0.0.1", int(port)), Recorder)
    server.daemon_threads = True
    if "--tls" in options:
        cert, key = options[options.index("--tls") + 1 : options.index("--tls") + 3]
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
