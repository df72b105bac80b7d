"""Admin roles as groups: analysts read, change nothing; reports need the analyst permission."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

pytestmark = pytest.mark.django_db
ROLES = ("Experiment owner", "Analyst", "ML engineer", "Administrator")


@pytest.fixture
def person(django_user_model):
    def make(role: str | None):
        user = django_user_model.objects.create_user(
            f"u-{role}".replace(" ", "-"), password="pw", is_staff=True
        )
        if role is not None:
            user.groups.add(Group.objects.get(name=role))
        return django_user_model.objects.get(pk=user.pk)  # fresh permission cache

    return make


def test_the_migration_creates_the_four_roles():
    assert set(Group.objects.filter(name__in=ROLES).values_list("name", flat=True)) == set(ROLES)


def test_what_each_role_may_change(person):
    analyst, owner, ml, admin = (person(role) for role in ROLES[1:2] + ROLES[:1] + ROLES[2:])
    assert analyst.has_perm("experiments.view_experiment")
    assert analyst.has_perm("recommenders.view_modelversion")
    assert not any(
        p.split(".")[1].startswith(("add_", "change_", "delete_"))
        for p in analyst.get_all_permissions()
    )
    assert owner.has_perm("experiments.change_experiment")
    assert not owner.has_perm("recommenders.change_modelversion")
    assert ml.has_perm("recommenders.change_modelversion")
    assert ml.has_perm("recommenders.add_recommenderconfig")
    assert not ml.has_perm("experiments.change_experiment")
    assert admin.has_perm("experiments.delete_experiment") and admin.has_perm("auth.change_user")
    for user in (analyst, owner, ml, admin):
        assert user.has_perm("accounts.view_reports")


def test_report_pages_need_the_analyst_permission_not_just_staff(client, person):
    client.force_login(person(None))
    assert client.get("/reports/").status_code == 403
    client.force_login(person("Analyst"))
    assert client.get("/reports/").status_code == 200


def test_the_analyst_cannot_change_in_the_admin(client, person):
    client.force_login(person("Analyst"))
    assert client.get("/admin/experiments/experiment/").status_code == 200
    assert client.get("/admin/experiments/experiment/add/").status_code == 403
