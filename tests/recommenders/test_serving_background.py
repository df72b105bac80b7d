"""With background threads (a web process's default), a recommendation request's own thread
sends no query once warm, and the one read it may make, the user's precomputed fallback list,
is bounded by ``SPLITLAB_FALLBACK_READ_MS``: past it, the popular list in memory is served.

The refresher's passes run here in the test's thread (``background.refresh_now``) and the
process is told its refresher runs: a thread of its own would not see the test's transaction.
"""

from __future__ import annotations

import time

import pytest

from recommenders.models import ModelVersion
from recommenders.services import training
from recommenders.serving import log as serving_log
from recommenders.serving import selectors as serving_selectors
from recommenders.serving import transport
from tests.recommenders.serving_data import load_planted_catalogue, make_config
from web import background
from writebehind import buffer as writebehind

pytestmark = pytest.mark.django_db
URL = "/api/v1/recommendations"


@pytest.fixture
def default_version(serving_settings) -> ModelVersion:
    load_planted_catalogue()
    config = make_config("default-cf", "item_cf", is_default=True)
    version = training.do_start_training(config, enqueue=False)
    return training.run_pipeline_in_process(version.pk)


@pytest.fixture
def background_on(settings, monkeypatch):
    """A web process with background threads whose refresher runs; records stay buffered
    (the flusher thread writes them, which this test does not start)."""
    settings.SPLITLAB_BACKGROUND_THREADS = True
    settings.SPLITLAB_SERVED_LIST_BUFFER_ROWS = 1000
    monkeypatch.setattr(background, "running", lambda: True)
    # No real refresher: a request would start one (config.wsgi connects it to
    # request_started once imported), whose thread would not see this test's transaction.
    monkeypatch.setattr(background._refresher, "ensure_started", lambda: False)
    monkeypatch.setattr(writebehind._flusher, "ensure_running", lambda: None)
    # The worker misses the deadline: the fallback path, which reads the most.
    monkeypatch.setattr(transport, "ask_serving_worker", _timeout)


def _timeout(*args, **kwargs):
    raise transport.ServingTimeout("deadline")


def _precomputed(delay_seconds: float):
    """A precomputed list read that takes ``delay_seconds`` (a slow database)."""

    def read(version_id: int, user_id: str, k: int) -> serving_selectors.FallbackList:
        time.sleep(delay_seconds)
        items = [f"B{i}" for i in range(k)]
        return serving_selectors.FallbackList(items, [1.0] * k, "precomputed")

    return read


def test_once_warm_a_request_sends_no_query_from_its_own_thread(
    api_client, default_version, background_on, settings, monkeypatch, django_assert_num_queries
):
    monkeypatch.setattr(serving_selectors, "precomputed_fallback", _precomputed(0.0))
    assert api_client.get(URL, {"user_id": "a1"}).status_code == 200  # cold: reads once
    background.refresh_now()  # a refresher's pass
    # Every value in memory is past its TTL: without the refresher, each would be read now.
    settings.SPLITLAB_ASSIGNMENT_CONFIG_TTL_SECONDS = 0
    settings.SPLITLAB_SERVING_VERSION_TTL_SECONDS = 0
    settings.SPLITLAB_POPULAR_TTL_SECONDS = 0
    settings.SPLITLAB_TOKEN_CACHE_SECONDS = 0.001
    settings.SPLITLAB_EXPOSURE_FLUSH_SECONDS = 0
    settings.SPLITLAB_SERVING_COUNTER_FLUSH_SECONDS = 0
    time.sleep(0.01)
    with django_assert_num_queries(0):
        response = api_client.get(URL, {"user_id": "a1", "k": 5})
    body = response.json()
    assert response.status_code == 200 and body["fallback_reason"] == "timeout"
    assert body["model_version"] == default_version.pk
    assert [item["source"] for item in body["items"]] == ["precomputed"] * 5
    # Counted, but by the flusher thread: still pending after the response.
    assert ["requests", "fallbacks", "fallbacks:timeout"] in serving_log._counters.pending()


def test_past_the_bound_the_popular_list_in_memory_is_served(
    api_client, default_version, background_on, settings, monkeypatch
):
    settings.SPLITLAB_FALLBACK_READ_MS = 30
    monkeypatch.setattr(serving_selectors, "precomputed_fallback", _precomputed(0.0))
    fast = api_client.get(URL, {"user_id": "b1", "k": 5}).json()  # warms the caches too
    assert fast["model_version"] == default_version.pk
    assert {item["source"] for item in fast["items"]} == {"precomputed"}
    serving_selectors.catalogue_popular_list(10)  # in memory, as the refresher keeps it
    monkeypatch.setattr(serving_selectors, "precomputed_fallback", _precomputed(0.5))
    started = time.monotonic()
    slow = api_client.get(URL, {"user_id": "b1", "k": 5}).json()
    elapsed = time.monotonic() - started
    assert elapsed < 0.3, elapsed  # the bound (30 ms) and the request's own work, not 500 ms
    assert slow["fallback"] is True and slow["fallback_reason"] == "timeout"
    assert slow["model_version"] is None  # not the version's list: the catalogue's
    expected = serving_selectors.catalogue_popular_list(5).item_ids
    assert [item["item_id"] for item in slow["items"]] == expected
    assert {item["source"] for item in slow["items"]} == {"popular"}
    assert ["fallback_read_timeouts"] in serving_log._counters.pending()


def test_a_bound_of_zero_waits_for_the_read(
    api_client, default_version, background_on, settings, monkeypatch
):
    settings.SPLITLAB_FALLBACK_READ_MS = 0
    monkeypatch.setattr(serving_selectors, "precomputed_fallback", _precomputed(0.1))
    body = api_client.get(URL, {"user_id": "b1", "k": 5}).json()
    assert {item["source"] for item in body["items"]} == {"precomputed"}
