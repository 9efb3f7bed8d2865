"""CONTRACT §5: the wishlist (idempotent add, cap, concurrency, removal)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.conftest import count_rows
from tests.helpers import ORIGIN, bearer, sign_in


@pytest.fixture
def auth(client: Any, mailbox: Any) -> dict[str, str]:
    return bearer(sign_in(client, mailbox, "ana@example.com")["session_token"])


def _problem(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.headers["Content-Type"] == "application/problem+json"
    body = r.get_json()
    assert body["code"] == code
    return body


def test_add_is_idempotent_201_then_200(client, auth, app):
    r = client.put("/api/v1/me/wishlist/p-7", headers=auth)
    assert r.status_code == 201
    first = r.get_json()
    assert first == {"product_id": "p-7", "name": None, "url": None, "image_url": None,
                     "price": None, "currency": None, "added_at": first["added_at"]}
    r = client.put("/api/v1/me/wishlist/p-7", headers=auth)
    assert r.status_code == 200 and r.get_json() == first
    assert count_rows(app, "wishlist_items") == 1


def test_snapshot_is_kept_and_refreshed(client, auth):
    snap = {"name": "T-shirt", "url": "https://shop.example/p/7",
            "image_url": "https://shop.example/p/7.jpg", "price": "19.9", "currency": "EUR"}
    r = client.put("/api/v1/me/wishlist/p-7", headers=auth, json=snap)
    assert r.status_code == 201
    body = r.get_json()
    assert body["price"] == "19.90" and body["currency"] == "EUR" and body["name"] == "T-shirt"
    r = client.put("/api/v1/me/wishlist/p-7", headers=auth, json={"price": "17.50",
                                                                  "currency": "EUR"})
    assert r.status_code == 200
    assert r.get_json()["price"] == "17.50" and r.get_json()["name"] == "T-shirt"
    r = client.put("/api/v1/me/wishlist/yen", headers=auth, json={"price": "500",
                                                                  "currency": "JPY"})
    assert r.get_json()["price"] == "500"


def test_list_is_newest_first_with_null_cursor(client, auth):
    for pid in ("a", "b", "c"):
        assert client.put(f"/api/v1/me/wishlist/{pid}", headers=auth).status_code == 201
    client.put("/api/v1/me/wishlist/a", headers=auth)  # again: keeps its place
    r = client.get("/api/v1/me/wishlist", headers=auth)
    assert r.status_code == 200
    body = r.get_json()
    assert [i["product_id"] for i in body["items"]] == ["c", "b", "a"]
    assert body["next_cursor"] is None


def test_remove_is_204_also_when_absent(client, auth, app):
    client.put("/api/v1/me/wishlist/p-7", headers=auth)
    for _ in range(2):
        r = client.delete("/api/v1/me/wishlist/p-7", headers=auth)
        assert r.status_code == 204 and r.data == b""
    assert client.get("/api/v1/me/wishlist", headers=auth).get_json()["items"] == []


def test_items_are_per_customer(client, auth, app, mailbox):
    client.put("/api/v1/me/wishlist/p-7", headers=auth)
    other = app.test_client()
    eve = bearer(sign_in(other, mailbox, "eve@example.com")["session_token"])
    assert other.get("/api/v1/me/wishlist", headers=eve).get_json()["items"] == []
    assert other.put("/api/v1/me/wishlist/p-7", headers=eve).status_code == 201
    other.delete("/api/v1/me/wishlist/p-7", headers=eve)
    assert len(client.get("/api/v1/me/wishlist", headers=auth).get_json()["items"]) == 1


def test_cap_of_500_is_409_wishlist_full(client, auth, app):
    with app.app_context():
        from loginsvc.core.extensions import db
        from loginsvc.core.models import Customer, WishlistItem

        cid = db.session.query(Customer).one().id
        db.session.add_all([WishlistItem(customer_id=cid, product_id=f"p{i}")
                            for i in range(499)])
        db.session.commit()
    assert client.put("/api/v1/me/wishlist/last", headers=auth).status_code == 201
    body = _problem(client.put("/api/v1/me/wishlist/one-more", headers=auth), 409,
                    "wishlist_full")
    assert "500" in body["detail"]
    # What is already there still answers 200, and removing one makes room.
    assert client.put("/api/v1/me/wishlist/last", headers=auth).status_code == 200
    assert count_rows(app, "wishlist_items") == 500
    assert len(client.get("/api/v1/me/wishlist", headers=auth).get_json()["items"]) == 500
    client.delete("/api/v1/me/wishlist/p0", headers=auth)
    assert client.put("/api/v1/me/wishlist/one-more", headers=auth).status_code == 201


def test_concurrent_adds_of_one_product_never_duplicate(app, auth):
    statuses: list[int] = []
    barrier = threading.Barrier(8)

    def add() -> None:
        c = app.test_client()
        barrier.wait()
        statuses.append(c.put("/api/v1/me/wishlist/hot", headers=auth).status_code)

    threads = [threading.Thread(target=add) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] * 7 + [201]
    assert count_rows(app, "wishlist_items") == 1


def test_concurrent_adds_respect_the_cap(app, auth):
    with app.app_context():
        from loginsvc.core.extensions import db
        from loginsvc.core.models import Customer, WishlistItem

        cid = db.session.query(Customer).one().id
        db.session.add_all([WishlistItem(customer_id=cid, product_id=f"p{i}")
                            for i in range(495)])
        db.session.commit()
    statuses: list[int] = []
    barrier = threading.Barrier(10)

    def add(i: int) -> None:
        c = app.test_client()
        barrier.wait()
        statuses.append(c.put(f"/api/v1/me/wishlist/new{i}", headers=auth).status_code)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201] * 5 + [409] * 5
    assert count_rows(app, "wishlist_items") == 500


@pytest.mark.parametrize("path", ["/api/v1/me/wishlist", "/api/v1/me/wishlist/p-7"])
def test_without_session_is_401(client, path):
    _problem(client.get(path) if path.endswith("wishlist") else client.put(path), 401,
             "unauthorized")
    if not path.endswith("wishlist"):
        _problem(client.delete(path), 401, "unauthorized")


def test_cookie_write_from_foreign_origin_is_403(client, mailbox, app):
    sign_in(client, mailbox, "ana@example.com")
    for method in ("put", "delete"):
        r = getattr(client, method)("/api/v1/me/wishlist/p-7",
                                    headers={"Origin": "https://evil.test"})
        _problem(r, 403, "csrf_failed")
    assert count_rows(app, "wishlist_items") == 0
    assert client.put("/api/v1/me/wishlist/p-7", headers=ORIGIN).status_code == 201


@pytest.mark.parametrize("body,field", [
    ({"price": "19.95"}, "currency"),
    ({"price": "19.999", "currency": "EUR"}, "price"),
    ({"price": "abc", "currency": "EUR"}, "price"),
    ({"price": 19.95, "currency": "EUR"}, "price"),
    ({"price": "NaN", "currency": "EUR"}, "price"),
    ({"price": "-5.00", "currency": "EUR"}, "price"),
    ({"price": "1e400", "currency": "EUR"}, "price"),
    ({"currency": "EURO"}, "currency"),
    ({"currency": "XYZ"}, "currency"),
    ({"name": "x" * 301}, "name"),
    ({"name": 7}, "name"),
    ({"url": "javascript:alert(1)"}, "url"),
    ({"url": "https://" + "x" * 2050}, "url"),
    ({"image_url": "ftp://shop.example/a.jpg"}, "image_url"),
    ({"colour": "red"}, "colour"),
])
def test_bad_snapshot_is_422_and_adds_nothing(client, auth, app, body, field):
    r = client.put("/api/v1/me/wishlist/p-7", headers=auth, json=body)
    problem = _problem(r, 422, "invalid_request")
    assert problem["errors"] and all(e["message"] for e in problem["errors"])
    assert field in " ".join(e["field"] + e["message"] for e in problem["errors"]), problem
    assert count_rows(app, "wishlist_items") == 0


def test_bad_product_id_is_422(client, auth, app):
    for method in ("put", "delete"):
        r = getattr(client, method)("/api/v1/me/wishlist/" + "x" * 129, headers=auth)
        body = _problem(r, 422, "invalid_request")
        assert body["errors"][0]["field"] == "product_id"
        r = getattr(client, method)("/api/v1/me/wishlist/a%01b", headers=auth)
        _problem(r, 422, "invalid_request")
    assert client.put("/api/v1/me/wishlist/" + "x" * 128, headers=auth).status_code == 201
    assert count_rows(app, "wishlist_items") == 1


def test_unparseable_snapshot_is_400(client, auth, app):
    r = client.put("/api/v1/me/wishlist/p-7", data=b"{nope",
                   headers={**auth, "Content-Type": "application/json"})
    _problem(r, 400, "invalid_request")
    assert count_rows(app, "wishlist_items") == 0
