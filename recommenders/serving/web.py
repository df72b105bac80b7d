"""Serving one recommendation request: assign, ask a serving worker, fall back in time.

``recommend_for_request`` is the whole web side of ``GET /api/v1/recommendations``:

1. the experiment running on the surface assigns the user a variant, whose recommender
   configuration is served; without an experiment the default configuration is;
2. the ``recommend`` task is sent to the ``serving`` queue and its answer awaited for at most
   ``SPLITLAB_SERVING_DEADLINE_MS`` (over a Redis list with a Redis broker, else through the
   result backend: ``transport``);
3. a timeout, an unreachable broker, a worker error, or a version whose artifacts cannot be
   read, is answered from the precomputed top-N of the user in that configuration's active
   version, else its popular list, else the catalogue's popular items: ``fallback`` is true,
   ``fallback_reason`` says why, and the fallback is counted. The precomputed list is the
   one database read a request may make: it is waited for at most
   ``SPLITLAB_FALLBACK_READ_MS`` (a slow database), then the catalogue's popular list in
   memory is served instead (counted as ``fallback_read_timeouts``);
4. the served list is logged (``analytics``'s ``record_served_lists``) so that clicks are
   attributed to exactly what was shown.

A user assigned to an interleaving experiment (variant ``interleaved``) is served every
variant's configuration at once: one task per distinct configuration is sent, all answers
are awaited under the one deadline (``transport.ask_serving_workers``), and the lists are
merged by team draft (``interleave``); each item carries ``team``. When some rankers miss
the deadline the others' merge is served, marked ``interleaving: "partial"`` (excluded from
the analysis); when none answers, the control's fallback is served as in step 3.

Everything else the request reads (configuration, versions, names, the popular list, the API
key) is in the process's memory, kept fresh by its refresher thread (``web.background``), and
its records (exposures, the served list, counters) are journaled where durable and written by
the flusher thread (``writebehind``): after warm-up, the request's own thread sends no query.

Onboarding preferences (``do_set_user_preferences``) are read by the worker for users the
model does not know, on their next request.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError

from assignment.engine import INTERLEAVED, CompiledExperiment
from assignment.selectors import running_experiment_for_surface
from assignment.services import SegmentError, assign_user
from recommenders.models import Item, UserProfile
from recommenders.serving import interleave, selectors, transport
from recommenders.serving import log as serving_log
from web.background import ReadTimedOut

logger = logging.getLogger(__name__)

__all__ = [
    "InvalidRequest",
    "UnknownReference",
    "UnknownSurface",
    "RecommendationRequest",
    "ServedRecommendations",
    "check_surface",
    "do_set_user_preferences",
    "recommend_for_request",
]

MAX_K = 200
MAX_OFFSET = 1000  # pages deeper than this are not served (a worker ranks offset + k items)
BROKER_ERRORS: tuple[type[BaseException], ...] = (BrokerError, ConnectionError, OSError, RedisError)
_broker_down_until = 0.0  # monotonic time before which this process does not try the broker


class InvalidRequest(ValueError):
    """A request a client must correct; ``field`` names the offending input."""

    def __init__(self, field_name: str, message: str) -> None:
        self.field = field_name
        super().__init__(message)


class UnknownReference(InvalidRequest):
    """A name that refers to nothing: a surface neither configured nor carrying a running
    experiment, an item not in the catalogue."""


class UnknownSurface(UnknownReference):
    """A surface that names nothing."""


@dataclass(frozen=True)
class RecommendationRequest:
    user_id: str
    k: int = 10
    surface: str = "home"
    device: str = ""
    session_depth: int | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    offset: int = 0  # the page: positions [offset, offset + k) of the ranking

    @property
    def depth(self) -> int:
        """How many items of each ranking the page needs."""
        return self.offset + self.k


@dataclass
class ServedRecommendations:
    request_id: str
    user_id: str
    surface: str
    experiment: str | None
    variant: str | None
    config: str | None
    model_version: int | None
    fallback: bool
    fallback_reason: str | None
    items: list[dict[str, Any]]
    exploration: dict[str, Any] | None = None  # the sampling policy's log (None: fallback)
    interleaving: str | None = None  # full, partial or fallback; None: not interleaved
    logged_version: str | None = None  # what the record stores when not model_version
    # As POST /assignments says it: a user outside the experiment (holdout, targeting,
    # coverage, layer) is served the control's configuration, with the experiment, the
    # control's key as variant, in_experiment false and the reason; None: no experiment runs
    # on the surface.
    in_experiment: bool = False
    reason: str | None = None


@dataclass(frozen=True)
class _Assignment:
    experiment: str | None
    variant: str | None
    config_id: int | None
    compiled: CompiledExperiment | None = None
    in_experiment: bool = False
    reason: str | None = None


# --- validation ----------------------------------------------------------------------------
def check_surface(surface: str) -> None:
    """A surface is known when listed in ``SPLITLAB_SURFACES`` or an experiment runs on it."""
    if surface in settings.SPLITLAB_SURFACES:
        return
    if _running_experiment(surface) is not None:
        return
    known = ", ".join(sorted(settings.SPLITLAB_SURFACES))
    raise UnknownSurface("surface", f"unknown surface {surface!r}; known surfaces: {known}")


# --- the request ---------------------------------------------------------------------------
def recommend_for_request(request: RecommendationRequest) -> ServedRecommendations:
    """Assign, serve through a worker within the deadline or fall back; log and count."""
    if not 1 <= request.k <= MAX_K:
        raise InvalidRequest("k", f"k must be between 1 and {MAX_K}, got {request.k}")
    if not 0 <= request.offset <= MAX_OFFSET:
        raise InvalidRequest(
            "offset", f"offset must be between 0 and {MAX_OFFSET}, got {request.offset}"
        )
    check_surface(request.surface)
    assignment = _assign(request)
    config_id = assignment.config_id or selectors.default_config_id()
    request_id = uuid.uuid4().hex
    if assignment.variant == INTERLEAVED and assignment.compiled is not None:
        answer = _serve_interleaved(assignment.compiled, config_id, request, request_id)
        config_ids = dict.fromkeys(assignment.compiled.recommender_config_ids)
        config = "+".join(str(_config_name(c)) for c in config_ids)
    else:
        answer = serve_config(config_id, request, request_id)
        config = _config_name(config_id)
    served = ServedRecommendations(
        request_id=request_id,
        user_id=request.user_id,
        surface=request.surface,
        experiment=assignment.experiment,
        variant=assignment.variant,
        config=config,
        in_experiment=assignment.in_experiment,
        reason=assignment.reason,
        **answer,
    )
    _record(served)
    return served


def serve_config(
    config_id: int | None, request: RecommendationRequest, request_id: str
) -> dict[str, Any]:
    """One configuration's answer: a worker's list within the deadline, else the fallback.
    ``request_id`` seeds the exploration draw and names the served list."""
    if config_id is None:
        return _safe_fallback(None, request, "no_config")
    try:
        payload = _ask_worker(config_id, request, request_id)
    except _ServingFailure as failure:
        return _safe_fallback(config_id, request, failure.reason)
    if payload.get("status") != "ok":
        return _safe_fallback(config_id, request, str(payload.get("status")))
    items = [
        {**item, "position": position}
        for position, item in enumerate(
            payload["items"][request.offset : request.depth], start=request.offset + 1
        )
    ]
    return {
        "model_version": payload["model_version"],
        "fallback": False,
        "fallback_reason": None,
        "items": items,
        "exploration": payload.get("exploration"),
    }


class _ServingFailure(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def _task_kwargs(
    config_id: int, request: RecommendationRequest, k: int, request_id: str
) -> dict[str, Any]:
    context = {
        "request_id": request_id,  # seeds the exploration draw (replayable)
        "surface": request.surface,
        "device": request.device,
        "session_depth": request.session_depth,
        "timestamp": time.time(),
    }
    return {"config_id": config_id, "user_id": request.user_id, "k": k, "context": context}


def _ask_worker(config_id: int, request: RecommendationRequest, request_id: str) -> dict[str, Any]:
    """Ask a serving worker (``transport``) and wait at most the deadline for its answer."""
    deadline_seconds = settings.SPLITLAB_SERVING_DEADLINE_MS / 1000.0
    kwargs = _task_kwargs(config_id, request, request.depth, request_id)
    if time.monotonic() < _broker_down_until:
        raise _ServingFailure("broker_unavailable")
    try:
        return transport.ask_serving_worker(kwargs, deadline_seconds)
    except transport.ServingTimeout as error:
        raise _ServingFailure("timeout") from error
    except Exception as error:  # broker down, or an error the task raised
        raise _classified(error) from error


def _serve_interleaved(
    experiment: CompiledExperiment,
    control_config_id: int | None,
    request: RecommendationRequest,
    request_id: str,
) -> dict[str, Any]:
    """Every variant's list at once under the one deadline, merged by team draft."""
    configs = experiment.recommender_config_ids
    distinct = [c for c in dict.fromkeys(configs) if c is not None]
    answers: dict[int, dict[str, Any]] = {}
    reason = "no_config"
    if distinct and time.monotonic() < _broker_down_until:
        reason = "broker_unavailable"
    elif distinct:
        deadline_seconds = settings.SPLITLAB_SERVING_DEADLINE_MS / 1000.0
        tasks = [_task_kwargs(c, request, request.depth, request_id) for c in distinct]
        try:
            replies = transport.ask_serving_workers(tasks, deadline_seconds)
        except Exception as error:  # the broker refused the tasks
            replies = [error] * len(distinct)
        for config_id, reply in zip(distinct, replies, strict=True):
            if isinstance(reply, dict) and reply.get("status") == "ok":
                answers[config_id] = reply
            elif isinstance(reply, transport.ServingTimeout):
                reason = "timeout"
            elif isinstance(reply, BaseException):
                reason = _classified(reply).reason
            else:
                reason = str(reply.get("status"))
    if not answers:
        answer = _safe_fallback(control_config_id, request, reason)
        return {**answer, "interleaving": "fallback"}
    merged = interleave.merge_answers(
        experiment.variant_keys,
        [answers.get(c) for c in configs],  # type: ignore[arg-type]
        length=request.k,
        seed=experiment.seed,
        user_id=request.user_id,
        offset=request.offset,
    )
    versions = merged.model_versions
    return {
        "model_version": next((v for v in versions if v is not None), None),
        "fallback": False,
        "fallback_reason": None,
        "items": merged.items,
        "interleaving": merged.status,
        "logged_version": "+".join("" if v is None else str(v) for v in versions),
    }


def _classified(error: BaseException) -> _ServingFailure:
    """``broker_unavailable`` when a connection error is anywhere in the exception's chain
    (Celery wraps some in RuntimeError); the broker is then skipped for a while. Anything
    else raised by the task is a ``worker_error``."""
    global _broker_down_until
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, BROKER_ERRORS):
            retry_seconds = settings.SPLITLAB_SERVING_BROKER_RETRY_SECONDS
            _broker_down_until = time.monotonic() + retry_seconds
            logger.warning(
                "serving broker unreachable (%s); retrying in %.1f s", cause, retry_seconds
            )
            return _ServingFailure("broker_unavailable")
        cause = cause.__cause__ or cause.__context__
    logger.warning("serving worker error: %s: %s", type(error).__name__, error)
    return _ServingFailure("worker_error")


def _safe_fallback(
    config_id: int | None, request: RecommendationRequest, reason: str
) -> dict[str, Any]:
    """:func:`_fallback`, or an empty fallback list when even that fails (database down):
    the client still gets a 200 it can render around."""
    try:
        return _fallback(config_id, request, reason)
    except Exception:
        logger.exception("fallback lists unavailable (%s)", reason)
        return {"model_version": None, "fallback": True, "fallback_reason": reason, "items": []}


def _fallback(config_id: int | None, request: RecommendationRequest, reason: str) -> dict[str, Any]:
    """The precomputed list of the user in the config's active version, else popular."""
    version = selectors.active_versions().get(config_id) if config_id else None
    found = None
    if version is not None:
        found = _precomputed_within_bound(version.version_id, request)
    model_version = version.version_id if found is not None else None
    if found is None:
        found = selectors.catalogue_popular_list(request.depth + 20)
    blocked = _blocked_by_rules(version.rules if version else {})
    items = []
    for item_id, score in zip(found.item_ids, found.scores, strict=True):
        if item_id in blocked:
            continue
        items.append(
            {"item_id": item_id, "score": score, "position": len(items) + 1, "source": found.source}
        )
        if len(items) == request.depth:
            break
    return {
        "model_version": model_version,
        "fallback": True,
        "fallback_reason": reason,
        "items": items[request.offset :],
    }


def _precomputed_within_bound(
    version_id: int, request: RecommendationRequest
) -> selectors.FallbackList | None:
    """The user's precomputed list, or None when the read took longer than
    ``SPLITLAB_FALLBACK_READ_MS`` (the caller serves the popular list in memory)."""
    bound_seconds = settings.SPLITLAB_FALLBACK_READ_MS / 1000.0
    try:
        return selectors.precomputed_fallback_within(
            version_id, request.user_id, request.depth, bound_seconds
        )
    except ReadTimedOut as error:
        logger.debug("precomputed fallback of %s not read in time: %s", request.user_id, error)
        serving_log.count("fallback_read_timeouts")
        return None


def _blocked_by_rules(rules: dict[str, Any]) -> set[str]:
    return {str(item_id) for item_id in rules.get("blocked_items", [])}


def _record(served: ServedRecommendations) -> None:
    """Count and log the served list; a logging failure never fails the request."""
    try:
        _count_and_log(served)
    except Exception:
        logger.exception("served list %s not recorded", served.request_id)


def _count_and_log(served: ServedRecommendations) -> None:
    names = ["requests"]
    if served.fallback:
        names += ["fallbacks", f"fallbacks:{served.fallback_reason}"]
    serving_log.count(*names)
    serving_log.log_served_list(
        {
            "request_id": served.request_id,
            "user_id": served.user_id,
            # Only users in the experiment count for it: a held-out user's list is served
            # the control's configuration but belongs to no arm.
            "experiment_key": (served.experiment or "") if served.in_experiment else "",
            "variant_key": (served.variant or "") if served.in_experiment else "",
            "model_version": served.logged_version
            if served.logged_version is not None
            else ("" if served.model_version is None else str(served.model_version)),
            "surface": served.surface,
            "items": served.items,
            "exploration": served.exploration,
        }
    )


# --- assignment (the experiments app's services) -------------------------------------------
def _running_experiment(surface: str) -> Any:
    return running_experiment_for_surface(surface)


def _assign(request: RecommendationRequest) -> _Assignment:
    """The variant of the experiment running on the surface; none -> the default config.

    Users outside the experiment (holdout, targeting, coverage, layer) get the control
    experience: its configuration is served and reported as the assignment API reports it
    (the control's key, ``in_experiment`` false, the reason), but not logged in any arm.
    """
    experiment = _running_experiment(request.surface)
    if experiment is None:
        return _Assignment(None, None, None)
    attributes = dict(request.attributes)
    if request.device:
        attributes.setdefault("device", request.device)
    try:
        (result,) = assign_user(request.user_id, attributes, [experiment.key])
    except SegmentError as error:
        sent_as_device = error.field == "attributes.device" and "device" not in request.attributes
        raise InvalidRequest("device" if sent_as_device else error.field, str(error)) from None
    if not result.in_experiment:
        return _Assignment(
            result.experiment,
            result.variant,
            result.recommender_config_id,
            in_experiment=False,
            reason=result.reason,
        )
    return _Assignment(
        result.experiment,
        result.variant,
        result.recommender_config_id,
        experiment,
        in_experiment=True,
        reason=result.reason,
    )


def _config_name(config_id: int | None) -> str | None:
    if config_id is None:
        return None
    return selectors.config_names().get(config_id)


# --- onboarding preferences ----------------------------------------------------------------
def do_set_user_preferences(
    user_id: str, *, categories: list[str], items: list[str]
) -> UserProfile:
    """Store a user's stated preferences (creating the profile if unknown).

    Every liked item must exist in the catalogue; unknown ones raise :class:`InvalidRequest`
    naming them. Category names are free (a catalogue may not have them yet).
    """
    items = list(dict.fromkeys(str(i) for i in items))
    categories = list(dict.fromkeys(str(c) for c in categories))
    known = set(Item.objects.filter(external_id__in=items).values_list("external_id", flat=True))
    unknown = [i for i in items if i not in known]
    if unknown:
        raise UnknownReference("items", f"unknown item id(s): {', '.join(unknown[:10])}")
    with transaction.atomic():
        profile, _ = UserProfile.objects.select_for_update().get_or_create(external_id=user_id)
        profile.preferences = {**profile.preferences, "categories": categories, "items": items}
        profile.save(update_fields=["preferences"])
    return profile
