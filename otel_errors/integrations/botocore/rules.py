"""AWS rules: a refused call's error code picks its code; transport failures their generic one.

botocore raises ``ClientError`` (as a class generated per service error) when a
service answers with an error; its ``response`` holds the service's error code
(``response["Error"]["Code"]``, ``"ThrottlingException"``) and the HTTP status
(``response["ResponseMetadata"]["HTTPStatusCode"]``). The class name alone cannot
tell throttling (back off) from a denied permission (fix the role), so the rule
here reads the error code, then the status class, and lets anything else fall
through to the catalogue's ``ClientError`` entry (AWS-100). The codes botocore's
standard retry mode treats as throttling or transient are the retryable ones here.
The enricher adds ``aws.request_id`` (semantic conventions), what AWS support asks
for.

Transport failures are wrappers, as with the HTTP clients: botocore's
``EndpointConnectionError`` holds urllib3's error, which holds the socket error, so
the HTTP rules' walk finds NET-001 (refused), NET-003 (DNS) and so on inside it;
``ReadTimeoutError`` and ``ConnectTimeoutError`` are urllib3's timeouts too
(HTTP-1002, HTTP-1001). Nothing here imports botocore.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from otel_errors._internal.model.areas import http

if TYPE_CHECKING:
    from collections.abc import Mapping

    from opentelemetry import trace
    from opentelemetry.util.types import AttributeValue

    from otel_errors._internal.model.classification import Classifier

_BY_ERROR_CODE: dict[str, tuple[str, ...]] = {
    "AWS-001": (  # botocore.retries.standard: throttled error codes
        "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
        "TooManyRequestsException", "ProvisionedThroughputExceededException",
        "TransactionInProgressException", "RequestLimitExceeded", "BandwidthLimitExceeded",
        "LimitExceededException", "RequestThrottled", "SlowDown", "EC2ThrottledException",
    ),
    "AWS-002": (
        "InternalError", "InternalFailure", "InternalServerError", "InternalServerException",
        "ServiceUnavailable", "ServiceUnavailableException",
    ),
    "AWS-003": (
        "ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId",
        "UnrecognizedClientException", "SignatureDoesNotMatch", "InvalidSignatureException",
        "InvalidAccessKeyId", "AuthFailure", "RequestExpired", "MissingAuthenticationToken",
        "IncompleteSignature", "InvalidToken",
    ),
    "AWS-004": (
        "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError",
        "Forbidden", "AllAccessDisabled", "OptInRequired",
    ),
    "AWS-005": (
        "NoSuchKey", "NoSuchBucket", "NoSuchUpload", "NoSuchVersion", "NoSuchEntity",
        "ResourceNotFoundException", "NotFound", "NotFoundException", "QueueDoesNotExist",
        "AWS.SimpleQueueService.NonExistentQueue", "ParameterNotFound",
    ),
    "AWS-006": (
        "ConditionalCheckFailedException", "TransactionCanceledException",
        "TransactionConflictException", "PreconditionFailed", "ResourceInUseException",
        "ResourceConflictException", "ConflictException", "BucketAlreadyExists",
        "BucketAlreadyOwnedByYou", "OperationAborted", "IdempotentParameterMismatch",
    ),
    "AWS-007": (
        "ValidationException", "ValidationError", "InvalidParameterValue",
        "InvalidParameterValueException", "InvalidParameterException",
        "InvalidParameterCombination", "InvalidRequest", "InvalidRequestException",
        "InvalidArgument", "MalformedPolicyDocument", "SerializationException",
        "MissingParameter", "InvalidInput", "UnknownOperationException",
    ),
    "AWS-008": ("ServiceQuotaExceededException", "QuotaExceededException", "TooManyBuckets"),
    "AWS-009": ("RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete"),
}  # fmt: skip
BY_ERROR_CODE = {name: code for code, names in _BY_ERROR_CODE.items() for name in names}
"""AWS error codes (``response["Error"]["Code"]``) with a code of their own."""

_BY_STATUS = {401: "AWS-003", 403: "AWS-004", 404: "AWS-005", 409: "AWS-006", 412: "AWS-006"}
_THROTTLED, _CLIENT_ERROR, _SERVER_ERROR, _LAST_STATUS = 429, 400, 500, 599

CLIENT_ERROR = "botocore.exceptions.ClientError"
MODULES = ("botocore.",)
"""Where botocore's error classes live (``botocore.exceptions``, ``botocore.errorfactory``)."""
REQUEST_ID_ATTRIBUTE = "aws.request_id"

GENERIC_CODES = {
    "botocore.exceptions.EndpointConnectionError": "NET-005",
    "botocore.exceptions.ConnectionClosedError": "NET-002",
    "botocore.exceptions.SSLError": "NET-004",
    "botocore.exceptions.ConnectTimeoutError": "HTTP-1001",
    "botocore.exceptions.ReadTimeoutError": "HTTP-1002",
}
"""botocore's transport failures and the generic codes they mean (when nothing inside says more)."""


def _response(exc: BaseException) -> Mapping[str, Any]:
    response = getattr(exc, "response", None)
    return response if isinstance(response, dict) else {}


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a refused call (``"NoSuchKey"``), if it carries one."""
    error = _response(exc).get("Error")
    code = error.get("Code") if isinstance(error, dict) else None
    return code if isinstance(code, str) and code else None


def status(exc: BaseException) -> int | None:
    """The HTTP status of the service's answer, if known."""
    metadata = _response(exc).get("ResponseMetadata")
    value = metadata.get("HTTPStatusCode") if isinstance(metadata, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def client_error_code(exc: BaseException) -> str | None:
    """The catalogue code of a ``ClientError``, or None to fall through to AWS-100."""
    name = error_code(exc)
    if name is not None and name in BY_ERROR_CODE:
        return BY_ERROR_CODE[name]
    answered = status(exc)
    if answered is None or not _CLIENT_ERROR <= answered <= _LAST_STATUS:
        return None
    if answered == _THROTTLED:
        return "AWS-001"
    if answered >= _SERVER_ERROR:
        return "AWS-002"
    return _BY_STATUS.get(answered, "AWS-007")


def request_attributes(
    exc: BaseException,
    span: trace.Span | None,
    attributes: Mapping[str, AttributeValue],
) -> dict[str, AttributeValue] | None:
    """``aws.request_id`` of a refused call, for its exception event."""
    metadata = _response(exc).get("ResponseMetadata")
    request_id = metadata.get("RequestId") if isinstance(metadata, dict) else None
    return (
        {REQUEST_ID_ATTRIBUTE: request_id} if isinstance(request_id, str) and request_id else None
    )


def register(classifier: Classifier) -> None:
    """Adds the rules for botocore's exceptions (by name, no import)."""
    catalog = classifier.catalog

    def by_inner_failure(exc: BaseException) -> str | None:
        return http.inner_code(exc, catalog)

    for name, code in GENERIC_CODES.items():  # first: the inner failure is tried before
        classifier.add(name, code)
        classifier.add(name, by_inner_failure)
    classifier.add(CLIENT_ERROR, client_error_code)
