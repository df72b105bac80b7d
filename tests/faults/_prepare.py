"""Prepare a fault scenario's database, in its own process: migrate, load a small generated
catalogue, train and promote an ALS configuration (the default), start an experiment, create
an API token. Prints one JSON line: ``{token, users, version_id, experiment}``.

Usage: ``python -m tests.faults._prepare DATABASE_URL|"" VAR_DIR`` (an empty URL: SQLite under
VAR_DIR, the embedded default).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import _serving_support as support
from benchmarks import serving_http

EXPERIMENT_KEY = "faults-exp"


def main(database_url: str, var_dir: Path) -> dict:
    support.setup_django(support.BenchEnvironment(database_url, "", var_dir))
    support.load_data(quick=True)
    version_id = serving_http.prepare_config("als", {})
    from accounts.services import create_api_client
    from experiments.models import Experiment
    from tests.analytics.factories import make_experiment

    if not Experiment.objects.filter(key=EXPERIMENT_KEY).exists():
        make_experiment(EXPERIMENT_KEY, start=datetime.now(UTC))
    token, _ = create_api_client("faults")
    users = serving_http.user_ids(limit=300)
    return {"token": token, "users": users, "version_id": version_id, "experiment": EXPERIMENT_KEY}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], Path(sys.argv[2]))))
