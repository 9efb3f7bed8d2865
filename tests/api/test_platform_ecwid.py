"""CONTRACT §4b: Ecwid's webhooks name the order; it is read from Ecwid's REST API.

Ecwid's servers are out of reach here, so a small local HTTP server answers at
ECWID_API_URL in Ecwid's documented shapes (tests/fixtures/platforms/ecwid/) —
the one stand-in — and can be made to fail, to show the retry.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.api.platform_support import b64_hmac, fixture, rows, together
from tests.helpers import bearer, sign_in

CLIENT_SECRET = "ecwid-client-secret-7d1e"
STORE_ID = "1003"
TOKEN = "secret_ab12cd34"
PATH = "/api/v1/webhooks/ecwid"


class FakeEcwid:
    """Ecwid's REST API v3 as documented: /{storeId}/orders/{id} and /{storeId}/profile."""

    def __init__(self) -> None:
        self.orders: dict[str, Any] = {}
        self.profile = fixture("ecwid/profile.json")
        self.fail_next = 0  # answer this many requests with 503
        self.requests: list[str] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                with outer.lock:
                    outer.requests.append(self.path)
                    failing = outer.fail_next > 0
                    if failing:
                        outer.fail_next -= 1
                if failing:
                    return self._send(503, {"errorMessage": "Service temporarily unavailable"})
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._send(403, {"errorMessage": "Invalid token"})
                prefix = f"/api/v3/{STORE_ID}"
                if self.path == f"{prefix}/profile":
                    return self._send(200, outer.profile)
                if self.path.startswith(f"{prefix}/orders/"):
                    order = outer.orders.get(self.path.rsplit("/", 1)[1])
                    if order is None:
                        return self._send(404, {"errorMessage": "Order not found"})
                    return self._send(200, order)
                return self._send(404, {"errorMessage": "Not found"})

            def _send(self, status: int, body: Any) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v3"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def order_reads(self) -> int:
        return sum("/orders/" in p for p in self.requests)


@pytest.fixture
def ecwid_api() -> Iterator[FakeEcwid]:
    api = FakeEcwid()
    api.thread.start()
    api.orders["K8XTQ"] = fixture("ecwid/order_K8XTQ.json")
    yield api
    api.server.shutdown()
    api.server.server_close()


@pytest.fixture
def shop(make_app: Any, ecwid_api: FakeEcwid) -> Any:
    return make_app(ecwid_client_secret=CLIENT_SECRET, ecwid_store_id=STORE_ID,
                    ecwid_api_token=TOKEN, ecwid_api_url=ecwid_api.url)


@pytest.fixture
def web(shop: Any) -> Any:
    return shop.test_client()


def event(order_id: str = "K8XTQ", event_type: str = "order.created", **over: Any) -> Any:
    e = fixture("ecwid/webhook_order_created.json")
    e["eventId"] = str(uuid.uuid4())
    e["eventType"] = event_type
    e["data"]["orderId"] = order_id
    e.update(over)
    return e


def signed(e: Any, *, secret: str = CLIENT_SECRET) -> tuple[bytes, dict[str, str]]:
    sig = b64_hmac(secret, f"{e['eventCreated']}.{e['eventId']}".encode())
    return json.dumps(e).encode(), {"Content-Type": "application/json; charset=UTF-8",
                                    "X-Ecwid-Webhook-Signature": sig}


def send(web: Any, e: Any, **kw: Any) -> Any:
    body, headers = signed(e, **kw)
    return web.post(PATH + f"?eventtype={e['eventType']}", data=body, headers=headers)


def test_bad_signature_is_401_and_nothing_read_or_stored(shop, web, ecwid_api):
    r = send(web, event(), secret="wrong")
    assert r.status_code == 401 and r.get_json()["code"] == "invalid_signature"
    body, headers = signed(event())
    r = web.post(PATH, data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 401 and r.get_json()["code"] == "invalid_signature"
    assert ecwid_api.requests == [] and rows(shop, "Order") == []


def test_first_order_read_from_the_api_opens_the_account_and_mails(shop, web, mailbox,
                                                                   ecwid_api):
    r = send(web, event())
    assert r.status_code == 201, r.get_json()
    [c] = rows(shop, "Customer")
    assert r.get_json() == {"order_id": "K8XTQ", "customer_id": c.id, "account_created": True}
    assert f"/api/v3/{STORE_ID}/orders/K8XTQ" in ecwid_api.requests
    [mail] = mailbox.wait_for("ana.ruiz@example.com")
    assert "/login/verify?token=" in mail.text


def test_order_in_history_with_exact_money_and_status(shop, web, mailbox):
    send(web, event())
    auth = bearer(sign_in(web, mailbox, "ana.ruiz@example.com")["session_token"])
    [o] = web.get("/api/v1/me/orders", headers=auth).get_json()["orders"]
    # Ecwid sends 59.9 as a JSON number; it is kept exactly, in the store's currency.
    assert (o["order_id"], o["status"], o["currency"], o["total"]) == (
        "K8XTQ", "paid", "EUR", "59.90")
    assert o["placed_at"] == "2026-11-28T10:00:00Z"
    assert [(i["sku"], i["quantity"], i["unit_price"]) for i in o["items"]] == [
        ("TS-RED-M", 2, "19.95"), ("GIFT-WRAP", 1, "10.00")]
    assert o["shipping_address"] == {
        "name": "Ana Ruiz", "line1": "Calle Mayor 1, 2º B", "city": "Madrid",
        "postal_code": "28013", "region": "M", "country": "ES", "phone": "+34600111222"}


def test_replayed_event_gives_the_first_answer_and_reads_nothing_again(shop, web, ecwid_api,
                                                                       mailbox):
    e = event()
    first, again = send(web, e), send(web, e)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Webhook-Replayed"] == "true"
    assert ecwid_api.order_reads() == 1 and len(rows(shop, "Order")) == 1
    mailbox.wait_for("ana.ruiz@example.com")
    time.sleep(0.2)
    assert len(mailbox.to("ana.ruiz@example.com")) == 1


def test_unknown_event_type_is_200_ignored(shop, web, ecwid_api):
    r = send(web, event(event_type="product.updated"))
    assert r.status_code == 200 and r.get_json() == {"ignored": True}
    assert ecwid_api.requests == []


def test_api_down_answers_503_for_retry_and_the_retry_loses_nothing(shop, web, ecwid_api,
                                                                    mailbox):
    e = event()
    ecwid_api.fail_next = 1
    r = send(web, e)
    assert r.status_code == 503
    assert r.get_json()["code"] == "service_unavailable" and r.headers["Retry-After"]
    assert rows(shop, "Order") == [] and rows(shop, "Customer") == []
    retry = send(web, e)  # Ecwid sends the same event again
    assert retry.status_code == 201 and retry.get_json()["order_id"] == "K8XTQ"
    assert "Webhook-Replayed" not in retry.headers
    assert len(rows(shop, "Order")) == 1
    mailbox.wait_for("ana.ruiz@example.com")


def test_api_unreachable_is_503_too(make_app, ecwid_api):
    web = make_app(ecwid_client_secret=CLIENT_SECRET, ecwid_store_id=STORE_ID,
                   ecwid_api_token=TOKEN, ecwid_api_url="http://127.0.0.1:9/api/v3").test_client()
    r = send(web, event())
    assert r.status_code == 503 and r.get_json()["code"] == "service_unavailable"


def test_ten_concurrent_first_orders_for_one_address_one_account(shop, ecwid_api, mailbox):
    reqs = []
    for n in range(10):
        o = fixture("ecwid/order_K8XTQ.json")
        o["id"] = f"C{n:04d}"
        ecwid_api.orders[o["id"]] = o
        reqs.append(signed(event(o["id"])))
    answers = together(shop, PATH, reqs)
    assert Counter(s for s, _ in answers) == {201: 10}, answers
    [c] = rows(shop, "Customer")
    assert sum(b["account_created"] for _, b in answers) == 1
    assert len(rows(shop, "Order")) == 10 and c.totals == {"EUR": "599.00"}
    mailbox.wait_for("ana.ruiz@example.com")
    time.sleep(0.3)
    assert len(mailbox.to("ana.ruiz@example.com")) == 1


def test_update_reads_the_order_again_shipped_with_tracking(shop, web, ecwid_api):
    send(web, event())
    o = ecwid_api.orders["K8XTQ"]
    o.update(fulfillmentStatus="SHIPPED", trackingNumber="PK43210987654321",
             trackingUrl="https://www.correos.es/es/es/herramientas/localizador/envios/detalle?tracking-number=PK43210987654321")
    r = send(web, event(event_type="order.updated"))
    assert r.status_code == 200
    [stored] = rows(shop, "Order")
    assert stored.status == "fulfilled"
    assert stored.tracking["carrier"] == "Correos"
    assert stored.tracking["number"] == "PK43210987654321"


def test_refund_update_and_zero_decimal_store(make_app, ecwid_api):
    ecwid_api.profile["formatsAndUnits"]["currency"] = "JPY"
    o = fixture("ecwid/order_K8XTQ.json")
    o.update(id="JP001", total=5500, email="hanako@example.jp",
             items=[{"productId": 1, "sku": "MATCHA-2", "name": "抹茶セット", "quantity": 2,
                     "price": 2500}],
             billingPerson={"name": "山田 花子", "countryCode": "JP", "city": "東京都"})
    ecwid_api.orders["JP001"] = o
    web = make_app(ecwid_client_secret=CLIENT_SECRET, ecwid_store_id=STORE_ID,
                   ecwid_api_token=TOKEN, ecwid_api_url=ecwid_api.url + "/").test_client()
    assert send(web, event("JP001")).status_code == 201
    o["paymentStatus"] = "REFUNDED"
    assert send(web, event("JP001", "order.updated")).status_code == 200
    [stored] = rows(web.application, "Order")
    assert (stored.currency, stored.total, stored.status) == ("JPY", 5500, "refunded")
    assert rows(web.application, "Customer")[0].name == "山田 花子"


def test_event_of_another_store_is_ignored(shop, web, ecwid_api):
    r = send(web, event(storeId=4242))
    assert r.status_code == 200 and r.get_json()["ignored"] is True
    assert ecwid_api.requests == []


def test_order_deleted_before_it_was_read_is_ignored(shop, web):
    r = send(web, event("GONE1"))
    assert r.status_code == 200 and r.get_json()["ignored"] is True
    assert rows(shop, "Order") == []
