from django.apps import AppConfig


class AssignmentConfig(AppConfig):
    name = "assignment"

    def ready(self) -> None:
        from django.core.signals import request_finished

        from assignment import config_cache, exposure_log

        # Flush buffered exposures after responses, never before them.
        request_finished.connect(exposure_log.flush_if_due, dispatch_uid="splitlab-exposures")
        # Keys written before a reload may name experiments that no longer exist.
        config_cache.add_reload_listener(lambda snapshot: exposure_log.buffer.forget())
