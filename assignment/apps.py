from django.apps import AppConfig


class AssignmentConfig(AppConfig):
    name = "assignment"

    def ready(self) -> None:
        from django.conf import settings
        from django.core.signals import request_finished

        from assignment import config_cache, exposure_log
        from web import background

        # Flush buffered exposures after responses, never before them (with background
        # threads, the flusher thread does, off the request's thread).
        request_finished.connect(exposure_log.flush_if_due, dispatch_uid="splitlab-exposures")
        config_cache.connect()
        config_cache.add_reload_listener(_after_reload)
        background.register(
            "assignment-config",
            config_cache.refresh,
            lambda: settings.SPLITLAB_ASSIGNMENT_CONFIG_TTL_SECONDS,
        )


def _after_reload(snapshot) -> None:
    """Experiments may have been deleted (and, in tests, their ids reused): forget which rows
    were written and drop pending rows that no longer have an experiment."""
    from assignment import exposure_log

    buffer = exposure_log.buffer
    buffer.forget()
    if buffer.rows:
        buffer.keep_only(
            {e.id: set(e.variant_ids) for e in snapshot.experiments.values()},
            {snapshot.holdout.id} if snapshot.holdout is not None else set(),
        )
