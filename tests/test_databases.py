"""Database failures: PostgreSQL (psycopg 3 and psycopg2), SQLAlchemy and sqlite3.

Failures are produced for real: against the PostgreSQL server of tests/servers.sh
(each test in a schema of its own, roles created and dropped by the test) and against
sqlite3 files in a temporary directory. Only failures that no test can cause on
demand are constructed, and those tests say why.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import psycopg.errors
import psycopg2
import psycopg_pool
import pytest
import sqlalchemy
import sqlalchemy.exc
from _http_peers import closed_port
from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
from opentelemetry.instrumentation.psycopg2 import Psycopg2Instrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy import event, text

from otel_errors._internal.helpers.sql import (
    MAX_LENGTH,
    MAX_SCAN,
    operation_name,
    sanitize_error_text,
    sanitize_statement,
)
from otel_errors._internal.recording.runtime import current
from otel_errors.integrations.psycopg.instrumentor import PsycopgErrorsInstrumentor
from otel_errors.integrations.sqlalchemy import instrumentor as sqlalchemy_errors
from otel_errors.integrations.sqlalchemy.instrumentor import SQLAlchemyErrorsInstrumentor

postgres = pytest.mark.postgres
PASSWORD_ROLE = "otel_errors_password_role"  # noqa: S105 - a role name; servers.sh requires a password for it
WAIT = 10.0


def code_of(exc: BaseException) -> str:
    return current().registry.classifier.classify(exc).error.code


def all_attribute_values(spans) -> list[str]:
    """Every exported span and event attribute value, as text."""
    values = []
    for span in spans.all():
        values += [str(v) for v in (span.attributes or {}).values()]
        for span_event in span.events:
            values += [str(v) for v in (span_event.attributes or {}).values()]
    return values


# --- statement sanitizing --------------------------------------------------------------

SANITIZED = [
    ("SELECT * FROM users WHERE email = 'a@b.c'", "SELECT * FROM users WHERE email = ?"),
    ("select 'it''s', E'it\\'s', 'a' 'b'", "select ?, ?, ? ?"),
    ("select x'1f', b'101', N'nat', U&'d\\0061t'", "select ?, ?, ?, ?"),
    ("select 42, -7, 3.14, .5, 1e10, 2.5E-3, 1_000", "select ?, -?, ?, ?, ?, ?, ?"),
    ("select 0x1F, 0o17, 0b101", "select ?, ?, ?"),
    ("select $$secret body$$, $fn$ x := 'y'; $fn$", "select ?, ?"),
    (
        "select * from t where id in (1, 2, 3) and k IN ('a','b')",
        "select * from t where id in (?) and k IN (?)",
    ),
    (
        "insert into t (a, b) values (1, 'x'), (2, 'y'), (3, 'z')",
        "insert into t (a, b) values (?, ?)",
    ),
    (
        "select a -- trailing 'secret'\nfrom t /* 'hidden' */ where b = 1",
        "select a from t where b = ?",
    ),
    ("select /*traceparent='00-abc-01'*/ 1", "select ?"),
    (
        'select "Col 1", t1.c2, col_3 from "T" where x = $1 and y = %s and z = %(name)s',
        'select "Col 1", t1.c2, col_3 from "T" where x = $1 and y = %s and z = %(name)s',
    ),
    ("select :name, x::int, ?", "select :name, x::int, ?"),
    ("select 'unterminated secret, and more", "select ?"),
    ("select 1 /* unterminated 'secret'", "select ?"),
    ("select $tag$ never closed secret", "select ?"),
    (
        "UPDATE  accounts\n\tSET   balance = balance - 100.50\nWHERE id = 7",
        "UPDATE accounts SET balance = balance - ? WHERE id = ?",
    ),
    ("name'x'", "name?"),
    ("", ""),
]


@pytest.mark.parametrize(("statement", "expected"), SANITIZED)
def test_sanitize_statement(statement, expected):
    """Literals, numbers, dollar quotes and comments become ``?``/nothing; the shape stays."""
    assert sanitize_statement(statement) == expected


def test_sanitize_statement_is_bounded():
    """A huge statement is read up to MAX_SCAN and cut to MAX_LENGTH, its tail never shown."""
    statement = "select " + ", ".join(f"col{i}" for i in range(MAX_SCAN // 4)) + " 'tail-secret'"
    result = sanitize_statement(statement)
    assert len(result) == MAX_LENGTH
    assert result.endswith("…")
    assert "tail-secret" not in result
    cut_in_literal = "select '" + "s" * MAX_SCAN + "secret'"
    assert sanitize_statement(cut_in_literal) == "select ?"


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("SELECT 1", "SELECT"),
        ("  -- comment\n/* block */ insert into t values (1)", "insert"),
        ("WITH x AS (SELECT 1) SELECT * FROM x", "WITH"),
        ("(select 1)", None),
        ("", None),
    ],
)
def test_operation_name(statement, expected):
    """The first keyword after comments, as written."""
    assert operation_name(statement) == expected


ERROR_TEXTS = [
    (
        (
            'duplicate key value violates unique constraint "u_email_key"\n'
            "DETAIL:  Key (email)=(alice@example.com) already exists."
        ),
        (
            'duplicate key value violates unique constraint "u_email_key"\n'
            "DETAIL:  Key (email)=(?) already exists."
        ),
    ),
    (
        'DETAIL:  Key (a, b)=(1, x) is not present in table "parent".',
        'DETAIL:  Key (a, b)=(?) is not present in table "parent".',
    ),
    ("DETAIL:  Failing row contains (3, secret, null).", "DETAIL:  Failing row contains (?)."),
    (
        (
            "relation \"nope\" does not exist\nLINE 1: select * from nope where x = 'secret'\n"
            "                      ^\nnext line"
        ),
        'relation "nope" does not exist\nLINE 1: select * from nope where x = ?\nnext line',
    ),
    (
        "CONTEXT:  SQL statement \"INSERT INTO t VALUES ('secret', 42)\"",
        'CONTEXT:  SQL statement "INSERT INTO t VALUES (?, ?)"',
    ),
    ("QUERY:  SELECT 'secret'", "QUERY:  SELECT ?"),
    (
        (
            "(psycopg.errors.UniqueViolation) duplicate key\n"
            "[SQL: INSERT INTO u (email)\nVALUES (%(email)s) -- 'c'\n]\n"
            "[parameters: {'email': 'alice@example.com'}]\n"
            "(Background on this error at: https://sqlalche.me/e/20/gkpj)"
        ),
        (
            "(psycopg.errors.UniqueViolation) duplicate key\n"
            "[SQL: INSERT INTO u (email) VALUES (%(email)s)]\n"
            "[parameters: hidden by otel_errors]\n"
            "(Background on this error at: https://sqlalche.me/e/20/gkpj)"
        ),
    ),
    (
        '  File "app.py", line 3, in f\n    cur.execute(sql)',
        '  File "app.py", line 3, in f\n    cur.execute(sql)',
    ),
]


@pytest.mark.parametrize(("message", "expected"), ERROR_TEXTS)
def test_sanitize_error_text(message, expected):
    """Values in DETAIL/CONTEXT/LINE lines and SQLAlchemy's blocks go; other lines stay."""
    assert sanitize_error_text(message) == expected


# --- PostgreSQL -------------------------------------------------------------------------


def with_user(dsn: str, user: str, password: str | None = None) -> str:
    parts = urlsplit(dsn)
    credentials = quote(user) + (f":{quote(password)}" if password else "")
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{credentials}@{host}"))


@dataclass
class Db:
    """A schema of its own on the test server, and connections made with one driver."""

    driver: str
    server_dsn: str
    schema: str
    admin: psycopg.Connection
    opened: list[Any] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)

    def dsn(self, user: str | None = None, password: str | None = None) -> str:
        base = with_user(self.server_dsn, user, password) if user else self.server_dsn
        return f"{base}?options=-c%20search_path%3D{self.schema}"

    def connect(self, dsn: str | None = None, *, autocommit: bool = True) -> Any:
        module = psycopg if self.driver == "psycopg" else psycopg2
        conn = module.connect(dsn or self.dsn(), connect_timeout=5)
        self.opened.append(conn)
        conn.autocommit = autocommit
        return conn

    def run(self, conn: Any, sql: str, params: Any = None) -> Any:
        cur = conn.cursor()
        cur.execute(sql, params)
        return cur

    def setup(self, sql: str) -> None:
        self.admin.execute(sql)

    def role(self, options: str = "") -> str:
        name = f"otel_errors_{uuid.uuid4().hex[:10]}"
        self.admin.execute(f"CREATE ROLE {name} LOGIN {options}")
        self.roles.append(name)
        return name

    def backend_pid(self, conn: Any) -> int:
        return conn.info.backend_pid if self.driver == "psycopg" else conn.get_backend_pid()

    def wait_until_waiting_for_lock(self, pid: int) -> None:
        deadline = time.monotonic() + WAIT
        query = "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s"
        while self.admin.execute(query, (pid,)).fetchone() != ("Lock",):
            assert time.monotonic() < deadline, "the other transaction never blocked"
            time.sleep(0.01)

    def close(self) -> None:
        for conn in self.opened:
            conn.close()
        self.admin.execute(f"DROP SCHEMA {self.schema} CASCADE")
        for name in self.roles:
            self.admin.execute(f"DROP ROLE IF EXISTS {name}")
        self.admin.close()


@pytest.fixture
def make_db(postgres_dsn) -> Iterator[Callable[[str], Db]]:
    """Makes a ``Db`` for a driver; schemas, roles and connections go at the end."""
    made: list[Db] = []

    def make(driver: str) -> Db:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        admin = psycopg.connect(postgres_dsn, autocommit=True)
        admin.execute(f"CREATE SCHEMA {schema}")
        admin.execute(f"SET search_path = {schema}")
        made.append(Db(driver, postgres_dsn, schema, admin))
        return made[-1]

    yield make
    for db in made:
        db.close()


def unique_violation(db: Db) -> None:
    db.setup("CREATE TABLE u (id int PRIMARY KEY)")
    conn = db.connect()
    db.run(conn, "INSERT INTO u VALUES (%s)", (1,))
    db.run(conn, "INSERT INTO u VALUES (%s)", (1,))


def foreign_key_violation(db: Db) -> None:
    db.setup("CREATE TABLE p (id int PRIMARY KEY); CREATE TABLE ch (p int REFERENCES p (id))")
    db.run(db.connect(), "INSERT INTO ch VALUES (%s)", (1,))


def not_null_violation(db: Db) -> None:
    db.setup("CREATE TABLE nn (v text NOT NULL)")
    db.run(db.connect(), "INSERT INTO nn VALUES (NULL)")


def check_violation(db: Db) -> None:
    db.setup("CREATE TABLE ck (n int CHECK (n > 0))")
    db.run(db.connect(), "INSERT INTO ck VALUES (%s)", (-1,))


def deadlock(db: Db) -> None:
    """Two transactions lock rows 1 and 2, then each wants the other's row.

    ``b`` has the shorter deadlock_timeout, so it runs the deadlock check first and is
    the one aborted, always; ``a`` waits in a thread (bounded by statement_timeout).
    """
    db.setup("CREATE TABLE d (id int PRIMARY KEY, v int); INSERT INTO d VALUES (1, 0), (2, 0)")
    a, b = db.connect(autocommit=False), db.connect(autocommit=False)
    for conn in (a, b):
        db.run(conn, "SET statement_timeout = '10s'")
    db.run(b, "SET deadlock_timeout = '50ms'")
    db.run(a, "UPDATE d SET v = 1 WHERE id = 1")
    db.run(b, "UPDATE d SET v = 1 WHERE id = 2")
    thread = threading.Thread(target=db.run, args=(a, "UPDATE d SET v = 2 WHERE id = 2"))
    thread.start()
    try:
        db.wait_until_waiting_for_lock(db.backend_pid(a))
        db.run(b, "UPDATE d SET v = 2 WHERE id = 1")
    finally:
        b.rollback()
        thread.join(WAIT)
        a.rollback()
    assert not thread.is_alive()


def serialization_failure(db: Db) -> None:
    db.setup("CREATE TABLE s (id int PRIMARY KEY, v int); INSERT INTO s VALUES (1, 0)")
    a = db.connect(autocommit=False)
    db.run(a, "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
    db.run(a, "SELECT v FROM s WHERE id = 1")
    db.run(db.connect(), "UPDATE s SET v = v + 1 WHERE id = 1")
    db.run(a, "UPDATE s SET v = v + 1 WHERE id = 1")


def statement_timeout(db: Db) -> None:
    conn = db.connect()
    db.run(conn, "SET statement_timeout = '50ms'")
    db.run(conn, "SELECT pg_sleep(5)")


def lock_timeout(db: Db) -> None:
    db.setup("CREATE TABLE lk (id int PRIMARY KEY); INSERT INTO lk VALUES (1)")
    holder = db.connect(autocommit=False)
    db.run(holder, "SELECT * FROM lk WHERE id = 1 FOR UPDATE")
    waiter = db.connect()
    db.run(waiter, "SET lock_timeout = '50ms'")
    db.run(waiter, "SELECT * FROM lk WHERE id = 1 FOR UPDATE")


def insufficient_privilege(db: Db) -> None:
    db.setup("CREATE TABLE secret (id int)")
    conn = db.connect(db.dsn(user=db.role()))
    db.run(conn, f"SELECT * FROM {db.schema}.secret")  # noqa: S608 - our own schema name


def undefined_table(db: Db) -> None:
    db.run(db.connect(), "SELECT * FROM missing_table")


def undefined_column(db: Db) -> None:
    db.setup("CREATE TABLE uc (id int)")
    db.run(db.connect(), "SELECT missing_column FROM uc")


def syntax_error(db: Db) -> None:
    db.run(db.connect(), "SELEC 1")


def invalid_text(db: Db) -> None:
    db.run(db.connect(), "SELECT %s::int", ("abc",))


def read_only_transaction(db: Db) -> None:
    conn = db.connect(autocommit=False)
    db.run(conn, "SET TRANSACTION READ ONLY")
    db.run(conn, "CREATE TABLE ro (id int)")


def aborted_transaction(db: Db) -> None:
    conn = db.connect(autocommit=False)
    with contextlib.suppress(psycopg.Error, psycopg2.Error):
        db.run(conn, "SELECT 1 / 0")
    db.run(conn, "SELECT 1")


def admin_shutdown(db: Db) -> None:
    conn = db.connect()
    db.admin.execute("SELECT pg_terminate_backend(%s)", (db.backend_pid(conn),))
    db.run(conn, "SELECT 1")


def too_many_connections(db: Db) -> None:
    dsn = db.dsn(user=db.role("CONNECTION LIMIT 1"))
    db.connect(dsn)
    db.connect(dsn)


def connection_refused(db: Db) -> None:
    db.connect(f"postgresql://postgres@127.0.0.1:{closed_port()}/postgres")


def authentication_failure(db: Db) -> None:
    db.admin.execute(
        f"DO $$ BEGIN CREATE ROLE {PASSWORD_ROLE} LOGIN; "
        "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
    )
    db.admin.execute(f"ALTER ROLE {PASSWORD_ROLE} PASSWORD 'right'")
    db.connect(db.dsn(user=PASSWORD_ROLE, password="wrong"))  # noqa: S106 - the wrong one


def unknown_database(db: Db) -> None:
    db.connect(db.server_dsn.rsplit("/", 1)[0] + "/otel_errors_no_such_database")


def pool_timeout(db: Db) -> None:
    with psycopg_pool.ConnectionPool(db.dsn(), min_size=1, max_size=1, timeout=5) as pool:
        with pool.connection():
            pool.getconn(timeout=0.1)


@dataclass(frozen=True)
class Case:
    """A failure to produce, and what it must be classified as."""

    produce: Callable[[Db], None]
    code: str
    exception: str
    sqlstate: str | None = None
    drivers: tuple[str, ...] = ("psycopg", "psycopg2")
    in_execute: bool = True
    """The failure comes from a statement (so instrumentors see it), not from connecting."""


CASES = [
    Case(unique_violation, "DB-1002", "UniqueViolation", "23505"),
    Case(foreign_key_violation, "DB-1003", "ForeignKeyViolation", "23503"),
    Case(not_null_violation, "DB-1004", "NotNullViolation", "23502"),
    Case(check_violation, "DB-1005", "CheckViolation", "23514"),
    Case(deadlock, "DB-1011", "DeadlockDetected", "40P01"),
    Case(serialization_failure, "DB-1010", "SerializationFailure", "40001"),
    Case(statement_timeout, "DB-1012", "QueryCanceled", "57014"),
    Case(lock_timeout, "DB-1013", "LockNotAvailable", "55P03"),
    Case(insufficient_privilege, "DB-1030", "InsufficientPrivilege", "42501"),
    Case(undefined_table, "DB-1031", "UndefinedTable", "42P01"),
    Case(undefined_column, "DB-1032", "UndefinedColumn", "42703"),
    Case(syntax_error, "DB-1033", "SyntaxError", "42601"),
    Case(invalid_text, "DB-1035", "InvalidTextRepresentation", "22P02"),
    Case(read_only_transaction, "DB-1021", "ReadOnlySqlTransaction", "25006"),
    Case(aborted_transaction, "DB-1022", "InFailedSqlTransaction", "25P02"),
    # psycopg2 loses the server's FATAL message and reports a closed connection.
    Case(admin_shutdown, "DB-1020", "AdminShutdown", "57P01", ("psycopg",)),
    Case(too_many_connections, "DB-1014", "OperationalError", in_execute=False),
    Case(connection_refused, "DB-1001", "OperationalError", in_execute=False),
    Case(authentication_failure, "DB-1040", "OperationalError", in_execute=False),
    Case(unknown_database, "DB-1041", "OperationalError", in_execute=False),
    Case(pool_timeout, "DB-1050", "PoolTimeout", drivers=("psycopg",), in_execute=False),
]


def case_id(case: Case) -> str:
    return case.produce.__name__


def run_in_span(tracer, produce: Callable[[], None]) -> BaseException:
    with pytest.raises(Exception) as info, tracer.start_as_current_span("op"):
        produce()
    return info.value


@postgres
@pytest.mark.parametrize(
    ("driver", "case"),
    [pytest.param(d, c, id=f"{d}-{case_id(c)}") for c in CASES for d in c.drivers],
)
def test_postgres_failures_get_their_codes(driver, case, make_db, tracer, spans):
    """Each PostgreSQL failure, produced for real, gets its code without any instrumentor."""
    db = make_db(driver)
    exc = run_in_span(tracer, lambda: case.produce(db))
    event = spans.only_exception()
    assert event["error.code"] == case.code, event["exception.message"]
    assert str(event["exception.type"]).rsplit(".", 1)[-1] == case.exception
    state = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    assert state == case.sqlstate
    assert "db.query.text" not in event


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (psycopg.errors.DiskFull("could not extend file"), "DB-1015"),
        (psycopg.errors.OutOfMemory("out of memory"), "DB-1016"),
        (psycopg.errors.ExclusionViolation("conflicting key value"), "DB-1006"),
        (psycopg.errors.IdleSessionTimeout("idle-session timeout"), "DB-1001"),
        (psycopg.errors.UndefinedFunction("function f() does not exist"), "DB-1034"),
        (psycopg.errors.InvalidPassword("password authentication failed"), "DB-1040"),
        (psycopg.errors.RaiseException("custom"), "DB-1099"),
        (psycopg.ProgrammingError("the query has 1 placeholder but 2 parameters"), "DB-1036"),
        (psycopg2.InterfaceError("connection already closed"), "DB-1001"),
        (psycopg_pool.PoolClosed("the pool is closed"), "DB-1036"),
    ],
)
def test_failures_no_test_can_cause(exc, code):
    """Constructed, because a full disk, server OOM or idle timeouts cannot be caused on demand.

    psycopg's error classes carry their SQLSTATE as a class attribute, so a constructed
    one classifies exactly like one the server sent.
    """
    assert code_of(exc) == code


def test_rule_codes_are_catalogued():
    """Every code the database rules can return exists in the shipped catalogue."""
    from otel_errors._internal.model.areas import db

    codes = {*db.BY_SQLSTATE.values(), *db.BY_SQLSTATE_CLASS.values()}
    codes |= {*db._SQLITE_BY_NAME.values(), *(c for _, c in db._SQLITE_BY_PREFIX)}
    codes |= {c for _, c in (*db._SQLITE_MESSAGES, *db._CONNECT_MESSAGES)}
    assert sorted(c for c in codes if c not in current().registry.catalog) == []


def test_sqlalchemy_wrapper_before_it_is_raised_follows_orig():
    """A DBAPIError with ``.orig`` but no cause yet (as handle_error sees it) takes orig's code.

    Constructed, because SQLAlchemy only exposes the wrapper in that state inside its
    ``handle_error`` event (exercised for real by the SQLAlchemy tests below).
    """
    orig = psycopg.errors.UniqueViolation("duplicate key")
    wrapper = sqlalchemy.exc.IntegrityError("INSERT ...", {}, orig)
    assert wrapper.__cause__ is None
    assert code_of(wrapper) == "DB-1002"
    assert code_of(sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("?"))) == "UNKNOWN"


# --- psycopg instrumentor -----------------------------------------------------------------


@pytest.fixture
def ours_psycopg() -> Iterator[PsycopgErrorsInstrumentor]:
    instrumentor = PsycopgErrorsInstrumentor()
    instrumentor.instrument()
    yield instrumentor
    instrumentor.uninstrument()


@pytest.fixture(params=[False, True], ids=["no-contrib", "contrib"])
def contrib_psycopg(request) -> Iterator[bool]:
    if request.param:
        PsycopgInstrumentor().instrument()
    yield request.param
    if request.param:
        PsycopgInstrumentor().uninstrument()


def failed_span(spans):
    (span,) = [s for s in spans.all() if any(e.name == "exception" for e in s.events)]
    return span


@postgres
@pytest.mark.usefixtures("ours_psycopg")
@pytest.mark.parametrize("case", [c for c in CASES if c.in_execute and c.sqlstate], ids=case_id)
def test_psycopg_instrumentor_records_the_statement_once(
    case, make_db, tracer, spans, contrib_psycopg
):
    """With ours (and contrib or not): one event, the code, the SQLSTATE and the statement."""
    db = make_db("psycopg")
    exc = run_in_span(tracer, lambda: case.produce(db))
    events = spans.exception_events()
    if case.produce is aborted_transaction:  # the first failure is recorded too, by ours
        assert [e["error.code"] for e in events] == ["DB-1035", "DB-1022"]
        events = events[1:]
    (event,) = events
    assert event["error.code"] == case.code
    assert event["db.response.status_code"] == case.sqlstate
    assert event["db.system.name"] == "postgresql"
    assert event["db.operation.name"] == str(event["db.query.text"]).split()[0]
    assert event["error.handled"] is False
    span = failed_span(spans) if case.produce is not aborted_transaction else None
    if contrib_psycopg and span is not None:
        assert span.kind is SpanKind.CLIENT
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes["error.type"] == case.code
    assert code_of(exc) == case.code


@postgres
def test_psycopg_statement_is_sanitized(make_db, tracer, spans, ours_psycopg, contrib_psycopg):
    """No planted parameter value reaches any attribute; no planted literal reaches ours."""
    db = make_db("psycopg")
    literal, value = f"literal-{uuid.uuid4().hex}", f"value-{uuid.uuid4().hex}"
    db.setup("CREATE TABLE pv (email text UNIQUE)")
    db.admin.execute("INSERT INTO pv VALUES (%s)", (value,))
    sql = f"INSERT INTO pv (email) SELECT %s WHERE '{literal}' <> '' AND 42 = 42"
    conn = db.connect()
    run_in_span(tracer, lambda: db.run(conn, sql, (value,)))
    event = spans.only_exception()
    assert event["db.query.text"] == "INSERT INTO pv (email) SELECT %s WHERE ? <> ? AND ? = ?"
    assert event["db.operation.name"] == "INSERT"
    assert "DETAIL:  Key (email)=(?) already exists." in str(event["exception.message"])
    exported = all_attribute_values(spans)
    assert not [v for v in exported if value in v]
    assert not [v for v in map(str, event.values()) if literal in v]
    if not contrib_psycopg:  # contrib puts the raw statement (not the parameters) on its span
        assert not [v for v in exported if literal in v]


@postgres
def test_psycopg_composed_statement(make_db, tracer, spans, ours_psycopg):
    """A ``psycopg.sql`` composition is rendered, then sanitized like a string."""
    from psycopg import sql

    db = make_db("psycopg")
    query = sql.SQL("SELECT * FROM {} WHERE x = {}").format(
        sql.Identifier("missing"), sql.Literal("secret")
    )
    run_in_span(tracer, lambda: db.run(db.connect(), query))
    assert spans.only_exception()["db.query.text"] == 'SELECT * FROM "missing" WHERE x = ?'


@postgres
def test_psycopg_executemany_is_a_batch(make_db, tracer, spans, ours_psycopg):
    """``executemany`` failures carry ``BATCH <operation>``."""
    db = make_db("psycopg")
    db.setup("CREATE TABLE b (id int PRIMARY KEY)")
    conn = db.connect()
    run_in_span(
        tracer, lambda: conn.cursor().executemany("INSERT INTO b VALUES (%s)", [(1,), (1,)])
    )
    event = spans.only_exception()
    assert (event["error.code"], event["db.operation.name"]) == ("DB-1002", "BATCH INSERT")


@postgres
def test_psycopg_async(make_db, tracer, spans, ours_psycopg, contrib_psycopg):
    """Async connections: code, SQLSTATE and statement, once, for a violation and a timeout."""
    db = make_db("psycopg")
    db.setup("CREATE TABLE au (id int PRIMARY KEY)")

    async def scenario() -> list[str]:
        codes = []
        async with await psycopg.AsyncConnection.connect(db.dsn(), autocommit=True) as conn:
            await conn.execute("INSERT INTO au VALUES (1)")
            codes.append(await failing(conn, "INSERT INTO au VALUES (1)"))
            await conn.execute("SET statement_timeout = '50ms'")
            codes.append(await failing(conn, "SELECT pg_sleep(5)"))
        return codes

    async def failing(conn: psycopg.AsyncConnection, sql: str) -> str:
        try:
            with tracer.start_as_current_span("op"):
                await conn.execute(sql)
        except psycopg.Error as exc:
            return code_of(exc)
        raise AssertionError(f"{sql} did not fail")

    assert asyncio.run(scenario()) == ["DB-1002", "DB-1012"]
    events = spans.exception_events()
    assert [e["db.response.status_code"] for e in events] == ["23505", "57014"]
    assert [e["db.query.text"] for e in events] == [
        "INSERT INTO au VALUES (?)",
        "SELECT pg_sleep(?)",
    ]


@postgres
def test_psycopg_results_unchanged(make_db, ours_psycopg, contrib_psycopg):
    """Instrumented calls return what they return without us."""
    db = make_db("psycopg")
    conn = db.connect()
    cur = conn.cursor()
    assert cur.execute("SELECT 1, 'x'") is cur
    assert cur.fetchall() == [(1, "x")]
    assert cur.executemany("SELECT %s", [(1,), (2,)]) is None
    assert conn.execute("SELECT 2").fetchone() == (2,)
    with conn.transaction(), conn.cursor(name="server_side") as named:
        named.execute("SELECT generate_series(1, 3)")
        assert named.fetchall() == [(1,), (2,), (3,)]


@postgres
def test_psycopg_uninstrument_restores(make_db, tracer, spans):
    """After uninstrument, the methods are psycopg's own and failures carry no db attributes."""
    originals = {name: getattr(psycopg.Cursor, name) for name in ("execute", "executemany")}
    instrumentor = PsycopgErrorsInstrumentor()
    instrumentor.instrument()
    assert psycopg.Cursor.execute is not originals["execute"]
    instrumentor.uninstrument()
    assert {name: getattr(psycopg.Cursor, name) for name in originals} == originals
    assert not hasattr(psycopg.AsyncCursor.execute, "__wrapped__")
    db = make_db("psycopg")
    run_in_span(tracer, lambda: undefined_table(db))
    event = spans.only_exception()
    assert event["error.code"] == "DB-1031"
    assert "db.query.text" not in event


@postgres
@pytest.mark.usefixtures("ours_psycopg")
def test_psycopg_instrumentor_fails_open(make_db, tracer, spans, monkeypatch, metric_points):
    """A failure inside our code leaves the application's exception and its recording intact."""

    def broken(statement: str) -> str:
        raise RuntimeError("sanitizer bug")

    monkeypatch.setattr("otel_errors.integrations.psycopg.instrumentor.sanitize_statement", broken)
    before = _internal_failures(metric_points, "psycopg.record")
    db = make_db("psycopg")
    exc = run_in_span(tracer, lambda: undefined_table(db))
    assert isinstance(exc, psycopg.errors.UndefinedTable)
    assert spans.only_exception()["error.code"] == "DB-1031"
    assert _internal_failures(metric_points, "psycopg.record") == before + 1


def _internal_failures(metric_points, component: str) -> int:
    points = metric_points("otel_errors.internal_failures")
    return sum(value for attributes, value in points if attributes["component"] == component)


# --- psycopg2 -------------------------------------------------------------------------------


@postgres
@pytest.mark.parametrize("contrib", [False, True], ids=["no-contrib", "contrib"])
@pytest.mark.parametrize("case", [unique_violation, statement_timeout, syntax_error], ids=str)
def test_psycopg2_recorded_once_with_and_without_contrib(case, contrib, make_db, tracer, spans):
    """psycopg2 errors get their code once: on contrib's span when present, else on ours."""
    if contrib:
        Psycopg2Instrumentor().instrument()
    try:
        db = make_db("psycopg2")
        run_in_span(tracer, lambda: case(db))
    finally:
        if contrib:
            Psycopg2Instrumentor().uninstrument()
    event = spans.only_exception()
    assert (
        event["error.code"]
        == {unique_violation: "DB-1002", statement_timeout: "DB-1012", syntax_error: "DB-1033"}[
            case
        ]
    )
    span = failed_span(spans)
    assert span.kind is (SpanKind.CLIENT if contrib else SpanKind.INTERNAL)


# --- SQLAlchemy ---------------------------------------------------------------------------


@pytest.fixture
def ours_sqlalchemy() -> Iterator[None]:
    instrumentor = SQLAlchemyErrorsInstrumentor()
    instrumentor.instrument()
    yield
    instrumentor.uninstrument()


@pytest.fixture(params=[False, True], ids=["no-contrib", "contrib"])
def contrib_sqlalchemy(request) -> Iterator[bool]:
    if request.param:
        SQLAlchemyInstrumentor().instrument()
    yield request.param
    if request.param:
        SQLAlchemyInstrumentor().uninstrument()


def sqlalchemy_url(db: Db) -> str:
    return db.dsn().replace("postgresql://", "postgresql+psycopg://", 1)


@postgres
def test_sqlalchemy_integrity_error(make_db, tracer, spans, ours_sqlalchemy, contrib_sqlalchemy):
    """The wrapper gets the driver's code, the statement, and no parameter value anywhere."""
    db = make_db("psycopg")
    db.setup("CREATE TABLE sa (email text UNIQUE)")
    value = f"value-{uuid.uuid4().hex}"
    engine = sqlalchemy.create_engine(sqlalchemy_url(db))
    insert = text("INSERT INTO sa (email) VALUES (:email)")
    with engine.begin() as conn:
        conn.execute(insert, {"email": value})

    def duplicate() -> None:
        with engine.begin() as conn:
            conn.execute(insert, {"email": value})

    exc = run_in_span(tracer, duplicate)
    engine.dispose()
    assert isinstance(exc, sqlalchemy.exc.IntegrityError)
    event = spans.only_exception()
    assert event["exception.type"] == "sqlalchemy.exc.IntegrityError"
    assert event["error.code"] == "DB-1002"
    assert event["db.response.status_code"] == "23505"
    assert event["db.query.text"] == "INSERT INTO sa (email) VALUES (%(email)s)"
    assert event["db.system.name"] == "postgresql"
    assert "[parameters: hidden by otel_errors]" in str(event["exception.message"])
    stacktrace = str(event["exception.stacktrace"])
    assert "psycopg.errors.UniqueViolation: duplicate key" in stacktrace
    assert "The above exception was the direct cause" in stacktrace
    assert isinstance(exc.__cause__, psycopg.errors.UniqueViolation)
    assert not [v for v in all_attribute_values(spans) if value in v]
    span = failed_span(spans)
    if contrib_sqlalchemy:
        assert span.kind is SpanKind.CLIENT
        assert span.status.status_code is StatusCode.ERROR
    else:
        assert span.name == "op"


@postgres
def test_sqlalchemy_over_instrumented_psycopg(
    make_db, tracer, spans, ours_sqlalchemy, ours_psycopg
):
    """With every layer instrumented, each exception object is recorded once, on its span."""
    SQLAlchemyInstrumentor().instrument()
    PsycopgInstrumentor().instrument()
    try:
        db = make_db("psycopg")
        engine = sqlalchemy.create_engine(sqlalchemy_url(db))

        def query() -> None:
            with engine.connect() as conn:
                conn.execute(text("SELECT * FROM missing_table WHERE x = 'secret'"))

        exc = run_in_span(tracer, query)
        engine.dispose()
    finally:
        PsycopgInstrumentor().uninstrument()
        SQLAlchemyInstrumentor().uninstrument()
    by_type = {e["exception.type"]: e for e in spans.exception_events()}
    assert sorted(by_type) == ["psycopg.errors.UndefinedTable", "sqlalchemy.exc.ProgrammingError"]
    assert {e["error.code"] for e in by_type.values()} == {"DB-1031"}
    assert {e["db.query.text"] for e in by_type.values()} == {
        "SELECT * FROM missing_table WHERE x = ?"
    }
    assert isinstance(exc.__cause__, psycopg.errors.UndefinedTable)


@postgres
def test_sqlalchemy_own_errors(make_db, tracer, spans, ours_sqlalchemy):
    """Errors SQLAlchemy raises itself: no row, several rows, pool exhausted, refused connection."""
    from sqlalchemy.orm import Session

    db = make_db("psycopg")
    engine = sqlalchemy.create_engine(
        sqlalchemy_url(db), pool_size=1, max_overflow=0, pool_timeout=0.1
    )
    with Session(engine) as session:
        with pytest.raises(sqlalchemy.exc.NoResultFound) as none:
            session.execute(text("SELECT 1 WHERE false")).one()
        with pytest.raises(sqlalchemy.exc.MultipleResultsFound) as several:
            session.execute(text("SELECT generate_series(1, 2)")).one()
    with engine.connect(), pytest.raises(sqlalchemy.exc.TimeoutError) as exhausted:
        engine.connect()
    engine.dispose()
    refused = sqlalchemy.create_engine(
        f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/postgres"
    )
    exc = run_in_span(tracer, refused.connect)
    assert [code_of(e.value) for e in (none, several, exhausted)] == [
        "DB-1060",
        "DB-1061",
        "DB-1050",
    ]
    assert isinstance(exc, sqlalchemy.exc.OperationalError)
    event = spans.only_exception()
    assert (event["error.code"], event["db.system.name"]) == ("DB-1001", "postgresql")
    assert "db.query.text" not in event


@postgres
def test_sqlalchemy_pre_ping_failure_is_not_recorded(make_db, tracer, spans, ours_sqlalchemy):
    """A pooled connection killed by the server fails pre-ping; SQLAlchemy reconnects silently."""
    db = make_db("psycopg")
    engine = sqlalchemy.create_engine(sqlalchemy_url(db), pool_pre_ping=True, pool_size=1)
    with engine.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    db.admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with tracer.start_as_current_span("op"), engine.connect() as conn:
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar() != pid
    engine.dispose()
    assert spans.exception_events() == []


def test_sqlalchemy_sqlite(tmp_path, tracer, spans, ours_sqlalchemy):
    """Over sqlite3: SQLite's error name as the status code, and the statement."""
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'sa.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))

    def duplicate() -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))

    run_in_span(tracer, duplicate)
    engine.dispose()
    event = spans.only_exception()
    assert (event["error.code"], event["db.system.name"]) == ("DB-1002", "sqlite")
    assert event["db.query.text"] == "INSERT INTO t VALUES (?)"
    if sys.version_info >= (3, 11):
        assert event["db.response.status_code"] == "SQLITE_CONSTRAINT_PRIMARYKEY"


def test_sqlalchemy_uninstrument_removes_the_listener(tmp_path, tracer, spans):
    """After uninstrument, the listener is gone and failures carry no db attributes."""
    from sqlalchemy.engine import Engine

    instrumentor = SQLAlchemyErrorsInstrumentor()
    instrumentor.instrument()
    assert event.contains(Engine, "handle_error", sqlalchemy_errors.handle_error)
    instrumentor.uninstrument()
    assert not event.contains(Engine, "handle_error", sqlalchemy_errors.handle_error)
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'u.db'}")
    run_in_span(tracer, lambda: engine.connect().execute(text("SELECT * FROM missing")))
    engine.dispose()
    event_attributes = spans.only_exception()
    assert event_attributes["error.code"] == "DB-1031"
    assert "db.query.text" not in event_attributes


def test_sqlalchemy_listener_fails_open(tmp_path, tracer, spans, ours_sqlalchemy, monkeypatch):
    """A failure in our listener never replaces the application's exception."""

    def broken(statement: str) -> str:
        raise RuntimeError("sanitizer bug")

    monkeypatch.setattr(sqlalchemy_errors, "sanitize_statement", broken)
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'f.db'}")
    exc = run_in_span(tracer, lambda: engine.connect().execute(text("SELECT * FROM missing")))
    engine.dispose()
    assert isinstance(exc, sqlalchemy.exc.OperationalError)
    assert spans.only_exception()["error.code"] == "DB-1031"


# --- sqlite3 --------------------------------------------------------------------------------


def sqlite_case(
    tmp_path, statements: list[str], *, connect: Callable[[], Any] | None = None
) -> None:
    conn = connect() if connect else sqlite3.connect(tmp_path / "db.sqlite", timeout=0)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        for statement in statements:
            conn.execute(statement)
    finally:
        conn.close()


SQLITE_CASES = [
    (
        [
            "CREATE TABLE t (id INTEGER UNIQUE)",
            "INSERT INTO t VALUES (1)",
            "INSERT INTO t VALUES (1)",
        ],
        "DB-1002",
        "IntegrityError",
    ),
    (
        [
            "CREATE TABLE t (id INTEGER PRIMARY KEY)",
            "INSERT INTO t VALUES (1)",
            "INSERT INTO t VALUES (1)",
        ],
        "DB-1002",
        "IntegrityError",
    ),
    (
        [
            "CREATE TABLE p (id INTEGER PRIMARY KEY)",
            "CREATE TABLE c (p INTEGER REFERENCES p (id))",
            "INSERT INTO c VALUES (7)",
        ],
        "DB-1003",
        "IntegrityError",
    ),
    (
        ["CREATE TABLE t (v TEXT NOT NULL)", "INSERT INTO t VALUES (NULL)"],
        "DB-1004",
        "IntegrityError",
    ),
    (
        ["CREATE TABLE t (n INTEGER CHECK (n > 0))", "INSERT INTO t VALUES (-1)"],
        "DB-1005",
        "IntegrityError",
    ),
    (["SELECT * FROM missing"], "DB-1031", "OperationalError"),
    (["CREATE TABLE t (id INTEGER)", "SELECT missing FROM t"], "DB-1032", "OperationalError"),
    (["SELEC 1"], "DB-1033", "OperationalError"),
]


@pytest.mark.parametrize("case", SQLITE_CASES)
def test_sqlite_failures_get_their_codes(case, tmp_path, tracer, spans):
    """Each sqlite3 failure, produced for real in a temporary file, gets its code."""
    statements, code, exception = case
    run_in_span(tracer, lambda: sqlite_case(tmp_path, statements))
    event = spans.only_exception()
    assert (event["error.code"], event["exception.type"]) == (code, f"sqlite3.{exception}")


def test_sqlite_locked_database(tmp_path, tracer, spans):
    """A second writer on a locked database file gets the transient lock code."""
    path = tmp_path / "locked.sqlite"
    holder = sqlite3.connect(path, timeout=0, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        run_in_span(
            tracer,
            lambda: sqlite_case(
                tmp_path, ["BEGIN IMMEDIATE"], connect=lambda: sqlite3.connect(path, timeout=0)
            ),
        )
    finally:
        holder.close()
    event = spans.only_exception()
    assert (event["error.code"], event["error.retryable"]) == ("DB-1013", True)
    assert "database is locked" in str(event["exception.message"])


def test_sqlite_read_only_database(tmp_path, tracer, spans):
    """Writing through a read-only connection gets the read-only code."""
    path = tmp_path / "ro.sqlite"
    sqlite_case(tmp_path, ["CREATE TABLE t (id INTEGER)"], connect=lambda: sqlite3.connect(path))

    def read_only() -> sqlite3.Connection:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True)

    run_in_span(
        tracer, lambda: sqlite_case(tmp_path, ["INSERT INTO t VALUES (1)"], connect=read_only)
    )
    assert spans.only_exception()["error.code"] == "DB-1021"


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (sqlite3.IntegrityError("UNIQUE constraint failed: t.id"), "DB-1002"),
        (sqlite3.IntegrityError("FOREIGN KEY constraint failed"), "DB-1003"),
        (sqlite3.OperationalError("database is locked"), "DB-1013"),
        (sqlite3.OperationalError("database or disk is full"), "DB-1015"),
        (sqlite3.DatabaseError("file is not a database"), "DB-1099"),
        (sqlite3.ProgrammingError("Cannot operate on a closed database."), "DB-1036"),
    ],
)
def test_sqlite_message_fallback(exc, code):
    """Constructed without ``sqlite_errorname``, as Python 3.10 raises them: the message decides."""
    assert getattr(exc, "sqlite_errorname", None) is None
    assert code_of(exc) == code
