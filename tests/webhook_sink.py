#!/usr/bin/env python3
"""A merchant's webhook receiver for the integration tests: a real HTTP server that verifies every
delivery with the `standardwebhooks` package (the specification's own library, not cardhook's code)
and records what arrived, in order.

- POST /hook: a delivery. Verified (webhook-id, webhook-timestamp, webhook-signature over the raw
  body, the test's whsec_ secret); a bad one is answered 401 and recorded as refused. A verified one
  is answered as the control says: the next status of `plan` (then 200), 503 while `down`, after
  `delay` seconds (a 3xx with a Location back to /hook). Every verified attempt is recorded with
  the status it got.
- GET /attempts: [{"id","seq","type","status","start","end"}...] in the order they were answered
  (status 200 = delivered; start and end: when the request arrived and was answered, monotonic).
- GET /refused: the deliveries whose signature did not verify, and why.
- POST /control: {"plan": [500, ...], "down": bool, "delay": seconds}.

Environment: WEBHOOK_SECRET. Prints the port it listens on.
"""

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import standardwebhooks

WEBHOOK = standardwebhooks.Webhook(os.environ["WEBHOOK_SECRET"])

lock = threading.Lock()
attempts = []
refused = []
control = {"plan": [], "down": False, "delay": 0.0}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, value):
        body = json.dumps(value).encode()
        self.send_response(status)
        if 300 <= status < 400:
            # Where a client that follows redirects would POST the delivery again (and be recorded).
            self.send_header("Location", "/hook/redirected")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with lock:
            if self.path == "/attempts":
                return self.answer(200, attempts)
            if self.path == "/refused":
                return self.answer(200, refused)
        self.answer(404, {})

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/control":
            with lock:
                control.update(json.loads(body))
            return self.answer(200, control)
        if not self.path.startswith("/hook"):
            return self.answer(404, {})
        start = time.monotonic()
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            event = WEBHOOK.verify(body, headers)
        except Exception as e:  # the library raises WebhookVerificationError (and others) on a bad one
            with lock:
                refused.append(str(e))
            return self.answer(401, {"error": "signature"})
        if headers.get("webhook-id") != event.get("id"):
            with lock:
                refused.append("webhook-id is not the event's id")
            return self.answer(400, {"error": "id"})
        with lock:
            delay = control["delay"]
            if control["down"]:
                status = 503
            elif control["plan"]:
                status = control["plan"].pop(0)
            else:
                status = 200
        if delay:
            time.sleep(delay)
        with lock:
            attempts.append({"id": event["id"], "seq": event["seq"], "type": event["type"], "status": status,
                             "appid": event["appid"], "start": start, "end": time.monotonic()})
        self.answer(status, {})


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
