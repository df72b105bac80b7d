"""Numbers in events are bounded at ingestion; a rollup skips and reports a stored bad row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analytics.models import ArmDailyStats, Event, RollupState
from analytics.services.event_validation import (
    MAX_CONVERSION_VALUE,
    MAX_SECONDS,
    ROW_COLUMNS,
    check_event,
)
from analytics.services.ingestion import insert_event_rows
from analytics.services.rollups import do_run_rollups
from tests.analytics.factories import WIDE_WINDOW, event, generate

URL = "/api/v1/events"


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _watch(event_id: str, seconds: float) -> dict:
    return {
        "event_id": event_id,
        "type": "watch",
        "user_id": "u",
        "timestamp": _now(),
        "item_id": "i",
        "seconds": seconds,
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_watch("w-huge", 1e200), "seconds"),
        (_watch("w-day", MAX_SECONDS + 1), "seconds"),
        (_watch("w-neg", -1), "seconds"),
        ({**_watch("fi", 1e30), "type": "first_interaction"}, "seconds"),
        (
            {
                "event_id": "c",
                "type": "conversion",
                "user_id": "u",
                "timestamp": _now(),
                "value": 10 * MAX_CONVERSION_VALUE,
            },
            "value",
        ),
    ],
)
def test_a_number_outside_its_range_is_a_400_naming_the_field(api_client, body, field):
    response = api_client.post(URL, body, format="json")
    assert response.status_code == 400, response.content
    assert "must be between" in response.json()["rejected"][0]["errors"][field]
    assert Event.objects.count() == 0


@pytest.mark.django_db
def test_the_range_ends_are_accepted(api_client):
    batch = [_watch("w-0", 0), _watch("w-max", MAX_SECONDS)]
    response = api_client.post(URL, batch, format="json")
    assert response.status_code == 200 and response.json()["stored"] == 2


def _store_unchecked(valid: dict, value: float) -> None:
    """Store ``valid`` with ``value`` written around the checks (a row from before them)."""
    row = list(check_event(valid, WIDE_WINDOW))
    row[ROW_COLUMNS.index("value")] = value
    insert_event_rows([tuple(row)], datetime.now(UTC))


def _arm_stats() -> list:
    return sorted(ArmDailyStats.objects.values_list("arm_id", "day", "sums"))


@pytest.mark.django_db
def test_a_stored_bad_row_is_skipped_and_reported_and_the_rollup_goes_on():
    data = generate(users=20, seed=3)
    do_run_rollups()
    clean = _arm_stats()
    user, (_, exposed_at) = next(iter(data.exposures.items()))
    bad = event("huge-watch", "watch", user, exposed_at + timedelta(hours=1), item_id="i")
    bad["seconds"] = 1.0
    _store_unchecked(bad, 1e200)

    summary = do_run_rollups()

    assert summary.skipped_events == 1 and summary.skipped_event_ids == ["huge-watch"]
    assert RollupState.objects.get().last_summary["skipped_event_ids"] == ["huge-watch"]
    assert _arm_stats() == clean
    full = do_run_rollups(full=True)
    assert full.skipped_events == 1 and _arm_stats() == clean
