"""Fork safety: the web process and the worker parent never import torch or faiss."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PROGRAM = """
import os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
import django
django.setup()
import config.urls, config.celery
import recommenders.tasks, recommenders.api.views, recommenders.admin.versions
import recommenders.serving.model_cache, recommenders.serving.worker, recommenders.services.training
import recommenders.management.commands.train
loaded = sorted(name for name in ("torch", "faiss") if name in sys.modules)
print(",".join(loaded) or "none")
"""


def test_web_and_worker_parent_modules_do_not_import_torch_or_faiss():
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "none"
