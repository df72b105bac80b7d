"""POST /api/v1/events: idempotency, per-event rejection, limits, never a 500."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analytics.models import Event, ServedList
from analytics.services import MAX_BATCH_SIZE, record_served_lists
from tests.experiments.factories import running_experiment

URL = "/api/v1/events"


@pytest.fixture(autouse=True)
def experiment_exp(request):
    """The experiment the events name (an unknown one is refused, see below)."""
    if "db" in request.fixturenames or request.node.get_closest_marker("django_db"):
        running_experiment("exp", surface="home")


def now_iso(offset_seconds: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset_seconds)).isoformat()


def click(event_id: str = "e-1", **overrides) -> dict:
    event = {
        "event_id": event_id,
        "type": "click",
        "user_id": "u-1",
        "timestamp": now_iso(),
        "request_id": "r-1",
        "item_id": "i-1",
        "position": 3,
        "experiment": "exp",
        "variant": "treatment",
        "attributes": {"device": "phone", "app_version": 3},
    }
    event.update(overrides)
    return event


def impression(event_id: str, **overrides) -> dict:
    event = {
        "event_id": event_id,
        "type": "impression",
        "user_id": "u-1",
        "timestamp": now_iso(),
        "request_id": "r-1",
        "surface": "home",
        "items": [{"item_id": "i-1", "position": 0}, {"item_id": "i-2", "position": 1}],
    }
    event.update(overrides)
    return event


@pytest.mark.django_db
def test_single_event_is_stored_with_its_fields(api_client):
    response = api_client.post(URL, click(), format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "received": 1,
        "stored": 1,
        "duplicates": 0,
        "accepted": 1,
        "rejected": [],
    }
    event = Event.objects.get()
    assert (event.type, event.user_id, event.request_id, event.item_id) == (
        "click",
        "u-1",
        "r-1",
        "i-1",
    )
    assert event.position == 3 and event.variant_key == "treatment"
    assert event.attributes == {"device": "phone", "app_version": 3}


@pytest.mark.django_db
def test_same_event_id_twice_is_stored_once_and_succeeds_both_times(api_client):
    batch = {"events": [click("e-1"), impression("e-2"), click("e-1")]}
    first = api_client.post(URL, batch, format="json")
    second = api_client.post(URL, batch, format="json")
    assert first.status_code == second.status_code == 200
    assert first.json()["stored"] == 2 and first.json()["duplicates"] == 1
    assert second.json()["stored"] == 0 and second.json()["duplicates"] == 3
    assert Event.objects.count() == 2
    assert Event.objects.get(event_id="e-2").item_count == 2


@pytest.mark.django_db
def test_batch_stores_valid_events_and_names_each_rejection(api_client):
    batch = [
        click("ok-1"),
        {
            "type": "click",
            "user_id": "u",
            "timestamp": now_iso(),
            "request_id": "r",
            "item_id": "i",
        },
        click("bad-type", type="purchase"),
        click("bad-user", user_id=""),
        click("future", timestamp=now_iso(3600)),
        click("past", timestamp=now_iso(-30 * 86400)),
        {
            "event_id": "w",
            "type": "watch",
            "user_id": "u",
            "timestamp": now_iso(),
            "item_id": "i",
            "seconds": "ten",
        },
        click("naive", timestamp="2025-01-01T10:00:00"),
        impression("no-items", items=[]),
        click("ok-2"),
    ]
    response = api_client.post(URL, batch, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["stored"] == 2 and body["received"] == 10
    reasons = {r["index"]: r["errors"] for r in body["rejected"]}
    assert reasons[1] == {"event_id": "is required"}
    assert "unknown type 'purchase'" in reasons[2]["type"]
    assert reasons[3] == {"user_id": "is required"}
    assert "future" in reasons[4]["timestamp"]
    assert "past" in reasons[5]["timestamp"]
    assert reasons[6] == {"seconds": "must be a number"}
    assert "offset" in reasons[7]["timestamp"]
    assert "items" in reasons[8]
    assert set(Event.objects.values_list("event_id", flat=True)) == {"ok-1", "ok-2"}


@pytest.mark.django_db
def test_events_naming_an_unknown_experiment_or_surface_are_rejected_by_name(api_client):
    running_experiment("exp-search", surface="search-v2")
    batch = [
        click("ok-1"),
        click("no-exp", experiment="nope"),
        impression("no-surface", surface="moon"),
        impression("exp-surface", surface="search-v2"),
        click("both", experiment="nope", surface="moon"),
        click("ok-2", experiment="exp-search"),
    ]
    response = api_client.post(URL, {"events": batch}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["received"], body["stored"], body["accepted"]) == (6, 3, 3)
    reasons = {r["index"]: (r["event_id"], r["errors"]) for r in body["rejected"]}
    assert reasons[1] == ("no-exp", {"experiment": "unknown experiment 'nope'"})
    assert reasons[2][0] == "no-surface"
    assert "unknown surface 'moon'" in reasons[2][1]["surface"]
    assert set(reasons[4][1]) == {"experiment", "surface"}
    assert sorted(reasons) == [1, 2, 4]
    stored = set(Event.objects.values_list("event_id", flat=True))
    assert stored == {"ok-1", "exp-surface", "ok-2"}


@pytest.mark.django_db
def test_a_batch_of_only_unknown_references_is_a_400_and_stores_nothing(api_client):
    response = api_client.post(URL, [click("a", experiment="nope")], format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["accepted"] == 0
    assert body["rejected"] == [
        {"index": 0, "event_id": "a", "errors": {"experiment": "unknown experiment 'nope'"}}
    ]
    assert not Event.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"events": []}, "events"),
        ({"events": "x"}, "events"),
        ("just text", "events"),
        (click("x", user_id=None), "user_id"),
        (click("x", timestamp=12e30), "timestamp"),
        (click("x", attributes={"nested": {"a": 1}}), "attributes.nested"),
        (click("x", position=-1), "position"),
        (click("x", unknown_field=1), "unknown_field"),
        (click("x", request_id=None), "request_id"),
        (
            {"event_id": "s", "type": "session_start", "user_id": "u", "timestamp": now_iso()},
            "session_id",
        ),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api_client, body, field):
    response = api_client.post(URL, body, format="json")
    assert response.status_code == 400
    text = response.content.decode()
    assert field in text
    assert Event.objects.count() == 0


@pytest.mark.django_db
def test_batch_over_the_limit_is_refused_whole(api_client):
    batch = [click(f"e-{i}") for i in range(MAX_BATCH_SIZE + 1)]
    response = api_client.post(URL, {"events": batch}, format="json")
    assert response.status_code == 400
    assert "over the limit" in response.json()["events"][0]
    assert Event.objects.count() == 0


@pytest.mark.django_db
def test_malformed_json_is_a_400(api_client):
    response = api_client.post(URL, "{not json", content_type="application/json")
    assert response.status_code == 400


@pytest.mark.django_db
def test_anonymous_is_refused(anonymous_client):
    assert anonymous_client.post(URL, click(), format="json").status_code == 401


@pytest.mark.django_db
def test_every_type_is_accepted(api_client):
    t = now_iso()
    batch = [
        impression("1"),
        click("2"),
        {
            "event_id": "3",
            "type": "watch",
            "user_id": "u",
            "timestamp": t,
            "item_id": "i",
            "seconds": 12.5,
        },
        {"event_id": "4", "type": "conversion", "user_id": "u", "timestamp": t, "value": 9.99},
        {
            "event_id": "5",
            "type": "session_start",
            "user_id": "u",
            "timestamp": t,
            "session_id": "s",
        },
        {"event_id": "6", "type": "session_end", "user_id": "u", "timestamp": t, "session_id": "s"},
        {
            "event_id": "7",
            "type": "first_interaction",
            "user_id": "u",
            "timestamp": 1.0e9 + 0,
            "seconds": 2,
        },
    ]
    batch[-1]["timestamp"] = datetime.now(UTC).timestamp()
    response = api_client.post(URL, batch, format="json")
    assert response.json()["stored"] == 7, response.content
    assert Event.objects.get(event_id="3").value == 12.5
    assert Event.objects.get(event_id="4").value == pytest.approx(9.99)


@pytest.mark.django_db
def test_record_served_lists_is_idempotent_by_request_id():
    row = {
        "request_id": "r-1",
        "user_id": "u-1",
        "experiment_key": "exp",
        "variant_key": "treatment",
        "model_version": "two-tower@3",
        "surface": "home",
        "items": [{"item_id": "i-1", "position": 0, "score": 0.9, "source": "ann"}],
    }
    assert record_served_lists([row, {**row, "request_id": "r-2"}]) == 2
    assert record_served_lists([row]) == 0
    assert ServedList.objects.count() == 2
    assert ServedList.objects.get(request_id="r-1").items[0]["source"] == "ann"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_concurrent_duplicate_falls_back_to_conflict_handling(monkeypatch):
    """An id stored by another request between the probe and the copy is stored once."""
    from django.db import connection

    from analytics.services import ingestion
    from analytics.services.event_validation import check_event
    from writebehind.bulk import rows as bulk_rows

    if connection.vendor != "postgresql":
        pytest.skip("the probe-then-COPY path is PostgreSQL's")
    window = ingestion.current_window()
    first = [check_event(click("race-1"), window)]
    assert ingestion.insert_event_rows(first, datetime.now(UTC)) == 1
    monkeypatch.setattr(bulk_rows, "_known_keys", lambda cursor, table, key, values: set())
    both = [check_event(click("race-1"), window), check_event(click("race-2"), window)]
    assert ingestion.insert_event_rows(both, datetime.now(UTC)) == 1
    assert sorted(Event.objects.values_list("event_id", flat=True)) == ["race-1", "race-2"]
