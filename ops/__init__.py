"""What runs Splitlab's processes but is not configuration.

``broker``/``broker_redis``: the Celery broker transports (kombu's, with a fix each);
``worker``: what a worker child process does once after the fork (thread counts, apps' hooks);
``diagnostics``: a task that proves a worker answers and torch works in it; ``health``: the
database, broker and serving-worker checks and ``GET /healthz``; ``launcher``: ``make run``
(prepare the database, then start and supervise the worker, beat and gunicorn).
``config.celery`` points Celery at them; nothing here imports an app, ``config`` or ``web``.
"""
