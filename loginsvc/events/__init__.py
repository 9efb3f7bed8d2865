"""Events out to the shop (CONTRACT §9): a transactional outbox, delivered by the worker.

An event row is written in the same database transaction as the change that
causes it (outbox.py), so a change and its event commit or vanish together.
The worker's deliverer (delivery.py) POSTs due rows to EVENTS_URL, signed with
the `standardwebhooks` package, and retries with backoff for more than three
days under the same webhook-id. The row is the truth; Redis only wakes the
deliverer early, so a restart, a lost wake-up or a killed worker loses nothing.
"""
