from django.apps import AppConfig


class RecommendersConfig(AppConfig):
    name = "recommenders"

    def ready(self) -> None:
        from django.conf import settings
        from django.core.signals import request_finished

        from recommenders.serving import log as serving_log
        from recommenders.serving import selectors
        from web import background

        # Serving counters are added after responses, never before them (with background
        # threads, by the flusher thread).
        request_finished.connect(
            serving_log.flush_counters_if_due, dispatch_uid="splitlab-serving-counters"
        )
        # What the request path reads from memory, re-read by each web process's refresher.
        background.register(
            "serving-configuration",
            selectors.refresh_configuration,
            lambda: settings.SPLITLAB_SERVING_VERSION_TTL_SECONDS,
        )
        background.register(
            "serving-popular",
            selectors.refresh_popular,
            lambda: settings.SPLITLAB_POPULAR_TTL_SECONDS,
        )
