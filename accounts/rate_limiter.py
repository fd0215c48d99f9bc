"""The rate limiter: GCRA (the generic cell rate algorithm) over any number of limits at once.

Each limit is "`rate` units per `period` seconds" under a key (a key's chat requests, a user's
chat tokens, ...). GCRA keeps one number per key, the theoretical arrival time (TAT): a request
of `cost` units is allowed when the TAT it would push forward stays within one period of now.
It allows a burst of a whole period's worth, refills smoothly, and gives exact `remaining` and
`reset` figures for the x-ratelimit-* headers.

Several limits are checked and taken together in one atomic step, so a request refused by one
limit takes nothing from the others. In Redis that step is one Lua script (one round trip,
atomic across every server process; Redis's own clock, so processes need not agree on time).
Without Redis (embedded mode: one process) the same arithmetic runs in memory.

`force` takes units without checking: used to count what a call really consumed (its tokens)
once it is over, so the next calls wait for it."""

from __future__ import annotations

import functools
import hashlib
import math
import threading
import time
from dataclasses import dataclass

from chukchat import redis_pipe
from chukchat.per_loop import PerLoop


@dataclass(frozen=True, slots=True)
class Limit:
    key: str
    rate: int  # units per period
    period: float = 60.0  # seconds
    cost: int = 1
    force: bool = False


@dataclass(frozen=True, slots=True)
class LimitState:
    limit: Limit
    remaining: int
    reset: float  # seconds until the limit is whole again


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    retry_after: float  # seconds; 0 when allowed
    states: tuple[LimitState, ...]


def _interval_ms(limit: Limit) -> float:
    return limit.period * 1000 / limit.rate


def _state(limit: Limit, tat: float, now: float) -> LimitState:
    interval = _interval_ms(limit)
    ahead = max(0.0, tat - now)
    remaining = max(0, math.floor((limit.period * 1000 - ahead) / interval + 1e-9))
    return LimitState(limit=limit, remaining=min(remaining, limit.rate), reset=ahead / 1000)


def decide(limits: list[Limit], tats: list[float | None], now: float) -> tuple[Verdict, list]:
    """The GCRA decision, shared by both stores: the verdict, and the TAT to store for each
    limit (None where nothing changes). `tats` is what each limit's key held when it was read:
    forced counts are applied first, so a checked limit on the same key sees them. Forced counts
    are taken even when the request is refused. Times in milliseconds."""
    retry = 0.0
    pushed = []
    for limit, stored in zip(limits, tats, strict=True):
        tat = max(stored if stored is not None else now, now)
        new_tat = tat + limit.cost * _interval_ms(limit)
        if not limit.force:
            allow_at = new_tat - limit.period * 1000
            if allow_at > now:
                retry = max(retry, allow_at - now)
        pushed.append((tat, new_tat))
    allowed = retry == 0
    states = tuple(
        _state(limit, new if allowed or limit.force else tat, now)
        for limit, (tat, new) in zip(limits, pushed, strict=True)
    )
    stored_tats = [
        new if (allowed or limit.force) else None
        for limit, (_, new) in zip(limits, pushed, strict=True)
    ]
    return Verdict(allowed=allowed, retry_after=retry / 1000, states=states), stored_tats


class MemoryStore:
    """Embedded mode only: one process, so a dict behind a lock is the whole truth."""

    def __init__(self) -> None:
        self.tats: dict[str, float] = {}
        self.lock = threading.Lock()

    def check(self, limits: list[Limit]) -> Verdict:
        now = time.monotonic() * 1000
        with self.lock:
            seen: list[float | None] = [None] * len(limits)
            for i, limit in enumerate(limits):  # forced counts first, as in Redis
                if limit.force:
                    seen[i] = self.tats.get(limit.key)
                    tat = max(seen[i] if seen[i] is not None else now, now)
                    self.tats[limit.key] = tat + limit.cost * _interval_ms(limit)
            for i, limit in enumerate(limits):
                if not limit.force:
                    seen[i] = self.tats.get(limit.key)
            verdict, new = decide(limits, seen, now)
            for limit, tat in zip(limits, new, strict=True):
                if tat is not None and not limit.force:
                    self.tats[limit.key] = tat
            if len(self.tats) > 100_000:  # drop keys that are whole again
                self.tats = {k: v for k, v in self.tats.items() if v > now}
        return verdict

    async def acheck(self, limits: list[Limit]) -> Verdict:
        return self.check(limits)


# KEYS: one per limit. ARGV: per limit interval_ms, period_ms, cost, force. Returns
# {retry_ms, tat_1, ..., tat_n} with the TATs as strings (Lua numbers would be truncated).
# KEYS: one per limit. ARGV: per limit interval_ms, period_ms, cost, force. Forced counts are
# applied first (and kept even when the request is refused); then the checked limits, taken
# only if all of them allow it. Returns {now, retry_ms, tat seen by each limit} as strings (Lua
# numbers would be truncated to integers).
_GCRA = """
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
local out = {string.format('%.3f', now), '0'}
local function tat_of(key)
    local tat = tonumber(redis.call('GET', key) or now)
    if tat < now then return now, tat end
    return tat, tat
end
for i = 1, #KEYS do
    if ARGV[i * 4] == '1' then
        local tat, seen = tat_of(KEYS[i])
        local new = tat + tonumber(ARGV[i * 4 - 1]) * tonumber(ARGV[i * 4 - 3])
        redis.call('SET', KEYS[i], string.format('%.3f', new), 'PX', math.ceil(new - now) + 1000)
        out[i + 2] = string.format('%.3f', seen)
    end
end
local retry = 0
local news = {}
for i = 1, #KEYS do
    if ARGV[i * 4] == '0' then
        local tat, seen = tat_of(KEYS[i])
        local new = tat + tonumber(ARGV[i * 4 - 1]) * tonumber(ARGV[i * 4 - 3])
        if new - tonumber(ARGV[i * 4 - 2]) > now then
            retry = math.max(retry, new - tonumber(ARGV[i * 4 - 2]) - now)
        end
        news[i] = new
        out[i + 2] = string.format('%.3f', seen)
    end
end
if retry == 0 then
    for i, new in pairs(news) do
        redis.call('SET', KEYS[i], string.format('%.3f', new), 'PX', math.ceil(new - now) + 1000)
    end
end
out[2] = string.format('%.3f', retry)
return out
"""
_GCRA_SHA = hashlib.sha1(_GCRA.encode(), usedforsecurity=False).hexdigest()


class RedisStore:
    def __init__(self, url: str, *, connections: int = 50) -> None:
        self.url = url
        self.connections = connections
        self._sync = None
        self._async: PerLoop[object] = PerLoop(self._async_script)

    def _args(self, limits: list[Limit]) -> tuple[list[str], list]:
        keys = [f"rl:{limit.key}" for limit in limits]
        args: list = []
        for limit in limits:
            args += [_interval_ms(limit), limit.period * 1000, limit.cost, int(limit.force)]
        return keys, args

    @staticmethod
    def _verdict(limits: list[Limit], reply: list) -> Verdict:
        now = float(reply[0])
        # The script decided and stored; the same arithmetic on what it saw gives the figures.
        verdict, _ = decide(limits, [float(t) for t in reply[2:]], now)
        return verdict

    def check(self, limits: list[Limit]) -> Verdict:
        if self._sync is None:
            import redis

            self._sync = redis.Redis.from_url(
                self.url, socket_timeout=0.5, socket_connect_timeout=0.5
            )
            self._sync_script = self._sync.register_script(_GCRA)
        keys, args = self._args(limits)
        return self._verdict(limits, self._sync_script(keys=keys, args=args))

    def _async_script(self):
        """The GCRA script as an async callable of (keys=, args=), on either client."""
        if redis_pipe.supports(self.url):
            pipe = redis_pipe.RedisPipe(self.url, timeout=0.5)
            return functools.partial(pipe.run_script, sha=_GCRA_SHA, script=_GCRA)
        import redis.asyncio as aioredis

        # TLS: redis-py's client. A request waits its turn for one of a bounded set of
        # connections: redis-py's plain pool refused past 100 at once ("Too many
        # connections", seen at 500 requests/s, each refusal taken for Redis being down).
        pool = aioredis.BlockingConnectionPool.from_url(
            self.url,
            max_connections=self.connections,
            timeout=0.5,
            socket_timeout=0.5,
            socket_connect_timeout=0.5,
        )
        return aioredis.Redis(connection_pool=pool).register_script(_GCRA)

    async def acheck(self, limits: list[Limit]) -> Verdict:
        script = self._async.get()
        keys, args = self._args(limits)
        return self._verdict(limits, await script(keys=keys, args=args))
