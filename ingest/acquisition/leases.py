"""Which poller polls which device: leases in Redis, so that every device is polled by exactly one live worker.

A poller claims a device with SET NX and a time to live, renews its leases while it lives, and releases them
when it stops. Each poller also beats a heartbeat: a short-lived key (INGEST_POLLER_HEARTBEAT_SECONDS) renewed
several times within its life, and its name on the pollers' roll (scored with the time of its last beat). So:

* every poller knows how many are alive (those whose heartbeat key exists) and claims at most its fair share: a
  worker that joins takes its part of the load from the others as they shed their surplus at their next renewal;
* a poller that dies without stopping (kill -9, a lost host) is known dead as soon as its heartbeat key lapses,
  seconds before its leases would: another poller takes its devices over then (atomically, in Redis: only while
  the holder's heartbeat is gone), and learns when the dead one last beat, which dates the start of the gap. The
  last holder of each lease is remembered (HOLDERS_KEY), so a device claimed after its dead holder's lease lapsed
  counts as taken over too; a clean release forgets it.

Why a poller whose heartbeat lapsed while it was alive (a long pause) never polls beside the one that took its
devices: it starts a poll only while its last successful beat is fresh (ingest.acquisition.poller), and it learns
which leases it lost at its next renewal, which compares the holder in Redis with itself.

The scripts read keys they are not handed (heartbeats, the roll): one Redis server, not a cluster.
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection
from dataclasses import dataclass, field

import redis

KEY_PREFIX = "ingest:poller:device:"
POLLERS_KEY = "ingest:pollers"
ALIVE_PREFIX = "ingest:poller:alive:"
#: Lease key -> the poller that held it last, kept after the lease lapses and cleared by a clean release: a device
#: whose dead holder's lease lapsed before anyone took it over (a lone worker restarted after a kill -9) is still
#: known to come out of a death, and its gap is marked.
HOLDERS_KEY = "ingest:poller:holders"
#: A dead poller stays on the roll this long: the time of its last beat dates the gap of the devices taken over.
ROLL_KEEP_SECONDS = 3600.0

# KEYS: lease keys; ARGV[1]: owner, ARGV[2]: ttl in ms. Returns the keys still held (renewed).
_RENEW = """
local held = {}
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
    table.insert(held, key)
  end
end
return held
"""

# KEYS: lease keys; ARGV[1]: owner, ARGV[2]: the holders hash. Deletes those the owner holds.
_RELEASE = """
local n = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('DEL', key)
    redis.call('HDEL', ARGV[2], key)
    n = n + 1
  end
end
return n
"""

# KEYS: lease keys, in the order to claim; ARGV[1]: owner, ARGV[2]: ttl in ms, ARGV[3]: at most this many,
# ARGV[4]: heartbeat key prefix, ARGV[5]: the roll, ARGV[6]: the holders hash. A free lease is claimed; one whose
# holder's heartbeat is gone is taken over. Returns key, dead previous holder ('' if none: free, or given back
# cleanly), its last beat ('' if unknown) for each lease claimed.
_CLAIM = """
local claimed = {}
local n = 0
for _, key in ipairs(KEYS) do
  if n >= tonumber(ARGV[3]) then break end
  local previous = nil
  local got = false
  if redis.call('SET', key, ARGV[1], 'NX', 'PX', ARGV[2]) then
    got = true
    previous = redis.call('HGET', ARGV[6], key)
  else
    local holder = redis.call('GET', key)
    if holder and holder ~= ARGV[1] and redis.call('EXISTS', ARGV[4] .. holder) == 0 then
      redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
      got = true
      previous = holder
    end
  end
  if got then
    if previous and (previous == ARGV[1] or redis.call('EXISTS', ARGV[4] .. previous) == 1) then previous = nil end
    redis.call('HSET', ARGV[6], key, ARGV[1])
    table.insert(claimed, key)
    table.insert(claimed, previous or '')
    table.insert(claimed, previous and (redis.call('ZSCORE', ARGV[5], previous) or '') or '')
    n = n + 1
  end
end
return claimed
"""

# KEYS[1]: this poller's heartbeat, KEYS[2]: the roll; ARGV[1]: owner, ARGV[2]: heartbeat ms, ARGV[3]: now (epoch
# s), ARGV[4]: heartbeat key prefix, ARGV[5]: forget the roll's entries older than this. Returns whether the
# heartbeat was still there, how many pollers are alive, and the names of the dead ones on the roll.
_BEAT = """
local kept = redis.call('EXISTS', KEYS[1])
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[5])
local live = 0
local dead = {}
for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  if redis.call('EXISTS', ARGV[4] .. member) == 1 then live = live + 1 else table.insert(dead, member) end
end
return {kept, live, dead}
"""


def _key(device_id: int) -> str:
    return f"{KEY_PREFIX}{device_id}"


@dataclass(frozen=True)
class Beat:
    """What one heartbeat learnt. `lapsed`: this poller's heartbeat had expired before it (others may have taken
    some of its devices since: its next renewal tells which)."""

    lapsed: bool
    live: int
    dead: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class TakeOver:
    """A device claimed from a poller that died holding it; `last_beat`: its last heartbeat (epoch s), if known."""

    device_id: int
    dead_owner: str
    last_beat: float | None


class DeviceLeases:
    """One poller's leases and heartbeat. `sync` is its whole protocol (`beat` in between keeps the heartbeat
    fresh); both raise redis.RedisError when Redis is unreachable."""

    def __init__(
        self, client: redis.Redis, *, owner: str, ttl_seconds: float, heartbeat_seconds: float | None = None
    ) -> None:
        if ttl_seconds <= 0 or (heartbeat_seconds is not None and heartbeat_seconds <= 0):
            raise ValueError("the lease and heartbeat times must be positive")
        self.client = client
        self.owner = owner
        self.ttl_ms = int(ttl_seconds * 1000)
        # A heartbeat outliving the leases would only keep a dead poller's name alive after its devices are free.
        self.heartbeat_ms = int(min(heartbeat_seconds or ttl_seconds, ttl_seconds) * 1000)
        self.held: set[int] = set()
        self.taken_over: list[TakeOver] = []  # since the caller last took them (take_overs_pop)
        self._joined = False
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._claim = client.register_script(_CLAIM)
        self._beat = client.register_script(_BEAT)

    @property
    def heartbeat_seconds(self) -> float:
        return self.heartbeat_ms / 1000

    def beat(self) -> Beat:
        """Renew this poller's heartbeat (joining the roll the first time); see the pollers alive and dead."""
        now = time.time()
        kept, live, dead = self._beat(
            keys=[f"{ALIVE_PREFIX}{self.owner}", POLLERS_KEY],
            args=[self.owner, self.heartbeat_ms, repr(now), ALIVE_PREFIX, repr(now - ROLL_KEEP_SECONDS)],
        )
        lapsed = self._joined and not kept
        self._joined = True
        return Beat(lapsed=lapsed, live=max(1, int(live)), dead=frozenset(m.decode() for m in dead))

    def sync(self, wanted: Collection[int]) -> set[int]:
        """Renew what is held and still wanted, release the rest and any surplus over the fair share, claim free
        devices and those of dead pollers up to it; returns the devices held now."""
        wanted = set(wanted)
        share = math.ceil(len(wanted) / self.beat().live)
        keep = sorted(self.held & wanted)
        renewed = self._renew(keys=[_key(d) for d in keep], args=[self.owner, self.ttl_ms])
        held = {int(k.decode().removeprefix(KEY_PREFIX)) for k in renewed}
        surplus = sorted(held)[share:] if len(held) > share else []
        self.release(set(self.held - held) | set(surplus) | (self.held - wanted))
        held -= set(surplus)
        candidates = sorted(wanted - held)
        if candidates and len(held) < share:
            claimed = self._claim(
                keys=[_key(d) for d in candidates],
                args=[self.owner, self.ttl_ms, share - len(held), ALIVE_PREFIX, POLLERS_KEY, HOLDERS_KEY],
            )
            for i in range(0, len(claimed), 3):
                device_id = int(claimed[i].decode().removeprefix(KEY_PREFIX))
                held.add(device_id)
                if claimed[i + 1]:
                    last_beat = float(claimed[i + 2]) if claimed[i + 2] else None
                    self.taken_over.append(TakeOver(device_id, claimed[i + 1].decode(), last_beat))
        self.held = held
        return set(held)

    def take_overs_pop(self) -> list[TakeOver]:
        """The devices taken over from dead pollers since the last call."""
        taken, self.taken_over = self.taken_over, []
        return taken

    def release(self, device_ids: Collection[int]) -> None:
        device_ids = set(device_ids)
        if device_ids:
            self._release(keys=[_key(d) for d in sorted(device_ids)], args=[self.owner, HOLDERS_KEY])
        self.held -= device_ids

    def release_all(self) -> None:
        """Stop: give every device back, then leave the roll and end the heartbeat (a clean stop is no death:
        whoever claims the devices next finds them free, and marks no gap)."""
        self.release(self.held)
        pipe = self.client.pipeline()
        pipe.zrem(POLLERS_KEY, self.owner)
        pipe.delete(f"{ALIVE_PREFIX}{self.owner}")
        pipe.execute()
        self._joined = False


def pollers_alive(client: redis.Redis) -> list[str]:
    """The pollers on the roll whose heartbeat has not lapsed (for readiness probes and metrics)."""
    names = [m.decode() if isinstance(m, bytes) else str(m) for m in client.zrange(POLLERS_KEY, 0, -1)]
    if not names:
        return []
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.exists(f"{ALIVE_PREFIX}{name}")
    return [n for n, up in zip(names, pipe.execute(), strict=True) if up]
