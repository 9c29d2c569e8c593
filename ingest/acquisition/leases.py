"""Which poller polls which device: leases in Redis, so that every device is polled by exactly one live worker.

A poller claims a device with SET NX and a time to live, renews its leases while it lives, and releases them
when it stops. The devices of a poller that dies without stopping (kill -9, a lost host) are claimed by the
others once their leases lapse. Each poller also keeps a heartbeat in a sorted set, so that every poller knows
how many are alive and claims at most its fair share: a worker that joins takes its part of the load from the
others as they shed their surplus at their next renewal.
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection

import redis

KEY_PREFIX = "ingest:poller:device:"
POLLERS_KEY = "ingest:pollers"

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

# KEYS: lease keys; ARGV[1]: owner. Deletes those the owner holds.
_RELEASE = """
local n = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('DEL', key)
    n = n + 1
  end
end
return n
"""


def _key(device_id: int) -> str:
    return f"{KEY_PREFIX}{device_id}"


class DeviceLeases:
    """One poller's leases. `sync` is its whole protocol; raises redis.RedisError when Redis is unreachable."""

    def __init__(self, client: redis.Redis, *, owner: str, ttl_seconds: float) -> None:
        if ttl_seconds <= 0:
            raise ValueError("the lease time must be positive")
        self.client = client
        self.owner = owner
        self.ttl_ms = int(ttl_seconds * 1000)
        self.held: set[int] = set()
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    def sync(self, wanted: Collection[int]) -> set[int]:
        """Renew what is held and still wanted, release the rest and any surplus over the fair share, claim free
        devices up to it; returns the devices held now."""
        wanted = set(wanted)
        share = math.ceil(len(wanted) / self._live_pollers())
        keep = sorted(self.held & wanted)
        renewed = self._renew(keys=[_key(d) for d in keep], args=[self.owner, self.ttl_ms])
        held = {int(k.decode().removeprefix(KEY_PREFIX)) for k in renewed}
        surplus = sorted(held)[share:] if len(held) > share else []
        self.release(set(self.held - held) | set(surplus) | (self.held - wanted))
        held -= set(surplus)
        for device_id in sorted(wanted - held):
            if len(held) >= share:
                break
            if self.client.set(_key(device_id), self.owner, nx=True, px=self.ttl_ms):
                held.add(device_id)
        self.held = held
        return set(held)

    def release(self, device_ids: Collection[int]) -> None:
        device_ids = set(device_ids)
        if device_ids:
            self._release(keys=[_key(d) for d in sorted(device_ids)], args=[self.owner])
        self.held -= device_ids

    def release_all(self) -> None:
        """Stop: give every device back and leave the pollers' roll."""
        self.release(self.held)
        self.client.zrem(POLLERS_KEY, self.owner)

    def _live_pollers(self) -> int:
        """Count the pollers alive (this one included), after recording this one's heartbeat."""
        now = time.time()
        pipe = self.client.pipeline()
        pipe.zadd(POLLERS_KEY, {self.owner: now + self.ttl_ms / 1000})
        pipe.zremrangebyscore(POLLERS_KEY, "-inf", now)
        pipe.zcard(POLLERS_KEY)
        return max(1, int(pipe.execute()[-1]))
