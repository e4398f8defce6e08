"""Invokes a function through `cargo lambda watch`'s Invoke API with an event-source batch, as
Lambda's event source mappings do (scripts/streams.py, scripts/queues.py)."""

import json
import urllib.error
import urllib.request


def invoke(url, records):
    """The item identifiers the function named in `batchItemFailures`, and None; or None and
    why the whole invocation failed."""
    body = json.dumps({"Records": records}).encode()
    request = urllib.request.Request(url, data=body, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            answer = json.loads(response.read() or b"{}")
    except (urllib.error.URLError, OSError, ValueError) as e:
        return None, f"invoke failed: {e}"
    if not isinstance(answer, dict) or "errorType" in answer or "errorMessage" in answer:
        return None, f"function error: {answer}"
    return [f["itemIdentifier"] for f in answer.get("batchItemFailures") or []], None
