"""botocore (boto3): refused calls by their AWS error code (``AWS-*``), ``aws.request_id``."""

from __future__ import annotations

from otel_errors._internal.model.unit import Unit
from otel_errors.integrations.botocore import rules

UNIT = Unit(
    catalog="errors.toml",
    rules=rules.register,
    enrichers=((rules.MODULES, rules.request_attributes),),
)
