"""Login benchmarks: POST login-link (while SMTP is slow) and POST verify, concurrency 32.

Targets (issue 3): verify throughput at least 50 % of the /healthz ceiling;
login-link p99 under 50 ms while the SMTP server takes 1 s per message (mail
goes through the queue, so a slow SMTP server must not slow the request).
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import SECRET, Service, ceiling, free_port, json_request, measure, write_results

SMTP_DELAY = 1.0  # seconds per message
REQUESTS = 3000


class SlowSink:
    """An SMTP server that takes SMTP_DELAY seconds to accept each message."""

    def __init__(self) -> None:
        self.received = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        await asyncio.sleep(SMTP_DELAY)
        self.received += 1
        return "250 OK"


def main() -> int:
    from loginsvc.auth.tokens import LoginTokens

    sink = SlowSink()
    smtp = Controller(sink, hostname="127.0.0.1", port=free_port())
    smtp.start()
    run = uuid.uuid4().hex[:6]
    env = {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(smtp.port),
           "MAIL_DEFAULT_SENDER": "bench <bench@example.com>"}
    try:
        with Service(env=env) as svc:
            print(f"loginsvc serve on port {svc.port}, {svc.backend}", flush=True)
            top = ceiling(svc)

            def link(i: int) -> Any:
                return json_request("POST", "/api/v1/auth/login-link",
                                    {"email": f"link{i}-{run}@bench.example.com"})

            links = measure(svc, f"POST login-link (SMTP {SMTP_DELAY:g} s/message)", link,
                            requests=REQUESTS)
            # One client: the request's own latency, without queueing behind 31 others.
            single = measure(svc, f"POST login-link, 1 client (SMTP {SMTP_DELAY:g} s/message)",
                             lambda i: link(REQUESTS + 1000 + i), requests=300, concurrency=1,
                             warmup=8)

            # Fresh tokens, signed here with the server's key: one per request.
            signer = LoginTokens([SECRET], max_age=14 * 86400)
            warmup = 64

            def mint() -> list[str]:
                now = time.time()
                return [signer.issue(email=f"v{i}-{run}@bench.example.com", customer_id=None,
                                     now=now)[0] for i in range(REQUESTS + warmup)]

            def verify_with(tokens: list[str]) -> Any:
                return lambda i: json_request("POST", "/api/v1/auth/verify",
                                              {"token": tokens[i]})

            verified = measure(svc, "POST verify (new account)", verify_with(mint()),
                               requests=REQUESTS, warmup=warmup)
            # The same addresses again: their accounts exist now (a returning shopper).
            returning = measure(svc, "POST verify (returning customer)", verify_with(mint()),
                                requests=REQUESTS, warmup=warmup)
        rows = [top.row(None), links.row(top), single.row(top), verified.row(top),
                returning.row(top)]
    finally:
        smtp.stop()
    write_results("login", rows)
    print(f"verify throughput {rows[3]['ratio_to_ceiling']:.0%} (new account) and "
          f"{rows[4]['ratio_to_ceiling']:.0%} (returning) of the ceiling (target >= 50%); "
          f"login-link p99 {rows[1]['p99_ms']} ms at 32 clients, {rows[2]['p99_ms']} ms at 1 "
          f"client, with slow SMTP (target < 50 ms); "
          f"{sink.received} mails accepted by the slow sink during the run", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
