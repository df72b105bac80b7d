"""Every existing DRF token becomes a hashed key of an API client holding all scopes.

Clients that worked before keep working with the same key (now stored as its SHA-256
digest only) and, as before, may call everything; the raw tokens are deleted.
"""

import hashlib

from django.db import migrations

ALL_SCOPES = ["serve", "analyze", "manage", "models"]


def forwards(apps, schema_editor):
    Token = apps.get_model("authtoken", "Token")
    ApiClient = apps.get_model("accounts", "ApiClient")
    ApiKey = apps.get_model("accounts", "ApiKey")
    for token in Token.objects.select_related("user"):
        username = token.user.username
        name = username.removeprefix("client:")[:100]
        client = ApiClient.objects.filter(user=token.user).first()
        if client is None:
            if ApiClient.objects.filter(name=name).exists():
                name = f"{name}-{token.user.pk}"[:100]
            client = ApiClient.objects.create(user=token.user, name=name, scopes=ALL_SCOPES)
        ApiKey.objects.create(
            client=client,
            prefix=token.key[:8],
            key_hash=hashlib.sha256(token.key.encode("utf-8")).hexdigest(),
        )
    Token.objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("authtoken", "0004_alter_tokenproxy_options"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
