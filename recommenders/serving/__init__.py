"""The request path of ``GET /api/v1/recommendations``, one module per side.

Web process:

- :mod:`.web`: the whole web side of a request: validate, assign the variant, ask a serving
  worker within the deadline, else fall back (precomputed list, popular items), log;
- :mod:`.selectors`: its reads (active versions, default configuration, names and the popular
  list, cached per process and refreshed by the process's background thread; the user's
  fallback list, read within a bound; a user's onboarding preferences);
- :mod:`.transport`: the request to the ``serving`` queue and its answer back (over Redis,
  a lean ``serve`` message and a reply list; else the ``recommend`` task and the result
  backend);
- :mod:`.log`: served lists (to analytics) and request counters, buffered per process.

Serving worker (the ``recommenders.serve`` and ``recommenders.tasks.recommend`` tasks):

- :mod:`.batching`: the ``serve`` messages gathered while the pool is busy and answered
  together, each exactly as it is answered alone (micro-batching);
- :mod:`.model_cache`: the active model versions kept warm, loaded after the fork and
  reloaded when a version is promoted or the rules are edited;
- :mod:`.worker`: one user answered by the warm model's ``recommend_one`` (the model's
  ranking or cold start, then the business rules once, all in ``recommenders.core``).

The lifecycle of configurations and model versions (training, promotion, rollback) is
elsewhere: ``models/versions.py``, ``admin/versions.py``, ``services/training.py``.
"""
