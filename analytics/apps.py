from django.apps import AppConfig

# How often each web process looks for a new rollup run to analyse for the experiment lists.
LISTS_REFRESH_SECONDS = 15.0


class AnalyticsConfig(AppConfig):
    name = "analytics"

    def ready(self) -> None:
        from analytics.reports import listing
        from web import background

        # The lists' analyses (home page, reports list) are made by the refresher after each
        # rollup run, so that a view reads them from memory (see listing's memo).
        background.register(
            "experiment-lists", listing.experiment_summaries, lambda: 2 * LISTS_REFRESH_SECONDS
        )
