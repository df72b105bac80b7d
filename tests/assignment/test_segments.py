"""Segment attributes kept on the exposure row: from the API to the bulk write, bounded."""

from __future__ import annotations

import pytest
from django.urls import reverse

from assignment import exposure_log, services
from assignment.models import Exposure
from experiments.segments import SEGMENT_VALUE_MAX_LENGTH
from tests.experiments.factories import running_experiment

pytestmark = pytest.mark.django_db
URL = reverse("api:assignments")
BATCH_URL = reverse("api:assignments-batch")


@pytest.fixture
def segmented():
    return running_experiment("seg", segment_attributes=["device", "country", "tier"])


def test_declared_attributes_are_kept_on_the_exposure(api_client, segmented):
    attributes = {"device": "ios", "country": "FR", "tier": 3, "age": 41, "premium": True}
    response = api_client.post(URL, {"user_id": "u1", "attributes": attributes}, format="json")
    assert response.status_code == 200, response.content
    api_client.post(URL, {"user_id": "u2", "attributes": {"device": ""}}, format="json")
    services.flush_exposures()
    # Only the declared attributes, as text; an empty value is "not set".
    assert Exposure.objects.get(user_id="u1").segments == {
        "device": "ios",
        "country": "FR",
        "tier": "3",
    }
    assert Exposure.objects.get(user_id="u2").segments == {}


def test_batch_keeps_each_users_values(api_client, segmented):
    users = [
        {"user_id": "b1", "attributes": {"device": "web"}},
        {"user_id": "b2", "attributes": {"country": "DE", "tier": True}},
        {"user_id": "b3"},
    ]
    response = api_client.post(BATCH_URL, {"users": users, "log_exposures": True}, format="json")
    assert response.status_code == 200, response.content
    services.flush_exposures()
    stored = dict(Exposure.objects.values_list("user_id", "segments"))
    assert stored == {"b1": {"device": "web"}, "b2": {"country": "DE", "tier": "true"}, "b3": {}}


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("x" * (SEGMENT_VALUE_MAX_LENGTH + 1), "at most 64 characters"),
        (2.5, "not a fractional number"),
        ("(other)", "label of a pooled group"),
    ],
)
def test_a_bad_segment_value_is_400_naming_the_field(api_client, segmented, value, problem):
    response = api_client.post(
        URL, {"user_id": "bad", "attributes": {"device": value}}, format="json"
    )
    assert response.status_code == 400
    assert problem in response.json()["attributes.device"][0]
    batch = api_client.post(
        BATCH_URL,
        {"users": [{"user_id": "ok"}, {"user_id": "bad", "attributes": {"device": value}}]},
        format="json",
    )
    assert batch.status_code == 400
    assert problem in batch.json()["users[1].attributes.device"][0]
    services.flush_exposures()
    assert not Exposure.objects.exists()


def test_undeclared_attributes_are_not_bounded(api_client, segmented):
    long = "y" * 500  # a targeting attribute, not a segment: the attributes' own limits apply
    response = api_client.post(URL, {"user_id": "u", "attributes": {"bio": long}}, format="json")
    assert response.status_code == 200


def test_the_earliest_exposure_keeps_its_segment_values():
    experiment = running_experiment("seg-earliest", segment_attributes=["device"])
    variant = experiment.variants.first()
    for at, device in ((1_700_000_200.0, "late"), (1_700_000_100.0, "early")):
        exposure_log.buffer.forget()  # each flush as from another process
        exposure_log.buffer.add_user("u", [(experiment.id, 1, variant.id, {"device": device})], at)
        exposure_log.flush()
    assert Exposure.objects.get(user_id="u").segments == {"device": "early"}


def test_records_journaled_without_segments_still_replay():
    """A journal written before segments existed holds 3-element exposures."""
    experiment = running_experiment("seg-old")
    variant = experiment.variants.first()
    written = exposure_log.buffer._write_replayed(
        [
            ["u", "old-1", 1_700_000_000.0, [[experiment.id, 1, variant.id]]],
            ["m", experiment.id, 1, 1_700_000_000.0, [["old-2", variant.id]]],
        ]
    )
    assert written == 2
    assert dict(Exposure.objects.values_list("user_id", "segments")) == {
        "old-1": {},
        "old-2": {},
    }


@pytest.mark.parametrize(
    ("names", "problem"),
    [
        (["a", "b", "c", "d", "e", "f"], "at most 5"),
        (["new_vs_returning"], "derived"),
        (['dev"ice'], "letters, digits"),
        (["device", "device"], "at most once"),
    ],
)
def test_bad_segment_attribute_lists_are_refused_naming_the_field(api_client, names, problem):
    response = api_client.post(
        reverse("api:experiment-list"),
        {
            "key": "seg-bad",
            "name": "bad",
            "variants": [{"key": "a", "is_control": True}, {"key": "b"}],
            "segment_attributes": names,
        },
        format="json",
    )
    assert response.status_code == 400, response.content
    assert problem in str(response.json()["segment_attributes"])


def test_segment_attributes_are_fixed_once_started(api_client, segmented):
    response = api_client.patch(
        reverse("api:experiment-detail", args=["seg"]),
        {"segment_attributes": ["device"]},
        format="json",
    )
    assert response.status_code == 400
    assert "cannot change once it has started" in str(response.json()["segment_attributes"])
