#!/usr/bin/env python3
"""A stand-in WeChat API for trying cardhook's activation worker and H5 activation page without a real
Official Account.

Standard library only. Serves the documented JSON of /cgi-bin/stable_token, /cgi-bin/token,
/card/membercard/activate, /card/membercard/updateuser (points and balance kept per code, absolute values,
each change message printed), /card/membercard/userinfo/get (those values, and a one-click form whose mobile
number is --form-mobile), /card/code/decrypt (the code is the encrypt_code without its "ENC" prefix), /card/code/get
(held by --holder), /sns/oauth2/access_token (every code is --holder's) and WeChat's authorize page
/connect/oauth2/authorize (straight back to redirect_uri, as snsapi_base does) (shared/reference §4, §5, 002),
and can inject failures: the first N activations answer an errcode, or answer late (past cardhook's
timeout). Prints one line per request. Not used by the test suite (it has its own fake).

    python3 tools/fake_wechat.py --port 9000 --fail-first 2 --errcode -1
    # the H5 page: wechat.api_base and wechat.oauth_base = http://127.0.0.1:9000, then open in a browser
    # http://127.0.0.1:8080/h5/<appid>/activate?card_id=<an h5 card>&encrypt_code=ENC123456
"""
import argparse
import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

state = {"activations": 0, "active": set(), "shown": {}}


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
            url = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/cgi-bin/token":
                print("GET /cgi-bin/token", flush=True)
                return self.answer({"access_token": "STAND_IN_TOKEN", "expires_in": 7200})
            if url.path == "/connect/oauth2/authorize":
                print("GET authorize (snsapi_base): back to redirect_uri", flush=True)
                back = query.get("redirect_uri", "") + "?" + urlencode({"code": "STAND_IN_OAUTH_CODE", "state": query.get("state", "")})
                self.send_response(302)
                self.send_header("Location", back)
                self.send_header("Content-Length", "0")
                return self.end_headers()
            if url.path == "/sns/oauth2/access_token":
                print("GET /sns/oauth2/access_token", flush=True)
                return self.answer({"access_token": "WEB_TOKEN", "expires_in": 7200, "refresh_token": "R",
                                    "openid": args.holder, "scope": "snsapi_base"})
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
                card = (body.get("card_id"), body.get("code"))
                state["active"].add(card)
                state["shown"][card] = (body.get("init_bonus", 0), body.get("init_balance", 0))
                return self.answer({"errcode": 0, "errmsg": "ok"})
            if route == "/card/membercard/updateuser":
                card = (body.get("card_id"), body.get("code"))
                if card not in state["shown"]:
                    return self.answer({"errcode": 40056, "errmsg": "invalid serial code"})
                bonus, balance = state["shown"][card]
                bonus, balance = body.get("bonus", bonus), body.get("balance", balance)
                state["shown"][card] = (bonus, balance)
                notify = body.get("notify_optional", {})
                print("POST updateuser: now %d points, %d fen; message: %+d points%s, %+d fen%s" % (
                    bonus, balance, body.get("add_bonus", 0), "" if notify.get("is_notify_bonus") else " (silent)",
                    body.get("add_balance", 0), "" if notify.get("is_notify_balance") else " (silent)"), flush=True)
                return self.answer({"errcode": 0, "errmsg": "ok", "result_bonus": bonus, "result_balance": balance,
                                    "openid": args.holder})
            if route == "/card/membercard/userinfo/get":
                card = (body.get("card_id"), body.get("code"))
                bonus, balance = state["shown"].get(card, (0, 0))
                form = [{"name": "USER_FORM_INFO_FLAG_MOBILE", "value": args.form_mobile}] if args.form_mobile else []
                return self.answer({"errcode": 0, "errmsg": "ok", "has_active": card in state["active"],
                                    "bonus": bonus, "balance": balance, "user_card_status": "NORMAL",
                                    "user_info": {"common_field_list": form, "custom_field_list": []}})
            if route == "/card/code/decrypt":
                code = str(body.get("encrypt_code", "")).removeprefix("ENC")
                return self.answer({"errcode": 0, "errmsg": "ok", "code": code})
            if route == "/card/code/get":
                return self.answer({"errcode": 0, "errmsg": "ok", "card": {"card_id": body.get("card_id")},
                                    "openid": args.holder, "can_consume": True, "user_card_status": "NORMAL"})
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
    p.add_argument("--holder", default="oStandInCustomer", help="the OpenID of every card code and OAuth2 code")
    p.add_argument("--form-mobile", default="13800138000", help="the mobile number of every one-click form ('' for none)")
    args = p.parse_args()
    ThreadingHTTPServer.request_queue_size = 128
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(args))
    print("stand-in WeChat API on http://127.0.0.1:%d" % args.port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
