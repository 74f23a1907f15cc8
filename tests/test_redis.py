"""Redis failures (redis-py, sync and asyncio) against the servers of tests/servers.sh.

A primary and a replica run for real; failures are produced on them (a replica
refusing writes, a tiny maxmemory, ACL users, a blocking command outliving its
socket timeout). Cluster redirections, a server still loading its data and a
script-busy server cannot be produced here (no cluster runs, and the other two
states cannot be held on demand), so those are constructed, and the tests say so.
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
import redis.asyncio
import redis.asyncio.retry
import redis.exceptions
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.trace import SpanKind
from redis.backoff import NoBackoff
from redis.retry import Retry

from otel_errors._internal.recording.runtime import current
from otel_errors.integrations.redis import instrumentor as redis_errors
from otel_errors.integrations.redis.instrumentor import RedisErrorsInstrumentor

pytestmark = pytest.mark.redis
WAIT = 10.0
ACL_PASSWORD = "right"  # noqa: S105 - throwaway ACL users of the test server


def code_of(exc: BaseException) -> str:
    return current().registry.classifier.classify(exc).error.code


def no_retry() -> Retry:
    return Retry(NoBackoff(), 0)


def no_async_retry() -> redis.asyncio.retry.Retry:
    """The asyncio client's own Retry: redis 8.2 warns about a synchronous one."""
    return redis.asyncio.retry.Retry(NoBackoff(), 0)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_in_span(tracer, produce: Callable[[], Any]) -> BaseException:
    with pytest.raises(Exception) as info, tracer.start_as_current_span("op"):
        produce()
    return info.value


@pytest.fixture
def key() -> str:
    return f"otel-errors-test:{uuid.uuid4().hex}"


@pytest.fixture
def client(redis_url, key) -> Iterator[redis.Redis]:
    """A client of the primary; the test's keys are deleted afterwards."""
    conn = redis.Redis.from_url(redis_url, socket_timeout=5, retry=no_retry())
    yield conn
    leftovers = conn.keys(f"{key}*")
    if leftovers:
        conn.delete(*leftovers)
    conn.close()


@pytest.fixture
def acl_user(client) -> Iterator[Callable[[str], str]]:
    """Creates ACL users (password ``right``) allowed the given commands; deletes them after."""
    names: list[str] = []

    def create(commands: str) -> str:
        name = f"otel-errors-{uuid.uuid4().hex[:8]}"
        client.execute_command(
            "ACL", "SETUSER", name, "on", f">{ACL_PASSWORD}", "~*", *commands.split()
        )
        names.append(name)
        return name

    yield create
    for name in names:
        client.execute_command("ACL", "DELUSER", name)


def connection_refused(ctx: Ctx) -> None:
    url = f"redis://127.0.0.1:{closed_port()}/0"
    redis.Redis.from_url(url, socket_connect_timeout=2, retry=no_retry()).ping()


def timeout(ctx: Ctx) -> None:
    slow = redis.Redis.from_url(ctx.url, socket_timeout=0.1, retry=no_retry())
    try:
        slow.blpop([ctx.key], timeout=2)
    finally:
        slow.close()


def wrong_type(ctx: Ctx) -> None:
    ctx.client.set(ctx.key, "string")
    ctx.client.lpush(ctx.key, "item")


def wrong_type_in_pipeline(ctx: Ctx) -> None:
    ctx.client.pipeline().set(ctx.key, "string").lpush(ctx.key, "item").execute()


def read_only_replica(ctx: Ctx) -> None:
    replica = redis.Redis.from_url(ctx.replica_url, retry=no_retry())
    try:
        replica.set(ctx.key, "value")
    finally:
        replica.close()


def no_script(ctx: Ctx) -> None:
    ctx.client.evalsha("0" * 40, 0)


def out_of_memory(ctx: Ctx) -> None:
    ctx.client.config_set("maxmemory-policy", "noeviction")
    ctx.client.config_set("maxmemory", 1)
    try:
        ctx.client.set(ctx.key, "value")
    finally:
        ctx.client.config_set("maxmemory", 0)


def wrong_password(ctx: Ctx) -> None:
    user = ctx.acl_user("+@all")
    conn = redis.Redis.from_url(
        ctx.url, username=user, password=ACL_PASSWORD[::-1], retry=no_retry()
    )
    conn.ping()


def no_permission(ctx: Ctx) -> None:
    user = ctx.acl_user("+get +ping")
    conn = redis.Redis.from_url(ctx.url, username=user, password=ACL_PASSWORD, retry=no_retry())
    try:
        conn.set(ctx.key, "value")
    finally:
        conn.close()


def lock_lost(ctx: Ctx) -> None:
    lock = ctx.client.lock(f"{ctx.key}:lock", timeout=0.05)
    assert lock.acquire(blocking=False)
    deadline = time.monotonic() + WAIT
    while ctx.client.exists(f"{ctx.key}:lock"):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    lock.release()


def watch_conflict(ctx: Ctx) -> None:
    with ctx.client.pipeline() as pipe:
        pipe.watch(ctx.key)
        ctx.client.set(ctx.key, "changed by someone else")
        pipe.multi()
        pipe.set(ctx.key, "mine")
        pipe.execute()


def pool_exhausted(ctx: Ctx) -> None:
    pool = redis.ConnectionPool.from_url(ctx.url, max_connections=1)
    small = redis.Redis(connection_pool=pool, retry=no_retry())
    held = pool.get_connection()
    try:
        small.ping()
    finally:
        pool.release(held)
        pool.disconnect()


class Ctx:
    """What a failure needs: the servers, a client, a key of the test's own."""

    def __init__(self, url, replica_url, client, key, acl_user) -> None:
        self.url, self.replica_url, self.client = url, replica_url, client
        self.key, self.acl_user = key, acl_user


@pytest.fixture
def ctx(redis_url, redis_replica_url, client, key, acl_user) -> Ctx:
    return Ctx(redis_url, redis_replica_url, client, key, acl_user)


CASES = [
    (connection_refused, "CACHE-001", "ConnectionError"),
    (timeout, "CACHE-002", "TimeoutError"),
    (wrong_type, "CACHE-011", "ResponseError"),
    (wrong_type_in_pipeline, "CACHE-011", "ResponseError"),
    (read_only_replica, "CACHE-006", "ReadOnlyError"),
    (no_script, "CACHE-012", "NoScriptError"),
    (out_of_memory, "CACHE-010", "OutOfMemoryError"),
    (wrong_password, "CACHE-003", "AuthenticationError"),
    (no_permission, "CACHE-004", "NoPermissionError"),
    (lock_lost, "CACHE-013", "LockNotOwnedError"),
    (watch_conflict, "CACHE-014", "WatchError"),
    (pool_exhausted, "CACHE-015", "MaxConnectionsError"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case[0].__name__)
def test_redis_failures_get_their_codes(case, ctx, tracer, spans):
    """Each Redis failure, produced for real, gets its code without any instrumentor."""
    produce, code, exception = case
    run_in_span(tracer, lambda: produce(ctx))
    event = spans.only_exception()
    assert event["error.code"] == code, event["exception.message"]
    assert event["exception.type"] == f"redis.exceptions.{exception}"


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (redis.exceptions.MovedError("3999 127.0.0.1:6381"), "CACHE-007"),
        (redis.exceptions.AskError("3999 127.0.0.1:6381"), "CACHE-007"),
        (redis.exceptions.ResponseError("MOVED 3999 127.0.0.1:6381"), "CACHE-007"),
        (redis.exceptions.ResponseError("CLUSTERDOWN The cluster is down"), "CACHE-008"),
        (redis.exceptions.ClusterDownError("The cluster is down"), "CACHE-008"),
        (redis.exceptions.ClusterCrossSlotError("Keys in request don't hash"), "CACHE-009"),
        (redis.exceptions.BusyLoadingError("Redis is loading the dataset"), "CACHE-005"),
        (redis.exceptions.ResponseError("BUSY Redis is busy running a script"), "CACHE-017"),
        (redis.exceptions.ResponseError("OOM command not allowed"), "CACHE-010"),
        (redis.exceptions.ResponseError("unknown command 'FOO'"), "CACHE-016"),
        (redis.exceptions.DataError("Invalid input of type: 'dict'"), "CACHE-016"),
        (redis.exceptions.PubSubError("no subscription"), "CACHE-099"),
    ],
)
def test_redis_failures_no_test_can_cause(exc, code):
    """Constructed: no Redis cluster runs here, and LOADING/BUSY cannot be held on demand.

    The prefix rules are also what classifies replies from older redis-py versions,
    which leave every reply a plain ``ResponseError``.
    """
    assert code_of(exc) == code


def test_rule_codes_are_catalogued():
    """Every code the Redis prefix rules can return exists in the shipped catalogue."""
    from otel_errors.integrations.redis.rules import BY_PREFIX

    assert sorted(c for c in BY_PREFIX.values() if c not in current().registry.catalog) == []


def test_redis_asyncio(redis_url, key, tracer, spans):
    """redis.asyncio raises the same classes: a wrong type and a timeout get their codes."""

    async def scenario() -> list[str]:
        codes = []
        conn = redis.asyncio.Redis.from_url(redis_url, socket_timeout=0.1, retry=no_async_retry())
        try:
            await conn.set(key, "string")
            codes.append(await failing(conn.lpush(key, "item")))
            codes.append(await failing(conn.blpop([f"{key}:list"], timeout=2)))
            await conn.delete(key)
        finally:
            await conn.aclose()
        return codes

    async def failing(call: Any) -> str:
        try:
            with tracer.start_as_current_span("op"):
                await call
        except redis.exceptions.RedisError as exc:
            return code_of(exc)
        raise AssertionError("the call did not fail")

    assert asyncio.run(scenario()) == ["CACHE-011", "CACHE-002"]
    assert [e["error.code"] for e in spans.exception_events()] == ["CACHE-011", "CACHE-002"]


# --- instrumentors ---------------------------------------------------------------------


@pytest.fixture
def ours() -> Iterator[None]:
    instrumentor = RedisErrorsInstrumentor()
    instrumentor.instrument()
    yield
    instrumentor.uninstrument()


@pytest.fixture(params=[False, True], ids=["no-contrib", "contrib"])
def contrib(request) -> Iterator[bool]:
    if request.param:
        RedisInstrumentor().instrument()
    yield request.param
    if request.param:
        RedisInstrumentor().uninstrument()


def failed_span(spans):
    (span,) = [s for s in spans.all() if any(e.name == "exception" for e in s.events)]
    return span


@pytest.mark.usefixtures("ours")
@pytest.mark.parametrize(
    "case",
    [
        (wrong_type, "CACHE-011", "WRONGTYPE", "LPUSH"),
        (read_only_replica, "CACHE-006", "READONLY", "SET"),
        (no_script, "CACHE-012", "NOSCRIPT", "EVALSHA"),
        (out_of_memory, "CACHE-010", "OOM", "SET"),
    ],
    ids=lambda case: case[0].__name__,
)
def test_error_replies_recorded_once(case, contrib, ctx, tracer, spans):
    """An error reply: once, with our prefix and command on contrib's span; plain without it."""
    produce, code, prefix, command = case
    exc = run_in_span(tracer, lambda: produce(ctx))
    event = spans.only_exception()
    assert event["error.code"] == code == code_of(exc)
    span = failed_span(spans)
    if contrib:
        assert span.kind is SpanKind.CLIENT
        assert event["db.response.status_code"] == prefix
        assert event["db.operation.name"] == command
        assert event["db.system.name"] == "redis"
        assert span.attributes["error.type"] == code
    else:
        assert span.name == "op"
        assert "db.response.status_code" not in event


@pytest.mark.usefixtures("ours")
@pytest.mark.parametrize("produce", [timeout, wrong_type_in_pipeline, connection_refused])
def test_errors_redis_py_may_handle_are_left_to_contrib(produce, contrib, ctx, tracer, spans):
    """Timeouts, refused connections and pipeline replies: recorded once, by whoever sees them."""
    run_in_span(tracer, lambda: produce(ctx))
    event = spans.only_exception()
    assert "db.response.status_code" not in event
    assert failed_span(spans).kind is (SpanKind.CLIENT if contrib else SpanKind.INTERNAL)


@pytest.mark.usefixtures("ours")
def test_reply_handled_by_redis_py_is_not_recorded(client, key, tracer, spans):
    """A script whose EVALSHA fails with NOSCRIPT is reloaded by redis-py: nothing to record."""
    script = client.register_script("return 7")
    client.script_flush()
    with tracer.start_as_current_span("op"):
        assert script(keys=[key]) == 7
    assert spans.exception_events() == []


@pytest.mark.usefixtures("ours")
def test_results_unchanged(client, key, contrib):
    """Instrumented clients return what they return without us."""
    assert client.set(key, "v") is True
    assert client.get(key) == b"v"
    assert client.pipeline().incr(f"{key}:n").incr(f"{key}:n").execute() == [1, 2]
    with pytest.raises(redis.exceptions.ResponseError) as info:
        client.lpush(key, "item")
    assert str(info.value).startswith("WRONGTYPE")


def test_uninstrument_restores(ctx, tracer, spans):
    """After uninstrument, parse_response is redis-py's own and replies get no prefix."""
    original = redis.Redis.parse_response
    instrumentor = RedisErrorsInstrumentor()
    instrumentor.instrument()
    assert redis.Redis.parse_response is not original
    instrumentor.uninstrument()
    assert redis.Redis.parse_response is original
    assert not hasattr(redis.asyncio.Redis.parse_response, "__wrapped__")
    RedisInstrumentor().instrument()
    try:
        run_in_span(tracer, lambda: wrong_type(ctx))
    finally:
        RedisInstrumentor().uninstrument()
    event = spans.only_exception()
    assert event["error.code"] == "CACHE-011"
    assert "db.response.status_code" not in event


@pytest.mark.usefixtures("ours")
def test_fails_open(ctx, tracer, spans, monkeypatch, metric_points):
    """A failure inside our wrapper leaves the reply error and its recording intact."""

    def broken(exc: BaseException) -> str:
        raise RuntimeError("prefix bug")

    monkeypatch.setattr(redis_errors, "error_prefix", broken)
    points = metric_points("otel_errors.internal_failures")
    before = sum(v for a, v in points if a["component"] == "redis.record")
    RedisInstrumentor().instrument()
    try:
        exc = run_in_span(tracer, lambda: wrong_type(ctx))
    finally:
        RedisInstrumentor().uninstrument()
    assert isinstance(exc, redis.exceptions.ResponseError)
    assert spans.only_exception()["error.code"] == "CACHE-011"
    points = metric_points("otel_errors.internal_failures")
    assert sum(v for a, v in points if a["component"] == "redis.record") == before + 1
