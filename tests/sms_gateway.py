#!/usr/bin/env python3
"""A fake SMS provider for the integration tests: a real HTTP server that checks every request the
way the real one would, with independent implementations, and records the codes it was asked to
send (the test reads them back, as a customer reads their phone).

- POST /: Tencent Cloud SMS `SendSms` (API 3.0, 2021-01-11). The TC3-HMAC-SHA256
  `Authorization` is recomputed with the official Python SDK's signing (`tencentcloud-sdk-python-
  common`: `Sign.sign_tc3`, over the canonical request its `AbstractClient` builds) and the test's
  secret; a wrong one is answered as Tencent does (`AuthFailure.SignatureFailure`).
- POST /webhook: the merchant's own gateway, signed as Standard Webhooks are; verified with the
  `standardwebhooks` package (the specification's own library) and the test's `whsec_` secret.
- GET /sent: the messages accepted, in order; GET /refused: the requests refused, and why.
- POST /control: {"fail": true|false, "delay": seconds} — answer the next sends with an error, or late.

Environment: TENCENT_SECRET_ID, TENCENT_SECRET_KEY, WEBHOOK_SECRET. Prints the port it listens on.
"""

import hashlib
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import standardwebhooks
from tencentcloud.common.sign import Sign

SECRET_ID = os.environ["TENCENT_SECRET_ID"]
SECRET_KEY = os.environ["TENCENT_SECRET_KEY"]
WEBHOOK_SECRET = os.environ["WEBHOOK_SECRET"]

lock = threading.Lock()
sent = []
refused = []
control = {"fail": False, "delay": 0.0}


def tencent_signature(headers, body, timestamp, date):
    """What the SDK's `_get_tc3_signature` computes for this POST."""
    payload_hash = hashlib.sha256(body).hexdigest()
    canonical_headers = "content-type:%s\nhost:%s\n" % (headers.get("Content-Type"), headers.get("Host"))
    canonical = "POST\n/\n\n%s\ncontent-type;host\n%s" % (canonical_headers, payload_hash)
    scope = date + "/sms/tc3_request"
    to_sign = "TC3-HMAC-SHA256\n%s\n%s\n%s" % (timestamp, scope, hashlib.sha256(canonical.encode()).hexdigest())
    return Sign.sign_tc3(SECRET_KEY, date, "sms", to_sign)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, value):
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def refuse(self, why):
        with lock:
            refused.append(why)

    def do_GET(self):
        with lock:
            if self.path == "/sent":
                return self.answer(200, sent)
            if self.path == "/refused":
                return self.answer(200, refused)
        self.answer(404, {})

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/control":
            with lock:
                control.update(json.loads(body))
            return self.answer(200, control)
        with lock:
            fail, delay = control["fail"], control["delay"]
        if delay:
            time.sleep(delay)
        if self.path == "/":
            return self.tencent(body, fail)
        if self.path.startswith("/webhook"):
            return self.webhook(body, fail)
        self.answer(404, {})

    def tencent(self, body, fail):
        h = self.headers
        timestamp = h.get("X-TC-Timestamp", "")
        try:
            date = time.strftime("%Y-%m-%d", time.gmtime(int(timestamp)))
        except ValueError:
            self.refuse("tencent: bad X-TC-Timestamp")
            return self.answer(200, {"Response": {"Error": {"Code": "MissingParameter"}, "RequestId": "r"}})
        expected = "TC3-HMAC-SHA256 Credential=%s/%s/sms/tc3_request, SignedHeaders=content-type;host, Signature=%s" % (
            SECRET_ID, date, tencent_signature(h, body, timestamp, date))
        checks = [
            (h.get("Authorization") == expected, "tencent: signature"),
            (h.get("X-TC-Action") == "SendSms", "tencent: X-TC-Action"),
            (h.get("X-TC-Version") == "2021-01-11", "tencent: X-TC-Version"),
            (abs(time.time() - int(timestamp)) < 300, "tencent: stale timestamp"),
        ]
        for ok, why in checks:
            if not ok:
                self.refuse(why)
                return self.answer(200, {"Response": {"Error": {"Code": "AuthFailure.SignatureFailure",
                                                                 "Message": why}, "RequestId": "r"}})
        request = json.loads(body)
        phone = request["PhoneNumberSet"][0]
        if fail:
            return self.answer(200, {"Response": {"SendStatusSet": [{"PhoneNumber": phone, "Code": "FailedOperation.InsufficientBalanceInSmsPackage",
                                                                     "Message": "insufficient balance"}], "RequestId": "r"}})
        with lock:
            sent.append({"via": "tencent", "phone": phone, "code": request["TemplateParamSet"][0],
                         "minutes": request["TemplateParamSet"][1], "sdk_app_id": request["SmsSdkAppId"],
                         "sign_name": request["SignName"], "template_id": request["TemplateId"]})
        self.answer(200, {"Response": {"SendStatusSet": [{"SerialNo": "2028:1", "PhoneNumber": phone, "Fee": 1,
                                                          "SessionContext": "", "Code": "Ok", "Message": "send success",
                                                          "IsoCode": "CN"}], "RequestId": "r"}})

    def webhook(self, body, fail):
        try:
            payload = standardwebhooks.Webhook(WEBHOOK_SECRET).verify(body, dict(self.headers))
        except Exception as e:  # the library's own refusal
            self.refuse("webhook: %s" % e)
            return self.answer(401, {"error": "bad signature"})
        if fail:
            return self.answer(500, {"error": "gateway down"})
        with lock:
            sent.append({"via": "webhook", "phone": payload["phone"], "code": payload["code"],
                         "ttl_seconds": payload["ttl_seconds"], "appid": payload["appid"],
                         "webhook_id": self.headers.get("webhook-id")})
        self.answer(200, {"ok": True})


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
