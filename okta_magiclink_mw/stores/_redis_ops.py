"""The store's operations as one Lua script, and each call to it planned without I/O.

Both the sync and the async methods of :class:`~.redis.RedisSessionStore` run the
same plan; only the way they send it differs. See that module for the data model.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ._base import SessionInfo, StoredSession

T = TypeVar("T")

# One script, one round trip per operation; ARGV[1] names the operation, ARGV[2] is
# the prefix. Times come from the server's own clock so scores agree with PEXPIRE.
LUA = """
local op, prefix = ARGV[1], ARGV[2]
local channel = prefix .. ':invalidate'
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function settle(idx)
  redis.call('ZREMRANGEBYSCORE', idx, '-inf', now_ms())
  local last = redis.call('ZRANGE', idx, -1, -1, 'WITHSCORES')
  if last[2] then redis.call('PEXPIREAT', idx, last[2]) end
end
-- Deletes a record only if it is still the subject's (an index member may be stale).
local function drop(sid, subject)
  local key = prefix .. ':s:' .. sid
  if redis.call('HGET', key, 'u') ~= subject then return 0 end
  return redis.call('DEL', key)
end
if op == 'create' then
  local sid, ttl, max = ARGV[3], tonumber(ARGV[7]), tonumber(ARGV[8])
  local owner = redis.call('HGET', KEYS[1], 'u')
  if owner and owner ~= ARGV[6] then
    redis.call('ZREM', prefix .. ':u:' .. owner, sid)
    settle(prefix .. ':u:' .. owner)
  end
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'b', ARGV[4], 'c', ARGV[5], 't', ARGV[5], 'u', ARGV[6])
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('ZREM', KEYS[2], sid)
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now_ms())
  local extra = redis.call('ZCARD', KEYS[2]) - (max - 1)
  if extra > 0 then
    for _, old in ipairs(redis.call('ZRANGE', KEYS[2], 0, extra - 1)) do
      drop(old, ARGV[6])
      redis.call('PUBLISH', channel, old)
    end
    redis.call('ZREMRANGEBYRANK', KEYS[2], 0, extra - 1)
  end
  redis.call('ZADD', KEYS[2], now_ms() + ttl, sid)
  settle(KEYS[2])
  return 1
elseif op == 'load' then
  return redis.call('HMGET', KEYS[1], 'b', 'c', 't')
elseif op == 'touch' then
  if redis.call('HGET', KEYS[1], 'u') ~= ARGV[4] then return 0 end
  local ttl = tonumber(ARGV[6])
  redis.call('HSET', KEYS[1], 't', ARGV[5])
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('ZADD', KEYS[2], now_ms() + ttl, ARGV[3])
  settle(KEYS[2])
  return 1
elseif op == 'delete' then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[3])
  settle(KEYS[2])
  redis.call('PUBLISH', channel, ARGV[3])
  return 1
elseif op == 'delete_subject' then
  local n = 0
  for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    n = n + drop(sid, ARGV[3])
    redis.call('PUBLISH', channel, sid)
  end
  redis.call('DEL', KEYS[1])
  return n
elseif op == 'list_subject' then
  settle(KEYS[1])
  local out = {}
  for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    local v = redis.call('HMGET', prefix .. ':s:' .. sid, 'c', 't', 'u')
    if v[3] == ARGV[3] then
      table.insert(out, sid); table.insert(out, v[1]); table.insert(out, v[2])
    end
  end
  return out
elseif op == 'update' then
  -- HSET leaves the key's TTL alone: the record keeps its expiry.
  if redis.call('HGET', KEYS[1], 'u') ~= ARGV[4] then return 0 end
  redis.call('HSET', KEYS[1], 'b', ARGV[3])
  return 1
elseif op == 'spend' then
  if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[3]) then return 1 end
  return 0
elseif op == 'lock' then
  if redis.call('SET', KEYS[1], ARGV[3], 'NX', 'PX', ARGV[4]) then return 1 end
  return 0
elseif op == 'unlock' then
  -- Compare-and-delete: a holder whose lease ran out must not free its successor.
  if redis.call('GET', KEYS[1]) == ARGV[3] then redis.call('DEL', KEYS[1]) end
  return 1
elseif op == 'locked' then
  return redis.call('EXISTS', KEYS[1])
elseif op == 'link' then
  redis.call('ZADD', KEYS[1], now_ms() + tonumber(ARGV[4]), ARGV[3])
  settle(KEYS[1])
  return 1
elseif op == 'unlink' then
  redis.call('ZREM', KEYS[1], ARGV[3])
  settle(KEYS[1])
  return 1
elseif op == 'linked' then
  settle(KEYS[1])
  return redis.call('ZRANGE', KEYS[1], 0, -1)
end
return redis.error_reply('unknown operation')
"""


@dataclass(frozen=True, slots=True)
class Op(Generic[T]):
    """One script call, planned without I/O so the sync and async twins share it."""

    keys: list[str]
    args: list[Any]
    result: Callable[[Any], T]


def _ms(ttl: float) -> int:
    if not ttl > 0:
        raise ValueError("ttl must be positive")
    return max(1, math.ceil(ttl * 1000))


def _nothing(_: Any) -> None:
    return None


def _stored(reply: list[bytes | None]) -> StoredSession | None:
    blob, created, seen = reply
    if blob is None or created is None or seen is None:
        return None
    return StoredSession(blob, float(created), float(seen))


def _decoded(reply: list[bytes]) -> list[str]:
    return [member.decode() for member in reply]


def _infos(reply: list[bytes]) -> list[SessionInfo]:
    triples = [reply[i : i + 3] for i in range(0, len(reply), 3)]
    infos = [SessionInfo(sid.decode(), float(c), float(t)) for sid, c, t in triples]
    return sorted(infos, key=lambda info: info.created)


class Plans:
    """Builds the script call of each operation for one prefix."""

    def __init__(self, prefix: str, max_per_subject: int) -> None:
        self.prefix = prefix
        self.max_per_subject = max_per_subject

    def key(self, kind: str, name: str) -> str:
        return f"{self.prefix}:{kind}:{name}"

    def create(self, sid: str, subject: str, blob: bytes, now: float, ttl: float) -> Op[None]:
        keys = [self.key("s", sid), self.key("u", subject)]
        args = ["create", self.prefix, sid, blob, repr(now), subject, _ms(ttl)]
        return Op(keys, [*args, self.max_per_subject], _nothing)

    def load(self, sid: str) -> Op[StoredSession | None]:
        return Op([self.key("s", sid)], ["load", self.prefix], _stored)

    def touch(self, sid: str, subject: str, now: float, ttl: float) -> Op[bool]:
        keys = [self.key("s", sid), self.key("u", subject)]
        return Op(keys, ["touch", self.prefix, sid, subject, repr(now), _ms(ttl)], bool)

    def delete(self, sid: str, subject: str) -> Op[None]:
        keys = [self.key("s", sid), self.key("u", subject)]
        return Op(keys, ["delete", self.prefix, sid], _nothing)

    def delete_subject(self, subject: str) -> Op[int]:
        return Op([self.key("u", subject)], ["delete_subject", self.prefix, subject], int)

    def list_subject(self, subject: str) -> Op[list[SessionInfo]]:
        return Op([self.key("u", subject)], ["list_subject", self.prefix, subject], _infos)

    def update(self, sid: str, subject: str, blob: bytes) -> Op[bool]:
        return Op([self.key("s", sid)], ["update", self.prefix, blob, subject], bool)

    def spend(self, key: str, ttl: float) -> Op[bool]:
        return Op([self.key("k", key)], ["spend", self.prefix, _ms(ttl)], bool)

    def lock(self, key: str, lease: float) -> Op[str | None]:
        # 128 random bits: a token no other holder can guess or collide with.
        token = secrets.token_urlsafe(16)
        args = ["lock", self.prefix, token, _ms(lease)]
        return Op([self.key("l", key)], args, lambda taken: token if taken else None)

    def unlock(self, key: str, token: str) -> Op[None]:
        return Op([self.key("l", key)], ["unlock", self.prefix, token], _nothing)

    def locked(self, key: str) -> Op[bool]:
        return Op([self.key("l", key)], ["locked", self.prefix], bool)

    def link(self, alias: str, member: str, ttl: float) -> Op[None]:
        args = ["link", self.prefix, member, _ms(ttl)]
        return Op([self.key("a", alias)], args, _nothing)

    def unlink(self, alias: str, member: str) -> Op[None]:
        return Op([self.key("a", alias)], ["unlink", self.prefix, member], _nothing)

    def linked(self, alias: str) -> Op[list[str]]:
        return Op([self.key("a", alias)], ["linked", self.prefix], _decoded)
