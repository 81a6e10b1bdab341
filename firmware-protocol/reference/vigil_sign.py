#!/usr/bin/env python3
"""Independent reference implementation of Vigil signing scheme v1 (firmware-protocol/PROTOCOL.md, section 5).

Python 3 standard library only. For every vector in vectors/signing.json it
  1. builds the string to sign and the signature from the vector's own fields and compares it with
     `expected_signature`;
  2. runs the verification rules of section 5.5 (in order, one nonce cache, clock = `now`) on what arrived on the
     wire (`presented_signature`, `content_sha256`, the body) and compares the verdict with `valid` / `reason`.
Exits 0 when everything matches, 1 otherwise.

Usage: python3 vigil_sign.py [path/to/signing.json] [--verbose]
"""

import base64
import hashlib
import hmac
import json
import os
import re
import sys

ALGORITHM = "VIGIL-HMAC-SHA256"
DEFAULT_TOLERANCE_S = 300

NONCE_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
SIGNATURE_RE = re.compile(r"^[A-Za-z0-9+/]{43}=$")
HTTP_DEVICE_RE = re.compile(r"^/v1/devices/([^/?]+)")
TOPIC_DEVICE_RE = re.compile(r"^vigil/v1/([^/]+)/")


def string_to_sign(timestamp, nonce, method, path, device_id, body_sha256):
    """Seven lines joined by LF, no trailing newline."""
    return "\n".join([ALGORITHM, str(int(timestamp)), nonce, method, path, device_id, body_sha256])


def sign(secret, timestamp, nonce, method, path, device_id, body):
    """base64 (standard, padded) of HMAC-SHA256(secret bytes, string to sign as UTF-8)."""
    sts = string_to_sign(timestamp, nonce, method, path, device_id, hashlib.sha256(body).hexdigest())
    mac = hmac.new(secret, sts.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(mac).decode("ascii")


def http_headers(device_id, key_id, secret, method, path, body, timestamp, nonce):
    """The six X-Vigil-* headers of an HTTP request."""
    return {
        "X-Vigil-Device": device_id,
        "X-Vigil-Key-Id": key_id,
        "X-Vigil-Timestamp": str(int(timestamp)),
        "X-Vigil-Nonce": nonce,
        "X-Vigil-Content-SHA256": hashlib.sha256(body).hexdigest(),
        "X-Vigil-Signature": "v1=" + sign(secret, timestamp, nonce, method.upper(), path, device_id, body),
    }


def mqtt_envelope(device_id, key_id, secret, topic, body, timestamp, nonce):
    """The JSON envelope of a signed MQTT message."""
    return {
        "v": 1,
        "device": device_id,
        "kid": key_id,
        "ts": int(timestamp),
        "nonce": nonce,
        "sha256": hashlib.sha256(body).hexdigest(),
        "sig": sign(secret, timestamp, nonce, "MQTT", topic, device_id, body),
        "body_b64": base64.b64encode(body).decode("ascii"),
    }


class Rejected(Exception):
    def __init__(self, code):
        super().__init__(code)
        self.code = code


class NonceCache:
    """Per-device nonces, each kept until timestamp + tolerance + 1 s."""

    def __init__(self):
        self.seen = {}

    def remember(self, device_id, nonce, expires_at_s, now_s):
        key = (device_id, nonce)
        exp = self.seen.get(key)
        if exp is not None and exp > now_s:
            return False
        self.seen[key] = expires_at_s
        return True


def verify(msg, keys_of, nonces, now_s, tolerance_s=DEFAULT_TOLERANCE_S):
    """Section 5.5, in order. `msg`: device_id, timestamp, nonce, method, path, claimed_sha256, signature, body.
    `keys_of(device_id)` returns the list of active secrets. Raises Rejected(code)."""
    if not NONCE_RE.match(msg["nonce"]) or not SHA256_RE.match(msg["claimed_sha256"]) or not SIGNATURE_RE.match(msg["signature"]):
        raise Rejected("signature_malformed")
    m = HTTP_DEVICE_RE.match(msg["path"]) or TOPIC_DEVICE_RE.match(msg["path"])
    if m and m.group(1) != msg["device_id"]:
        raise Rejected("device_mismatch")
    keys = keys_of(msg["device_id"])
    if not keys:
        raise Rejected("unknown_device")
    if abs(msg["timestamp"] - now_s) > tolerance_s:
        raise Rejected("timestamp_out_of_tolerance")
    actual = hashlib.sha256(msg["body"]).hexdigest()
    if not hmac.compare_digest(actual, msg["claimed_sha256"]):
        raise Rejected("body_hash_mismatch")
    sts = string_to_sign(msg["timestamp"], msg["nonce"], msg["method"], msg["path"], msg["device_id"], actual).encode("utf-8")
    presented = base64.b64decode(msg["signature"])
    if not any(hmac.compare_digest(hmac.new(k, sts, hashlib.sha256).digest(), presented) for k in keys):
        raise Rejected("signature_mismatch")
    if not nonces.remember(msg["device_id"], msg["nonce"], msg["timestamp"] + tolerance_s + 1, now_s):
        raise Rejected("nonce_replayed")


def run(path, verbose=False):
    with open(path, encoding="utf-8") as f:
        vectors = json.load(f)
    failures = 0
    nonces = NonceCache()
    for v in vectors:
        secret = base64.b64decode(v["secret_b64"], validate=True)
        body = base64.b64decode(v["body_b64"], validate=True)
        sig = sign(secret, v["timestamp"], v["nonce"], v["method"], v["path"], v["device_id"], body)
        problems = []
        if sig != v["expected_signature"]:
            problems.append("signature %s != expected %s" % (sig, v["expected_signature"]))
        msg = {
            "device_id": v["device_id"],
            "timestamp": v["timestamp"],
            "nonce": v["nonce"],
            "method": v["method"],
            "path": v["path"],
            "claimed_sha256": v["content_sha256"],
            "signature": v["presented_signature"],
            "body": body,
        }
        try:
            verify(msg, lambda d, s=secret, dev=v["device_id"]: [s] if d == dev else [], nonces, v["now"])
            verdict = None
        except Rejected as r:
            verdict = r.code
        expected_reason = None if v["valid"] else v["reason"]
        if verdict != expected_reason:
            problems.append("verifier said %s, vector says %s" % (verdict or "valid", expected_reason or "valid"))
        if problems:
            failures += 1
            print("FAIL %s: %s" % (v["name"], "; ".join(problems)))
        elif verbose:
            print("ok   %s %s" % (v["name"], sig))
    print("%d vectors, %d failed" % (len(vectors), failures))
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    default = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vectors", "signing.json")
    sys.exit(run(args[0] if args else default, verbose="--verbose" in sys.argv))
