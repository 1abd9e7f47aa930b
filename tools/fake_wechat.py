#!/usr/bin/env python3
"""A stand-in WeChat API for trying cardhook's activation worker without a real Official Account.

Standard library only. Serves the documented JSON of /cgi-bin/stable_token, /cgi-bin/token,
/card/membercard/activate and /card/membercard/userinfo/get (shared/reference §4, §5), and can
inject failures: the first N activations answer an errcode, or answer late (past cardhook's
timeout). Prints one line per request. Not used by the test suite (it has its own fake).

    python3 tools/fake_wechat.py --port 9000 --fail-first 2 --errcode -1
"""
import argparse
import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

state = {"activations": 0, "active": set()}


def make_handler(args):
    class Handler(BaseHTTPRequestHandler):
        def answer(self, body):
            data = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if urlparse(self.path).path == "/cgi-bin/token":
                print("GET /cgi-bin/token", flush=True)
                return self.answer({"access_token": "STAND_IN_TOKEN", "expires_in": 7200})
            self.answer({"errcode": 40001, "errmsg": "unknown path"})

        def do_POST(self):
            route = urlparse(self.path).path
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            if route == "/cgi-bin/stable_token":
                print("POST /cgi-bin/stable_token appid=%s" % body.get("appid"), flush=True)
                return self.answer({"access_token": "STAND_IN_TOKEN", "expires_in": 7200})
            if route == "/card/membercard/activate":
                if args.latency_ms:
                    time.sleep(args.latency_ms / 1000.0)
                state["activations"] += 1
                n = state["activations"]
                if not args.quiet:
                    print("POST activate #%d %s" % (n, json.dumps(body, ensure_ascii=False)), flush=True)
                if n <= args.fail_first:
                    if args.delay:
                        time.sleep(args.delay)
                    else:
                        return self.answer({"errcode": args.errcode, "errmsg": "injected by fake_wechat.py"})
                state["active"].add((body.get("card_id"), body.get("code")))
                return self.answer({"errcode": 0, "errmsg": "ok"})
            if route == "/card/membercard/userinfo/get":
                active = (body.get("card_id"), body.get("code")) in state["active"]
                return self.answer({"errcode": 0, "errmsg": "ok", "has_active": active, "user_card_status": "NORMAL"})
            self.answer({"errcode": 40001, "errmsg": "unknown path"})

        def log_message(self, *_):
            pass

    return Handler


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=9000)
    p.add_argument("--fail-first", type=int, default=0, help="the first N activations fail")
    p.add_argument("--errcode", type=int, default=-1, help="errcode of the injected failures (-1, 45011, 40001, 40056, ...)")
    p.add_argument("--delay", type=float, default=0, help="instead of an errcode, answer the failing activations after this many seconds")
    p.add_argument("--latency-ms", type=float, default=0, help="every activation answers after this many milliseconds")
    p.add_argument("--quiet", action="store_true", help="do not print each activation")
    args = p.parse_args()
    ThreadingHTTPServer.request_queue_size = 128
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(args))
    print("stand-in WeChat API on http://127.0.0.1:%d" % args.port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
