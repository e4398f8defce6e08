"""twostep's benchmark: start-up, warm latency, DynamoDB requests and capacity, memory, binary
size and cost per verification, measured on the local stack. Run through scripts/bench.sh,
which starts the emulators and builds the binaries and sets the variables read here.

Writes `.local/bench/results.json` and `.local/bench/report.md`; exits non-zero when an
operation makes more DynamoDB requests than docs/data-model.md allows or answers wrongly.
"""
import base64
import hashlib
import hmac
import json
import os
import re
import struct
import subprocess
import sys
import time
import urllib.request

import boto3

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from runtime_api import RuntimeApi, summary  # noqa: E402

ENV = os.environ
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = ENV["BENCH_OUT"]
BIN = ENV["BENCH_BIN_DIR"]
QUICK = ENV.get("BENCH_MODE") == "quick"
INIT_RUNS = int(ENV.get("BENCH_INIT_RUNS") or (3 if QUICK else 50))
N = int(ENV.get("BENCH_N") or (10 if QUICK else 200))
CODE_TTL = int(ENV["CODE_TTL_SECONDS"])
# Lambda's CPU share (memory / 1,769 MB of one vCPU), emulated with a CPU quota.
TUNE_SIZES = [int(x) for x in (ENV.get("BENCH_TUNE_SIZES") or ("128" if QUICK else "128,256,512,1024")).split(",") if x]
TUNE_COLD = int(ENV.get("BENCH_TUNE_COLD") or (1 if QUICK else 15))
TUNE_N = int(ENV.get("BENCH_TUNE_N") or (3 if QUICK else 60))
ONE_VCPU_MB = 1769

# The most DynamoDB requests each operation may make (docs/data-model.md).
TARGETS = {
    "send": 1,
    "status (pending)": 2,
    "verify, wrong code": 2,
    "verify, right code": 2,
    "authenticator enrol": 2,
    "authenticator, wrong code": 1,
    "authenticator, right code": 2,
    "events (one stream record)": 0,
    "webhook (one event)": 0,
    "call answered (a code read)": 3,
    "call, 1 pressed (read again)": 0,
    "contact flow, right code": 2,
}

# us-east-1 prices, read 2026-11-23 (BENCHMARKS.md gives the sources).
PRICES = {
    "lambda_gb_second_arm64": 0.0000133334,
    "lambda_request": 0.20 / 1e6,
    "http_api_request": 1.00 / 1e6,
    "dynamodb_wru": 0.625 / 1e6,
    "dynamodb_rru": 0.125 / 1e6,
    "logs_ingested_gb": 0.50,
    "eventbridge_custom_event": 1.00 / 1e6,
    "sqs_request": 0.40 / 1e6,
    "twilio_verify_success": 0.05,
}
MEMORY_GB = 128 / 1024


def log(message):
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def function_env(endpoint, dynamodb=None):
    """What the functions see: the stack's settings, AWS endpoints at `endpoint` (DynamoDB's
    at `dynamodb`, when it is another)."""
    env = {k: v for k, v in ENV.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env["AWS_ENDPOINT_URL"] = endpoint
    env["AWS_ENDPOINT_URL_DYNAMODB"] = dynamodb or endpoint
    if dynamodb:
        # Straight to the emulators: moto has no Chime SDK Voice; the voice stub answers
        # CreateSipMediaApplicationCall (the recorder routes it there itself).
        env["AWS_ENDPOINT_URL_CHIME_SDK_VOICE"] = ENV["VOICE_URL"]
    return env


def stream_batch(i):
    """A batch of one stream record, as Lambda gives the events function: verification
    number `i` created pending (its `sent` event). At low traffic each record of a
    verification (created, approved) comes in a batch of its own: the costliest case."""
    vid = "01JD3Z6Q0Y4S8V1M2N3" + f"{i % 10_000_000:07d}".translate(str.maketrans("0123456789", "ABCDEFGHJK"))
    image = {
        "pk": {"S": f"V#{vid}"},
        "dest": {"S": f"sms#{phone(i)}"},
        "channel": {"S": "sms"},
        "created_at": {"N": str(int(time.time() * 1000))},
        "expires_at": {"N": str(int(time.time() * 1000) + 600_000)},
        "max_attempts": {"N": "5"},
        "state": {"S": "pending"},
        "code_len": {"N": "6"},
    }
    return {"Records": [{
        "eventID": f"bench{i}",
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {"ApproximateCreationDateTime": int(time.time()), "Keys": {"pk": image["pk"]}, "NewImage": image,
                     "SequenceNumber": str(1_000_000 + i), "StreamViewType": "NEW_AND_OLD_IMAGES"},
    }]}


def queue_batch(i):
    """A batch of one message from the webhook queue, as Lambda gives the webhooks function:
    the `sent` event of verification number `i`, as the bus rule put it there."""
    event = {
        "version": "0", "id": f"bench-{i}", "detail-type": "verification.sent", "source": "twostep",
        "account": "123456789012", "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "region": "us-east-1",
        "resources": [],
        "detail": {"schema_version": 2, "event_id": f"bench{i}:sent", "type": "sent",
                   "verification_id": f"01JD3Z6Q0Y4S8V1M2N3{i % 10_000_000:07d}", "channel": "sms",
                   "to": "+49*******0000", "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                   "test": False, "expires_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 600))},
    }
    return {"Records": [{
        "messageId": f"bench-{i}", "receiptHandle": f"bench-{i}", "body": json.dumps(event),
        "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}, "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:bench-webhooks", "awsRegion": "us-east-1",
    }]}


def call_event(kind, vid, action=None):
    """A SIP media application's event for the call of verification `vid`, as Chime SDK PSTN
    Audio invokes the calls function (the verification id in the transaction attributes)."""
    event = {"SchemaVersion": "1.0", "Sequence": 3, "InvocationEventType": kind,
             "CallDetails": {"TransactionId": f"tx-{vid}", "TransactionAttributes": {"verification_id": vid},
                             "AwsAccountId": "123456789012", "AwsRegion": "us-east-1",
                             "SipMediaApplicationId": ENV.get("SIP_MEDIA_APPLICATION_ID", ""),
                             "Participants": [{"CallId": f"call-{vid}", "ParticipantTag": "LEG-A", "To": "+12025550100",
                                               "From": ENV.get("CALL_FROM_NUMBER", ""), "Direction": "Outbound",
                                               "StartTimeInMilliseconds": "1800000000000", "Status": "Connected"}]}}
    if action is not None:
        event["ActionData"] = action
    return event


def contact_flow(number, parameters):
    """An Amazon Connect contact flow's invocation of the calls function."""
    return {"Name": "ContactFlowEvent", "Details": {
        "ContactData": {"CustomerEndpoint": {"Address": number, "Type": "TELEPHONE_NUMBER"}},
        "Parameters": parameters}}


def apigw(method, path, body=None, source_ip="198.18.0.1", path_id=None):
    """An API Gateway HTTP API (payload 2.0) event, as the deployed stack delivers it."""
    route = "GET /verifications/{id}" if path_id else f"{method} {path}"
    event = {
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "api.example.com", "user-agent": "bench"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "bench",
            "domainName": "api.example.com",
            "domainPrefix": "api",
            "requestId": "bench",
            "routeKey": route,
            "stage": "$default",
            "time": "23/Nov/2026:12:00:00 +0000",
            "timeEpoch": int(time.time() * 1000),
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": source_ip, "userAgent": "bench"},
        },
        "isBase64Encoded": False,
    }
    if body is not None:
        event["body"] = json.dumps(body)
    if path_id:
        event["pathParameters"] = {"id": path_id}
    return event


def answer(invocation):
    """The HTTP status and JSON body of an API Gateway response."""
    reply = invocation.json()
    return reply.get("statusCode"), json.loads(reply.get("body") or "null")


def phone(i):
    return f"+49302{i:07d}"


def outbox_codes():
    """The code in the newest SMS to each number, from moto's record of what was sent."""
    with urllib.request.urlopen(f"{ENV['MOTO_URL']}/moto-api/data.json") as reply:
        data = json.load(reply)
    codes = {}
    for message in data["sns"]["SMS"]:
        found = re.findall(r"\b[0-9]{6}\b", message["message"])
        if found:
            codes[message["phone_number"]] = found[0]
    return codes


def app_code(secret_base32, at=None):
    """The code an authenticator app shows now (RFC 6238: HMAC-SHA1, 6 digits, 30 s)."""
    secret = base64.b32decode(secret_base32 + "=" * (-len(secret_base32) % 8))
    step = int(time.time() if at is None else at) // 30
    mac = hmac.new(secret, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    number = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 1_000_000:06d}"


def attribute_size(value):
    """An attribute value's size by DynamoDB's rules (close enough for numbers)."""
    kind, v = next(iter(value.items()))
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        return (len(v.lstrip("-").replace(".", "")) + 1) // 2 + 1
    if kind == "B":
        return len(v) * 3 // 4
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(attribute_size({kind[0]: x}) for x in v)
    if kind == "L":
        return 3 + sum(1 + attribute_size(x) for x in v)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + attribute_size(x) for k, x in v.items())
    return 0


def item_sizes():
    """The largest item of each kind (`C#`, `V#`, `IP#`…) in the table, in bytes."""
    dynamodb = boto3.client("dynamodb", endpoint_url=ENV["DDB_URL"])
    largest = {}
    for page in dynamodb.get_paginator("scan").paginate(TableName=ENV["TABLE_NAME"]):
        for item in page["Items"]:
            pk = item["pk"]["S"]
            kind = pk.split("#", 1)[0] + "#"
            size = sum(len(k.encode()) + attribute_size(v) for k, v in item.items())
            largest[kind] = max(largest.get(kind, 0), size)
    return largest


def request_units(call, sizes, index_keys):
    """The write and read request units AWS bills for one recorded DynamoDB request, by its
    rules: a write 1 WRU per KB, a transactional write 2, an index entry written or removed 1
    more (the index is KEYS_ONLY); a strongly consistent read 1 RRU per 4 KB, an eventually
    consistent one (and a Query page) half."""
    request = call.get("request", {})
    operation = call["operation"]

    def kb(kind, per=1024):
        return max(1, -(-sizes.get(kind, 1) // per))

    def touches_index(part):
        text = json.dumps(part)
        return any(f'"{key}"' in text for key in index_keys)

    wru = rru = 0.0
    if operation == "TransactWriteItems":
        for part, action in zip(request.get("TransactItems", []), call["actions"]):
            body = next(iter(part.values()))
            wru += 2 * kb(action["keys"][0]) + (1 if touches_index(body) else 0)
    elif operation in ("PutItem", "UpdateItem", "DeleteItem"):
        wru += kb(call["actions"][0]["keys"][0]) + (1 if touches_index(request) else 0)
    elif operation == "BatchWriteItem":
        for action in call["actions"]:
            wru += sum(kb(kind) for kind in action["keys"])
    elif operation == "GetItem":
        rru += kb(call["actions"][0]["keys"][0], 4096) * (1 if request.get("ConsistentRead") else 0.5)
    elif operation == "Query":
        rru += 0.5
    return wru, rru


def cpu_ns(pid):
    """CPU time of every thread of a process so far (from schedstat, in ns)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat", encoding="ascii") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


class Calls:
    """The recorder's log of AWS calls (scripts/aws_calls.py)."""

    def __init__(self, path):
        self.path = path
        self.offset = os.path.getsize(path) if os.path.exists(path) else 0

    def new(self):
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        self.offset += len(data)
        return [json.loads(line) for line in data.splitlines() if line.strip()]


class Function:
    def __init__(self, name, env, tag):
        self.name = name
        self.api = RuntimeApi(name)
        self.log_path = os.path.join(OUT, f"{name}-{tag}.log")
        self.log = open(self.log_path, "wb")
        self.init_ms = self.api.start([os.path.join(BIN, name)], env, self.log)

    def invoke(self, event):
        return self.api.invoke(event)

    def stop(self):
        self.api.stop()
        self.log.close()


class Op:
    """Samples of one operation."""

    def __init__(self, name):
        self.name = name
        self.ms = []
        self.cpu_ms = []
        self.log_bytes = 0
        self.dynamodb = []
        self.wru = []
        self.rru = []
        self.calls = []
        self.aws_ms = []
        self.outside_ms = []

    def result(self):
        out = {"latency_ms": summary(self.ms), "cpu_ms": summary(self.cpu_ms), "log_bytes": self.log_bytes / len(self.ms)}
        if self.dynamodb:
            out["dynamodb_requests"] = max(self.dynamodb)
            out["dynamodb_requests_min"] = min(self.dynamodb)
            out["wru"] = sum(self.wru) / len(self.wru)
            out["rru"] = sum(self.rru) / len(self.rru)
            out["aws_ms"] = summary(self.aws_ms)
            out["outside_aws_ms"] = summary(self.outside_ms)
        return out


def timed(op, fn, event, calls=None):
    pid = fn.api.process.pid
    before_cpu, before_log = cpu_ns(pid), os.path.getsize(fn.log_path)
    invocation = fn.invoke(event)
    op.ms.append(invocation.ms)
    op.cpu_ms.append((cpu_ns(pid) - before_cpu) / 1e6)
    fn.log.flush()
    op.log_bytes += os.path.getsize(fn.log_path) - before_log
    if calls is not None:
        made = calls.new()
        ddb = [c for c in made if c["service"] == "dynamodb"]
        op.dynamodb.append(len(ddb))
        op.calls.append(ddb)
        aws = sum(c.get("ms", 0) for c in made)
        op.aws_ms.append(aws)
        op.outside_ms.append(max(invocation.ms - aws, 0))
    if invocation.error:
        raise RuntimeError(f"{op.name}: the function failed: {invocation.body[:300]!r}")
    return invocation


def expect(invocation, status, what):
    got, body = answer(invocation)
    if got != status:
        raise RuntimeError(f"{what}: expected {status}, got {got}: {body}")
    return body


def warm(env, tag, first_phone, calls=None):
    """One pass of every operation against warm functions, with `env`'s endpoints."""
    functions = {name: Function(name, env, tag) for name in ("send", "verify", "cleanup", "events", "webhooks", "calls", "hello")}
    ops = {name: Op(name) for name in ("send", "status (pending)", "verify, wrong code", "verify, right code", "authenticator enrol", "authenticator, wrong code", "authenticator, right code", "events (one stream record)", "webhook (one event)", "call answered (a code read)", "call, 1 pressed (read again)", "contact flow, right code", "cleanup", "hello (no-op)")}
    try:
        # Warm each function up: its first call opens its connections.
        functions["hello"].invoke({})
        expect(functions["verify"].invoke(apigw("GET", "/verifications/" + "0" * 26, path_id="0" * 26)), 404, "warm-up")
        functions["cleanup"].invoke({"dry_run": True})
        functions["events"].invoke(stream_batch(first_phone))
        functions["webhooks"].invoke(queue_batch(first_phone))
        if calls:
            calls.new()
        # The first N contacts stay unverified, for cleanup; the next N are verified.
        phones = [phone(first_phone + i) for i in range(2 * N)]
        ids = {}
        for i, number in enumerate(phones):
            if i == 0:
                # Also the send function's warm-up; not a sample.
                body = expect(functions["send"].invoke(apigw("POST", "/signup", {"phone": number})), 202, "send")
                if calls:
                    calls.new()
            else:
                source = f"198.18.{i // 250}.{i % 250 + 1}"
                body = expect(timed(ops["send"], functions["send"], apigw("POST", "/signup", {"phone": number}, source), calls), 202, "send")
            ids[number] = body["verification_id"]
        unverified_until = time.time() + CODE_TTL + 1
        codes = outbox_codes()
        to_verify = phones[N:]
        for number in to_verify:
            vid = ids[number]
            body = expect(timed(ops["status (pending)"], functions["verify"], apigw("GET", f"/verifications/{vid}", path_id=vid), calls), 200, "status")
            assert body["status"] == "pending", body
        for number in to_verify:
            wrong = f"{(int(codes[number]) + 1) % 1_000_000:06d}"
            expect(timed(ops["verify, wrong code"], functions["verify"], apigw("POST", "/verify", {"phone": number, "code": wrong}), calls), 422, "wrong code")
        for number in to_verify:
            body = expect(timed(ops["verify, right code"], functions["verify"], apigw("POST", "/verify", {"phone": number, "code": codes[number]}), calls), 200, "right code")
            assert body["status"] == "approved", body
        # Authenticator apps: N more contacts, each confirmed by its verification's id (what
        # enrolment asks for; not timed), enrol an app; then a wrong code, then the app's.
        app_phones = [phone(first_phone + 2 * N + i) for i in range(N)]
        app_ids = {}
        for i, number in enumerate(app_phones):
            source = f"198.19.{i // 250}.{i % 250 + 1}"
            app_ids[number] = expect(functions["send"].invoke(apigw("POST", "/signup", {"phone": number}, source)), 202, "send")["verification_id"]
        app_codes = outbox_codes()
        for number in app_phones:
            expect(functions["verify"].invoke(apigw("POST", "/verify", {"verification_id": app_ids[number], "code": app_codes[number]})), 200, "right code by id")
        if calls:
            calls.new()
        secrets = {}
        for number in app_phones:
            body = expect(timed(ops["authenticator enrol"], functions["verify"], apigw("POST", "/totp/enroll", {"verification_id": app_ids[number]}), calls), 201, "enrol")
            secrets[number] = body["secret"]
        for number in app_phones:
            wrong = app_code(secrets[number], time.time() + 3000)
            expect(timed(ops["authenticator, wrong code"], functions["verify"], apigw("POST", "/verify", {"phone": number, "channel": "totp", "code": wrong}), calls), 422, "wrong app code")
        for number in app_phones:
            body = expect(timed(ops["authenticator, right code"], functions["verify"], apigw("POST", "/verify", {"phone": number, "channel": "totp", "code": app_code(secrets[number])}), calls), 200, "right app code")
            assert body["channel"] == "totp", body
        for i in range(N):
            reply = timed(ops["events (one stream record)"], functions["events"], stream_batch(first_phone + 1 + i), calls).json()
            if reply.get("batchItemFailures"):
                raise RuntimeError(f"events: the bus refused an event: {reply}")
        # A signed POST to the local receiver (docs/integrations/webhook_receiver.py), which
        # verifies it and answers 204.
        for i in range(N):
            reply = timed(ops["webhook (one event)"], functions["webhooks"], queue_batch(first_phone + 1 + i), calls).json()
            if reply.get("batchItemFailures"):
                raise RuntimeError(f"webhooks: the receiver refused a delivery: {reply}")
        # Interactive calls (the calls function): N calls placed (not timed), each answered,
        # which makes and reads a code; then 1 pressed, which reads it again from the action
        # Chime echoes; then N codes sent and checked by an Amazon Connect contact flow.
        call_phones = [phone(first_phone + 3 * N + i) for i in range(N)]
        call_ids = []
        for i, number in enumerate(call_phones):
            source = f"198.20.{i // 250}.{i % 250 + 1}"
            call_ids.append(expect(functions["send"].invoke(apigw("POST", "/signup", {"phone": number, "channel": "call"}, source)), 202, "call placed")["verification_id"])
        functions["calls"].invoke(call_event("RINGING", call_ids[0]))
        if calls:
            calls.new()
        readings = []
        for vid in call_ids:
            reply = timed(ops["call answered (a code read)"], functions["calls"], call_event("CALL_ANSWERED", vid), calls).json()
            action = reply["Actions"][0]
            if action["Type"] != "SpeakAndGetDigits":
                raise RuntimeError(f"calls: the answered call read no code: {reply}")
            readings.append((vid, action))
        for vid, action in readings:
            echoed = {"Type": action["Type"], "Parameters": action["Parameters"], "ReceivedDigits": "1"}
            event = call_event("ACTION_SUCCESSFUL", vid, echoed)
            event["CallDetails"]["TransactionAttributes"].update(mode="read", repeats="0")
            reply = timed(ops["call, 1 pressed (read again)"], functions["calls"], event, calls).json()
            if reply["Actions"] != [action]:
                raise RuntimeError(f"calls: 1 did not read the code again: {reply}")
        flow_phones = [phone(first_phone + 4 * N + i) for i in range(N)]
        for number in flow_phones:
            sent = functions["calls"].invoke(contact_flow(number, {"action": "send"})).json()
            if sent.get("result") != "sent":
                raise RuntimeError(f"calls: the contact flow's send failed: {sent}")
        flow_codes = outbox_codes()
        if calls:
            calls.new()
        for number in flow_phones:
            checked = timed(ops["contact flow, right code"], functions["calls"], contact_flow(number, {"action": "check", "code": flow_codes[number]}), calls).json()
            if checked.get("result") != "approved":
                raise RuntimeError(f"calls: the contact flow's check failed: {checked}")
        for _ in range(N):
            timed(ops["hello (no-op)"], functions["hello"], {}, None)
        sizes = item_sizes() if calls else {}
        # Cleanup deletes unverified contacts whose code has expired.
        time.sleep(max(unverified_until - time.time(), 0))
        report = timed(ops["cleanup"], functions["cleanup"], {"source": "aws.scheduler"}, calls).json()
        if report["deleted"] < N or report["more"]:
            raise RuntimeError(f"cleanup deleted {report['deleted']} of at least {N} contacts: {report}")
        if calls:
            with open(ENV["TABLE_DEFINITION"], encoding="utf-8") as f:
                # An item is in a (sparse) index only with the index's partition key: a write
                # that names no such key (a verification has `created_at` but no `unv`)
                # writes nothing to the index.
                index_keys = {k["AttributeName"] for g in json.load(f)["GlobalSecondaryIndexes"] for k in g["KeySchema"] if k["KeyType"] == "HASH"}
            for op in ops.values():
                for made in op.calls:
                    units = [request_units(c, sizes, index_keys) for c in made]
                    op.wru.append(sum(u[0] for u in units))
                    op.rru.append(sum(u[1] for u in units))
        results = {name: op.result() for name, op in ops.items() if op.ms}
        results["cleanup"]["deleted"] = report["deleted"]
        return {
            "ops": results,
            "item_bytes": sizes,
            "peak_rss_kb": {name: fn.api.peak_rss_kb() for name, fn in functions.items()},
        }
    finally:
        for fn in functions.values():
            fn.stop()


def cold(endpoint, ca_file, first_phone):
    """Init and first-invocation times of each binary and of the Node.js baseline."""
    env = function_env(endpoint)
    env["SSL_CERT_FILE"] = ca_file
    # Node.js has its roots built in, as on Lambda: it gets only the throw-away CA.
    node_env = dict(env, NODE_EXTRA_CA_CERTS=os.path.join(OUT, "ca.crt"))
    subjects = {
        "hello": ([os.path.join(BIN, "hello")], env, lambda i: {}),
        "cleanup": ([os.path.join(BIN, "cleanup")], dict(env, TABLE_NAME=ENV["TABLE_NAME"] + "-empty"), lambda i: {"dry_run": True}),
        "verify": ([os.path.join(BIN, "verify")], env, lambda i: apigw("GET", "/verifications/" + "0" * 26, path_id="0" * 26)),
        "events": ([os.path.join(BIN, "events")], env, lambda i: stream_batch(first_phone + 10_000 + i)),
        # A call answered for a verification that does not exist: one GetItem, a goodbye.
        "calls": ([os.path.join(BIN, "calls")], env, lambda i: call_event("CALL_ANSWERED", "0" * 26)),
        "send": ([os.path.join(BIN, "send")], env, lambda i: apigw("POST", "/signup", {"phone": phone(first_phone + i)}, f"198.19.{i // 250}.{i % 250 + 1}")),
        # A first send to a +1 number builds the metadata of the North American plan's 25
        # regions, the largest calling code: the costliest first invocation.
        "send (+1 number)": ([os.path.join(BIN, "send")], env, lambda i: apigw("POST", "/signup", {"phone": f"+1202555{100 + i % 100:04d}"}, f"198.19.200.{i % 250 + 1}")),
        "node-baseline": (["node", ENV["NODE_BASELINE"]], node_env, lambda i: {}),
    }
    # Another build's binaries (BENCH_BEFORE_DIR, e.g. the commit before a change) take their
    # turns in the same rounds: a before/after comparison from one run, on one host's speed.
    before = ENV.get("BENCH_BEFORE_DIR")
    if before:
        for name in ("cleanup", "verify", "calls", "send"):
            command, run_env, event = subjects[name]
            subjects[f"{name} (before)"] = ([os.path.join(before, name)], run_env, event)
    parts = ("init_ms", "init_cpu_ms", "init_aws_ms", "init_own_ms",
             "first_invocation_ms", "first_cpu_ms", "first_aws_ms", "first_own_ms")
    samples = {name: {**{p: [] for p in parts}, "peak_rss_kb": []} for name in subjects}
    # The TLS recorder's log: the time each start spends waiting on AWS (the emulators), as
    # the function saw each call; the rest (TLS handshakes included) is the function's own.
    calls = Calls(os.path.join(OUT, "aws-calls-tls.jsonl"))
    log_path = os.path.join(OUT, "cold.log")
    with open(log_path, "ab") as out:
        # One untimed round first: the page cache then holds every binary and module.
        for i in range(-1, INIT_RUNS):
            for name, (command, run_env, event) in subjects.items():
                api = RuntimeApi(name)
                try:
                    calls.new()
                    init = api.start(command, run_env, out)
                    pid = api.process.pid
                    init_cpu, init_aws = cpu_ns(pid), sum(c.get("ms", 0) for c in calls.new())
                    invocation = api.invoke(event(i + 1))
                    first_cpu, first_aws = cpu_ns(pid) - init_cpu, sum(c.get("ms", 0) for c in calls.new())
                    if invocation.error:
                        raise RuntimeError(f"{name}: first invocation failed: {invocation.body[:300]!r}")
                    rss = api.peak_rss_kb()
                finally:
                    api.stop()
                if i >= 0:
                    got = (init, init_cpu / 1e6, init_aws, max(init - init_aws, 0),
                           invocation.ms, first_cpu / 1e6, first_aws, max(invocation.ms - first_aws, 0))
                    for part, value in zip(parts, got):
                        samples[name][part].append(value)
                    samples[name]["peak_rss_kb"].append(rss)
    return {
        name: {**{p: summary(s[p]) for p in parts}, "peak_rss_kb": max(s["peak_rss_kb"])}
        for name, s in samples.items()
    }


class Throttle:
    """A CPU quota of `mb / 1769` of one core, as Lambda allots CPU to a function of `mb` MB:
    a cgroup (v2 `cpu.max`, else v1 `cpu.cfs_quota_us`) that the function's process joins
    before it starts. `None` when no quota can be set here (not root, no cpu controller)."""

    PERIOD_US = 100_000

    def __init__(self, path, procs):
        self.path = path
        self.procs = procs

    @classmethod
    def create(cls, mb):
        quota = max(1000, round(cls.PERIOD_US * mb / ONE_VCPU_MB))
        name = f"twostep-bench-{mb}"
        v2 = "/sys/fs/cgroup"
        v1 = "/sys/fs/cgroup/cpu"
        try:
            if os.path.exists(f"{v2}/cgroup.controllers") and "cpu" in open(f"{v2}/cgroup.controllers").read().split():
                path = f"{v2}/{name}"
                os.makedirs(path, exist_ok=True)
                with open(f"{path}/cpu.max", "w") as f:
                    f.write(f"{quota} {cls.PERIOD_US}")
            elif os.path.exists(f"{v1}/cpu.cfs_quota_us"):
                path = f"{v1}/{name}"
                os.makedirs(path, exist_ok=True)
                with open(f"{path}/cpu.cfs_period_us", "w") as f:
                    f.write(str(cls.PERIOD_US))
                with open(f"{path}/cpu.cfs_quota_us", "w") as f:
                    f.write(str(quota))
            else:
                return None
        except OSError as e:
            log(f"no CPU quota can be set here ({e}): the tuning table is left out")
            return None
        return cls(path, f"{path}/cgroup.procs")

    def wrap(self, command):
        """`command`, started inside the cgroup (the shell joins it, then becomes the command)."""
        return ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', self.procs] + command

    def remove(self):
        try:
            os.rmdir(self.path)
        except OSError:
            pass


def tune(endpoint, ca_file, first_phone):
    """Cold starts (over TLS) and warm calls (straight to the emulators) of send and verify
    under Lambda's CPU share at each memory size: a power-tuning table."""
    env = function_env(endpoint)
    env["SSL_CERT_FILE"] = ca_file
    direct = function_env(ENV["MOTO_URL"], ENV["DDB_URL"])
    rows = {}
    for mb in TUNE_SIZES:
        throttle = Throttle.create(mb)
        if throttle is None:
            return None
        try:
            log(f"tuning at {mb} MB ({mb / ONE_VCPU_MB:.1%} of a vCPU): {TUNE_COLD} cold starts, {TUNE_N} warm calls")
            rows[mb] = tune_size(throttle, (env, direct), first_phone + mb * 1_000)
        finally:
            throttle.remove()
    return rows


def tune_size(throttle, envs, first_phone):
    env, direct = envs
    row = {"init_ms": {}, "first_invocation_ms": {}, "warm_ms": {}}
    events = {
        "hello": lambda i: {},
        "verify": lambda i: apigw("GET", "/verifications/" + "0" * 26, path_id="0" * 26),
        "send": lambda i: apigw("POST", "/signup", {"phone": phone(first_phone + i)}, f"198.20.{i // 250}.{i % 250 + 1}"),
    }
    with open(os.path.join(OUT, "tune.log"), "ab") as out:
        for name, event in events.items():
            inits, firsts = [], []
            for i in range(TUNE_COLD):
                api = RuntimeApi(name)
                try:
                    inits.append(api.start(throttle.wrap([os.path.join(BIN, name)]), env, out))
                    invocation = api.invoke(event(i))
                    if invocation.error:
                        raise RuntimeError(f"{name}: first invocation failed: {invocation.body[:300]!r}")
                    firsts.append(invocation.ms)
                finally:
                    api.stop()
            row["init_ms"][name] = summary(inits)
            row["first_invocation_ms"][name] = summary(firsts)
        send, verify = RuntimeApi("send"), RuntimeApi("verify")
        try:
            send.start(throttle.wrap([os.path.join(BIN, "send")]), direct, out)
            verify.start(throttle.wrap([os.path.join(BIN, "verify")]), direct, out)
            sends, checks = [], []
            numbers = [phone(first_phone + 500 + i) for i in range(TUNE_N + 1)]
            for i, number in enumerate(numbers):
                invocation = send.invoke(apigw("POST", "/signup", {"phone": number}, f"198.21.{i // 250}.{i % 250 + 1}"))
                if i:
                    sends.append(invocation.ms)
            codes = outbox_codes()
            for i, number in enumerate(numbers):
                invocation = verify.invoke(apigw("POST", "/verify", {"phone": number, "code": codes[number]}))
                status, _ = answer(invocation)
                if status != 200:
                    raise RuntimeError(f"tuning: a right code answered {status}")
                if i:
                    checks.append(invocation.ms)
            row["warm_ms"]["send"] = summary(sends)
            row["warm_ms"]["verify, right code"] = summary(checks)
        finally:
            send.stop()
            verify.stop()
    return row


def sizes():
    """arm64 release binaries, as `cargo lambda build --release --arm64` (and sam build) make them."""
    found = {}
    for name, sam in (("send", "SendFunction"), ("verify", "VerifyFunction"), ("cleanup", "CleanupFunction"), ("events", "EventsFunction"), ("webhooks", "WebhookFunction"), ("calls", "CallsFunction"), ("hello", None)):
        candidates = [os.path.join(ROOT, "target", "lambda", name, "bootstrap")]
        if sam:
            candidates.append(os.path.join(ROOT, ".aws-sam", "build", sam, "bootstrap"))
        present = [c for c in candidates if os.path.exists(c)]
        if present:
            newest = max(present, key=os.path.getmtime)
            found[name] = {"bytes": os.path.getsize(newest), "path": os.path.relpath(newest, ROOT)}
    return found


def cost(counted, warm):
    """Cost of one million successful verifications (one send, one right code), before carriage:
    Lambda time from the straight pass, request units and log bytes from the counted one."""
    per = {}
    invocations = [counted["send"], counted["verify, right code"]]
    # The events function: at most one invocation per outcome (`sent`, `approved`), each a
    # batch of one record, as at low traffic; busier tables put many records in a batch.
    events_ms = -(-warm["events (one stream record)"]["latency_ms"]["median"] // 1)
    billed_ms = sum(-(-warm[op]["latency_ms"]["median"] // 1) for op in ("send", "verify, right code")) + 2 * events_ms
    per["lambda_compute"] = billed_ms / 1000 * MEMORY_GB * PRICES["lambda_gb_second_arm64"]
    per["lambda_requests"] = (len(invocations) + 2) * PRICES["lambda_request"]
    per["http_api_requests"] = len(invocations) * PRICES["http_api_request"]
    per["dynamodb_writes"] = sum(op["wru"] for op in invocations) * PRICES["dynamodb_wru"]
    per["dynamodb_reads"] = sum(op["rru"] for op in invocations) * PRICES["dynamodb_rru"]
    per["logs"] = (sum(op["log_bytes"] for op in invocations) + 2 * counted["events (one stream record)"]["log_bytes"]) / 1e9 * PRICES["logs_ingested_gb"]
    # Two outcome events: `sent`, then `approved` (PutEvents, from the events function).
    per["eventbridge_events"] = len(invocations) * PRICES["eventbridge_custom_event"]
    per["secrets_manager"] = 0.0
    total = sum(per.values())
    # With a webhook (optional): each of the two events is one more invocation (a batch of
    # one, the low-traffic case) and three SQS requests (EventBridge's send, Lambda's receive
    # and delete).
    hook_ms = -(-warm["webhook (one event)"]["latency_ms"]["median"] // 1)
    webhook = {
        "lambda_compute": 2 * hook_ms / 1000 * MEMORY_GB * PRICES["lambda_gb_second_arm64"],
        "lambda_requests": 2 * PRICES["lambda_request"],
        "sqs_requests": 2 * 3 * PRICES["sqs_request"],
        "logs": 2 * counted["webhook (one event)"]["log_bytes"] / 1e9 * PRICES["logs_ingested_gb"],
    }
    return {
        "webhook_billed_ms": 2 * hook_ms,
        "webhook_per_million": {k: v * 1e6 for k, v in webhook.items()},
        "webhook_total_per_million": sum(webhook.values()) * 1e6,
        "billed_ms_per_verification": billed_ms,
        "per_million": {k: v * 1e6 for k, v in per.items()},
        "total_per_million": total * 1e6,
        "twilio_per_million": PRICES["twilio_verify_success"] * 1e6,
        "ratio": PRICES["twilio_verify_success"] / total,
        "prices": PRICES,
    }


def tuned_cost(tuning, base):
    """The cost of a million verifications at each memory size: the base cost with Lambda's
    compute billed at that size, for that size's warm medians."""
    per_size = {}
    for mb, row in (tuning or {}).items():
        billed = sum(-(-row["warm_ms"][op]["median"] // 1) for op in ("send", "verify, right code"))
        compute = billed / 1000 * mb / 1024 * PRICES["lambda_gb_second_arm64"] * 1e6
        total = base["total_per_million"] - base["per_million"]["lambda_compute"] + compute
        per_size[mb] = {"billed_ms": billed, "lambda_compute_per_million": compute, "total_per_million": total}
    return per_size


def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": os.uname().release, "node": node, "rustc": rustc}


def main():
    os.makedirs(OUT, exist_ok=True)
    results = {"mode": "quick" if QUICK else "full", "binaries": os.path.relpath(BIN, ROOT), "n": N, "init_runs": INIT_RUNS,
               "tune_cold": TUNE_COLD, "tune_n": TUNE_N, "machine": machine()}
    base = int(time.time()) % 1_000_000 * 10
    cold_only = ENV.get("BENCH_ONLY") == "cold"
    if ENV.get("BENCH_ONLY") == "warm":
        # Comparing builds' CPU per call (BENCHMARKS.md, "Tuning"): the straight warm pass only.
        ops = warm(function_env(ENV["MOTO_URL"], ENV["DDB_URL"]), "direct", base)["ops"]
        print(json.dumps({k: {"median_ms": v["latency_ms"]["median"], "cpu_ms": v["cpu_ms"]["median"]} for k, v in ops.items()}, indent=1))
        return
    if not cold_only:
        log(f"warm pass straight to the emulators ({N} of each operation)")
        results["warm"] = warm(function_env(ENV["MOTO_URL"], ENV["DDB_URL"]), "direct", base)
        log("warm pass through the call recorder (DynamoDB requests, capacity, time in AWS calls)")
        calls = Calls(ENV["AWS_CALLS_LOG"])
        results["counted"] = warm(function_env(ENV["CALLS_URL"]), "counted", base + 5 * N + 10, calls)
    log(f"cold starts over TLS, as in AWS ({INIT_RUNS} runs of each binary and of the Node.js baseline)")
    results["cold"] = cold(ENV["TLS_URL"], ENV["BENCH_CA"], base + 10 * N + 20)
    if cold_only:
        # Comparing builds (BENCHMARKS.md, "Tuning"): the cold starts' medians, no report.
        print(json.dumps({k: {"init_median": v["init_ms"]["median"], "init_p99": v["init_ms"]["p99"],
                              "init_own_median": v["init_own_ms"]["median"], "first_median": v["first_invocation_ms"]["median"],
                              "first_own_median": v["first_own_ms"]["median"], "first_cpu_median": v["first_cpu_ms"]["median"]}
                          for k, v in results["cold"].items()}, indent=1))
        return
    log(f"tuning: Lambda's CPU share at {', '.join(f'{mb} MB' for mb in TUNE_SIZES)}")
    results["tuning"] = tune(ENV["TLS_URL"], ENV["BENCH_CA"], base + 12 * N + 40)
    results["sizes"] = sizes()
    results["cost"] = cost(results["counted"]["ops"], results["warm"]["ops"])
    results["tuning_cost"] = tuned_cost(results["tuning"], results["cost"])
    with open(os.path.join(OUT, "results.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
    report = render(results)
    with open(os.path.join(OUT, "report.md"), "w", encoding="utf-8") as f:
        f.write(report)
    print(report)
    failures = [
        f"{op}: {results['counted']['ops'][op]['dynamodb_requests']} DynamoDB requests, documented {most}"
        for op, most in TARGETS.items()
        if results["counted"]["ops"][op]["dynamodb_requests"] > most
    ]
    for failure in failures:
        log(f"FAIL {failure}")
    if failures:
        sys.exit(1)
    log(f"request counts hold: {', '.join(f'{op} {most}' for op, most in TARGETS.items())}")


def ms(value):
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def render(r):
    lines = [f"Mode: {r['mode']} ({r['binaries']}); {r['init_runs']} cold starts per binary, {r['n']} warm calls per operation.", ""]
    m = r["machine"]
    lines += [f"Machine: {m['cpu']}, {m['cores']} cores, Linux {m['kernel']}; {m['rustc']}; Node.js {m['node']}.", ""]
    cold_r = r["cold"]
    node = cold_r["node-baseline"]["init_ms"]["median"]
    hello = cold_r["hello"]["init_ms"]["median"]
    lines += ["### Cold start (local Runtime API, AWS endpoints over TLS)", ""]
    lines += ["| binary | init min | init median | init p99 | first invocation median | peak RSS | median vs Node.js | median − hello |", "|---|---|---|---|---|---|---|---|"]
    for name, c in cold_r.items():
        i = c["init_ms"]
        lines.append(
            f"| {name} | {ms(i['min'])} ms | {ms(i['median'])} ms | {ms(i['p99'])} ms | {ms(c['first_invocation_ms']['median'])} ms "
            f"| {c['peak_rss_kb'] / 1024:.1f} MiB | {i['median'] / node:.2f}× | {i['median'] - hello:+.1f} ms |"
        )
    if "init_cpu_ms" in cold_r["hello"]:
        lines += ["", "Where a start's time goes (medians): CPU, and waiting on the AWS calls as the function saw them (the emulators; "
                  "a TLS handshake is the function's own time). *Own* is the time minus the AWS calls: what the start costs "
                  "wherever the AWS endpoints are.", ""]
        lines += ["| binary | init CPU | init in AWS calls | init own | first invocation CPU | first invocation in AWS calls | first invocation own |",
                  "|---|---|---|---|---|---|---|"]
        for name, c in cold_r.items():
            if name == "node-baseline":
                continue
            med = lambda part: c[part]["median"]
            lines.append(
                f"| {name} | {ms(med('init_cpu_ms'))} ms | {ms(med('init_aws_ms'))} ms | {ms(med('init_own_ms'))} ms "
                f"| {ms(med('first_cpu_ms'))} ms | {ms(med('first_aws_ms'))} ms | {ms(med('first_own_ms'))} ms |"
            )
    lines += ["", "### Warm invocations (straight to the emulators)", ""]
    lines += ["| operation | median | p99 | CPU per call (median) | log bytes per call |", "|---|---|---|---|---|"]
    for name, o in r["warm"]["ops"].items():
        extra = f" ({o['deleted']} contacts)" if "deleted" in o else ""
        lat = o["latency_ms"]
        lines.append(f"| {name}{extra} | {ms(lat['median'])} ms | {ms(lat['p99'])} ms | {ms(o['cpu_ms']['median'])} ms | {o['log_bytes']:.0f} |")
    lines += ["", "Peak RSS after the warm pass: " + ", ".join(f"{k} {v / 1024:.1f} MiB" for k, v in r["warm"]["peak_rss_kb"].items()) + "."]
    lines += ["", "### DynamoDB requests and time in AWS calls (through the call recorder)", ""]
    lines += ["| operation | DynamoDB requests (documented) | WRU | RRU | median | in AWS calls (median) | outside AWS calls (median) |", "|---|---|---|---|---|---|---|"]
    for name, o in r["counted"]["ops"].items():
        if "dynamodb_requests" not in o:
            continue
        target = TARGETS.get(name)
        count = o["dynamodb_requests"] if o["dynamodb_requests"] == o["dynamodb_requests_min"] else f"{o['dynamodb_requests_min']}–{o['dynamodb_requests']}"
        lines.append(
            f"| {name} | {count}{f' ({target})' if target else ''} | {o['wru']:.1f} | {o['rru']:.1f} | {ms(o['latency_ms']['median'])} ms "
            f"| {ms(o['aws_ms']['median'])} ms | {ms(o['outside_aws_ms']['median'])} ms |"
        )
    sizes = r["counted"]["item_bytes"]
    lines += ["", "Request units by DynamoDB's billing rules, from the requests made and the largest item of each kind in the table: "
              + ", ".join(f"`{k}` {v} B" for k, v in sorted(sizes.items())) + "."]
    lines += ["", "### Power tuning: Lambda's CPU share at each memory size (a CPU quota of memory / 1,769 MB)", ""]
    if r.get("tuning"):
        lines += ["| memory | CPU | send init | send first invocation | verify init | verify first invocation | send warm | verify warm (right code) | Lambda compute $/M | total $/M |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for mb, row in r["tuning"].items():
            c = r["tuning_cost"][mb]
            med = lambda part, name: ms(row[part][name]["median"])
            lines.append(
                f"| {mb} MB | {int(mb) / ONE_VCPU_MB:.1%} | {med('init_ms', 'send')} ms | {med('first_invocation_ms', 'send')} ms "
                f"| {med('init_ms', 'verify')} ms | {med('first_invocation_ms', 'verify')} ms | {med('warm_ms', 'send')} ms "
                f"| {med('warm_ms', 'verify, right code')} ms | {c['lambda_compute_per_million']:.2f} | {c['total_per_million']:.2f} |"
            )
        hello = ", ".join(f"{mb} MB {ms(row['init_ms']['hello']['median'])} ms" for mb, row in r["tuning"].items())
        lines += ["", f"hello-world init under the same quotas: {hello}. Medians of {r['tune_cold']} cold starts and {r['tune_n']} warm calls per size; cold starts over TLS, warm calls straight to the emulators."]
    else:
        lines.append("No CPU quota could be set on this machine (it needs root and a cgroup cpu controller): the figures above are unthrottled.")
    lines += ["", "### arm64 release binaries", ""]
    if r["sizes"]:
        lines += ["| binary | size |", "|---|---|"]
        lines += [f"| {k} | {v['bytes'] / 1e6:.2f} MB |" for k, v in r["sizes"].items()]
    else:
        lines.append("Not built in this run (`scripts/bench.sh` without `--quick` builds them).")
    c = r["cost"]
    lines += ["", "### Cost of one million successful verifications (one send, one right code), before SMS/email carriage", ""]
    lines += ["| item | USD per million |", "|---|---|"]
    lines += [f"| {k.replace('_', ' ')} | {v:.2f} |" for k, v in c["per_million"].items()]
    lines += [f"| **total** | **{c['total_per_million']:.2f}** |", f"| Twilio Verify ($0.05 per success) | {c['twilio_per_million']:,.0f} |", ""]
    lines += [f"Billed Lambda time per verification: {c['billed_ms_per_verification']:.0f} ms at 128 MB; twostep costs 1/{c['ratio']:,.0f} of Twilio Verify's fee."]
    if "webhook_total_per_million" in c:
        parts = ", ".join(f"{k.replace('_', ' ')} {v:.2f}" for k, v in c["webhook_per_million"].items())
        lines += ["", f"With a webhook (`WebhookUrl`), each verification's two events are also delivered, signed: "
                  f"${c['webhook_total_per_million']:.2f} more per million verifications ({parts}; "
                  f"{c['webhook_billed_ms']:.0f} ms billed at 128 MB)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
