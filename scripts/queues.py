"""The local stand-in for Lambda's SQS event source mapping (the webhook queue).

In AWS, Lambda polls WebhookQueue and invokes the webhooks function with batches of messages
(template.yaml, WebhookFunction's Queue event, ReportBatchItemFailures). Locally this script
does it against moto's SQS: it receives up to BatchSize messages with their attributes,
invokes the function through `cargo lambda watch`'s Invoke API with the event Lambda sends,
and deletes the messages the function took. A message named in `batchItemFailures` (or every
message of a batch whose invocation failed) stays: it comes back when its visibility timeout
ends (the function sets it to the back-off), and after maxReceiveCount receives moto's redrive
moves it to the dead-letter queue, as SQS does.

Usage: queues.py QUEUE_URL SQS_URL INVOKE_URL TEMPLATE_JSON
"""

import hashlib
import json
import sys
import time

import boto3

from lambda_invoke import invoke


def batch_size(template_path):
    with open(template_path) as f:
        template = json.load(f)
    props = template["Resources"]["WebhookFunction"]["Properties"]["Events"]["Queue"]["Properties"]
    return int(props.get("BatchSize", 10))


def lambda_record(message, arn, region):
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(message["Body"].encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": region,
    }


def main():
    queue_url, sqs_url, invoke_url, template_path = sys.argv[1:5]
    size = batch_size(template_path)
    sqs = boto3.client("sqs", endpoint_url=sqs_url)
    region = sqs.meta.region_name
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    print(f"polling {arn}", flush=True)
    while True:
        out = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=size, WaitTimeSeconds=1, AttributeNames=["All"]
        )
        messages = out.get("Messages", [])
        if not messages:
            continue
        failed, error = invoke(invoke_url, [lambda_record(m, arn, region) for m in messages])
        if error is not None:
            print(f"{len(messages)} messages back after their visibility timeout: {error}", flush=True)
            continue
        failed = set(failed)
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start : start + 10])],
            )
        print(f"delivered {len(done)}, to try again {len(failed)}", flush=True)
        time.sleep(0)


if __name__ == "__main__":
    main()
