from django.apps import AppConfig


class RecommendersConfig(AppConfig):
    name = "recommenders"

    def ready(self) -> None:
        from django.core.signals import request_finished

        from recommenders.serving import log as serving_log

        # Serving counters are added after responses, never before them.
        request_finished.connect(
            serving_log.flush_counters_if_due, dispatch_uid="splitlab-serving-counters"
        )
