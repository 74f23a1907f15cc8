"""AWS through botocore: a refused call's error code picks its code, against real servers.

Two peers on 127.0.0.1: moto's server (an AWS emulator speaking the real wire
protocols) for the answers S3 and DynamoDB give by themselves (missing bucket, key
or table, failed condition, invalid request), and a small HTTP server answering
every DynamoDB call with the error its table name asks for, for what moto does not
produce on demand (throttling, expired tokens, 5xx). botocore's retries are off, so
each call is one request.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import botocore.session
import pytest
from _http_peers import closed_port, full_backlog
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer
from opentelemetry.trace import SpanKind

from otel_errors._internal.recording.runtime import current
from otel_errors.integrations.botocore.rules import BY_ERROR_CODE

NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=5)


_OPEN: list[Any] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    """Each test's clients are closed after it (their pooled sockets with them)."""
    yield
    while _OPEN:
        _OPEN.pop().close()


def _client(
    service: str, endpoint: str, config: Config = NO_RETRIES, *, signed: bool = True
) -> Any:
    credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    if not signed:  # the credentials chain runs: environment, files, instance metadata
        credentials = {}
    client = botocore.session.get_session().create_client(
        service, endpoint_url=endpoint, region_name="eu-west-1", config=config, **credentials
    )
    _OPEN.append(client)
    return client


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


class _AnswersWithTheTableName(BaseHTTPRequestHandler):
    """DynamoDB's JSON protocol: the table name ``<ErrorCode>-<status>`` is the answer."""

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        code, status = request["TableName"].rsplit("-", 1)
        body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": code})
        self.send_response(int(status))
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("x-amzn-RequestId", f"REQ-{code}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture(scope="module")
def answering_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AnswersWithTheTableName)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _refused(call, *args: Any, **kwargs: Any) -> BaseException:
    with pytest.raises(Exception) as info:  # each test checks what it got
        call(*args, **kwargs)
    return info.value


def _code(exc: BaseException) -> str:
    return current().registry.classifier.classify(exc).error.code


def test_a_missing_bucket_key_and_table_are_not_found(moto_endpoint):
    s3 = _client("s3", moto_endpoint)
    assert _code(_refused(s3.get_object, Bucket="absent", Key="k")) == "AWS-005"  # NoSuchBucket
    s3.create_bucket(Bucket="shop", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    missing_key = _refused(s3.get_object, Bucket="shop", Key="absent")
    assert (type(missing_key).__name__, _code(missing_key)) == ("NoSuchKey", "AWS-005")
    dynamodb = _client("dynamodb", moto_endpoint)
    missing_table = _refused(dynamodb.describe_table, TableName="absent")
    assert _code(missing_table) == "AWS-005"  # ResourceNotFoundException


def test_a_failed_condition_is_a_conflict_and_a_bad_request_our_bug(moto_endpoint):
    dynamodb = _client("dynamodb", moto_endpoint)
    dynamodb.create_table(
        TableName="orders",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    item = {"id": {"S": "o-1"}}
    dynamodb.put_item(TableName="orders", Item=item)
    conflict = _refused(
        dynamodb.put_item,
        TableName="orders",
        Item=item,
        ConditionExpression="attribute_not_exists(id)",
    )
    entry = current().registry.classifier.classify(conflict).error
    assert (error_name(conflict), entry.code, entry.kind) == (
        "ConditionalCheckFailedException",
        "AWS-006",
        "operational",
    )
    invalid = _refused(dynamodb.put_item, TableName="orders", Item={"other": {"S": "x"}})
    entry = current().registry.classifier.classify(invalid).error
    assert (error_name(invalid), entry.code, entry.kind) == (
        "ValidationException",
        "AWS-007",
        "programmer",
    )


def error_name(exc: BaseException) -> str:
    assert isinstance(exc, ClientError)
    return exc.response["Error"]["Code"]


@pytest.mark.parametrize(
    ("answer", "code", "retryable"),
    [
        ("ThrottlingException-400", "AWS-001", True),
        ("ProvisionedThroughputExceededException-400", "AWS-001", True),
        ("InternalServerError-500", "AWS-002", True),
        ("ExpiredTokenException-400", "AWS-003", False),
        ("UnrecognizedClientException-400", "AWS-003", False),
        ("AccessDeniedException-400", "AWS-004", False),
        ("ServiceQuotaExceededException-400", "AWS-008", False),
        ("RequestTimeoutException-400", "AWS-009", True),
        ("SomethingNew-429", "AWS-001", True),  # unknown codes: by the status
        ("SomethingNew-503", "AWS-002", True),
        ("SomethingNew-403", "AWS-004", False),
        ("SomethingNew-418", "AWS-007", False),
    ],
)
def test_service_answers_by_error_code_then_status(answering_endpoint, answer, code, retryable):
    dynamodb = _client("dynamodb", answering_endpoint)
    error = _refused(dynamodb.get_item, TableName=answer, Key={"id": {"S": "1"}})
    assert isinstance(error, ClientError)
    entry = current().registry.classifier.classify(error).error
    assert (entry.code, entry.retryable) == (code, retryable)


def test_a_failed_call_is_recorded_with_its_request_id(answering_endpoint, tracer, spans):
    dynamodb = _client("dynamodb", answering_endpoint)
    with pytest.raises(ClientError), tracer.start_as_current_span("load order"):
        dynamodb.get_item(TableName="ThrottlingException-400", Key={"id": {"S": "1"}})
    event = spans.only_exception()
    assert (event["error.code"], event["error.retryable"]) == ("AWS-001", True)
    assert event["aws.request_id"] == "REQ-ThrottlingException"


def test_bad_parameters_are_refused_before_sending(moto_endpoint):
    s3 = _client("s3", moto_endpoint)
    assert _code(_refused(s3.get_object, Bucket="shop")) == "AWS-011"  # Key is required


def test_missing_credentials(monkeypatch, moto_endpoint, tmp_path):
    """No key anywhere (and no instance metadata lookup: that would leave loopback)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    s3 = _client("s3", moto_endpoint, signed=False)
    assert _code(_refused(s3.list_buckets)) == "AWS-010"  # NoCredentialsError


def test_a_refused_connection_and_timeouts_keep_their_generic_codes():
    """Transport failures: refused NET-001, read timeout HTTP-1002, connect timeout HTTP-1001.

    The refused socket sits inside EndpointConnectionError; a silent peer times the
    read out, a full accept queue the connect.
    """
    refused = _refused(_client("s3", f"http://127.0.0.1:{closed_port()}").list_buckets)
    assert (type(refused).__name__, _code(refused)) == ("EndpointConnectionError", "NET-001")
    with socket.socket() as silent:  # accepts (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        config = NO_RETRIES.merge(Config(read_timeout=0.3, connect_timeout=2))
        client = _client("s3", f"http://127.0.0.1:{silent.getsockname()[1]}", config)
        timed_out = _refused(client.list_buckets)
    assert (type(timed_out).__name__, _code(timed_out)) == ("ReadTimeoutError", "HTTP-1002")
    with full_backlog() as port:
        config = NO_RETRIES.merge(Config(connect_timeout=0.3))
        unconnected = _refused(_client("s3", f"http://127.0.0.1:{port}", config).list_buckets)
    assert (type(unconnected).__name__, _code(unconnected)) == ("ConnectTimeoutError", "HTTP-1001")


@pytest.mark.parametrize(
    "response",
    [
        {},
        {"Error": "not a dict"},
        {"Error": {"Code": 42}, "ResponseMetadata": {"HTTPStatusCode": "500"}},
        {"Error": {"Code": ""}, "ResponseMetadata": {"HTTPStatusCode": 200}},
    ],
)
def test_an_odd_client_error_falls_back(response):
    """Malformed responses (no code, odd types, a success status): AWS-100, nothing raised."""
    error = ClientError({}, "GetObject")
    error.response = response  # as a library or a test double may leave it
    assert _code(error) == "AWS-100"


def test_rule_codes_are_catalogued():
    for code in {*BY_ERROR_CODE.values(), "AWS-100"}:
        assert code in current().registry.catalog


def test_with_the_contrib_instrumentation_a_failure_is_recorded_once(moto_endpoint, spans):
    """The contrib botocore span records the NoSuchKey once, coded, with the request id."""
    contrib = pytest.importorskip("opentelemetry.instrumentation.botocore")
    instrumentor = contrib.BotocoreInstrumentor()
    instrumentor.instrument()
    try:
        s3 = _client("s3", moto_endpoint)
        _refused(s3.get_object, Bucket="absent", Key="k")
    finally:
        instrumentor.uninstrument()
    (client_span,) = [s for s in spans.all() if s.kind is SpanKind.CLIENT]
    (event,) = [dict(e.attributes or {}) for e in client_span.events if e.name == "exception"]
    assert event["error.code"] == "AWS-005"
    assert event["aws.request_id"]
