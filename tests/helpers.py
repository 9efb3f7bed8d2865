"""Helpers shared by the tests: the SMTP sink, webhook signing, signing in."""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import hmac
import json
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from aiosmtpd.controller import Controller

LINK_RE = re.compile(r"https?://[^\s\"'<>]+/login/verify\?token=[A-Za-z0-9._\-%]+")


@dataclass
class Mail:
    to: list[str]
    subject: str
    text: str
    html: str
    raw: bytes

    @property
    def link(self) -> str:
        m = LINK_RE.search(self.text)
        assert m, f"no login link in mail {self.subject!r}"
        return m.group(0)

    @property
    def token(self) -> str:
        from urllib.parse import parse_qs, urlsplit

        return parse_qs(urlsplit(self.link).query)["token"][0]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.sink.fail:
            return "451 4.3.0 try again later"
        if self.sink.delay:
            import asyncio

            await asyncio.sleep(self.sink.delay)
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        text = html = ""
        for part in msg.walk():
            ctype = part.get_content_type()
            if ctype == "text/plain" and not text:
                text = part.get_content()
            elif ctype == "text/html" and not html:
                html = part.get_content()
        with self.sink.lock:
            self.sink.messages.append(Mail(to=list(envelope.rcpt_tos), subject=str(msg["Subject"]),
                                           text=text, html=html, raw=envelope.content))
        return "250 OK"


class SmtpSink:
    """A real SMTP server (aiosmtpd) on loopback that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[Mail] = []
        self.lock = threading.Lock()
        self.fail = False
        self.delay = 0.0
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=free_port())

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    @property
    def port(self) -> int:
        return int(self.controller.port)

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()

    def to(self, address: str) -> list[Mail]:
        with self.lock:
            want = address.strip().lower()
            return [m for m in self.messages if want in [t.lower() for t in m.to]]

    def wait_for(self, address: str, count: int = 1, timeout: float = 10.0) -> list[Mail]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.to(address)
            if len(got) >= count:
                return got
            time.sleep(0.02)
        raise AssertionError(f"expected {count} mail(s) to {address}, got {len(self.to(address))}")


def sign_webhook(secret: str, body: bytes, *, msg_id: str, timestamp: int | None = None
                 ) -> dict[str, str]:
    """Standard Webhooks headers for `body` (secret: "whsec_<base64>")."""
    ts = int(time.time()) if timestamp is None else timestamp
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{ts}.".encode() + body
    sig = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts),
            "webhook-signature": f"v1,{sig}", "Content-Type": "application/json"}


def signed_post(client: Any, path: str, payload: Any, secret: str, *, msg_id: str | None = None,
                timestamp: int | None = None) -> Any:
    import uuid

    body = json.dumps(payload).encode()
    headers = sign_webhook(secret, body, msg_id=msg_id or f"msg_{uuid.uuid4().hex}",
                           timestamp=timestamp)
    return client.post(path, data=body, headers=headers)


ORIGIN = {"Origin": "http://localhost"}
CODE_RE = re.compile(r"\b([0-9]{6})\b")


def sent_shape(body: Any) -> bool:
    """The login-link answer (§3a): the same shape for every address."""
    return (
        isinstance(body, dict)
        and set(body) == {"status", "attempt"}
        and body["status"] == "sent"
        and re.fullmatch(r"[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{32}", body["attempt"]) is not None
    )


def mail_code(mail: Mail) -> str:
    """The 6-digit code, from the first line of the text part (what a lock screen shows)."""
    first = mail.text.strip().splitlines()[0]
    m = CODE_RE.search(first)
    assert m, f"no code in the first line of {mail.subject!r}: {first!r}"
    return m.group(1)


def sign_in(client: Any, mailbox: SmtpSink, address: str) -> dict[str, Any]:
    """Request a link, read it from the SMTP sink, verify it: the JSON answer."""
    before = len(mailbox.to(address))
    r = client.post("/api/v1/auth/login-link", json={"email": address})
    assert r.status_code == 202, r.get_data(as_text=True)
    mails = mailbox.wait_for(address, before + 1)
    r = client.post("/api/v1/auth/verify", json={"token": mails[-1].token})
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def still_running(procs: list[Any]) -> list[list[str]]:
    """The command lines of those psutil processes that are still alive (not zombies)."""
    import psutil

    left = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                left.append(proc.cmdline())
        except psutil.Error:  # it went while we looked
            continue
    return left
