"""The local stand-in for Lambda's DynamoDB stream event source mapping.

In AWS, Lambda reads the table's stream and invokes the events function with batches of
records (template.yaml, EventsFunction's Stream event). Locally this script does it: it reads
DynamoDB Local's stream of the table, keeps the records that the template's FilterCriteria
keep, and invokes the function through `cargo lambda watch`'s Invoke API with the same event
Lambda sends. Like Lambda with ReportBatchItemFailures, it goes on in order: a record the
function names in `batchItemFailures` (or every record of a batch that failed) is delivered
again, with a back-off, until the function takes it.

Usage: streams.py TABLE DYNAMODB_URL INVOKE_URL TEMPLATE_JSON
"""

import base64
import datetime
import json
import sys
import time

import boto3

from lambda_invoke import invoke


def lambda_form(value):
    """boto3's decoded record back into the JSON Lambda delivers (binary as base64, times as
    unix seconds)."""
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, datetime.datetime):
        return int(value.timestamp())
    if isinstance(value, dict):
        return {k: lambda_form(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [lambda_form(v) for v in value]
    return value


def leaf_matches(want, present, value):
    if isinstance(want, dict):
        if "exists" in want:
            return present == want["exists"]
        if "prefix" in want:
            return present and isinstance(value, str) and value.startswith(want["prefix"])
        raise ValueError(f"a filter this stand-in does not implement: {want}")
    return present and value == want


def matches(pattern, event):
    """Lambda's event filtering, for the forms the template uses: nested objects, lists of
    values, prefix and exists."""
    for key, want in pattern.items():
        present = isinstance(event, dict) and key in event
        value = event.get(key) if present else None
        if isinstance(want, dict):
            if not present or not matches(want, value):
                return False
        elif not any(leaf_matches(w, present, value) for w in want):
            return False
    return True


def mapping(template_path):
    with open(template_path) as f:
        template = json.load(f)
    props = template["Resources"]["EventsFunction"]["Properties"]["Events"]["Stream"]["Properties"]
    patterns = [json.loads(f["Pattern"]) for f in props.get("FilterCriteria", {}).get("Filters", [])]
    return patterns, int(props.get("BatchSize", 100))


def main():
    table, ddb_url, invoke_url, template_path = sys.argv[1:5]
    patterns, batch_size = mapping(template_path)
    ddb = boto3.client("dynamodb", endpoint_url=ddb_url)
    streams = boto3.client("dynamodbstreams", endpoint_url=ddb_url)
    arn = None
    while arn is None:
        arn = ddb.describe_table(TableName=table)["Table"].get("LatestStreamArn")
        if arn is None:
            time.sleep(0.5)
    print(f"reading {arn}", flush=True)
    iterators = {}  # shard id -> next iterator (None once the shard is closed and read)
    backlog = {}  # shard id -> records kept by the filters, not yet taken by the function
    backoff = {}  # shard id -> (seconds, not before)
    last_describe = 0.0
    while True:
        now = time.monotonic()
        if now - last_describe > 1.0:
            last_describe = now
            for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
                sid = shard["ShardId"]
                if sid not in iterators:
                    iterators[sid] = streams.get_shard_iterator(
                        StreamArn=arn, ShardId=sid, ShardIteratorType="TRIM_HORIZON"
                    )["ShardIterator"]
                    backlog[sid] = []
        busy = False
        for sid, iterator in list(iterators.items()):
            if iterator is not None and len(backlog[sid]) < batch_size:
                out = streams.get_records(ShardIterator=iterator, Limit=batch_size)
                iterators[sid] = out.get("NextShardIterator")
                for record in out.get("Records", []):
                    event = lambda_form(record)
                    event["eventSourceARN"] = arn
                    if not patterns or any(matches(p, event) for p in patterns):
                        backlog[sid].append(event)
            wait, not_before = backoff.get(sid, (0, 0))
            if not backlog[sid] or time.monotonic() < not_before:
                continue
            busy = True
            batch = backlog[sid][:batch_size]
            failed, error = invoke(invoke_url, batch)
            if error is None and not failed:
                del backlog[sid][: len(batch)]
                backoff.pop(sid, None)
                print(f"{sid}: delivered {len(batch)}", flush=True)
                continue
            if error is None:
                # Done up to the first record named; from it on, again.
                sequence = [r["dynamodb"]["SequenceNumber"] for r in batch]
                first = min(sequence.index(s) for s in failed if s in sequence) if any(
                    s in sequence for s in failed
                ) else 0
                del backlog[sid][:first]
                error = f"{len(batch) - first} records to deliver again from {sequence[first]}"
            wait = min(max(wait * 2, 0.5), 5.0)
            backoff[sid] = (wait, time.monotonic() + wait)
            print(f"{sid}: {error}; again in {wait} s", flush=True)
        if not busy:
            time.sleep(0.2)


if __name__ == "__main__":
    main()
