"""The embedded broker never exposes a half-written message to a consumer."""

import json
import os

import pytest
from django.conf import settings

from config.celery import app
from ops.broker import Transport


@pytest.mark.embedded
def test_filesystem_scheme_uses_the_atomic_transport():
    if not settings.CELERY_BROKER_URL.startswith("filesystem"):
        pytest.skip("the embedded broker is in use only without CELERY_BROKER_URL")
    with app.connection_for_write() as connection:
        assert isinstance(connection.transport, Transport)


def test_messages_appear_whole_under_their_final_name(tmp_path):
    from kombu import Connection

    folder = tmp_path / "broker"
    folder.mkdir()
    options = {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "control_folder": str(tmp_path / "control"),
    }
    with Connection("filesystem://", transport_options=options) as connection:
        channel = connection.default_channel
        channel._put("serving", {"body": "x" * 100_000})
        names = os.listdir(folder)
        assert len(names) == 1 and names[0].endswith(".serving.msg")
        assert json.loads((folder / names[0]).read_text())["body"] == "x" * 100_000
        assert channel._get("serving")["body"] == "x" * 100_000
