"""FleetStore: every Redis key the controller uses, and the only code that builds key strings.

Keys (all under the configured prefix, `iisfleet:` by default)::

    operator:{key_id}        hash   token_hash, purpose, created_on
    join:{token_id}          hash   secret_hash, labels, created_on, used (expires with the token)
    agents                   set    every enrolled agent id
    agent:{id}               hash   name, url, labels, facts, enrolled_on, cert_serial, cert_expires_on, api_key
    agent:{id}:serials       set    certificate serials issued to the agent
    agent:{id}:summary       string last heartbeat summary (JSON, with computed request rates)
    agent-name:{name}        string agent id; a name belongs to one agent at a time
    directory                hash   agent id -> {"name", "url", "labels"} JSON, so fleet-wide views read one key
    serial:{serial}          string agent id of a valid certificate (expires with the certificate)
    seen                     zset   agent id -> time of its last heartbeat
    audit                    stream gateway calls: operator, method, path, agent, status
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from redis.asyncio import Redis

# Consume a join token atomically: the secret must match, it must not be used, and it must still exist.
_CONSUME = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unknown', ''} end
if redis.call('HGET', KEYS[1], 'secret_hash') ~= ARGV[1] then return {'unknown', ''} end
if redis.call('HSETNX', KEYS[1], 'used', ARGV[2]) == 0 then return {'used', ''} end
return {'ok', redis.call('HGET', KEYS[1], 'labels') or ''}
"""

AGENT_FIELDS = ("name", "url", "labels", "facts", "enrolled_on", "cert_serial", "cert_expires_on", "api_key")


class FleetStore:
    """Async access to the fleet's state in Redis (a client created with decode_responses=True)."""

    def __init__(self, redis: Redis, prefix: str = "iisfleet:") -> None:
        # redis-py's typing mixes bytes and str replies; with decode_responses=True every reply is str.
        self.redis: Any = redis
        self.prefix = prefix
        self._consume = redis.register_script(_CONSUME)

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    # -- operator keys ---------------------------------------------------------------------------

    async def add_operator_key(self, key_id: str, fields: Mapping[str, str]) -> None:
        """Store an operator key's hash and metadata."""
        await self.redis.hset(self._key("operator", key_id), mapping=dict(fields))

    async def operator_key(self, key_id: str) -> dict[str, str]:
        """An operator key's fields ({} when unknown)."""
        return dict(await self.redis.hgetall(self._key("operator", key_id)))

    # -- join tokens -----------------------------------------------------------------------------

    async def add_join_token(self, token_id: str, fields: Mapping[str, str], ttl: float) -> None:
        """Store a join token that Redis forgets after `ttl` seconds."""
        key = self._key("join", token_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=dict(fields))
            pipe.pexpire(key, max(1, int(ttl * 1000)))
            await pipe.execute()

    async def consume_join_token(self, token_id: str, secret_hash: str, used_on: str) -> tuple[str, str]:
        """("ok", labels JSON), ("used", "") or ("unknown", "") for unknown, expired or wrong-secret tokens."""
        result = await self._consume(keys=[self._key("join", token_id)], args=[secret_hash, used_on])
        return str(result[0]), str(result[1])

    # -- agents ----------------------------------------------------------------------------------

    async def claim_name(self, name: str, agent_id: str) -> bool:
        """Reserve `name` for `agent_id`; False when another agent holds it."""
        return bool(await self.redis.set(self._key("agent-name", name), agent_id, nx=True))

    async def release_name(self, name: str, agent_id: str) -> None:
        """Free `name` if `agent_id` still holds it."""
        key = self._key("agent-name", name)
        if await self.redis.get(key) == agent_id:
            await self.redis.delete(key)

    async def agent_id_by_name(self, name: str) -> str | None:
        """The id of the agent called `name`."""
        value = await self.redis.get(self._key("agent-name", name))
        return str(value) if value is not None else None

    async def put_agent(self, agent_id: str, fields: Mapping[str, str]) -> None:
        """Create or update an agent record (and its directory entry)."""
        key = self._key("agent", agent_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=dict(fields))
            pipe.sadd(self._key("agents"), agent_id)
            pipe.hmget(key, "name", "url", "labels")
            *_, (name, url, labels) = await pipe.execute()
        entry = {"name": name or "", "url": url or "", "labels": json.loads(labels or "{}")}
        await self.redis.hset(self._key("directory"), agent_id, json.dumps(entry, separators=(",", ":")))

    async def directory(self) -> dict[str, dict[str, Any]]:
        """Every agent's name, url and labels in one round trip."""
        raw = await self.redis.hgetall(self._key("directory"))
        return {agent_id: json.loads(entry) for agent_id, entry in raw.items()}

    async def agent(self, agent_id: str) -> dict[str, str]:
        """An agent's record ({} when unknown)."""
        return dict(await self.redis.hgetall(self._key("agent", agent_id)))

    async def agent_field(self, agent_id: str, field: str) -> str | None:
        """One field of an agent's record."""
        value = await self.redis.hget(self._key("agent", agent_id), field)
        return str(value) if value is not None else None

    async def agent_ids(self) -> list[str]:
        """Every enrolled agent id, sorted."""
        return sorted(await self.redis.smembers(self._key("agents")))

    async def agents(self, agent_ids: Sequence[str]) -> list[dict[str, str]]:
        """Several agent records in one round trip (unknown ids give {})."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for agent_id in agent_ids:
                pipe.hgetall(self._key("agent", agent_id))
            return list(await pipe.execute())

    async def delete_agent(self, agent_id: str) -> bool:
        """Remove an agent and invalidate every certificate serial issued to it."""
        record = await self.agent(agent_id)
        if not record:
            return False
        serials = await self.redis.smembers(self._key("agent", agent_id, "serials"))
        async with self.redis.pipeline(transaction=True) as pipe:
            for serial in serials:
                pipe.delete(self._key("serial", serial))
            pipe.delete(
                self._key("agent", agent_id),
                self._key("agent", agent_id, "serials"),
                self._key("agent", agent_id, "summary"),
            )
            pipe.srem(self._key("agents"), agent_id)
            pipe.hdel(self._key("directory"), agent_id)
            pipe.zrem(self._key("seen"), agent_id)
            await pipe.execute()
        await self.release_name(record.get("name", ""), agent_id)
        return True

    # -- certificates ----------------------------------------------------------------------------

    async def add_serial(self, agent_id: str, serial: str, ttl: float) -> None:
        """Record a certificate serial as valid for `agent_id` until it expires."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self._key("serial", serial), agent_id, px=max(1, int(ttl * 1000)))
            pipe.sadd(self._key("agent", agent_id, "serials"), serial)
            await pipe.execute()

    async def serial_owner(self, serial: str) -> str | None:
        """The agent a still-valid certificate serial belongs to."""
        value = await self.redis.get(self._key("serial", serial))
        return str(value) if value is not None else None

    # -- heartbeats ------------------------------------------------------------------------------

    async def record_heartbeat(self, agent_id: str, seen: float, facts: str, summary: str) -> None:
        """Store a heartbeat: time seen, facts and summary."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(self._key("seen"), {agent_id: seen})
            pipe.hset(self._key("agent", agent_id), "facts", facts)
            pipe.set(self._key("agent", agent_id, "summary"), summary)
            await pipe.execute()

    async def last_seen(self) -> dict[str, float]:
        """Every agent's last heartbeat time."""
        pairs = await self.redis.zrange(self._key("seen"), 0, -1, withscores=True)
        return {str(member): float(score) for member, score in pairs}

    async def summary(self, agent_id: str) -> str | None:
        """One agent's last summary JSON."""
        value = await self.redis.get(self._key("agent", agent_id, "summary"))
        return str(value) if value is not None else None

    async def summaries(self, agent_ids: Sequence[str]) -> list[str | None]:
        """Several agents' summary JSON in one round trip."""
        if not agent_ids:
            return []
        keys = [self._key("agent", agent_id, "summary") for agent_id in agent_ids]
        return list(await self.redis.mget(keys))

    # -- audit -----------------------------------------------------------------------------------

    async def audit(self, fields: Mapping[str, str], maxlen: int) -> None:
        """Append one audit entry, trimming the stream to about `maxlen` entries."""
        await self.redis.xadd(self._key("audit"), dict(fields), maxlen=maxlen, approximate=True)

    async def audit_entries(self, count: int) -> list[dict[str, Any]]:
        """The newest `count` audit entries, newest first."""
        rows = await self.redis.xrevrange(self._key("audit"), count=count)
        return [{"id": entry_id, **fields} for entry_id, fields in rows]

    # -- housekeeping ----------------------------------------------------------------------------

    async def keys(self) -> list[str]:
        """Every key under this store's prefix (tests and diagnostics)."""
        return [str(key) async for key in self.redis.scan_iter(match=self.prefix + "*", count=1000)]

    async def clear(self) -> None:
        """Delete every key under this store's prefix."""
        keys = await self.keys()
        for start in range(0, len(keys), 500):
            await self.redis.delete(*keys[start : start + 500])
