"""Test settings: the project's settings with a test secret, fast hashing and eager tasks.

When ``CELERY_BROKER_URL`` is set (CI: Redis) tasks still run eagerly unless a test starts a
real worker itself (see ``tests/worker.py``); the broker is then really used by those tests.
"""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")
os.environ.setdefault(
    "SPLITLAB_VAR_DIR", os.path.join(os.path.dirname(__file__), "..", "var", "test")
)

from config.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
