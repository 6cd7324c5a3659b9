"""A ledger in Redis: spend shared by every process, each write one atomic Lua script.

Redis runs a script to completion before any other command, so the check and
the reservation (or the spend and the warning marks) cannot interleave with
another client's. Keys, under the prefix and a budget's key ``B``:

- ``B|s|<bucket>``: settled spend of one bucket (an integer, ``INCRBY``);
- ``B|r`` (hash reservation id -> amount), ``B|rx`` (sorted set id -> expiry, ms) and
  ``B|rt`` (their running total, so a reservation costs the same however many are live);
  a lease (:mod:`toolkeeper.costs.leases`) is one such reservation, of the lease's size,
  which drawn calls' settles and the give-back shrink;
- ``B|f|<period>``: the warnings fired in a period (``HSETNX`` deduplicates them);
- ``overshoots:calls``, ``overshoots:amount``, ``overshoots:largest``: hashes by tool of
  the calls that cost more than they reserved (all-time totals, never expiring).

Every key expires after its period plus a grace of two days (relative ``EXPIRE``
computed from the caller's clock, so fake clocks work). Times are the caller's,
which suits processes on hosts whose clocks agree. Scripts build key names from
the prefix, so this targets a single Redis server (not Redis Cluster). Lua
numbers are doubles, returned as integer replies: amounts stay exact below 2**53
nano-dollars ($9 million) per budget and period, which the ledger enforces.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime, timedelta
from typing import Any

from toolkeeper._errors import MissingDependencyError, StoreError
from toolkeeper.costs.budgets import Charge
from toolkeeper.costs.leases import LEASE_SECONDS, Lease
from toolkeeper.costs.ledger import ADMITTED, Fired, Overshoot, Verdict
from toolkeeper.costs.ledger_batch import Ask, PendingSettle, QueuedLedger

__all__ = ["RedisLedger"]

_EXACT_LIMIT = 2**53
_OVERSHOOT_PARTS = ("calls", "amount", "largest")

_COMMON = """
local function spent_of(p, since, bucket, width)
  local total = 0
  local b = since
  while b <= bucket do
    local v = redis.call('GET', p .. '|s|' .. b)
    if v then total = total + tonumber(v) end
    b = b + width
  end
  return total
end
local function held_total(p)
  local t = redis.call('GET', p .. '|rt')
  if t then return tonumber(t) end
  -- No running total yet (keys written before it existed): count the holds once.
  local total = 0
  for _, v in ipairs(redis.call('HVALS', p .. '|r')) do total = total + tonumber(v) end
  redis.call('SET', p .. '|rt', total)
  return total
end
local function unhold(p, rid)
  local v = redis.call('HGET', p .. '|r', rid)
  if v then
    redis.call('HDEL', p .. '|r', rid)
    redis.call('DECRBY', p .. '|rt', v)
  end
end
-- Shrink a hold by `by` (nil: all of it), dropping it once nothing is left.
local function shrink(p, rid, by)
  local v = redis.call('HGET', p .. '|r', rid)
  if not v then return end
  if by == nil or tonumber(by) >= tonumber(v) then
    redis.call('HDEL', p .. '|r', rid)
    redis.call('ZREM', p .. '|rx', rid)
    redis.call('DECRBY', p .. '|rt', v)
  else
    redis.call('HINCRBY', p .. '|r', rid, '-' .. by)
    redis.call('DECRBY', p .. '|rt', by)
  end
end
local function reserved_of(p, now)
  held_total(p)
  local dead = redis.call('ZRANGEBYSCORE', p .. '|rx', '-inf', now)
  for _, rid in ipairs(dead) do unhold(p, rid) end
  if #dead > 0 then redis.call('ZREMRANGEBYSCORE', p .. '|rx', '-inf', now) end
  return held_total(p)
end
"""

# Arguments: now in ms, expiry in ms, amount, reservation id, number of charges, the lease's
# size (0: take none), the room every blocking budget needs left for it, its id and its
# expiry in ms, then seven per charge: key, limit, blocking (1 or 0), since, bucket, width, ttl.
# Returns admitted (1 or 0), the refusing charge, its spend and reservations, leased (1 or 0).
_RESERVE = (
    _COMMON
    + """
local now, expires, amount, id = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), ARGV[4]
local n, room = tonumber(ARGV[5]), tonumber(ARGV[7])
local leasable = tonumber(ARGV[6]) > 0
for i = 0, n - 1 do
  local a = 10 + i * 7
  if ARGV[a + 2] == '1' then
    local p, limit = ARGV[a], tonumber(ARGV[a + 1])
    local s = spent_of(p, tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5]))
    local r = reserved_of(p, now)
    local committed = s + r
    if not (committed < limit and committed + amount <= limit) then
      return {0, i, s, r, 0}
    end
    if limit - committed < room then leasable = false end
  end
end
local hold, held, untill = id, ARGV[3], expires
if leasable then hold, held, untill = ARGV[8], ARGV[6], ARGV[9] end
for i = 0, n - 1 do
  local a = 10 + i * 7
  local p, ttl = ARGV[a], ARGV[a + 6]
  held_total(p)
  redis.call('HSET', p .. '|r', hold, held)
  redis.call('INCRBY', p .. '|rt', held)
  redis.call('ZADD', p .. '|rx', untill, hold)
  redis.call('EXPIRE', p .. '|r', ttl)
  redis.call('EXPIRE', p .. '|rx', ttl)
  redis.call('EXPIRE', p .. '|rt', ttl)
end
if leasable then return {1, -1, 0, 0, 1} end
return {1, -1, 0, 0, 0}
"""
)

# Arguments: amount, number of holds, a (reservation id, amount) pair each (amount '': drop
# the whole hold; else shrink a lease's hold by it), number of charges, then per charge:
# key, since, bucket, width, period, ttl, number of thresholds, and a (label, mark) pair each.
_SETTLE = (
    _COMMON
    + """
local amount, h = ARGV[1], tonumber(ARGV[2])
local n = tonumber(ARGV[3 + 2 * h])
local fired = {}
local a = 4 + 2 * h
for i = 0, n - 1 do
  local p, since, bucket = ARGV[a], tonumber(ARGV[a + 1]), ARGV[a + 2]
  local width, period, ttl = tonumber(ARGV[a + 3]), ARGV[a + 4], ARGV[a + 5]
  local m = tonumber(ARGV[a + 6])
  if h > 0 then
    held_total(p)
    for j = 0, h - 1 do
      local by = ARGV[4 + 2 * j]
      if by == '' then by = nil end
      shrink(p, ARGV[3 + 2 * j], by)
    end
  end
  if tonumber(amount) > 0 then
    redis.call('INCRBY', p .. '|s|' .. bucket, amount)
    redis.call('EXPIRE', p .. '|s|' .. bucket, ttl)
  end
  local s = spent_of(p, since, tonumber(bucket), width)
  local marks = p .. '|f|' .. period
  for j = 0, m - 1 do
    local label, mark = ARGV[a + 7 + 2 * j], tonumber(ARGV[a + 8 + 2 * j])
    if s > 0 and s >= mark and redis.call('HSETNX', marks, label, '1') == 1 then
      redis.call('EXPIRE', marks, ttl)
      table.insert(fired, i)
      table.insert(fired, label)
      table.insert(fired, s)
    end
  end
  a = a + 7 + 2 * m
end
return fired
"""
)

# Arguments: now in ms, then the charge's key, since, bucket and width.
_USAGE = (
    _COMMON
    + """
local p = ARGV[2]
local s = spent_of(p, tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))
return {s, reserved_of(p, tonumber(ARGV[1]))}
"""
)

# Arguments: number of holds, then a (key, lease id, amount given back) triple each.
_GIVE_BACK = (
    _COMMON
    + """
for i = 0, tonumber(ARGV[1]) - 1 do
  local p = ARGV[2 + 3 * i]
  held_total(p)
  shrink(p, ARGV[3 + 3 * i], ARGV[4 + 3 * i])
end
return 1
"""
)

# Keys: the calls, amount and largest hashes. Arguments: the tool and the amount.
_OVERSHOOT = """
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('HINCRBY', KEYS[2], ARGV[1], ARGV[2])
local largest = redis.call('HGET', KEYS[3], ARGV[1])
if not largest or tonumber(largest) < tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
end
return 1
"""


class RedisLedger(QueuedLedger[None]):
    """Keep spend in Redis under ``prefix``; open one with :meth:`from_url`."""

    def __init__(
        self,
        client: Any,
        *,
        uri: str,
        prefix: str = "toolkeeper:budget:",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Use a ``redis.Redis`` client (``decode_responses`` may be either).

        ``clock`` (monotonic seconds) times the leases.
        """
        self._client = client
        self._prefix = prefix
        self.uri = uri
        self._reserve = client.register_script(_RESERVE)
        self._settle_script = client.register_script(_SETTLE)
        self._usage_script = client.register_script(_USAGE)
        self._give_back_script = client.register_script(_GIVE_BACK)
        self._overshoot = client.register_script(_OVERSHOOT)
        self._overshoot_keys = [f"{prefix}overshoots:{part}" for part in _OVERSHOOT_PARTS]
        super().__init__(name="redis", clock=clock)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "toolkeeper:budget:",
        clock: Callable[[], float] = time.monotonic,
    ) -> RedisLedger:
        """Connect to the Redis server at ``url`` (needs ``toolkeeper[redis]``)."""
        try:
            # Deferred: redis-py is optional (toolkeeper[redis]) and only a redis:// URI needs it.
            import redis
        except ImportError:
            raise MissingDependencyError("budgets shared through Redis", "redis") from None
        shown = _mask(url)
        with _translated(shown):
            client = redis.Redis.from_url(url)
        return cls(client, uri=shown, prefix=prefix, clock=clock)

    def _reserving(self) -> AbstractContextManager[None]:
        """Return nothing to enter: each reservation is one script, atomic on its own."""
        return nullcontext()

    def _reserve_once(self, _session: None, ask: Ask, size: int, returned: list[Lease]) -> Verdict:
        """Give back ``returned``, then run the reserve script: hold a lease or the amount."""
        if returned:
            self._give_back(returned)
        lease_id = self._leases.new_id() if size else ""
        until = _ms(ask.expires + timedelta(seconds=LEASE_SECONDS))
        args: list[Any] = [_ms(ask.now), _ms(ask.expires), ask.amount, ask.rid, len(ask.charges)]
        args += [size, self._leases.room_for(size), lease_id, until]
        for charge in ask.charges:
            _check_exact(charge)
            args += [self._key(charge), charge.limit, int(charge.blocking), charge.since]
            args += [charge.bucket, charge.width, charge.slot.ttl_seconds]
        with _translated(self.uri):
            admitted, blocked, spent, reserved, leased = self._reserve(args=args)
        if int(leased):
            self._leases.taken(ask.which, lease_id, size, ask.amount, ask.rid)
        if int(admitted):
            return ADMITTED
        return Verdict(False, int(blocked), int(spent), int(reserved))

    def _settle(
        self, charges: Sequence[Charge], amount: int, rid: str | None, _now: datetime
    ) -> list[Fired]:
        """Run the settle script: drop or shrink the hold, add the spend, mark the warnings."""
        drawn = self._leases.undraw(rid)
        holds: dict[str, int | None] = {}
        if drawn is not None:
            holds[drawn[0]] = drawn[1]
        elif rid is not None:
            holds[rid] = None
        with _translated(self.uri):
            flat = self._settle_script(args=_settle_args(self._prefix, charges, amount, holds))
        return _fired(flat)

    def _give_back(self, leases: list[Lease]) -> None:
        """Run the give-back script: shrink each lease's holds by what no call drew."""
        args: list[Any] = [sum(len(lease.charges) for lease in leases)]
        for lease in leases:
            for key, _, _ in lease.charges:
                args += [self._prefix + key, lease.id, lease.left]
        with _translated(self.uri):
            self._give_back_script(args=args)

    def _usage(self, charge: Charge, now: datetime) -> tuple[int, int]:
        """Run the usage script: the window's spend and the live reservations."""
        args = [_ms(now), self._key(charge), charge.since, charge.bucket, charge.width]
        with _translated(self.uri):
            spent, reserved = self._usage_script(args=args)
        return int(spent), int(reserved)

    def add_overshoot(self, tool: str, amount: int, *, now: datetime) -> None:
        """Run the overshoot script: one more call, ``amount`` more, and the largest kept."""
        del now  # totals are all-time: the clock is not needed
        with _translated(self.uri):
            self._overshoot(keys=self._overshoot_keys, args=[tool, amount])

    def overshoots(self) -> dict[str, Overshoot]:
        """Return every tool's overshoot totals, as every process sharing Redis counted them."""
        with _translated(self.uri):
            pipe = self._client.pipeline(transaction=True)
            for key in self._overshoot_keys:
                pipe.hgetall(key)
            calls, amounts, largest = (
                {_text(tool): int(value) for tool, value in found.items()}
                for found in pipe.execute()
            )
        return {
            tool: Overshoot.from_nanos(count, amounts.get(tool, 0), largest.get(tool, 0))
            for tool, count in sorted(calls.items())
        }

    def close(self) -> None:
        """Write the queued settles, then close the connection pool."""
        super().close()
        self._client.close()

    def _write_batch(self, batch: list[PendingSettle]) -> list[list[Fired]]:
        """Write a batch in one pipeline: one script per set of charges, its spend summed.

        Warnings fire on the batch's final spend and go to the last settle of each set.
        """
        groups: dict[tuple[tuple[str, int], ...], tuple[int, int, dict[str, int | None]]] = {}
        for position, item in enumerate(batch):
            which = tuple((charge.key, charge.bucket) for charge in item.charges)
            _, amount, holds = groups.get(which, (0, 0, {}))
            if item.lease is not None:
                lease_id, drawn = item.lease
                holds[lease_id] = (holds.get(lease_id) or 0) + drawn
            elif item.reservation_id is not None:
                holds[item.reservation_id] = None
            groups[which] = (position, amount + item.amount, holds)
        pipe = self._client.pipeline(transaction=False)
        for position, amount, holds in groups.values():
            args = _settle_args(self._prefix, batch[position].charges, amount, holds)
            self._settle_script(args=args, client=pipe)
        with _translated(self.uri):
            replies = pipe.execute()
        results: list[list[Fired]] = [[] for _ in batch]
        for (position, _, _), flat in zip(groups.values(), replies, strict=True):
            results[position] = _fired(flat)
        return results

    def _key(self, charge: Charge) -> str:
        return self._prefix + charge.key


def _settle_args(
    prefix: str, charges: Sequence[Charge], amount: int, holds: dict[str, int | None]
) -> list[Any]:
    args: list[Any] = [amount, len(holds)]
    for held, by in holds.items():
        args += [held, "" if by is None else by]
    args.append(len(charges))
    for charge in charges:
        args += [prefix + charge.key, charge.since, charge.bucket, charge.width, charge.period]
        args += [charge.slot.ttl_seconds, len(charge.thresholds)]
        for label, mark in charge.thresholds:
            args += [label, mark]
    return args


def _fired(flat: list[Any]) -> list[Fired]:
    return [
        Fired(int(flat[i]), _text(flat[i + 1]), int(flat[i + 2])) for i in range(0, len(flat), 3)
    ]


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _check_exact(charge: Charge) -> None:
    if charge.limit >= _EXACT_LIMIT:
        raise ValueError(
            f"budget {charge.key} limit is too large for the Redis ledger to keep exactly "
            f"(at most $9,007,199 per period); use the SQL store's ledger"
        )


def _mask(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at:
        return url
    user = credentials.partition(":")[0]
    return f"{scheme}{sep}{user}:***@{host}" if user else f"{scheme}{sep}***@{host}"


@contextmanager
def _translated(shown: str) -> Iterator[None]:
    # Deferred: redis-py is optional (toolkeeper[redis]) and only a redis:// URI needs it.
    import redis

    try:
        yield
    except redis.RedisError as exc:
        raise StoreError(
            f"the Redis ledger at {shown} failed ({type(exc).__name__}): {exc}"
        ) from exc
