#!/usr/bin/env python3
"""A stand-in WeChat API for trying cardhook's activation worker and H5 activation page without a real
Official Account, and for tools/api-check (every admin route gets a success answer).

Standard library only. Serves the documented JSON of /cgi-bin/stable_token, /cgi-bin/token,
/card/membercard/activate, /card/membercard/updateuser (points and balance kept per code, absolute values,
each change message printed), /card/membercard/userinfo/get (those values, and a one-click form whose mobile
number is --form-mobile), /card/code/decrypt (the code is the encrypt_code without its "ENC" prefix), /card/code/get
(held by --holder), /sns/oauth2/access_token (every code is --holder's) and WeChat's authorize page
/connect/oauth2/authorize (straight back to redirect_uri, as snsapi_base does) (shared/reference §4, §5, 002),
and can inject failures: the first N activations answer an errcode, or answer late (past cardhook's
timeout). Prints one line per request. Not used by the test suite (it has its own fake).

Also answers, always with success (shared/reference §5.4, §8, §11):
  cards        /cgi-bin/media/uploadimg, /card/create, /card/get (a card never created is a MEMBER_CARD
               "Stand-in member card" of stock 100; every card passes review), /card/modifystock,
               /card/update, /card/batchget, /card/delete, /card/membercard/activateuserform/set
  codes        /card/code/consume (card_id as asked, else STAND_IN_CARD; held by --holder; never refused),
               /card/code/unavailable, /card/code/update, /card/code/deposit, /card/code/getdepositcount,
               /card/code/checkcode (deposited codes kept per card)
  channels     /card/qrcode/create, /card/landingpage/create, /card/testwhitelist/set, /card/mpnews/gethtml,
               /cgi-bin/qrcode/create (follow QR codes)
  messages     /cgi-bin/message/custom/send, /cgi-bin/message/mass/sendall, /mass/send, /mass/preview
  tickets      GET /cgi-bin/ticket/getticket?type=wx_card|jsapi (the reference's example tickets, §8.5)
Created card ids, QR tickets, landing page ids, image URLs and msg_ids take the next number of one counter
(from 1 each run); the card's /card/get then answers the body it was created with.

    python3 tools/fake_wechat.py --port 9000 --fail-first 2 --errcode -1
    # the H5 page: wechat.api_base and wechat.oauth_base = http://127.0.0.1:9000, then open in a browser
    # http://127.0.0.1:8080/h5/<appid>/activate?card_id=<an h5 card>&encrypt_code=ENC123456
"""
import argparse
import copy
import itertools
import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlencode, urlparse

state = {"activations": 0, "active": set(), "shown": {}, "cards": {}, "deposited": {}}
serial = itertools.count(1)  # next() is atomic: one counter for every id handed out

# The card of a code when the caller names none, and the tickets of reference §8.5's worked examples.
STAND_IN_CARD = "pStandInCard"
TICKETS = {"wx_card": "ojZ8YtyVyr30HheH3CM73y7h4jJE",
           "jsapi": "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg"}
# Answered {"errcode": 0, "errmsg": "ok"} and nothing else.
PLAIN_OK = {"/card/update", "/card/delete", "/card/membercard/activateuserform/set", "/card/code/unavailable",
            "/card/code/update", "/card/testwhitelist/set", "/cgi-bin/message/custom/send"}
MASS = {"/cgi-bin/message/mass/sendall", "/cgi-bin/message/mass/send", "/cgi-bin/message/mass/preview"}


def base_info(card):
    return card[card["card_type"].lower()]["base_info"]


def stored_card(card_id):
    """The card as the fake holds it; a card never created is a member card of stock 100."""
    return state["cards"].setdefault(card_id, {"card_type": "MEMBER_CARD", "member_card": {
        "base_info": {"title": "Stand-in member card", "brand_name": "Stand-in", "sku": {"quantity": 100}},
        "supply_bonus": True, "supply_balance": False, "prerogative": "Stand-in"}})


def card_api(route, body, holder):
    """The documented success answer of a card, channel or message API (without the envelope), or None."""
    card_id, codes = body.get("card_id") or STAND_IN_CARD, body.get("code")
    if route in PLAIN_OK:
        return {}
    if route in MASS:
        return {"errmsg": "send job submission success", "msg_id": next(serial), "msg_data_id": 206227730}
    if route == "/card/create":
        card = copy.deepcopy(body.get("card"))
        try:
            base_info(card)["status"] = "CARD_STATUS_VERIFY_OK"
        except (KeyError, TypeError, AttributeError):
            return {"errcode": 41011, "errmsg": "missing required field: card.<card_type>.base_info"}
        new_id = "pStandInCreated%06d" % next(serial)
        state["cards"][new_id] = card
        return {"card_id": new_id}
    if route == "/card/get":
        card = copy.deepcopy(stored_card(card_id))
        base_info(card)["id"] = card_id
        base_info(card).setdefault("status", "CARD_STATUS_VERIFY_OK")
        return {"card": card}
    if route == "/card/modifystock":
        sku = base_info(stored_card(card_id)).setdefault("sku", {})
        sku["quantity"] = max(0, sku.get("quantity", 0) + int(body.get("increase_stock_value", 0))
                              - int(body.get("reduce_stock_value", 0)))
        return {}
    if route == "/card/batchget":
        ids = list(state["cards"])[int(body.get("offset", 0)):][:int(body.get("count", 50))]
        return {"card_id_list": ids, "total_num": len(state["cards"])}
    if route == "/card/code/consume":
        return {"card": {"card_id": card_id}, "openid": holder}
    if route in ("/card/code/deposit", "/card/code/checkcode"):
        if not isinstance(codes, list) or not 0 < len(codes) <= 100:
            return {"errcode": 40109, "errmsg": "code count is 0 or more than 100"}
        held = state["deposited"].setdefault(card_id, set())
        if route == "/card/code/checkcode":
            return {"exist_code": [c for c in codes if c in held], "not_exist_code": [c for c in codes if c not in held]}
        fresh = [c for c in dict.fromkeys(codes) if c not in held]
        held.update(fresh)
        return {"succ_code": fresh, "duplicate_code": [c for c in codes if c not in fresh], "fail_code": []}
    if route == "/card/code/getdepositcount":
        return {"count": len(state["deposited"].get(card_id, ()))}
    if route in ("/card/qrcode/create", "/cgi-bin/qrcode/create"):
        n = next(serial)
        ticket = "gQStandInQrTicket%06d==" % n
        answer = {"ticket": ticket, "url": "http://weixin.qq.com/q/StandIn%06d" % n}
        if "expire_seconds" in body:
            answer["expire_seconds"] = body["expire_seconds"]
        if route == "/card/qrcode/create":
            answer["show_qrcode_url"] = "https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=" + quote(ticket, safe="")
        return answer
    if route == "/card/landingpage/create":
        page_id = next(serial)
        return {"url": "https://mp.weixin.qq.com/bizmall/cardlandingpage?biz=StandIn==&page_id=%d&scene=1" % page_id,
                "page_id": page_id}
    if route == "/card/mpnews/gethtml":
        return {"content": '<iframe class="res_iframe card_iframe js_editor_card" data-src="http://mp.weixin.qq.com/'
                           'bizmall/appmsgcard?action=show&biz=StandIn%%3D%%3D&cardid=%s#wechat_redirect"></iframe>'
                           % quote(card_id, safe="")}
    return None


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
            if url.path == "/cgi-bin/ticket/getticket" and query.get("type") in TICKETS:
                if not args.quiet:
                    print("GET /cgi-bin/ticket/getticket type=%s" % query["type"], flush=True)
                return self.answer({"errcode": 0, "errmsg": "ok", "ticket": TICKETS[query["type"]], "expires_in": 7200})
            self.answer({"errcode": 40001, "errmsg": "unknown path"})

        def do_POST(self):
            route = urlparse(self.path).path
            length = int(self.headers.get("Content-Length", 0))
            raw = self.rfile.read(length)
            if route == "/cgi-bin/media/uploadimg":  # multipart/form-data, not JSON
                if not args.quiet:
                    print("POST /cgi-bin/media/uploadimg (%d bytes)" % length, flush=True)
                return self.answer({"errcode": 0, "errmsg": "ok",
                                    "url": "http://mmbiz.qpic.cn/mmbiz/stand-in-upload-%d/0" % next(serial)})
            body = json.loads(raw or b"{}")
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
                card = {"card_id": body.get("card_id") or STAND_IN_CARD, "begin_time": 1457452800, "end_time": 1893455999}
                return self.answer({"errcode": 0, "errmsg": "ok", "card": card,
                                    "openid": args.holder, "can_consume": True, "user_card_status": "NORMAL"})
            answer = card_api(route, body, args.holder)
            if answer is None:
                return self.answer({"errcode": 40001, "errmsg": "unknown path"})
            if not args.quiet:
                print("POST %s %s" % (route, json.dumps(body, ensure_ascii=False)[:200]), flush=True)
            self.answer({"errcode": 0, "errmsg": "ok", **answer})

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
