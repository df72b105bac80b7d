"""Test settings: the project's settings with a test secret, fast hashing and eager tasks.

Tasks run eagerly unless a test starts a real worker (``tests/workers.py``), which then
really uses the configured broker: Redis when ``CELERY_BROKER_URL`` is set (CI), else the
filesystem broker. Under pytest-xdist each test process gets its own var folder and Redis
database so that workers started by one never take the tasks of another.
"""

import os
import re

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", ... or ""

os.environ.setdefault(
    "DJANGO_SECRET_KEY", "test-secret-key-not-for-production-only-for-the-test-suite"
)
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")
os.environ.setdefault(
    "SPLITLAB_VAR_DIR", os.path.join(_REPO, "var", "test", _XDIST_WORKER or "main")
)
if _XDIST_WORKER and os.environ.get("CELERY_BROKER_URL", "").startswith("redis"):
    _offset = int(_XDIST_WORKER.removeprefix("gw")) + 1
    os.environ["CELERY_BROKER_URL"] = re.sub(
        r"/(\d+)$", lambda m: f"/{int(m.group(1)) + _offset}", os.environ["CELERY_BROKER_URL"]
    )

from config.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
SPLITLAB_JOURNAL_DIR = ""  # no journal: tests write buffers explicitly (see writebehind)
# No refresher or reader threads: a thread of its own would not see a test's transaction.
SPLITLAB_BACKGROUND_THREADS = False
