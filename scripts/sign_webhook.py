#!/usr/bin/env python3
"""Sign an order webhook body the Standard Webhooks way (stdlib only).

    # a fresh secret for WEBHOOK_SECRETS
    python3 scripts/sign_webhook.py --new-secret
    # an example order body
    python3 scripts/sign_webhook.py --example > order.json
    # headers as a curl config, for `curl -K -` (the body must be sent byte for byte)
    python3 scripts/sign_webhook.py --secret "$SECRET" order.json \
      | curl -sS -K - --data-binary @order.json http://127.0.0.1:8000/api/v1/webhooks/orders
    # or post it directly
    python3 scripts/sign_webhook.py --secret "$SECRET" order.json --send http://127.0.0.1:8000/api/v1/webhooks/orders

The secret is `whsec_<base64>`; the signature is
`v1,<base64 HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")>`.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.request


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    if not secret.startswith("whsec_"):
        raise SystemExit("the secret looks like whsec_<base64>")
    encoded = secret[len("whsec_"):]
    try:
        # Unpadded base64 is common (the standardwebhooks libraries accept it).
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error:
        raise SystemExit("the part after whsec_ is not base64") from None
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def headers_for(secret: str, body: bytes) -> dict[str, str]:
    msg_id = "msg_" + secrets.token_hex(12)
    ts = int(time.time())
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts),
            "webhook-signature": sign(secret, msg_id, ts, body),
            "Content-Type": "application/json"}


def example(email: str) -> str:
    order_id = str(int(time.time()))
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.dumps({"type": "order.placed", "data": {
        "order_id": order_id, "email": email, "placed_at": now, "status": "paid",
        "currency": "EUR", "total": "39.90",
        "customer": {"name": "Ana Ruiz", "phone": "+34 600 111 222", "company": None},
        "billing_address": {"name": "Ana Ruiz", "line1": "Calle Mayor 1", "city": "Madrid",
                            "postal_code": "28013", "country": "ES"},
        "shipping_address": {"name": "Ana Ruiz", "line1": "Calle Mayor 1", "city": "Madrid",
                             "postal_code": "28013", "country": "ES"},
        "items": [{"product_id": "p-7", "sku": "TS-RED-M", "name": "T-shirt", "quantity": 2,
                   "unit_price": "19.95"}],
        "invoice_url": None}}, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("body", nargs="?", default="-", help="JSON body file, or - for stdin")
    p.add_argument("--secret", default=os.environ.get("WEBHOOK_SECRET", ""),
                   help="whsec_… (default: $WEBHOOK_SECRET)")
    p.add_argument("--send", metavar="URL", help="POST it to URL and print the answer")
    p.add_argument("--example", metavar="EMAIL", nargs="?", const="ana@example.com",
                   help="print an example order.placed body and exit")
    p.add_argument("--new-secret", action="store_true", help="print a fresh secret and exit")
    args = p.parse_args(argv)
    if args.new_secret:
        print("whsec_" + base64.b64encode(secrets.token_bytes(32)).decode())
        return 0
    if args.example:
        sys.stdout.write(example(args.example))
        return 0
    if not args.secret:
        p.error("--secret (or $WEBHOOK_SECRET) is required")
    secret = args.secret.split(",")[0].strip()  # a WEBHOOK_SECRETS list: the first one signs
    if args.body == "-":
        body = sys.stdin.buffer.read()
    else:
        with open(args.body, "rb") as fh:
            body = fh.read()
    headers = headers_for(secret, body)
    if not args.send:
        for name, value in headers.items():
            print(f'header = "{name}: {value}"')
        return 0
    if not args.send.startswith(("http://", "https://")):
        p.error("--send takes an http(s) URL")
    req = urllib.request.Request(args.send, data=body, headers=headers,  # noqa: S310
                                 method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 (http(s) only, checked above)
            print(resp.status, resp.read().decode())
            return 0
    except urllib.error.HTTPError as err:
        print(err.code, err.read().decode(), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
