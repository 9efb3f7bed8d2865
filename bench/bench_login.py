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
    from loginsvc.tokens import LoginTokens

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

            # Fresh tokens, signed here with the server's key: one per request.
            signer = LoginTokens([SECRET], max_age=14 * 86400)
            now = time.time()
            warmup = 64
            tokens = [signer.issue(email=f"v{i}-{run}@bench.example.com", customer_id=None,
                                   now=now)[0] for i in range(REQUESTS + warmup)]

            def verify(i: int) -> Any:
                return json_request("POST", "/api/v1/auth/verify", {"token": tokens[i]})

            verified = measure(svc, "POST verify (new account)", verify, requests=REQUESTS,
                               warmup=warmup)
        rows = [top.row(None), links.row(top), verified.row(top)]
    finally:
        smtp.stop()
    write_results("login", rows)
    verify_ratio = rows[2]["ratio_to_ceiling"]
    link_p99 = rows[1]["p99_ms"]
    print(f"verify throughput {verify_ratio:.0%} of the ceiling (target >= 50%); "
          f"login-link p99 {link_p99} ms with slow SMTP (target < 50 ms); "
          f"{sink.received} mails accepted by the slow sink during the run", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
