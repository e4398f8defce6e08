"""The custom resource that makes the calls function's SIP media application and SIP rule
(template.yaml, CallsSetupFunction): its inline code, read from the template, run against
botocore's Stubber for each CloudFormation request, with the answer it PUTs to the
ResponseURL caught by a local HTTP server.

    .tools/sam/bin/python tests/sma_resource_test.py

Needs boto3 with the chime-sdk-voice client and PyYAML (both in .tools/sam); no network, no
AWS account.
"""

import http.server
import json
import logging
import os
import threading
import types
import unittest

import boto3
import yaml
from botocore.stub import Stubber

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMA = "1b2c3d4e-0000-4000-8000-000000000001"
NUMBER = "+15555550100"
LAMBDA = "arn:aws:lambda:us-east-1:111122223333:function:twostep-CallsFunction-AbC"


class _TagsIgnored(yaml.SafeLoader):
    """Reads template.yaml with CloudFormation's tags (!Ref, !Sub, ...) as plain values."""


_TagsIgnored.add_multi_constructor("!", lambda loader, suffix, node: None)


def load_resource_module():
    with open(os.path.join(ROOT, "template.yaml")) as f:
        template = yaml.load(f, Loader=_TagsIgnored)
    code = template["Resources"]["CallsSetupFunction"]["Properties"]["Code"]["ZipFile"]
    module = types.ModuleType("index")
    exec(compile(code, "template.yaml:CallsSetupFunction", "exec"), module.__dict__)
    return module


class _Answers(http.server.BaseHTTPRequestHandler):
    received = []

    def do_PUT(self):
        length = int(self.headers["Content-Length"])
        _Answers.received.append(
            {"path": self.path, "content_type": self.headers.get("Content-Type"),
             "body": json.loads(self.rfile.read(length))}
        )
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def rule(rule_id, number=NUMBER, disabled=False):
    return {
        "SipRuleId": rule_id,
        "Name": f"twostep-calls {number.lstrip('+')}",
        "Disabled": disabled,
        "TriggerType": "ToPhoneNumber",
        "TriggerValue": number,
        "TargetApplications": [{"SipMediaApplicationId": SMA, "Priority": 1, "AwsRegion": "us-east-1"}],
    }


def application(name="twostep-calls"):
    return {
        "SipMediaApplicationId": SMA,
        "AwsRegion": "us-east-1",
        "Name": name,
        "Endpoints": [{"LambdaArn": LAMBDA}],
        "SipMediaApplicationArn": f"arn:aws:chime:us-east-1:111122223333:sma/{SMA}",
    }


TARGETS = [{"SipMediaApplicationId": SMA, "Priority": 1, "AwsRegion": "us-east-1"}]


class SipMediaApplicationResource(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()
        cls.url = f"http://127.0.0.1:{cls.server.server_address[1]}/answer?signed=1"
        logging.disable(logging.ERROR)  # the failures the tests cause are logged with tracebacks


    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()
        logging.disable(logging.NOTSET)

    def setUp(self):
        _Answers.received.clear()
        self.module = load_resource_module()
        # the delete's retries, without waiting
        self.module.time = types.SimpleNamespace(sleep=lambda seconds: None)
        self.client = boto3.client(
            "chime-sdk-voice", region_name="us-east-1",
            aws_access_key_id="test", aws_secret_access_key="test",
        )
        self.stub = Stubber(self.client)
        self.stub.activate()
        self.module.voice = lambda: self.client

    def tearDown(self):
        self.stub.deactivate()

    def event(self, kind, physical=None, old=None, **props):
        properties = {
            "ServiceToken": "arn:aws:lambda:us-east-1:111122223333:function:setup",
            "ServiceTimeout": "300",
            "Name": "twostep-calls",
            "AwsRegion": "us-east-1",
            "LambdaArn": LAMBDA,
            "PhoneNumber": NUMBER,
        }
        properties.update(props)
        event = {
            "RequestType": kind,
            "ResponseURL": self.url,
            "StackId": "arn:aws:cloudformation:us-east-1:111122223333:stack/twostep/guid",
            "RequestId": "request-1",
            "LogicalResourceId": "CallsSipMediaApplication",
            "ResourceType": "Custom::SipMediaApplication",
            "ResourceProperties": properties,
        }
        if physical:
            event["PhysicalResourceId"] = physical
        if old is not None:
            event["OldResourceProperties"] = {**properties, **old}
        return event

    def run_event(self, event):
        self.module.handler(event, None)
        self.stub.assert_no_pending_responses()
        self.assertEqual(len(_Answers.received), 1, "one answer to CloudFormation")
        answer = _Answers.received[0]
        self.assertEqual(answer["path"], "/answer?signed=1", "the pre-signed URL as given")
        self.assertEqual(answer["content_type"], "", "no content type, as the pre-signed URL expects")
        body = answer["body"]
        for key in ("StackId", "RequestId", "LogicalResourceId"):
            self.assertEqual(body[key], event[key])
        return body

    def test_create_makes_the_application_then_the_rule(self):
        self.stub.add_response(
            "create_sip_media_application",
            {"SipMediaApplication": application()},
            {"AwsRegion": "us-east-1", "Name": "twostep-calls", "Endpoints": [{"LambdaArn": LAMBDA}]},
        )
        self.stub.add_response("list_sip_rules", {"SipRules": []}, {"SipMediaApplicationId": SMA})
        self.stub.add_response(
            "create_sip_rule",
            {"SipRule": rule("rule-1")},
            {"Name": "twostep-calls 15555550100", "TriggerType": "ToPhoneNumber",
             "TriggerValue": NUMBER, "TargetApplications": TARGETS},
        )
        body = self.run_event(self.event("Create"))
        self.assertEqual(body["Status"], "SUCCESS", body["Reason"])
        self.assertEqual(body["PhysicalResourceId"], SMA)
        self.assertEqual(body["Data"], {
            "SipMediaApplicationId": SMA,
            "SipMediaApplicationArn": f"arn:aws:chime:us-east-1:111122223333:sma/{SMA}",
            "SipRuleId": "rule-1",
        })

    def test_create_outside_the_two_regions_fails_before_any_call(self):
        body = self.run_event(self.event("Create", AwsRegion="eu-west-1"))
        self.assertEqual(body["Status"], "FAILED")
        self.assertIn("us-east-1 or us-west-2", body["Reason"])
        self.assertEqual(body["PhysicalResourceId"], "not-created")

    def test_a_refused_rule_deletes_the_new_application_and_fails(self):
        self.stub.add_response("create_sip_media_application", {"SipMediaApplication": application()})
        self.stub.add_response("list_sip_rules", {"SipRules": []}, {"SipMediaApplicationId": SMA})
        self.stub.add_client_error(
            "create_sip_rule", service_error_code="BadRequestException",
            service_message="the phone number is not SipMediaApplicationDialIn", http_status_code=400,
        )
        self.stub.add_response("list_sip_rules", {"SipRules": []}, {"SipMediaApplicationId": SMA})
        self.stub.add_response("delete_sip_media_application", {}, {"SipMediaApplicationId": SMA})
        body = self.run_event(self.event("Create"))
        self.assertEqual(body["Status"], "FAILED")
        self.assertIn("SipMediaApplicationDialIn", body["Reason"])
        self.assertEqual(body["PhysicalResourceId"], "not-created", "nothing left to delete")

    def test_a_new_number_gets_a_new_rule_and_the_old_one_goes(self):
        self.stub.add_response(
            "get_sip_media_application", {"SipMediaApplication": application()},
            {"SipMediaApplicationId": SMA},
        )
        self.stub.add_response("list_sip_rules", {"SipRules": [rule("rule-old", "+15555550199")]})
        self.stub.add_response(
            "create_sip_rule", {"SipRule": rule("rule-new")},
            {"Name": "twostep-calls 15555550100", "TriggerType": "ToPhoneNumber",
             "TriggerValue": NUMBER, "TargetApplications": TARGETS},
        )
        self.stub.add_response(
            "update_sip_rule", {"SipRule": rule("rule-old", "+15555550199", disabled=True)},
            {"SipRuleId": "rule-old", "Name": "twostep-calls 15555550199", "Disabled": True},
        )
        self.stub.add_response("delete_sip_rule", {}, {"SipRuleId": "rule-old"})
        body = self.run_event(self.event("Update", physical=SMA, old={"PhoneNumber": "+15555550199"}))
        self.assertEqual(body["Status"], "SUCCESS", body["Reason"])
        self.assertEqual(body["PhysicalResourceId"], SMA, "the application stays: no replacement")
        self.assertEqual(body["Data"]["SipRuleId"], "rule-new")

    def test_a_new_endpoint_updates_the_application_and_keeps_the_rule(self):
        new_arn = LAMBDA + "2"
        self.stub.add_response(
            "update_sip_media_application", {"SipMediaApplication": application()},
            {"SipMediaApplicationId": SMA, "Name": "twostep-calls", "Endpoints": [{"LambdaArn": new_arn}]},
        )
        self.stub.add_response("list_sip_rules", {"SipRules": [rule("rule-1")]})
        body = self.run_event(self.event("Update", physical=SMA, old={"LambdaArn": LAMBDA}, LambdaArn=new_arn))
        self.assertEqual(body["Status"], "SUCCESS", body["Reason"])
        self.assertEqual(body["Data"]["SipRuleId"], "rule-1")

    def test_a_disabled_rule_of_the_number_is_enabled_again(self):
        self.stub.add_response("get_sip_media_application", {"SipMediaApplication": application()})
        self.stub.add_response("list_sip_rules", {"SipRules": [rule("rule-1", disabled=True)]})
        self.stub.add_response(
            "update_sip_rule", {"SipRule": rule("rule-1")},
            {"SipRuleId": "rule-1", "Name": "twostep-calls 15555550100", "Disabled": False,
             "TargetApplications": TARGETS},
        )
        body = self.run_event(self.event("Update", physical=SMA, old={}))
        self.assertEqual(body["Status"], "SUCCESS", body["Reason"])

    def test_a_failed_update_keeps_the_physical_id(self):
        self.stub.add_client_error("get_sip_media_application", service_error_code="NotFoundException",
                                   http_status_code=404)
        body = self.run_event(self.event("Update", physical=SMA, old={}))
        self.assertEqual(body["Status"], "FAILED")
        self.assertEqual(body["PhysicalResourceId"], SMA, "a changed id would mean a replacement")

    def test_delete_disables_and_deletes_the_rule_before_the_application(self):
        self.stub.add_response("list_sip_rules", {"SipRules": [rule("rule-1")]}, {"SipMediaApplicationId": SMA})
        self.stub.add_response(
            "update_sip_rule", {"SipRule": rule("rule-1", disabled=True)},
            {"SipRuleId": "rule-1", "Name": "twostep-calls 15555550100", "Disabled": True},
        )
        self.stub.add_response("delete_sip_rule", {}, {"SipRuleId": "rule-1"})
        self.stub.add_client_error("delete_sip_media_application", service_error_code="ConflictException",
                                   http_status_code=409)
        self.stub.add_response("delete_sip_media_application", {}, {"SipMediaApplicationId": SMA})
        body = self.run_event(self.event("Delete", physical=SMA))
        self.assertEqual(body["Status"], "SUCCESS", body["Reason"])
        self.assertEqual(body["PhysicalResourceId"], SMA)

    def test_delete_of_what_is_gone_succeeds(self):
        self.stub.add_client_error("list_sip_rules", service_error_code="NotFoundException", http_status_code=404)
        self.stub.add_client_error("delete_sip_media_application", service_error_code="NotFoundException",
                                   http_status_code=404)
        body = self.run_event(self.event("Delete", physical=SMA))
        self.assertEqual(body["Status"], "SUCCESS", body["Reason"])

    def test_delete_after_a_failed_create_calls_nothing(self):
        body = self.run_event(self.event("Delete", physical="not-created"))
        self.assertEqual(body["Status"], "SUCCESS")


if __name__ == "__main__":
    unittest.main(verbosity=2)
