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
from schemathesis.specs.openapi.checks import positive_data_acceptance

from accounts.models import ApiClient
from accounts.services import create_api_client
from config.wsgi import application
from tests.api.test_no_server_errors import world  # noqa: F401  (the fixture)

SCHEMA_EXAMPLES = int(os.environ.get("SPLITLAB_SCHEMA_EXAMPLES", "8"))


# Every operation, positive and negative data, every check. One check is left out where the
# API's rules reach across fields or into the database in ways no JSON Schema states; each
# operation so treated says why, and still gets every other check (no server error, answers
# that match their schema, schema-violating data refused):
RULES_BEYOND_THE_SCHEMA = {
    # Lifecycle rules between fields and against stored experiments: exactly one control,
    # distinct variant keys, layer_start below layer_end and a range free in its layer, an
    # interleaving experiment's variants each bound to a distinct configuration, metric and
    # layer names that exist (404), targeting in the targeting language.
    "POST /api/v1/experiments": "lifecycle rules across fields and stored experiments",
    "PATCH /api/v1/experiments/{key}": "the same rules, and what may change once started",
    # A second default configuration is refused (one default per installation), and the free
    # JSON of params and rules may not hold a NUL character at any depth (PostgreSQL's jsonb
    # cannot): a recursive rule the generator cannot use. The refusals are tested in
    # test_contract_fixes.py.
    "POST /api/v1/recommender-configs": "one default configuration; no NUL in free JSON",
    # The numbers must be consistent with each other: successes at most the users, sums of
    # squares at least what the sums imply, an mde that keeps the rate inside (0, 1) and points
    # the way of a one-sided alternative, power above alpha. The schema states each number's
    # type, the choices and the fields each metric needs (method per metric included).
    "POST /api/v1/stats/sample-size": "numbers consistent with each other",
    "POST /api/v1/stats/analyze": "sums consistent with each other",
    # An event's timestamp must fall in a window around the time it is received, the fields
    # an event needs depend on its type, and its experiment and surface must exist; the
    # answer is 400 (naming each event's reasons) when no event of the batch is accepted.
    "POST /api/v1/events": "a timestamp window around now, fields by type, known references",
    # An exposure is recorded only when the server assigns the user the variant the SDK
    # reports (409 otherwise), and names an experiment that exists (404).
}
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


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
    headers = {"Authorization": f"Token {api_key}"}
    if case.operation.label not in RULES_BEYOND_THE_SCHEMA:
        case.call_and_validate(headers=headers)
        return
    response = case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])
    if response.status_code == 400:  # a rule the schema cannot state: named in the answer
        body = response.json()
        assert isinstance(body, dict) and body, body
