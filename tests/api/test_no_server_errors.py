"""No API endpoint answers 500 to anything a client can send.

Each endpoint gets a valid request, then hypothesis mutates it: a field at any depth replaced
by any JSON value (null, booleans, huge and non-finite numbers, long strings, NUL characters,
lone surrogates, non-BMP characters, nested objects and lists), removed, or joined by an
unknown one; a body of another type; bytes that are not JSON (deep nesting included); another
content type; junk in the query string and in path segments. Every answer must be below 500,
a 400 must say what is wrong, and what was stored before must still be stored, unchanged.

Writes made after the response (the exposure journal) are flushed in each example, and
nothing may log an error (served lists are written in the request, where a failure is logged,
not raised): a value the database cannot store would otherwise fail every later flush of the
process, or silently lose what the request should have recorded. Each example runs in a savepoint
that is rolled back, so examples do not see each other's writes.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.models import Event
from analytics.services import do_ingest_events
from assignment import exposure_log
from assignment.config_cache import invalidate_local
from recommenders.models import UserProfile
from recommenders.services import training
from recommenders.serving import log as serving_log
from recommenders.serving import model_cache
from recommenders.serving import selectors as serving_selectors
from recommenders.serving.web import do_set_user_preferences
from tests.experiments.factories import running_experiment
from tests.recommenders.serving_data import load_planted_catalogue, make_config

pytestmark = pytest.mark.django_db

API = "/api/v1"
EXAMPLES = 100
fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# --- what a client can send -----------------------------------------------------------------------

SPECIAL_TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",  # a lone surrogate: valid as a JSON escape, not encodable as UTF-8
    "x\udfffy",
    "\U0001f600\U0001f600",
    "\u202e\u200b",
    "null",
    "NaN",
    "-Infinity",
    "1e400",
    "-1",
    "0",
    "9" * 400,
    "2025-01-31T12:00:00",
    "' OR 1=1 --",
    "%00",
    "../..",
    "\n\t\r",
]
LONG_TEXT = st.builds(
    lambda char, size: char * size,
    st.sampled_from(["x", "\u00e9", "\U0001f600", "\x00"]),
    st.sampled_from([101, 257, 1_001, 10_001, 100_001]),
)
# The hostile strings first: the generator starts (and shrinks) towards a strategy's first
# branch, and a run of tens of examples must meet them.
HOSTILE = st.sampled_from(SPECIAL_TEXT)
TEXT = st.one_of(HOSTILE, HOSTILE, st.text(max_size=12), LONG_TEXT)
SPECIAL_NUMBERS = [-1, 0, 1, 2**31, 2**53 + 1, 2**63, -(2**63) - 1, 10**30, 10**400]
NUMBERS = st.one_of(
    st.sampled_from(SPECIAL_NUMBERS),
    st.integers(),
    st.floats(),  # NaN and infinities become the non-standard NaN / Infinity tokens
)
SCALARS = st.one_of(TEXT, NUMBERS, st.none(), st.booleans())
SPECIAL_SCALARS = st.sampled_from(
    SPECIAL_TEXT + SPECIAL_NUMBERS + [None, True, False, float("nan"), float("-inf")]
)
JSON_VALUES = SPECIAL_SCALARS | st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.one_of(st.sampled_from(SPECIAL_TEXT), st.text(max_size=6)), children),
    ),
    max_leaves=8,
)
MALFORMED_BODIES = [
    b"",
    b"{",
    b'{"user_id": "u-1"',
    b"[1, 2,]",
    b"nul",
    b"\xff\xfe\x00{",
    b'{"a": 1}{"b": 2}',
    b'{"x": NaN, "y": -Infinity}',
    b"1e99999",
    b'{"x": "\\ud800"}',
    b'{"x": "\xed\xa0\x80"}',  # a surrogate encoded as (invalid) UTF-8
    b"9" * 5000,  # over Python's limit of digits in an int
    b"[" * 100_000,
    b"[" * 5_000 + b"]" * 5_000,  # valid JSON, deeper than the parser's recursion limit
    b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
]
CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-16",
    "application/json; charset=no-such-codec",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "multipart/form-data",
    "application/xml",
    "",
]


def paths(value: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Every path to a value inside ``value`` (keys and list indexes), the root ``()`` too."""
    yield prefix
    if isinstance(value, dict | list):
        children = value.items() if isinstance(value, dict) else enumerate(value)
        for key, child in children:
            yield from paths(child, (*prefix, key))


def mutate(template: Any, mutations: list[tuple[tuple, str, Any, str]]) -> Any:
    """``template`` with each ``(path, operation, value, extra_key)`` applied in turn:
    ``set`` the value at the path, ``delete`` it, or add an ``extra`` key (or list item) to
    the container at the path."""
    body = copy.deepcopy(template)
    for path, operation, value, extra_key in mutations:
        if not path and operation == "set":
            body = value
            continue
        try:
            target = body
            for key in path[: -1 if operation != "extra" else None]:
                target = target[key]
            if operation == "set":
                target[path[-1]] = value
            elif operation == "delete":
                if path:
                    del target[path[-1]]
            elif isinstance(target, dict):
                target[extra_key] = value
            elif isinstance(target, list):
                target.append(value)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced the path
    return body


def mutated(template: Any) -> st.SearchStrategy:
    mutation = st.tuples(
        st.sampled_from(list(paths(template))),
        st.sampled_from(["set", "set", "delete", "extra"]),
        JSON_VALUES,
        st.one_of(st.text(max_size=8), st.sampled_from(SPECIAL_TEXT)),
    )
    return st.builds(mutate, st.just(template), st.lists(mutation, min_size=1, max_size=2))


def encoded(value: Any, ascii_only: bool) -> bytes:
    # Raw UTF-8 of a lone surrogate is itself a malformed body.
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def bodies(template: Any) -> st.SearchStrategy:
    """``(bytes, content type)``: mostly JSON near the template, sometimes anything."""
    near = st.builds(encoded, mutated(template), st.booleans())
    anything = st.builds(encoded, JSON_VALUES, st.booleans())
    as_json = st.tuples(st.one_of(near, near, near, anything), st.just("application/json"))
    raw = st.tuples(
        st.one_of(st.sampled_from(MALFORMED_BODIES), st.binary(max_size=40)),
        st.sampled_from(CONTENT_TYPES),
    )
    valid_elsewhere = st.tuples(st.just(encoded(template, True)), st.sampled_from(CONTENT_TYPES))
    return st.one_of(as_json, as_json, as_json, raw, valid_elsewhere)


def path_segment(text: str) -> str:
    return quote(text, safe="", errors="surrogatepass")


PATH_TEXT = st.one_of(TEXT.filter(bool), st.integers().map(str))

# --- the world the requests meet ------------------------------------------------------------------


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def click(event_id: str) -> dict:
    return {
        "event_id": event_id,
        "type": "click",
        "user_id": "u-1",
        "timestamp": now_iso(),
        "request_id": "r-1",
        "item_id": "A1",
        "position": 3,
        "experiment": "exp-home",
        "variant": "treatment",
        "attributes": {"device": "phone", "app_version": 3},
    }


def impression(event_id: str) -> dict:
    return {
        "event_id": event_id,
        "type": "impression",
        "user_id": "u-1",
        "timestamp": now_iso(),
        "request_id": "r-1",
        "items": [{"item_id": "A1", "position": 1}, "A2"],
        "surface": "home",
    }


def watch(event_id: str) -> dict:
    return {
        "event_id": event_id,
        "type": "watch",
        "user_id": "u-1",
        "timestamp": datetime.now(UTC).timestamp(),  # Unix seconds are accepted too
        "item_id": "A1",
        "seconds": 12.5,
    }


STORED_PREFERENCES = {"categories": ["Alpha"], "items": ["A0"]}


@pytest.fixture
def world(settings, tmp_path) -> Iterator[dict]:
    """A running experiment (two variants) on the home surface, a default recommender
    configuration over a small catalogue, one stored event and one user's preferences."""
    settings.SPLITLAB_ARTIFACT_ROOT = tmp_path / "artifacts"
    settings.SPLITLAB_SERVING_BROKER_RETRY_SECONDS = 0.0
    # Served lists written in the request (a failure is logged, and caught by the checks), not
    # by the buffer's background thread on another connection.
    settings.SPLITLAB_SERVED_LIST_BUFFER_ROWS = 0
    serving_selectors.clear_caches()
    model_cache.reset_cache()
    serving_log.discard_buffers()
    invalidate_local()
    running_experiment("exp-home", surface="home")
    running_experiment("exp-other")
    load_planted_catalogue()
    config = make_config("default-popular", "popular", is_default=True)
    training.do_start_training(config, enqueue=False)  # a version that is not trained yet
    do_set_user_preferences("u-stored", **STORED_PREFERENCES)
    do_ingest_events([click("e-stored")])
    stored_event = Event.objects.filter(event_id="e-stored").values().get()
    yield {"stored_event": stored_event}
    serving_selectors.clear_caches()
    model_cache.reset_cache()
    serving_log.discard_buffers()
    invalidate_local()


# --- the checks -----------------------------------------------------------------------------------


def messages(body: Any) -> Iterator[str]:
    """Every non-empty string in a JSON body (error messages, field names)."""
    if isinstance(body, str):
        if body.strip():
            yield body
    elif isinstance(body, dict):
        for key, value in body.items():
            yield from messages(key)
            yield from messages(value)
    elif isinstance(body, list):
        for value in body:
            yield from messages(value)


def check_answer(response, what: str) -> None:
    assert response.status_code < 500, f"{what} -> {response.status_code}: {response.content!r}"
    if response.status_code == 400 and response.content:  # HEAD answers have no body
        body = response.json()
        assert isinstance(body, dict) and body, f"{what} -> 400 without detail: {body!r}"
        assert any(True for _ in messages(body)), f"{what} -> 400 says nothing: {body!r}"


def flushed_cleanly(caplog) -> None:
    """Write what the request buffered; nothing may fail (see the module docstring)."""
    exposure_log.flush()
    serving_log.flush_all()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, f"errors logged: {[r.getMessage()[:300] for r in errors]}"
    assert len(exposure_log.buffer) == 0, "exposures kept for a retry: the write failed"


def stored_data_intact(world: dict) -> None:
    assert Event.objects.filter(event_id="e-stored").values().get() == world["stored_event"]
    assert UserProfile.objects.get(external_id="u-stored").preferences == STORED_PREFERENCES


def exchange(client, caplog, world, method: str, url: str, body=None, content_type="", **extra):
    """One request inside a rolled-back savepoint, with every check."""
    caplog.clear()
    what = (
        f"{method} {url[:200]} {extra.get('QUERY_STRING', '')[:200]} {body!r:.300} {content_type}"
    )
    with transaction.atomic():
        response = client.generic(method, url, data=body or b"", content_type=content_type, **extra)
        check_answer(response, what)
        flushed_cleanly(caplog)
        if response.status_code >= 400:
            stored_data_intact(world)
        transaction.set_rollback(True)
    return response


def post_bodies(url: str, template: Any):
    """A test posting hypothesis bodies near ``template`` to ``url``."""

    @fuzz
    @given(request=bodies(template))
    def test(api_client, world, caplog, request):
        body, content_type = request
        exchange(api_client, caplog, world, "POST", url, body, content_type)

    return test


# --- the valid requests ---------------------------------------------------------------------------

ASSIGNMENT = {
    "user_id": "u-1",
    "attributes": {"country": "DE", "age": 31, "premium": True},
    "experiments": ["exp-home", "exp-other"],
}
BATCH = {
    "users": [{"user_id": "u-1", "attributes": {"country": "DE"}}, {"user_id": "u-2"}],
    "experiments": ["exp-home"],
}
SAMPLE_SIZE = {
    "metric": "proportion",
    "baseline": 0.05,
    "mde": 0.05,
    "mde_relative": True,
    "alpha": 0.05,
    "power": 0.8,
    "ratio": 1.0,
    "alternative": "two-sided",
    "method": "unpooled",
    "sequential": True,
    "looks": 2,
    "daily_users": 20000,
    "traffic_share": 1.0,
}
ANALYZE = {
    "kind": "mean",
    "control": {"n": 1000, "sum_x": 500.0, "sum_x2": 900.0, "sum_c": 480.0, "sum_c2": 850.0,
                "sum_xc": 700.0},
    "treatment": {"n": 1000, "sum_x": 550.0, "sum_x2": 1000.0, "sum_c": 490.0,
                  "sum_c2": 860.0, "sum_xc": 720.0},
    "alpha": 0.05,
    "alternative": "two-sided",
    "sequential": True,
    "sequential_method": "asymptotic",
    "planned_total": 5000,
    "cuped": True,
    "bayesian": True,
}  # fmt: skip
EVENTS = {"events": [click("e-1"), impression("e-2"), watch("e-3")]}
PREFERENCES = {"categories": ["Beta"], "items": ["B1", "B2"]}
RECOMMENDATIONS = {"user_id": "a0", "k": "5", "surface": "home", "device": "ios"}

POST_TEMPLATES = {
    f"{API}/assignments": ASSIGNMENT,
    f"{API}/assignments/batch": BATCH,
    f"{API}/stats/sample-size": SAMPLE_SIZE,
    f"{API}/stats/analyze": ANALYZE,
    f"{API}/events": EVENTS,
    f"{API}/users/u-stored/preferences": PREFERENCES,
}


@pytest.mark.parametrize(("url", "template"), POST_TEMPLATES.items())
def test_the_valid_requests_succeed(api_client, world, url, template):
    response = api_client.post(url, template, format="json")
    assert response.status_code == 200, response.content


def test_the_valid_recommendation_request_succeeds(api_client, world):
    response = api_client.get(f"{API}/recommendations", RECOMMENDATIONS)
    assert response.status_code == 200, response.content


# --- every field, each hostile value --------------------------------------------------------------

HOSTILE_VALUES = [
    None,
    True,
    -1,
    2**63,
    10**400,  # beyond the float range
    float("nan"),
    float("-inf"),
    "",
    "\x00",
    "\ud800",
    "\U0001f600",
    "x" * 100_001,
    [],
    {"": [None]},
]
HOSTILE_BODIES = [
    b"",
    b"[" * 100_000,
    b"[" * 5_000 + b"]" * 5_000,
    b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
    b'{"x": "\xed\xa0\x80"}',
    b"9" * 5000,
]


@pytest.mark.parametrize(("url", "template"), POST_TEMPLATES.items())
def test_every_field_with_each_hostile_value(api_client, world, caplog, url, template):
    """Deterministic companion of the fuzzing below: no value the generator might miss."""
    for path in paths(template):
        for value in HOSTILE_VALUES:
            body = encoded(mutate(template, [(path, "set", value, "")]), True)
            exchange(api_client, caplog, world, "POST", url, body, "application/json")
        exchange(
            api_client,
            caplog,
            world,
            "POST",
            url,
            encoded(mutate(template, [(path, "delete", None, "")]), True),
            "application/json",
        )
    for body in HOSTILE_BODIES:
        exchange(api_client, caplog, world, "POST", url, body, "application/json")
    files = {name: SimpleUploadedFile("f.json", b"\x00\xff{") for name in [*template, "x"]}
    multipart = encode_multipart(BOUNDARY, files)
    exchange(api_client, caplog, world, "POST", url, multipart, MULTIPART_CONTENT)
    too_big = b"[" + b" " * django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE + b"]"
    exchange(api_client, caplog, world, "POST", url, too_big, "application/json")
    fields = "&".join(f"f{i}=1" for i in range(django_settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    form = "application/x-www-form-urlencoded"
    exchange(api_client, caplog, world, "POST", url, fields.encode(), form)


HOSTILE_TEXT = ["\x00", "a\x00", "\ud800", "\U0001f600", "x" * 10_001, " ", "-1", "1e400", "NaN"]


def test_hostile_path_segments_and_query_values(api_client, world, caplog):
    fields = "&".join(f"f{i}=1" for i in range(django_settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    exchange(api_client, caplog, world, "GET", f"{API}/recommendations", QUERY_STRING=fields)
    for text in HOSTILE_TEXT:
        segment = path_segment(text)
        body = encoded(PREFERENCES, True)
        for url in [
            f"{API}/users/{segment}/preferences",
            f"{API}/recommender-configs/{segment}/rollback",
            f"{API}/model-versions/{segment}/promote",
        ]:
            exchange(api_client, caplog, world, "POST", url, body, "application/json")
        for name in [*RECOMMENDATIONS, "session_depth"]:
            query = urlencode({**RECOMMENDATIONS, name: text}, errors="surrogatepass")
            exchange(api_client, caplog, world, "GET", f"{API}/recommendations", QUERY_STRING=query)


# --- the fuzzed requests --------------------------------------------------------------------------

test_assignments = post_bodies(f"{API}/assignments", ASSIGNMENT)
test_batch_assignments = post_bodies(f"{API}/assignments/batch", BATCH)
test_sample_size = post_bodies(f"{API}/stats/sample-size", SAMPLE_SIZE)
test_analyze = post_bodies(f"{API}/stats/analyze", ANALYZE)
test_events = post_bodies(f"{API}/events", EVENTS)
test_preferences_body = post_bodies(f"{API}/users/u-stored/preferences", PREFERENCES)
NEW_EXPERIMENT = {
    "key": "exp-new",
    "name": "New",
    "coverage": 0.5,
    "targeting": {"country": ["DE"]},
    "variants": [{"key": "control", "is_control": True}, {"key": "b", "weight": 2}],
}
test_create_experiment = post_bodies(f"{API}/experiments", NEW_EXPERIMENT)
test_create_layer = post_bodies(f"{API}/layers", {"name": "layer-new"})
test_create_holdout = post_bodies(f"{API}/holdouts", {"name": "h", "share": 0.05})
test_create_metric = post_bodies(f"{API}/metrics", {"key": "m", "name": "M", "kind": "ctr"})
test_create_metric_with_options = post_bodies(
    f"{API}/metrics",
    {
        "key": "w", "name": "W", "kind": "watch_time", "test_sides": "one-sided",
        "winsorize_percentile": 0.99, "informative_prior": True, "prior_mean": 0.01,
        "prior_stddev": 0.3,
    },
)  # fmt: skip
test_create_config = post_bodies(
    f"{API}/recommender-configs", {"name": "c-new", "algorithm": "popular"}
)
test_exposures = post_bodies(
    f"{API}/exposures", {"user_id": "u-1", "experiment": "exp-home", "variant": "control"}
)


@fuzz
@given(request=bodies({"coverage": 0.9, "variant_weights": {"control": 1, "treatment": 2}}))
def test_update_experiment(api_client, world, caplog, request):
    body, content_type = request
    exchange(api_client, caplog, world, "PATCH", f"{API}/experiments/exp-home", body, content_type)


@fuzz
@given(
    user_id=PATH_TEXT,
    request=st.one_of(
        st.just((encoded(PREFERENCES, True), "application/json")), bodies(PREFERENCES)
    ),
)
def test_preferences_user_id(api_client, world, caplog, user_id, request):
    body, content_type = request
    url = f"{API}/users/{path_segment(user_id)}/preferences"
    exchange(api_client, caplog, world, "POST", url, body, content_type)


# The statistics endpoints with well-typed numbers of any size: the math must answer or say
# which number it cannot take, never divide by zero or overflow into a 500.
ANY_FLOAT = st.one_of(
    st.sampled_from([0.0, 1.0, -1.0, 0.5, 1e-300, 5e-324, 1e300, 1.7976931348623157e308]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(10**20), max_value=10**20),
)
COUNT = st.one_of(st.sampled_from([0, 1, 2, 10**6, 2**63, 10**30]), st.integers(min_value=0))


MAGNITUDE = st.one_of(
    st.floats(min_value=-1e6, max_value=1e6),
    st.sampled_from([0.0, 1e-300, 1e-12, 1e12, 1e100, 1e150, -1e150]),
)


@st.composite
def consistent_sums(draw, kind: str) -> dict:
    """Sums of a possible sample (mostly): means, variances and covariances drawn first, so
    that the math is reached, with sizes and scales from tiny to near overflow."""
    n = draw(st.one_of(st.sampled_from([0, 1, 2, 3, 10**9, 10**15]), st.integers(1, 10**6)))
    if kind == "proportion":
        share = draw(st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0, 1)))
        return {"n": n, "sum_x": float(round(n * share))}
    mean, sd = draw(MAGNITUDE), abs(draw(MAGNITUDE))
    body = {"n": n, "sum_x": n * mean, "sum_x2": n * (sd * sd + mean * mean)}
    if kind == "ratio":
        y_mean, y_sd = abs(draw(MAGNITUDE)), abs(draw(MAGNITUDE))
        correlation = draw(st.floats(-1, 1))
        body |= {
            "sum_y": n * y_mean,
            "sum_y2": n * (y_sd * y_sd + y_mean * y_mean),
            "sum_xy": n * (correlation * sd * y_sd + mean * y_mean),
        }
    if draw(st.booleans()):
        c_mean, c_sd = draw(MAGNITUDE), abs(draw(MAGNITUDE))
        correlation = draw(st.floats(-1, 1))
        body |= {
            "sum_c": n * c_mean,
            "sum_c2": n * (c_sd * c_sd + c_mean * c_mean),
            "sum_xc": n * (correlation * sd * c_sd + mean * c_mean),
        }
    return body


@st.composite
def analyze_requests(draw) -> dict:
    kind = draw(st.sampled_from(["proportion", "mean", "ratio"]))
    body = {
        "kind": kind,
        "control": draw(consistent_sums(kind)),
        "treatment": draw(consistent_sums(kind)),
    }
    extra = {
        "alpha": st.one_of(st.floats(0, 1), ANY_FLOAT),
        "alternative": st.sampled_from(["two-sided", "larger", "smaller"]),
        "sequential": st.booleans(),
        "sequential_method": st.sampled_from(["asymptotic", "msprt"]),
        "planned_total": COUNT,
        "mixing_sd": ANY_FLOAT,
        "cuped": st.booleans(),
        "bayesian": st.booleans(),
    }
    return body | draw(st.fixed_dictionaries({}, optional=extra))


UNIT = st.one_of(st.floats(0, 1), st.sampled_from([1e-300, 1 - 1e-16]), ANY_FLOAT)
SAMPLE_SIZE_REQUESTS = st.fixed_dictionaries(
    {"mde": st.one_of(UNIT, ANY_FLOAT)},
    optional={
        "metric": st.sampled_from(["proportion", "mean"]),
        "baseline": st.one_of(UNIT, ANY_FLOAT),
        "std": ANY_FLOAT,
        "mde_relative": st.booleans(),
        "alpha": UNIT,
        "power": UNIT,
        "ratio": st.one_of(st.floats(0.01, 100), ANY_FLOAT),
        "alternative": st.sampled_from(["two-sided", "larger", "smaller"]),
        "method": st.sampled_from(["unpooled", "cohen_h", "t", "z"]),
        "sequential": st.booleans(),
        "looks": st.one_of(st.integers(-1, 4), ANY_FLOAT),
        "daily_users": ANY_FLOAT,
        "traffic_share": ANY_FLOAT,
    },
)


@fuzz
@given(body=analyze_requests())
def test_analyze_numbers(api_client, world, caplog, body):
    url = f"{API}/stats/analyze"
    exchange(api_client, caplog, world, "POST", url, encoded(body, True), "application/json")


@fuzz
@given(body=SAMPLE_SIZE_REQUESTS)
def test_sample_size_numbers(api_client, world, caplog, body):
    url = f"{API}/stats/sample-size"
    exchange(api_client, caplog, world, "POST", url, encoded(body, True), "application/json")


def query_pairs() -> st.SearchStrategy:
    value = st.one_of(TEXT, NUMBERS.map(str), st.sampled_from(["", "0", "-1", "201", "1e9"]))
    key = st.one_of(st.sampled_from(sorted(RECOMMENDATIONS) + ["session_depth"]), TEXT)
    edits = st.lists(st.tuples(key, value, st.sampled_from(["set", "delete", "repeat"])),
                     min_size=1, max_size=4)  # fmt: skip

    def edited(changes: list) -> list[tuple[str, str]]:
        pairs = dict(RECOMMENDATIONS)
        repeated = []
        for name, text, operation in changes:
            if operation == "set":
                pairs[name] = text
            elif operation == "delete":
                pairs.pop(name, None)
            else:
                repeated.append((name, text))
        return [*pairs.items(), *repeated]

    return st.builds(edited, edits)


QUERY_STRINGS = st.one_of(
    query_pairs().map(lambda pairs: urlencode(pairs, errors="surrogatepass")),
    query_pairs().map(lambda pairs: urlencode(pairs, errors="surrogatepass")),
    TEXT.map(lambda text: quote(text, safe="&=+%;", errors="surrogatepass")),
    st.sampled_from(["user_id=%00", "user_id=a0&k=%ff%fe", "user_id=%ed%a0%80", "&&&==", "%"]),
)


@fuzz
@given(query=QUERY_STRINGS)
def test_recommendations(api_client, world, caplog, query):
    exchange(api_client, caplog, world, "GET", f"{API}/recommendations", QUERY_STRING=query)


@fuzz
@given(
    version=st.one_of(PATH_TEXT, st.integers(min_value=0).map(str), st.sampled_from(["1", "2"])),
    action=st.sampled_from(["GET", "POST promote"]),
)
def test_model_versions(api_client, world, caplog, version, action):
    method, _, tail = action.partition(" ")
    url = f"{API}/model-versions/{path_segment(version)}" + (f"/{tail}" if tail else "")
    exchange(api_client, caplog, world, method, url)


@fuzz
@given(
    name=st.one_of(PATH_TEXT, st.just("default-popular")),
    action=st.sampled_from(["train", "rollback"]),
    request=bodies({}),
)
def test_recommender_config_actions(api_client, world, caplog, name, action, request):
    if action == "train" and name == "default-popular":
        name = "no-such-config"  # a real training is not what this test is about
    body, content_type = request
    url = f"{API}/recommender-configs/{path_segment(name)}/{action}"
    exchange(api_client, caplog, world, "POST", url, body, content_type)


# --- without credentials --------------------------------------------------------------------------

ENDPOINTS = [
    ("GET", f"{API}/ping"),
    ("POST", f"{API}/assignments"),
    ("POST", f"{API}/assignments/batch"),
    ("POST", f"{API}/stats/sample-size"),
    ("POST", f"{API}/stats/analyze"),
    ("POST", f"{API}/events"),
    ("GET", f"{API}/recommendations"),
    ("GET", f"{API}/recommendations/metrics"),
    ("POST", f"{API}/users/u-stored/preferences"),
    ("POST", f"{API}/recommender-configs/default-popular/train"),
    ("POST", f"{API}/recommender-configs/default-popular/rollback"),
    ("GET", f"{API}/model-versions/1"),
    ("POST", f"{API}/model-versions/1/promote"),
    ("GET", f"{API}/experiments"),
    ("POST", f"{API}/experiments"),
    ("GET", f"{API}/experiments/exp-home"),
    ("PATCH", f"{API}/experiments/exp-home"),
    *(
        ("POST", f"{API}/experiments/exp-home/{action}")
        for action in ("start", "pause", "resume", "stop", "conclude")
    ),
    ("GET", f"{API}/experiments/exp-home/results"),
    *((method, f"{API}/{path}") for path in ("layers", "holdouts", "metrics",
                                            "recommender-configs") for method in ("GET", "POST")),
    ("POST", f"{API}/exposures"),
]  # fmt: skip
# Public, like GrowthBook's own endpoint: SDKs fetch it without credentials.
PUBLIC_ENDPOINTS = [("GET", "/api/features/home")]


@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
def test_anonymous_requests_are_401(anonymous_client, world, method, url):
    body = json.dumps(POST_TEMPLATES.get(url, {}))
    response = anonymous_client.generic(method, url, body, content_type="application/json")
    assert response.status_code == 401, response.content
    assert response.json()["detail"]


@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
def test_every_method_on_every_endpoint(api_client, world, caplog, method, url):
    url = url.replace("default-popular/train", "no-such-config/train")
    for other in ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "TRACE"]:
        if other != method:
            exchange(api_client, caplog, world, other, url, b"{}", "application/json")


def test_the_endpoint_list_matches_the_schema(api_client):
    """A new endpoint must join the lists above."""
    response = api_client.get("/api/schema/", HTTP_ACCEPT="application/json")
    schema = response.json() if "json" in response["Content-Type"] else None
    if schema is None:
        import yaml

        schema = yaml.safe_load(response.content)
    documented = {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    }
    listed = {
        (method, url.replace("u-stored", "{user_id}").replace("default-popular", "{name}")
         .replace("/1", "/{version_id}").replace("exp-home", "{key}")
         .replace("/home", "/{client_key}"))
        for method, url in ENDPOINTS + PUBLIC_ENDPOINTS
    }  # fmt: skip
    assert documented == listed
