"""``python manage.py train CONFIG [--sync]``: train a recommender configuration.

Without ``--sync`` the workflow is sent to the ``training`` queue and the command follows
the version's stage and percent until it finishes (a training worker must be running);
with ``--sync`` every stage runs in this process. Either way one line per change of stage
or percent is printed, and the exit status is non-zero when the version fails.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommenders.models import ModelVersion, RecommenderConfig
from recommenders.services import training


class Command(BaseCommand):
    help = "Train a recommender configuration through the offline pipeline."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("config", help="name of the RecommenderConfig")
        parser.add_argument("--sync", action="store_true", help="run every stage in-process")
        parser.add_argument(
            "--timeout", type=float, default=3600.0, help="seconds to follow a queued training"
        )

    def handle(self, *args: object, **options: object) -> None:
        name = str(options["config"])
        config = RecommenderConfig.objects.filter(name=name).first()
        if config is None:
            known = ", ".join(RecommenderConfig.objects.values_list("name", flat=True)) or "none"
            raise CommandError(f"unknown config {name!r}; known configs: {known}")
        self._last: tuple[str, str, int] | None = None
        if options["sync"]:
            version = training.do_start_training(config, trigger="command", enqueue=False)
            self._print(version)
            try:
                version = training.run_pipeline_in_process(version.pk, progress=self._print)
            except Exception as error:
                raise CommandError(f"version {version.pk} failed: {error}") from error
        else:
            version = training.do_start_training(config, trigger="command")
            version = self._follow(version.pk, float(options["timeout"]))
        self._summary(version)

    def _follow(self, version_id: int, timeout: float) -> ModelVersion:
        deadline = time.monotonic() + timeout
        while True:
            version = ModelVersion.objects.select_related("config").get(pk=version_id)
            self._print(version)
            finished = version.stage == ModelVersion.Stage.DONE
            if finished or version.status == ModelVersion.Status.FAILED:
                return version
            if time.monotonic() > deadline:
                raise CommandError(
                    f"version {version_id} still {version.status} after {timeout:.0f} s; "
                    "is a worker consuming the training queue?"
                )
            time.sleep(0.5)

    def _print(self, version: ModelVersion) -> None:
        state = (version.status, version.stage, version.progress_percent)
        if state != self._last:
            self._last = state
            self.stdout.write(
                f"v{version.pk} {version.status:<10} stage={version.stage:<9} "
                f"{version.progress_percent:3d}%"
            )

    def _summary(self, version: ModelVersion) -> None:
        if version.status == ModelVersion.Status.FAILED:
            raise CommandError(f"version {version.pk} failed: {version.error}")
        metrics = ", ".join(
            f"{key}={value:.4f}"
            for key, value in version.metrics.items()
            if key in ("hr", "ndcg", "recall") and isinstance(value, float)
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"v{version.pk} {version.status}: {metrics or 'no metrics'}; "
                f"fit {version.fit_seconds or 0:.2f} s; {version.gate_decision or ''}".strip()
            )
        )
