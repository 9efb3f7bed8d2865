"""Every Redis key the service uses lives here, and nothing else touches Redis.

Past 300 lines on purpose: the one place that knows every Redis key, so a key's
name, lifetime and atomicity are reviewed in one file.

Keys (all under the configured prefix):

- ``used:{jti}``            a used login link, until it would have expired anyway
- ``sess:{sha256(token)}``  a session record (JSON); ``csess:{customer_id}`` maps
                            session ids to their token hashes
- ``rl:LIMITER/{name}/{h}/…`` moving-window rate limits (the `limits` library;
                            ``h`` is a hash of the IP or address)
- ``hook:{scope}:{id}``     the first answer to a signed server-to-server call
- ``ticket:{sha256}``       one-time single sign-on tickets
- ``gone:{sha256(email)}``  when an account with this address was deleted, while
                            links issued before then could still be alive
- ``wa:{kind}:{sha256(challenge)}``  an open WebAuthn ceremony (reg | auth), single-use
- ``oidc:{sha256(state)}``  an open OpenID Connect sign-in (nonce, PKCE verifier, next)
- ``attempt:{id}``          one sign-in attempt (hash): the code's HMAC, wrong tries,
                            the match number, the asking device, its status
- ``attempt-of:{sha256(email)}``  the address's latest mailed attempt (code by address)
- ``mail:sent:{job_id}``    a mail job whose message the SMTP server accepted (a
                            job run again after a crash does not send it twice)
- ``mail:workers``          sorted set: mail worker name -> time of its last heartbeat
- ``rq:…``                  RQ's own keys (queue, jobs, registries, workers, the
                            scheduler's lock): RQ_KEY_PREFIX is set under the prefix
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import redis

# HSET only when the hash still exists (an expired attempt is not brought back).
_UPDATE_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""
_CLAIM_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return redis.call('HSETNX', KEYS[1], ARGV[1], '1')
"""
_INCR_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 999 end
return redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
"""


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _h(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass
class SessionRecord:
    id: str
    customer_id: int
    created_at: float
    last_seen: float
    auth_at: float  # when the shopper last proved the address (for re-auth checks)
    user_agent: str
    ip: str
    method: str  # link | sso

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: bytes | str) -> SessionRecord:
        return cls(**json.loads(raw))


class Store:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.r = client
        self.p = prefix
        self._limiter_obj: Any = None

    @property
    def _limiter(self) -> Any:
        """The `limits` moving-window limiter, made on first use (`serve` never needs it)."""
        if self._limiter_obj is None:
            from limits.storage import RedisStorage
            from limits.strategies import MovingWindowRateLimiter

            # The limiter rides on our own connection pool, so it follows a Sentinel
            # failover like everything else; its keys stay under our prefix.
            self._limiter_obj = MovingWindowRateLimiter(
                RedisStorage(
                    "redis://", connection_pool=self.r.connection_pool, key_prefix=f"{self.p}rl"
                )
            )
        return self._limiter_obj

    # -- used tokens -------------------------------------------------------
    def mark_token_used(self, jti: str, *, expires_at: float) -> bool:
        """Atomically mark a token used; True only for the first caller."""
        ttl = max(1, int(expires_at - time.time()) + 1)
        return bool(self.r.set(f"{self.p}used:{jti}", b"1", nx=True, ex=ttl))

    def mark_token_used_reading_deletion(
        self, jti: str, *, expires_at: float, email_norm: str
    ) -> tuple[bool, float | None]:
        """`mark_token_used` and `address_deleted_at` in one round trip."""
        ttl = max(1, int(expires_at - time.time()) + 1)
        pipe = self.r.pipeline(transaction=False)
        pipe.set(f"{self.p}used:{jti}", b"1", nx=True, ex=ttl)
        pipe.get(f"{self.p}gone:{_h(email_norm)}")
        first, gone = pipe.execute()
        return bool(first), (float(gone) if gone else None)

    def unmark_token_used(self, jti: str) -> None:
        self.r.delete(f"{self.p}used:{jti}")

    def token_used(self, jti: str) -> bool:
        return bool(self.r.exists(f"{self.p}used:{jti}"))

    # -- sessions ----------------------------------------------------------
    def create_session(
        self,
        token: str,
        record: SessionRecord,
        *,
        ttl: int,
        update_attempt: tuple[str, dict[str, str]] | None = None,
    ) -> None:
        """Write the session; `update_attempt` (id, fields): `update_attempt` in the same step."""
        th = _h(token)
        pipe = self.r.pipeline(transaction=True)
        if update_attempt is not None:
            attempt_id, fields = update_attempt
            key = f"{self.p}attempt:{attempt_id}"
            pipe.eval(_UPDATE_IF_EXISTS, 1, key, *[x for kv in fields.items() for x in kv])
        pipe.set(f"{self.p}sess:{th}", record.to_json(), ex=ttl)
        pipe.hset(f"{self.p}csess:{record.customer_id}", record.id, th)
        pipe.expire(f"{self.p}csess:{record.customer_id}", ttl)
        pipe.execute()

    def get_session(self, token: str) -> SessionRecord | None:
        raw = self.r.get(f"{self.p}sess:{_h(token)}")
        return SessionRecord.from_json(raw) if raw else None

    def touch_session(self, token: str, record: SessionRecord, *, ttl: int) -> None:
        pipe = self.r.pipeline(transaction=False)
        pipe.set(f"{self.p}sess:{_h(token)}", record.to_json(), ex=ttl, xx=True)
        pipe.expire(f"{self.p}csess:{record.customer_id}", ttl)
        pipe.execute()

    def list_sessions(self, customer_id: int) -> list[SessionRecord]:
        key = f"{self.p}csess:{customer_id}"
        mapping = self.r.hgetall(key)
        if not mapping:
            return []
        ids = list(mapping.keys())
        raws = self.r.mget([f"{self.p}sess:{_s(mapping[i])}" for i in ids])
        out, stale = [], []
        for sid, raw in zip(ids, raws, strict=True):
            if raw:
                out.append(SessionRecord.from_json(raw))
            else:
                stale.append(sid)
        if stale:
            self.r.hdel(key, *stale)
        out.sort(key=lambda s: s.created_at, reverse=True)
        return out

    def delete_session(self, customer_id: int, session_id: str) -> bool:
        key = f"{self.p}csess:{customer_id}"
        th = self.r.hget(key, session_id)
        if th is None:
            return False
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(f"{self.p}sess:{_s(th)}")
        pipe.hdel(key, session_id)
        pipe.execute()
        return True

    def delete_all_sessions(self, customer_id: int) -> int:
        key = f"{self.p}csess:{customer_id}"
        mapping = self.r.hgetall(key)
        pipe = self.r.pipeline(transaction=True)
        for th in mapping.values():
            pipe.delete(f"{self.p}sess:{_s(th)}")
        pipe.delete(key)
        pipe.execute()
        return len(mapping)

    # -- rate limits -------------------------------------------------------
    def hit(self, name: str, key: str, *, limit: int, window: int) -> tuple[bool, int]:
        """Count one hit in a moving window; (allowed, seconds until a hit is allowed)."""
        from limits import RateLimitItemPerSecond

        item = RateLimitItemPerSecond(limit, window)
        who = _h(key)[:32]  # never an address or IP in a key name
        try:
            if self._limiter.hit(item, name, who):
                return True, 0
        except redis.exceptions.ResponseError as exc:
            # A script's write refused by a master demoted to replica arrives as a
            # script error, not as ReadOnlyError: drop the idle connections (Sentinel
            # then finds the new master) and answer like any Redis outage (503).
            if "READONLY" not in str(exc):
                raise
            self.r.connection_pool.disconnect(inuse_connections=False)
            raise redis.exceptions.ReadOnlyError(str(exc)) from exc
        reset_at = self._limiter.get_window_stats(item, name, who).reset_time
        return False, max(1, math.ceil(reset_at - time.time()))

    def hits(self, name: str, key: str, *, limit: int, window: int) -> int:
        """The count `hit` has reached in its moving window (without counting one)."""
        from limits import RateLimitItemPerSecond

        item = RateLimitItemPerSecond(limit, window)
        stats = self._limiter.get_window_stats(item, name, _h(key)[:32])
        return limit - stats.remaining

    # -- signed server-to-server calls (replay cache) --------------------------
    def claim_delivery(self, scope: str, delivery_id: str, *, ttl: int) -> bool:
        """True for the first claimant of a webhook-id; later ones replay the answer."""
        return bool(self.r.set(f"{self.p}hook:{scope}:{_h(delivery_id)}", b"", nx=True, ex=ttl))

    def save_delivery_answer(
        self, scope: str, delivery_id: str, answer: dict[str, Any], *, ttl: int
    ) -> None:
        self.r.set(f"{self.p}hook:{scope}:{_h(delivery_id)}", json.dumps(answer), ex=ttl)

    def delivery_answer(self, scope: str, delivery_id: str) -> dict[str, Any] | None | str:
        """The stored answer; "pending" while the first delivery is still working."""
        raw = self.r.get(f"{self.p}hook:{scope}:{_h(delivery_id)}")
        if raw is None:
            return None
        if raw == b"":
            return "pending"
        return json.loads(raw)

    def release_delivery(self, scope: str, delivery_id: str) -> None:
        self.r.delete(f"{self.p}hook:{scope}:{_h(delivery_id)}")

    # -- one-time tickets (WordPress SSO) -----------------------------------
    def put_ticket(self, ticket: str, data: dict[str, Any], *, ttl: int) -> None:
        self.r.set(f"{self.p}ticket:{_h(ticket)}", json.dumps(data), ex=ttl)

    def take_ticket(self, ticket: str) -> dict[str, Any] | None:
        """Atomically read and delete: a ticket works once."""
        raw = self.r.getdel(f"{self.p}ticket:{_h(ticket)}")
        return json.loads(raw) if raw else None

    # -- deleted accounts ----------------------------------------------------
    def mark_address_deleted(self, email_norm: str, *, at: float, ttl: int) -> None:
        self.r.set(f"{self.p}gone:{_h(email_norm)}", repr(at), ex=ttl)

    def address_deleted_at(self, email_norm: str) -> float | None:
        raw = self.r.get(f"{self.p}gone:{_h(email_norm)}")
        return float(raw) if raw else None

    # -- single-use ceremony state (passkeys, OpenID Connect) ------------------
    def put_once(self, kind: str, key: str, data: dict[str, Any], *, ttl: int) -> None:
        self.r.set(f"{self.p}{kind}:{_h(key)}", json.dumps(data), ex=ttl)

    def take_once(self, kind: str, key: str) -> dict[str, Any] | None:
        """Read and delete in one step (GETDEL): a second taker gets None."""
        raw = self.r.getdel(f"{self.p}{kind}:{_h(key)}")
        return json.loads(raw) if raw else None

    # -- sign-in attempts (code in the mail, the device that asked) ------------
    def put_attempt(self, attempt_id: str, fields: dict[str, str], *, ttl: int) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(f"{self.p}attempt:{attempt_id}", mapping=fields)  # type: ignore[arg-type]
        pipe.expire(f"{self.p}attempt:{attempt_id}", ttl)
        pipe.execute()

    def update_attempt(self, attempt_id: str, fields: dict[str, str]) -> bool:
        """Set fields of a live attempt; False (and nothing written) when it is gone."""
        key = f"{self.p}attempt:{attempt_id}"
        ok = self.r.eval(_UPDATE_IF_EXISTS, 1, key, *[x for kv in fields.items() for x in kv])
        return bool(ok)

    def set_latest_attempt(self, email_norm: str, attempt_id: str, *, ttl: int) -> None:
        self.r.set(f"{self.p}attempt-of:{_h(email_norm)}", attempt_id, ex=ttl)

    def latest_attempt(self, email_norm: str) -> str | None:
        raw = self.r.get(f"{self.p}attempt-of:{_h(email_norm)}")
        return _s(raw) if raw else None

    def get_attempt(self, attempt_id: str) -> dict[str, str] | None:
        raw = self.r.hgetall(f"{self.p}attempt:{attempt_id}")
        return {_s(k): _s(v) for k, v in raw.items()} if raw else None

    def count_attempt_failure(self, attempt_id: str, counter: str) -> int:
        """One more wrong try (atomic); the new count."""
        key = f"{self.p}attempt:{attempt_id}"
        return int(self.r.eval(_INCR_IF_EXISTS, 1, key, counter))

    def attempt_counter(self, attempt_id: str, counter: str) -> int:
        return int(self.r.hget(f"{self.p}attempt:{attempt_id}", counter) or 0)

    def claim_attempt(self, attempt_id: str, flag: str) -> bool:
        """Set a flag once (HSETNX): True only for the first caller."""
        return bool(self.r.eval(_CLAIM_IF_EXISTS, 1, f"{self.p}attempt:{attempt_id}", flag))

    def release_attempt(self, attempt_id: str, flag: str) -> None:
        self.r.hdel(f"{self.p}attempt:{attempt_id}", flag)

    # -- mail delivery ---------------------------------------------------------
    def mark_mail_sent(self, job_id: str, *, ttl: int) -> None:
        self.r.set(f"{self.p}mail:sent:{job_id}", "1", ex=ttl)

    def mail_sent(self, job_id: str) -> bool:
        return bool(self.r.exists(f"{self.p}mail:sent:{job_id}"))

    def worker_heartbeat(self, name: str, *, at: float, forget_before: float) -> None:
        key = f"{self.p}mail:workers"
        pipe = self.r.pipeline()
        pipe.zadd(key, {name: at})
        pipe.zremrangebyscore(key, "-inf", forget_before)  # workers long gone
        pipe.execute()

    def worker_gone(self, name: str) -> None:
        self.r.zrem(f"{self.p}mail:workers", name)

    def last_worker_heartbeat(self) -> float | None:
        """When the most recently alive mail worker last said so (None: never)."""
        newest = self.r.zrevrange(f"{self.p}mail:workers", 0, 0, withscores=True)
        return float(newest[0][1]) if newest else None

    # -- health --------------------------------------------------------------
    def ping(self) -> bool:
        return bool(self.r.ping())
