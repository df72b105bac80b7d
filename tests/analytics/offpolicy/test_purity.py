"""The interleaving and off-policy packages and the exploring samplers are pure: importing
them pulls in no Django, DRF, Celery or torch."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "module", ["analytics.interleaving", "analytics.offpolicy", "recommenders.core.exploration"]
)
def test_package_imports_no_framework(module):
    code = (
        f"import sys, {module}; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('django', 'rest_framework', 'celery', 'statsmodels', 'torch')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
