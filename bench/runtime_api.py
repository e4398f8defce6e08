"""A local Lambda Runtime API: the protocol a Lambda function's runtime loop speaks
(https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html), served for one process
so that scripts/bench.sh can time it the way Lambda reports it.

- Init duration: from just before the process is started until it first asks
  `GET /2018-06-01/runtime/invocation/next` (Lambda's "Init Duration" ends there too).
- Invocation duration: from the moment the event is written to the runtime until its
  `POST .../invocation/{id}/response` (or `/error`) arrives.
"""
import itertools
import json
import queue
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A run ends by killing the function's process, which is waiting on `next`: its
        # connection resets. Nothing to report.
        pass


def now_ns():
    return time.perf_counter_ns()


class Invocation:
    def __init__(self, request_id, payload):
        self.request_id = request_id
        self.payload = payload
        self.sent_ns = None
        self.done_ns = None
        self.error = False
        self.body = b""
        self.done = threading.Event()

    @property
    def ms(self):
        return (self.done_ns - self.sent_ns) / 1e6

    def json(self):
        return json.loads(self.body or b"null")


class RuntimeApi:
    """One Runtime API server for one function process."""

    def __init__(self, function_name="bench"):
        self.function_name = function_name
        self.events = queue.Queue()
        self.invocations = {}
        self.ids = itertools.count(1)
        self.first_next_ns = None
        self.ready = threading.Event()
        self.init_error = None
        self.closed = False
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body are two writes: no Nagle delay between them.
            disable_nagle_algorithm = True

            def log_message(self, *_args):
                pass

            def reply(self, status, body=b"", headers=()):
                self.send_response_only(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()

            def do_GET(self):
                arrived = now_ns()
                if self.path != f"{PREFIX}/invocation/next":
                    return self.reply(404, b'{"errorType":"NotFound"}')
                if api.first_next_ns is None:
                    api.first_next_ns = arrived
                    api.ready.set()
                while True:
                    try:
                        invocation = api.events.get(timeout=0.2)
                        break
                    except queue.Empty:
                        if api.closed:
                            self.close_connection = True
                            return
                deadline = int(time.time() * 1000) + 30_000
                headers = [
                    ("Lambda-Runtime-Aws-Request-Id", invocation.request_id),
                    ("Lambda-Runtime-Deadline-Ms", str(deadline)),
                    (
                        "Lambda-Runtime-Invoked-Function-Arn",
                        f"arn:aws:lambda:us-east-1:123456789012:function:{api.function_name}",
                    ),
                    ("Lambda-Runtime-Trace-Id", f"Root=1-00000000-{invocation.request_id:0>24};Sampled=0"),
                ]
                # Stamped before the write: the answer may arrive before this thread runs again.
                invocation.sent_ns = now_ns()
                self.reply(200, invocation.payload, headers)

            def do_POST(self):
                arrived = now_ns()
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = self.path[len(PREFIX):].strip("/").split("/")
                if parts == ["init", "error"]:
                    api.init_error = body.decode("utf-8", "replace")
                    api.ready.set()
                    return self.reply(202, b'{"status":"OK"}')
                if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                    invocation = api.invocations.get(parts[1])
                    if invocation is None:
                        return self.reply(400, b'{"errorType":"InvalidRequestID"}')
                    invocation.done_ns = arrived
                    invocation.error = parts[2] == "error"
                    invocation.body = body
                    self.reply(202, b'{"status":"OK"}')
                    invocation.done.set()
                    return
                self.reply(404, b'{"errorType":"NotFound"}')

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.process = None
        self.started_ns = None

    def lambda_env(self, memory_mb=128):
        """The variables Lambda sets for a function's process."""
        return {
            "AWS_LAMBDA_RUNTIME_API": self.address,
            "AWS_LAMBDA_FUNCTION_NAME": self.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
            "AWS_LAMBDA_LOG_FORMAT": "JSON",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        }

    def start(self, command, env, log):
        """Starts the function's process; returns its init duration in ms."""
        full_env = dict(env)
        full_env.update(self.lambda_env())
        self.started_ns = now_ns()
        self.process = subprocess.Popen(command, env=full_env, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        while not self.ready.wait(0.01):
            if self.process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited with {self.process.returncode} before asking for work")
            if (now_ns() - self.started_ns) > 30e9:
                raise RuntimeError(f"{command[0]} did not ask for work within 30 s")
        if self.init_error is not None:
            raise RuntimeError(f"{command[0]} reported an init error: {self.init_error}")
        return (self.first_next_ns - self.started_ns) / 1e6

    def invoke(self, event, timeout=30):
        payload = event if isinstance(event, bytes) else json.dumps(event).encode()
        invocation = Invocation(f"req-{next(self.ids)}", payload)
        self.invocations[invocation.request_id] = invocation
        self.events.put(invocation)
        if not invocation.done.wait(timeout):
            raise RuntimeError(f"{self.function_name}: no answer within {timeout} s")
        return invocation

    def peak_rss_kb(self):
        """The process's peak resident set (VmHWM), in KiB."""
        with open(f"/proc/{self.process.pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return None

    def stop(self):
        self.closed = True
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.server.shutdown()
        self.server.server_close()


def percentile(values, p):
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def summary(values):
    return {
        "n": len(values),
        "min": min(values),
        "median": percentile(values, 50),
        "p99": percentile(values, 99),
        "max": max(values),
    }

