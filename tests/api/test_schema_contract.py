"""The OpenAPI schema is the contract: schemathesis over every operation, every check.

Runs in process against the WSGI application (no server), with an API key holding every
scope and a rate limit no test reaches. The example count per operation is bounded
(``SCHEMA_EXAMPLES``, more with ``SPLITLAB_SCHEMA_EXAMPLES``) so the whole schema stays within
a CI minute or two.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from accounts.models import ApiClient
from accounts.services import create_api_client
from config.wsgi import application
from tests.api.test_no_server_errors import world  # noqa: F401  (the fixture)

SCHEMA_EXAMPLES = int(os.environ.get("SPLITLAB_SCHEMA_EXAMPLES", "8"))


# The operations of the access and management API (this test's scope for now; see the
# README's "API contract" for the others). Generating the schema touches no database; the
# requests run inside each test's.
OPERATIONS = (
    r"^/api/(features/|v1/(ping|experiments|layers|holdouts|metrics|recommender-configs$"
    r"|exposures))"
)
# Not yet conforming (schemathesis' positive-data check): creating an experiment with
# schema-valid fields that break a lifecycle rule (two controls, an empty layer range) is
# answered 400, and an exposure's attribute names outside 1-100 characters too; a recommender
# configuration's free JSON (params, rules) may not hold NUL characters (PostgreSQL's jsonb
# cannot), and a second default configuration is refused: all need the rules in the schema
# first. (The NUL refusal itself is tested in test_contract_fixes.py.)
NOT_YET = r"^/api/v1/(experiments|exposures|recommender-configs)$"
schema = (
    schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
    .include(path_regex=OPERATIONS)
    .exclude(method="POST", path_regex=NOT_YET)
)


@pytest.fixture
def keep_connection():
    """What Django's test client does around a request: the WSGI application would otherwise
    close the database connection at the end of each request, inside the test's
    transaction (PostgreSQL)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def api_key(db) -> str:
    key, _ = create_api_client("schemathesis")
    limit = {"rate": 100_000, "burst": 100_000}
    ApiClient.objects.filter(name="schemathesis").update(
        rate_limits={scope: limit for scope in ("serve", "analyze", "manage", "models", "any")}
    )
    return key


@pytest.mark.django_db(transaction=False)
@schema.parametrize()
@settings(
    max_examples=SCHEMA_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_keeps_the_contract(case, api_key, world, keep_connection):  # noqa: F811
    case.call_and_validate(headers={"Authorization": f"Token {api_key}"})
