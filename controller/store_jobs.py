"""JobRecords: the job half of FleetStore (job records, results, events, step facts, rollout and agent locks).

The keys it uses are listed with every other key in controller/store.py's docstring.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

# Take the per-agent lock when free or already ours (a redelivered step), bump the fence, return it; else 0.
LOCK_SCRIPT = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return redis.call('INCR', KEYS[2])
"""
UNLOCK_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

STEP_JOB_FIELDS = (
    "action", "params", "params_sealed", "strategy", "status", "cancel", "created", "parent",
    "operator", "operator_purpose", "operator_role",
)
"""The job fields a step reads (add one here when a step needs it): not the per-agent lists (agents, names,
batches), whose size grows with the job, so each step's read stays the same size whatever the fleet's."""
EVENTS_MAXLEN = 10_000
"""A job's event stream is capped at about this many entries."""



class JobRecords:
    """Mixed into FleetStore, which provides the Redis client, the key builder and the registered scripts."""

    redis: Any
    _lock: Callable[..., Any]
    _unlock: Callable[..., Any]

    def _key(self, *parts: str) -> str:
        raise NotImplementedError

    async def add_job(self, job_id: str, fields: Mapping[str, str], results: Mapping[str, str], created: float) -> None:
        """Store a new job with its initial per-agent results, in history and in the active set."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key("job", job_id), mapping=dict(fields))
            if results:
                pipe.hset(self._key("job", job_id, "results"), mapping=dict(results))
            pipe.zadd(self._key("jobs"), {job_id: created})
            pipe.sadd(self._key("jobs", "active"), job_id)
            await pipe.execute()

    async def job(self, job_id: str) -> dict[str, str]:
        """A job's fields ({} when unknown)."""
        return dict(await self.redis.hgetall(self._key("job", job_id)))

    async def update_job(self, job_id: str, fields: Mapping[str, str], *, finished: bool = False) -> None:
        """Change a job's fields; a finished job leaves the active set."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key("job", job_id), mapping=dict(fields))
            if finished:
                pipe.srem(self._key("jobs", "active"), job_id)
            await pipe.execute()

    async def job_results(self, job_id: str) -> dict[str, str]:
        """Agent id -> result JSON of a job."""
        return dict(await self.redis.hgetall(self._key("job", job_id, "results")))

    async def set_results(self, job_id: str, results: Mapping[str, str]) -> None:
        """Replace some agents' result JSON."""
        if results:
            await self.redis.hset(self._key("job", job_id, "results"), mapping=dict(results))

    async def job_page(self, start: int, count: int, before: float | None = None) -> list[tuple[str, float]]:
        """(job id, created) newest first: by offset, or strictly older than `before` (a cursor)."""
        key = self._key("jobs")
        if before is None:
            pairs = await self.redis.zrevrange(key, start, start + count - 1, withscores=True)
        else:
            pairs = await self.redis.zrevrangebyscore(key, f"({before}", "-inf", start=0, num=count, withscores=True)
        return [(str(job_id), float(score)) for job_id, score in pairs]

    async def job_count(self) -> int:
        """How many jobs the history holds."""
        return int(await self.redis.zcard(self._key("jobs")))

    async def active_jobs(self) -> list[str]:
        """Ids of queued and running jobs."""
        return sorted(await self.redis.smembers(self._key("jobs", "active")))

    async def add_event(self, job_id: str, fields: Mapping[str, str], maxlen: int = EVENTS_MAXLEN) -> str:
        """Append one event to a job's history (capped at about `maxlen`); returns its stream id."""
        key = self._key("job", job_id, "events")
        return str(await self.redis.xadd(key, dict(fields), maxlen=maxlen, approximate=True))

    async def events(self, job_id: str, after: str = "0", count: int = 1000) -> list[tuple[str, dict[str, str]]]:
        """Events after stream id `after`, oldest first."""
        rows = await self.redis.xrange(self._key("job", job_id, "events"), min=f"({after}" if after != "0" else "-",
                                       count=count)
        return [(str(event_id), dict(fields)) for event_id, fields in rows]

    async def wait_events(self, job_id: str, after: str, block_ms: int) -> list[tuple[str, dict[str, str]]]:
        """Events after `after`, waiting up to `block_ms` for the first one."""
        reply = await self.redis.xread({self._key("job", job_id, "events"): after}, block=block_ms, count=500)
        return [(str(event_id), dict(fields)) for _stream, rows in reply or [] for event_id, fields in rows]

    async def step_state(
        self, job_id: str, agent_id: str
    ) -> tuple[dict[str, str], str | None, dict[str, str], dict[str, str]]:
        """In one round trip: the job (STEP_JOB_FIELDS; {} when it is gone), this agent's result JSON, the agent's
        record and the step's facts."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hmget(self._key("job", job_id), STEP_JOB_FIELDS)
            pipe.hget(self._key("job", job_id, "results"), agent_id)
            pipe.hgetall(self._key("agent", agent_id))
            pipe.hgetall(self._key("job", job_id, "step", agent_id))
            values, result, record, facts = await pipe.execute()
        job = {name: value for name, value in zip(STEP_JOB_FIELDS, values, strict=True) if value is not None}
        return job, (str(result) if result is not None else None), dict(record), dict(facts)

    async def save_step_result(
        self, job_id: str, agent_id: str, result: str, event: Mapping[str, str], touched: str
    ) -> None:
        """In one round trip: an agent's result JSON, its event, and the job's `touched` mark."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key("job", job_id, "results"), agent_id, result)
            pipe.xadd(self._key("job", job_id, "events"), dict(event), maxlen=EVENTS_MAXLEN, approximate=True)
            pipe.hset(self._key("job", job_id), "touched", touched)
            await pipe.execute()

    async def step_facts(self, job_id: str, agent_id: str) -> dict[str, str]:
        """What a step has recorded so far."""
        return dict(await self.redis.hgetall(self._key("job", job_id, "step", agent_id)))

    async def record_step(self, job_id: str, agent_id: str, fields: Mapping[str, str]) -> None:
        """Record step facts (intent and done markers, chosen versions)."""
        await self.redis.hset(self._key("job", job_id, "step", agent_id), mapping=dict(fields))

    async def try_mutex(self, job_id: str, owner: str, ttl: float) -> bool:
        """Take the job's short rollout mutex."""
        return bool(await self.redis.set(self._key("job", job_id, "advance"), owner, nx=True, px=int(ttl * 1000)))

    async def release_mutex(self, job_id: str, owner: str) -> None:
        """Release the rollout mutex if still ours."""
        await self._unlock(keys=[self._key("job", job_id, "advance")], args=[owner])

    async def lock_agent(self, agent_id: str, owner: str, ttl: float) -> int:
        """Take (or re-take, for the same owner) an agent's change lock; the fence token, or 0 when busy."""
        keys = [self._key("lock", "agent", agent_id), self._key("fence", "agent", agent_id)]
        return int(await self._lock(keys=keys, args=[owner, max(1, int(ttl * 1000))]))

    async def unlock_agent(self, agent_id: str, owner: str) -> None:
        """Release an agent's change lock if `owner` holds it."""
        await self._unlock(keys=[self._key("lock", "agent", agent_id)], args=[owner])

    async def fence_holds(self, agent_id: str, owner: str, fence: int) -> bool:
        """Whether `owner` still holds the lock with this fence (a newer holder means we were presumed dead)."""
        holder, current = await self.redis.mget(
            [self._key("lock", "agent", agent_id), self._key("fence", "agent", agent_id)]
        )
        return holder == owner and current is not None and int(current) == fence

    async def jobs_before(self, before: float, count: int = 500) -> list[str]:
        """Ids of the oldest jobs created before `before`."""
        return [str(job_id) for job_id in await self.redis.zrangebyscore(
            self._key("jobs"), "-inf", f"({before}", start=0, num=count)]

    async def delete_job(self, job_id: str, agent_ids: Sequence[str]) -> None:
        """Remove a job from history with its results, events and step facts."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._key("job", job_id), self._key("job", job_id, "results"),
                        self._key("job", job_id, "events"), self._key("job", job_id, "advance"),
                        *(self._key("job", job_id, "step", agent_id) for agent_id in agent_ids))
            pipe.zrem(self._key("jobs"), job_id)
            await pipe.execute()

    async def trim_before(self, before: float) -> None:
        """Forget retired serials and audit entries older than `before`."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zremrangebyscore(self._key("retired-serials"), "-inf", f"({before}")
            pipe.xtrim(self._key("audit"), minid=str(int(before * 1000)), approximate=False)
            await pipe.execute()

