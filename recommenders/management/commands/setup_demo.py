"""``manage.py setup_demo``: what ``make run`` needs to show the platform working end to end.

Once the catalogue is loaded: a default configuration (most popular) and an item-CF
configuration, both trained in process and active; a running experiment ``home-recs`` on the
``home`` surface that routes half of its users to each, with CTR as primary metric and the
two guardrails; a 2% permanent holdout; and an API client whose token is printed. Every step
is skipped when what it creates already exists, so re-running changes nothing.

The demo's truth is planted by the simulator that ``make run`` starts against it
(``manage.py simulate --live --planted-lift 0.25``): users served item-CF click 25% more
often than users served most-popular. The simulator does not know the demo catalogue's items,
so it finds every item equally attractive (base CTR about 2% per impression over a list of
ten): the planted lift is the whole true effect. The plan asks for the sample size the
experiment's own power inputs require (baseline 2%, relative MDE 25%), so the page's
"required" and "planned" agree.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.services import create_api_client
from experiments import services as experiments
from experiments.models import Experiment, Holdout, MetricDefinition
from experiments.selectors import power_estimate
from recommenders.models import Interaction, Item, ModelVersion, RecommenderConfig
from recommenders.services import training

EXPERIMENT_KEY = "home-recs"
DEMO_BASELINE_CTR = 0.02  # the simulator's true CTR of a ten-item list of unknown items
DEMO_PLANTED_LIFT = 0.25  # item-CF's true relative CTR lift, planted by the simulator
DEMO_USERS_PER_SECOND = 5  # the rate make run's simulator sends users at
CONFIGS = (
    ("popular", "popular", {"is_default": True, "description": "Most popular items (default)"}),
    ("item-cf", "item_cf", {"description": "Item-based collaborative filtering (BM25)"}),
)


class Command(BaseCommand):
    help = "Create and train demo recommender configs, a running experiment and an API client."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--base-url", default="http://127.0.0.1:8000", help="where the printed curl points"
        )

    def handle(self, *args: object, **options: object) -> None:
        if not Item.objects.exists():
            raise CommandError("no catalogue: run load_demo_data or load_movielens first")
        configs = {name: self._trained_config(name, algo, extra) for name, algo, extra in CONFIGS}
        self._holdout()
        self._experiment(configs["popular"], configs["item-cf"])
        token, _ = create_api_client("demo")
        user = Interaction.objects.values_list("user__external_id", flat=True).first()
        self.stdout.write(
            f"Demo ready. Try: curl -H 'Authorization: Token {token}' "
            f"'{options['base_url']}/api/v1/recommendations?user_id={user}&k=10&surface=home'"
        )

    def _trained_config(self, name: str, algorithm: str, extra: dict) -> RecommenderConfig:
        config, _ = RecommenderConfig.objects.get_or_create(
            name=name, defaults={"algorithm": algorithm, **extra}
        )
        if not config.versions.filter(status=ModelVersion.Status.ACTIVE).exists():
            self.stdout.write(f"Training {name} ({algorithm}) ...")
            version = training.do_start_training(config, trigger="command", enqueue=False)
            version = training.run_pipeline_in_process(version.pk)
            self.stdout.write(f"  version {version.pk}: {version.status}")
        return config

    def _holdout(self) -> None:
        if not Holdout.objects.filter(is_active=True).exists():
            experiments.do_create_holdout("global", 0.02)

    def _experiment(self, control: RecommenderConfig, treatment: RecommenderConfig) -> None:
        if Experiment.objects.filter(key=EXPERIMENT_KEY).exists():
            return
        guardrails = MetricDefinition.objects.filter(
            kind__in=["session_abandonment", "time_to_first_interaction"]
        )
        # The plan is the size the experiment page says is required (one computation).
        draft = Experiment(baseline_rate=DEMO_BASELINE_CTR, mde_relative=DEMO_PLANTED_LIFT)
        per_variant = power_estimate(draft, variants=2, holdout_share=0.0).per_variant
        experiment = experiments.do_create_experiment(
            key=EXPERIMENT_KEY,
            name="Item-CF against most popular on home",
            hypothesis="Personalised item-CF lists raise CTR on the home surface.",
            surface="home",
            variants=[
                {"key": "control", "is_control": True, "recommender_config": control},
                {"key": "item_cf", "recommender_config": treatment},
            ],
            primary_metric=MetricDefinition.objects.filter(kind="ctr").first(),
            guardrail_metrics=guardrails,
            min_runtime_days=14,
            baseline_rate=DEMO_BASELINE_CTR,
            mde_relative=DEMO_PLANTED_LIFT,
            planned_sample_size=per_variant,
            daily_traffic=DEMO_USERS_PER_SECOND * 86400,
        )
        experiments.do_start_experiment(experiment, None)
        self.stdout.write(f"Experiment {EXPERIMENT_KEY!r} is running on surface 'home'.")
