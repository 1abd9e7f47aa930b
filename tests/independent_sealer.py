#!/usr/bin/env python3
"""An independent WeChat sender, written from the protocol reference, sharing no code with cardhook.

It signs and encrypts one event XML file the way the WeChat server does (reference §1.2, §2:
sha1 over the sorted parts; AES-256-CBC, IV = key[:16], PKCS#7 to 32-byte blocks, random(16) +
big-endian length + message + appid), using Python's hashlib and the `cryptography` package.
`--case` chooses a well-formed push or one specific malformation; it prints {"query", "body"} as JSON.
Used by tests/it/push_vectors.rs.
"""
import argparse
import base64
import hashlib
import json
import os
import struct
import urllib.parse

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def sign(*parts):
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def encrypt(key, appid, message, pad_value=None, declared=None):
    payload = message.encode()
    full = os.urandom(16) + struct.pack(">I", len(payload) if declared is None else declared) + payload + appid.encode()
    pad = 32 - len(full) % 32
    full += bytes([pad]) * pad
    if pad_value is not None:
        full = full[:-1] + bytes([pad_value])
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(full) + encryptor.finalize()).decode()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--token", required=True)
    p.add_argument("--key", required=True, help="EncodingAESKey, 43 characters")
    p.add_argument("--appid", required=True)
    p.add_argument("--timestamp", required=True)
    p.add_argument("--nonce", required=True)
    p.add_argument("--case", required=True)
    p.add_argument("file")
    a = p.parse_args()
    message = open(a.file, encoding="utf-8").read()
    key = base64.b64decode(a.key + "=")  # Python accepts the non-canonical trailing bits
    openid = message.split("<FromUserName>")[1].split("</FromUserName>")[0]
    openid = openid.replace("<![CDATA[", "").replace("]]>", "").strip()
    query = {"signature": sign(a.token, a.timestamp, a.nonce), "timestamp": a.timestamp, "nonce": a.nonce, "openid": openid}
    if a.case == "plain":
        print(json.dumps({"query": urllib.parse.urlencode(query), "body": message}))
        return
    appid = "wx0000000000other" if a.case == "wrong_appid" else a.appid
    pad_value = {"pad_zero": 0, "pad_33": 33}.get(a.case)
    declared = 100000 if a.case == "declared_too_long" else None
    ciphertext = encrypt(key, appid, message, pad_value, declared)
    if a.case == "truncated":
        ciphertext = ciphertext[:-4]
    msg_signature = sign(a.token, a.timestamp, a.nonce, ciphertext)
    if a.case == "bad_msg_signature":
        msg_signature = sign(a.token, a.timestamp, a.nonce, ciphertext + "x")
    if a.case == "bad_signature":
        query["signature"] = sign("another-token", a.timestamp, a.nonce)
    query.update({"encrypt_type": "aes", "msg_signature": msg_signature})
    element = "<Encrypt><![CDATA[%s]]></Encrypt>" % ciphertext
    if a.case == "compat":
        body = message.replace("</xml>", element + "</xml>")
    else:
        body = "<xml><ToUserName><![CDATA[gh_test]]></ToUserName>%s</xml>" % element
    print(json.dumps({"query": urllib.parse.urlencode(query), "body": body}))


if __name__ == "__main__":
    main()
