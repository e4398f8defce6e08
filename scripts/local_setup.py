"""Creates the local resources twostep needs, against DynamoDB Local and moto.

The table is created from template.yaml's own definition, so local and deployed agree, and so
are the two secrets (the code-hash key, CODE_HASH_SECRET_ID, and the authenticator key,
TOTP_KEY_SECRET_ID, default twostep-local/totp-key).
The event bus gets a rule that copies every twostep event into the log group
/twostep/local/events, where the tests and docs/integrations/events.py read them.
Idempotent: what exists is left as it is.

usage: local_setup.py TABLE_NAME [--definition-out FILE] [--template-out FILE]
"""
import json
import os
import sys

import boto3
import yaml

# Where the local event bus's rule copies every event (one log event per EventBridge event).
EVENTS_LOG_GROUP = "/twostep/local/events"
EVENTS_RULE = "twostep-local-events-to-logs"


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation YAML; an intrinsic function becomes {"!Name": argument}."""


def _any_tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {"!" + suffix: value}


_CfnLoader.add_multi_constructor("!", _any_tag)


def load_template(template_path):
    with open(template_path) as f:
        return yaml.load(f, Loader=_CfnLoader)


def table_definition(template):
    props = template["Resources"]["Table"]["Properties"]
    return {
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "GlobalSecondaryIndexes": props["GlobalSecondaryIndexes"],
        "BillingMode": props["BillingMode"],
        "TimeToLiveAttribute": props["TimeToLiveSpecification"]["AttributeName"],
        "StreamSpecification": {
            "StreamEnabled": True,
            "StreamViewType": props["StreamSpecification"]["StreamViewType"],
        },
    }


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    args = sys.argv[1:]
    table = args[0]
    template = load_template(os.path.join(root, "template.yaml"))
    definition = table_definition(template)
    if "--definition-out" in args:
        with open(args[args.index("--definition-out") + 1], "w") as f:
            json.dump(definition, f, indent=2)
    # The whole template as JSON, for the tests that read it (tests/permissions.rs).
    if "--template-out" in args:
        with open(args[args.index("--template-out") + 1], "w") as f:
            json.dump(template, f, indent=2)

    ddb = boto3.client("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL_DYNAMODB"])
    if table not in ddb.list_tables()["TableNames"]:
        create = {k: v for k, v in definition.items() if k != "TimeToLiveAttribute"}
        ddb.create_table(TableName=table, **create)
    ttl = ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
        ddb.update_time_to_live(
            TableName=table,
            TimeToLiveSpecification={"AttributeName": definition["TimeToLiveAttribute"], "Enabled": True},
        )

    sender_domain = os.environ["EMAIL_FROM"].split("@", 1)[1]
    boto3.client("sesv2").create_email_identity(EmailIdentity=sender_domain)

    secrets = boto3.client("secretsmanager")
    # The code-hash key, and the key that encrypts authenticator (TOTP) secrets: each made as
    # template.yaml makes it (64 characters, no punctuation, as {"current": ...}). An empty
    # TOTP_KEY_SECRET_ID (authenticators off) makes none.
    secret_ids = [
        os.environ["CODE_HASH_SECRET_ID"],
        os.environ.get("TOTP_KEY_SECRET_ID", "twostep-local/totp-key"),
    ]
    for secret_id in filter(None, secret_ids):
        try:
            secrets.describe_secret(SecretId=secret_id)
        except secrets.exceptions.ResourceNotFoundException:
            key = secrets.get_random_password(PasswordLength=64, ExcludePunctuation=True)["RandomPassword"]
            secrets.create_secret(Name=secret_id, SecretString=json.dumps({"current": key}))

    events_to_logs(os.environ["EVENT_BUS_NAME"])
    if os.environ.get("WEBHOOK_QUEUE_URL"):
        webhook(template, os.environ["EVENT_BUS_NAME"], secrets)


def webhook(template, bus, secrets):
    """The webhook's secret, queue and dead-letter queue, and the rule from the bus to the
    queue, as template.yaml makes them (WebhookSecret, WebhookQueue, WebhookRule). The
    queue's maxReceiveCount is one more than the waits of WEBHOOK_RETRY_SECONDS, as the
    template's is for its schedule."""
    secret_id = os.environ["WEBHOOK_SECRET_ID"]
    generate = template["Resources"]["WebhookSecret"]["Properties"]["GenerateSecretString"]
    try:
        secrets.describe_secret(SecretId=secret_id)
    except secrets.exceptions.ResourceNotFoundException:
        key = secrets.get_random_password(
            PasswordLength=generate["PasswordLength"], ExcludePunctuation=generate["ExcludePunctuation"]
        )["RandomPassword"]
        secrets.create_secret(Name=secret_id, SecretString=json.dumps({generate["GenerateStringKey"]: key}))
    sqs = boto3.client("sqs")
    name = os.environ["WEBHOOK_QUEUE_URL"].rstrip("/").rsplit("/", 1)[1]
    dead = sqs.create_queue(QueueName=f"{name}-dead-letters")["QueueUrl"]
    dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    attempts = len(os.environ["WEBHOOK_RETRY_SECONDS"].split(",")) + 1
    queue = sqs.create_queue(
        QueueName=name,
        Attributes={
            # Short, so that a batch the function failed as a whole comes back soon locally.
            "VisibilityTimeout": "5",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dead_arn, "maxReceiveCount": str(attempts)}),
        },
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = boto3.client("events")
    rule = template["Resources"]["WebhookRule"]["Properties"]
    events.put_rule(Name=f"{name}-rule", EventBusName=bus, EventPattern=json.dumps(rule["EventPattern"]))
    events.put_targets(Rule=f"{name}-rule", EventBusName=bus, Targets=[{"Id": "webhook-queue", "Arn": queue_arn}])


def events_to_logs(bus):
    """The bus, and a rule on it that copies each twostep event into EVENTS_LOG_GROUP."""
    events = boto3.client("events")
    try:
        events.describe_event_bus(Name=bus)
    except events.exceptions.ResourceNotFoundException:
        events.create_event_bus(Name=bus)
    logs = boto3.client("logs")
    try:
        logs.create_log_group(logGroupName=EVENTS_LOG_GROUP)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    region = logs.meta.region_name
    account = boto3.client("sts").get_caller_identity()["Account"]
    # put_rule and put_targets overwrite: running twice leaves one rule with one target.
    events.put_rule(Name=EVENTS_RULE, EventBusName=bus, EventPattern=json.dumps({"source": ["twostep"]}))
    events.put_targets(
        Rule=EVENTS_RULE,
        EventBusName=bus,
        Targets=[{"Id": "local-log", "Arn": f"arn:aws:logs:{region}:{account}:log-group:{EVENTS_LOG_GROUP}"}],
    )


if __name__ == "__main__":
    main()
