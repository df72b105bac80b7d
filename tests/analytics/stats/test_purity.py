"""analytics.stats is pure: importing it pulls in no Django, DRF or Celery."""

import subprocess
import sys


def test_stats_package_imports_no_framework():
    code = (
        "import sys, analytics.stats; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('django', 'rest_framework', 'celery', 'statsmodels', 'torch')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
