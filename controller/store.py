"""FleetStore: every Redis key the controller uses, and the only code that builds key strings.

Keys (all under the configured prefix, `iisfleet:` by default)::

    operator:{key_id}        hash   token_hash, purpose, role, scope, created_on, expires, last_used, revoked_on
                                    (a key without role predates roles: admin, no expiry)
    join:{token_id}          hash   secret_hash, labels, created_on, pin_name, pin_address, operator (+ purpose,
                                    role), used (expires with the token)
    agents                   set    every enrolled agent id
    agent:{id}               hash   name, url, labels, facts, enrolled_on, cert_serial, prev_serial (the one
                                    renewed from, until the new one is used), cert_expires_on, api_key
    agent:{id}:serials       set    certificate serials issued to the agent
    agent:{id}:summary       string last heartbeat summary (JSON, with computed request rates)
    agent-name:{name}        string agent id; a name belongs to one agent at a time
    directory                hash   agent id -> {"name", "url", "labels"} JSON, so fleet-wide views read one key
    directory:version        string counter bumped on every directory change (views cache by it)
    serial:{serial}          string agent id of a valid certificate (expires with the certificate; renewal and
                                    revocation delete it)
    retired-serials          zset   "agent id:serial" -> time it was retired (trimmed after the retention)
    seen                     zset   agent id -> time of its last heartbeat
    scraper:{serial}         hash   name, created_on, not_after of a valid scrape certificate (expires with it)
    scrapers                 set    serials of scrape certificates issued and not revoked
    scrapers:revoked         zset   revoked scrape certificate serial -> its expiry time (agents refuse these)
    audit                    stream who did what: action, operator (+ purpose, role), agent(s), details
    session:{sha256 of id}   hash   console session: key_id, csrf, expires (expires with it)
    jobs                     zset   job id -> creation time (paged history)
    jobs:active              set    queued and running job ids (the reaper's work list)
    job:{id}                 hash   action, target, params, strategy, status, batches, batch, times, error
    job:{id}:results         hash   agent id -> per-agent result JSON
    job:{id}:events          stream append-only progress events of the job
    job:{id}:step:{agent}    hash   facts a step records so a redelivered task repeats no side effect
    job:{id}:advance         string short mutex around one rollout decision
    lock:agent:{id}          string the step id holding the agent's change lock (expires)
    fence:agent:{id}         string fencing counter, one higher on every acquisition of that lock
    bootstrap:{id}           hash   a bootstrap's status, step and scrubbed output (expires after 7 days;
                                    built in controller/bootstrap/records.py, credentials never stored)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from redis.asyncio import Redis

from controller.store_jobs import LOCK_SCRIPT, UNLOCK_SCRIPT, JobRecords

# Consume a join token atomically: the secret must match, the name and address must be the pinned ones (if
# any; a mismatch leaves the token unused), it must not be used, and it must still exist.
_CONSUME = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unknown', ''} end
if redis.call('HGET', KEYS[1], 'secret_hash') ~= ARGV[1] then return {'unknown', ''} end
local pinned_name = redis.call('HGET', KEYS[1], 'pin_name') or ''
if pinned_name ~= '' and pinned_name ~= ARGV[3] then return {'pinned', 'name'} end
local pinned_address = redis.call('HGET', KEYS[1], 'pin_address') or ''
if pinned_address ~= '' and pinned_address ~= ARGV[4] then return {'pinned', 'address'} end
if redis.call('HSETNX', KEYS[1], 'used', ARGV[2]) == 0 then return {'used', ''} end
return {'ok', redis.call('HGET', KEYS[1], 'labels') or ''}
"""

# HSET only when the hash exists (never resurrect a deleted record).
_UPDATE_EXISTING = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""

# A heartbeat lands only on an agent that still exists: one revoked between its check and this write must
# not come back as a partial record (facts only, no url or key).
_HEARTBEAT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[1], 'facts', ARGV[3])
redis.call('SET', KEYS[3], ARGV[4])
return 1
"""

AGENT_FIELDS = ("name", "url", "labels", "facts", "enrolled_on", "cert_serial", "cert_expires_on", "api_key")


class FleetStore(JobRecords):
    """Async access to the fleet's state in Redis (a client created with decode_responses=True)."""

    def __init__(self, redis: Redis, prefix: str = "iisfleet:") -> None:
        # redis-py's typing mixes bytes and str replies; with decode_responses=True every reply is str.
        self.redis: Any = redis
        self.prefix = prefix
        self._consume = redis.register_script(_CONSUME)
        self._lock = redis.register_script(LOCK_SCRIPT)
        self._unlock = redis.register_script(UNLOCK_SCRIPT)
        self._update_existing = redis.register_script(_UPDATE_EXISTING)
        self._heartbeat = redis.register_script(_HEARTBEAT)

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    # -- operator keys ---------------------------------------------------------------------------

    async def add_operator_key(self, key_id: str, fields: Mapping[str, str]) -> None:
        """Store an operator key's hash and metadata."""
        await self.redis.hset(self._key("operator", key_id), mapping=dict(fields))

    async def operator_key(self, key_id: str) -> dict[str, str]:
        """An operator key's fields ({} when unknown)."""
        return dict(await self.redis.hgetall(self._key("operator", key_id)))

    async def operator_key_ids(self) -> list[str]:
        """Every operator key id, sorted (revoked ones included)."""
        pattern = self._key("operator", "*")
        found = [str(key) async for key in self.redis.scan_iter(match=pattern, count=1000)]
        return sorted(key[len(pattern) - 1 :] for key in found)

    async def update_operator_key(self, key_id: str, fields: Mapping[str, str]) -> bool:
        """Change fields of an existing operator key; False when the key is unknown."""
        flat = [item for pair in fields.items() for item in pair]
        return bool(await self._update_existing(keys=[self._key("operator", key_id)], args=flat))

    # -- join tokens -----------------------------------------------------------------------------

    async def add_join_token(self, token_id: str, fields: Mapping[str, str], ttl: float) -> None:
        """Store a join token that Redis forgets after `ttl` seconds."""
        await self._hset_expiring(self._key("join", token_id), fields, ttl)

    async def _hset_expiring(self, key: str, fields: Mapping[str, str], ttl: float) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=dict(fields))
            pipe.pexpire(key, max(1, int(ttl * 1000)))
            await pipe.execute()

    async def join_token(self, token_id: str) -> dict[str, str]:
        """A join token's stored fields (empty when unknown or expired); reading does not use it up."""
        return dict(await self.redis.hgetall(self._key("join", token_id)))

    async def consume_join_token(
        self, token_id: str, secret_hash: str, used_on: str, name: str = "", address: str = ""
    ) -> tuple[str, str]:
        """("ok", labels JSON), ("used", ""), ("pinned", "name" or "address") or ("unknown", "")."""
        result = await self._consume(keys=[self._key("join", token_id)], args=[secret_hash, used_on, name, address])
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
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key("directory"), agent_id, json.dumps(entry, separators=(",", ":")))
            pipe.incr(self._key("directory", "version"))
            await pipe.execute()

    async def directory_version(self) -> str:
        """The directory's change counter ("0" before the first change): equal values, equal directory."""
        return str(await self.redis.get(self._key("directory", "version")) or "0")

    async def directory(self) -> dict[str, dict[str, Any]]:
        """Every agent's name, url and labels in one round trip."""
        raw = await self.redis.hgetall(self._key("directory"))
        return {agent_id: json.loads(entry) for agent_id, entry in raw.items()}

    async def directory_snapshot(self) -> tuple[str, dict[str, dict[str, Any]]]:
        """The directory with its version, read in one MULTI: a view cached under that version is never stale."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(self._key("directory", "version"))
            pipe.hgetall(self._key("directory"))
            version, raw = await pipe.execute()
        return str(version or "0"), {agent_id: json.loads(entry) for agent_id, entry in raw.items()}

    async def directory_version_and_seen(self, since: float) -> tuple[str, set[str]]:
        """The directory's version and the ids of agents seen at or after `since`, in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(self._key("directory", "version"))
            pipe.zrangebyscore(self._key("seen"), repr(since), "+inf")
            version, seen = await pipe.execute()
        return str(version or "0"), set(seen)

    async def agent(self, agent_id: str) -> dict[str, str]:
        """An agent's record ({} when unknown)."""
        return dict(await self.redis.hgetall(self._key("agent", agent_id)))

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
            pipe.incr(self._key("directory", "version"))
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

    async def retire_serial(self, agent_id: str, serial: str, now: float) -> None:
        """Make a superseded certificate serial invalid at once, and remember it until the retention ends."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._key("serial", serial))
            pipe.srem(self._key("agent", agent_id, "serials"), serial)
            pipe.zadd(self._key("retired-serials"), {f"{agent_id}:{serial}": now})
            await pipe.execute()

    async def serial_owner(self, serial: str) -> str | None:
        """The agent a still-valid certificate serial belongs to."""
        value = await self.redis.get(self._key("serial", serial))
        return str(value) if value is not None else None

    # -- scrape credentials (Prometheus) --------------------------------------------------------

    async def add_scraper(self, serial: str, fields: Mapping[str, str], ttl: float) -> None:
        """Record a scrape certificate as valid until it expires."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key("scraper", serial), mapping=dict(fields))
            pipe.pexpire(self._key("scraper", serial), max(1, int(ttl * 1000)))
            pipe.sadd(self._key("scrapers"), serial)
            await pipe.execute()

    async def scraper(self, serial: str) -> dict[str, str]:
        """A valid (issued, unexpired, unrevoked) scrape certificate's record, or {}."""
        return dict(await self.redis.hgetall(self._key("scraper", serial)))

    async def scrapers(self) -> dict[str, dict[str, str]]:
        """Every valid scrape certificate by serial (expired ones drop out of the set here)."""
        serials = sorted(await self.redis.smembers(self._key("scrapers")))
        async with self.redis.pipeline(transaction=False) as pipe:
            for serial in serials:
                pipe.hgetall(self._key("scraper", serial))
            records = await pipe.execute()
        gone = [serial for serial, record in zip(serials, records, strict=True) if not record]
        if gone:
            await self.redis.srem(self._key("scrapers"), *gone)
        return {serial: dict(record) for serial, record in zip(serials, records, strict=True) if record}

    async def revoke_scraper(self, serial: str, expires: float) -> bool:
        """Invalidate a scrape certificate and list it as revoked until `expires` (a Unix time)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._key("scraper", serial))
            pipe.srem(self._key("scrapers"), serial)
            pipe.zadd(self._key("scrapers", "revoked"), {serial: expires})
            deleted, _removed, _added = await pipe.execute()
        return bool(deleted)

    async def revoked_scrapers(self, now: float) -> list[str]:
        """Serials of revoked scrape certificates that have not expired yet (older ones are pruned)."""
        key = self._key("scrapers", "revoked")
        await self.redis.zremrangebyscore(key, "-inf", now)
        return sorted(await self.redis.zrange(key, 0, -1))

    # -- heartbeats ------------------------------------------------------------------------------

    async def record_heartbeat(self, agent_id: str, seen: float, facts: str, summary: str) -> bool:
        """Store a heartbeat (time seen, facts, summary) atomically; False when the agent is gone."""
        keys = [self._key("agent", agent_id), self._key("seen"), self._key("agent", agent_id, "summary")]
        return bool(await self._heartbeat(keys=keys, args=[repr(seen), agent_id, facts, summary]))

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

    async def audit_entries(self, count: int, newest: str = "+", oldest: str = "-") -> list[dict[str, Any]]:
        """Up to `count` audit entries between two stream ids (inclusive unless prefixed "("), newest first."""
        rows = await self.redis.xrevrange(self._key("audit"), max=newest, min=oldest, count=count)
        return [{"id": entry_id, **fields} for entry_id, fields in rows]

    # -- console sessions ------------------------------------------------------------------------

    async def add_session(self, id_hash: str, fields: Mapping[str, str], ttl: float) -> None:
        """Store a console session under the hash of its id; Redis forgets it after `ttl` seconds."""
        await self._hset_expiring(self._key("session", id_hash), fields, ttl)

    async def session(self, id_hash: str) -> dict[str, str]:
        """A console session's fields ({} when unknown or expired)."""
        return dict(await self.redis.hgetall(self._key("session", id_hash)))

    async def delete_session(self, id_hash: str) -> None:
        """Forget a console session."""
        await self.redis.delete(self._key("session", id_hash))

    # -- housekeeping ----------------------------------------------------------------------------

    async def keys(self) -> list[str]:
        """Every key under this store's prefix (tests and diagnostics)."""
        return [str(key) async for key in self.redis.scan_iter(match=self.prefix + "*", count=1000)]

    async def clear(self) -> None:
        """Delete every key under this store's prefix."""
        keys = await self.keys()
        for start in range(0, len(keys), 500):
            await self.redis.delete(*keys[start : start + 500])
