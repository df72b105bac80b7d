from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        from django.conf import settings

        from accounts.authentication import refresh_token_cache
        from web import background

        # Every valid API key in each web process's memory, re-read by its refresher.
        background.register(
            "api-keys", refresh_token_cache, lambda: settings.SPLITLAB_TOKEN_CACHE_SECONDS
        )
