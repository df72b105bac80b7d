"""Contract defects the schema-based fuzzing found, each with the answer it now gets."""

from __future__ import annotations

import io

import pytest

from assignment import exposure_log
from assignment.models import Exposure
from tests.assignment.factories import running_experiment

pytestmark = pytest.mark.django_db
BATCH = "/api/v1/assignments/batch"


def test_a_batch_item_error_is_not_cut_to_one_character(api_client):
    response = api_client.post(BATCH, {"users": [{"user_id": "m" * 300}]}, format="json")
    assert response.status_code == 400
    message = response.json()["users"][0]
    assert message.startswith("users[0].user_id: must have at most") and "300" in message


def test_batch_assignment_logs_exposures_only_when_asked(api_client):
    running_experiment("batch-exp")
    users = [{"user_id": f"u{i}"} for i in range(200)]
    assert api_client.post(BATCH, {"users": users}, format="json").status_code == 200
    exposure_log.flush()
    assert Exposure.objects.count() == 0
    body = {"users": users, "log_exposures": True}
    assert api_client.post(BATCH, body, format="json").status_code == 200
    exposure_log.flush()
    assert Exposure.objects.count() == 200
    refused = api_client.post(BATCH, {"users": users, "log_exposures": "yes"}, format="json")
    assert refused.status_code == 400 and "log_exposures" in refused.json()


def test_api_paths_answer_404_in_json(api_client, client):
    for path in ("/api/v1/nothing-here", "/api/nothing", "/api/v1/experiments/a/b/c"):
        response = api_client.get(path)
        assert response.status_code == 404
        assert response["Content-Type"].startswith("application/json")
        assert path in response.json()["detail"]
    assert not client.get("/nothing-here")["Content-Type"].startswith("application/json")


def test_form_and_multipart_bodies_are_refused_with_415(api_client):
    response = api_client.post("/api/v1/assignments", {"user_id": "u1"}, format="multipart")
    assert response.status_code == 415
    assert "application/json" in response.json()["detail"] or "Unsupported" in str(response.json())


def test_a_chunked_body_is_read(api_client):
    running_experiment("chunked-exp")
    body = b'{"user_id": "u-chunked", "experiments": ["chunked-exp"]}'
    response = api_client.generic(
        "POST",
        "/api/v1/assignments",
        b"",
        content_type="application/json",
        HTTP_TRANSFER_ENCODING="chunked",
        **{"wsgi.input": io.BytesIO(body)},
    )
    assert response.status_code == 200, response.content
    assert response.json()["user_id"] == "u-chunked"


def test_a_chunked_body_over_the_limit_is_413(api_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10
    response = api_client.generic(
        "POST",
        "/api/v1/assignments",
        b"",
        content_type="application/json",
        HTTP_TRANSFER_ENCODING="chunked",
        **{"wsgi.input": io.BytesIO(b'{"user_id": "' + b"x" * 100 + b'"}')},
    )
    assert response.status_code == 413 and "10 bytes" in response.json()["detail"]


@pytest.mark.parametrize("query", ["user_id=%ff%fe&surface=home", "user_id=%ed%a0%80"])
def test_a_query_string_that_is_not_utf8_is_400(api_client, query):
    response = api_client.get("/api/v1/recommendations", QUERY_STRING=query)
    assert response.status_code == 400
    assert "not UTF-8" in response.json()["detail"]


def test_the_documented_event_example_is_accepted(api_client):
    schema = api_client.get("/api/schema/?format=json").json()
    content = schema["paths"]["/api/v1/events"]["post"]["requestBody"]["content"]
    (example,) = content["application/json"]["examples"].values()
    response = api_client.post("/api/v1/events", example["value"], format="json")
    assert response.status_code == 200, response.content
    assert response.json()["accepted"] == 1


def test_every_operation_documents_the_access_answers_and_its_scope(api_client):
    schema = api_client.get("/api/schema/?format=json").json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if not path.startswith("/api/v1/"):
                continue
            assert {"400", "401", "403", "429"} <= set(operation["responses"]), (method, path)
            assert "Scope:" in operation["description"], (method, path)
    promote = schema["paths"]["/api/v1/model-versions/{version_id}/promote"]["post"]
    assert promote["description"].endswith("Scope: models.")


def test_json_objects_with_a_nul_character_are_a_400_naming_where(db):
    from rest_framework.test import APIClient

    from accounts.services import create_api_client

    key, _ = create_api_client("nul-test", scopes=["manage"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    body = {"name": "nul-config", "algorithm": "popular", "params": {"a": ["ok", "b\x00"]}}
    response = client.post("/api/v1/recommender-configs", body, format="json")
    assert response.status_code == 400
    assert response.json()["params"] == ["a.1: must not contain NUL (\\u0000) characters"]
