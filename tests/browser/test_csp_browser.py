"""Production's Content-Security-Policy in a real Chromium: the report pages, the planner,
the admin and Swagger UI all work from local static files without a single violation."""

from __future__ import annotations

import pytest

from tests.browser.test_report_browser import browser  # noqa: F401 - the fixture
from web.csp import CONTENT_SECURITY_POLICY

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_pages_work_under_the_content_security_policy(live_server, browser, django_user_model):  # noqa: F811
    from analytics.services.rollups import do_run_rollups
    from tests.analytics.factories import generate

    generate(users=60, seed=4, key="csp-exp")
    do_run_rollups()
    django_user_model.objects.create_superuser("csp", "csp@example.com", "pw-csp")
    page = browser.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    response = page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    page.fill("#id_username", "csp")
    page.fill("#id_password", "pw-csp")
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
    for path in ("/reports/", "/reports/csp-exp/", "/planner/"):
        page.goto(live_server.url + path)
        page.wait_for_load_state("networkidle")
    page.wait_for_function("() => window.Chart !== undefined", timeout=15_000)
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .info", timeout=20_000)
    assert violations == []
