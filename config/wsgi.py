"""WSGI entry point for gunicorn (never run with --preload: see DESIGN.md, fork safety).

gunicorn imports this module in each worker, after its fork: the worker's background threads
(``web.background``: the refresher of what requests read from memory) start here, and again on
a request of any process forked later (``request_started``).
"""

import os

from django.core.signals import request_started
from django.core.wsgi import get_wsgi_application

from web import background

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()

request_started.connect(background.ensure_started, dispatch_uid="splitlab-background")
background.ensure_started()
