"""``load_movielens``: the three formats, latin-1 titles, idempotence, clear errors."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from recommenders.models import Interaction, Item, UserProfile

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("SPLITLAB_SHARED_DATA", REPO.parent / "shared" / "data"))
GENRE_FLAGS_ACTION_COMEDY = "|".join(["0", "1", "0", "0", "0", "1"] + ["0"] * 13)


@pytest.fixture
def ml100k(tmp_path: Path) -> Path:
    folder = tmp_path / "ml-100k"
    folder.mkdir()
    (folder / "u.data").write_text(
        "1\t10\t5\t881250949\n1\t20\t3\t881250950\n2\t10\t4\t891717742\n"
    )
    (folder / "u.item").write_bytes(
        (
            f"10|Amélie (2001)|01-Jan-2001||http://x|{GENRE_FLAGS_ACTION_COMEDY}\n"
            f"20|Heat (1995)|15-Dec-1995||http://y|{'|'.join(['0'] * 8 + ['1'] + ['0'] * 10)}\n"
        ).encode("latin-1")
    )
    (folder / "u.user").write_text("1|24|M|technician|85711\n2|53|F|other|94043\n")
    return folder


@pytest.fixture
def ml1m(tmp_path: Path) -> Path:
    folder = tmp_path / "ml-1m"
    folder.mkdir()
    (folder / "ratings.dat").write_text(
        "1::1193::5::978300760\n1::661::4::978302109\n7::1193::5::1\n"
    )
    (folder / "movies.dat").write_bytes(
        "1193::Vie en rose, La (1947)::Drama|Romance\n661::Bête (1975)::Horror\n".encode("latin-1")
    )
    (folder / "users.dat").write_text("1::F::1::10::48067\n7::M::35::12::55117\n")
    return folder


def test_movielens_100k_folder(ml100k, capsys):
    call_command("load_movielens", str(ml100k))

    assert "ml-100k" in capsys.readouterr().out
    amelie = Item.objects.get(external_id="10")
    assert amelie.title == "Amélie (2001)"
    assert amelie.categories == ["Action", "Comedy"]
    assert amelie.year == 2001
    assert amelie.created_at == datetime(2001, 1, 1, tzinfo=UTC)
    user = UserProfile.objects.get(external_id="2")
    assert (user.age_band, user.gender, user.occupation, user.region) == (
        "50-55",
        "F",
        "other",
        "940",
    )
    rating = Interaction.objects.get(user__external_id="1", item__external_id="20")
    assert (rating.kind, rating.value) == ("rating", 3.0)
    assert rating.timestamp == datetime.fromtimestamp(881250950, UTC)


def test_movielens_1m_file_and_codes(ml1m):
    call_command("load_movielens", str(ml1m / "ratings.dat"), "--format", "1m")

    assert Item.objects.get(external_id="661").title == "Bête (1975)"
    assert Item.objects.get(external_id="1193").categories == ["Drama", "Romance"]
    user = UserProfile.objects.get(external_id="7")
    assert (user.age_band, user.occupation) == ("35-44", "programmer")
    assert UserProfile.objects.get(external_id="1").age_band == "under 18"
    assert Interaction.objects.count() == 3


def test_csv_with_dates_and_kind(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(
        "user_id,item_id,value,timestamp\n"
        "alice,sku-1,2,2024-05-01T10:00:00Z\n"
        "bob,sku-2,1,2024-05-02T11:30:00Z\n"
    )
    call_command("load_movielens", str(path), "--kind", "purchase")

    row = Interaction.objects.get(user__external_id="alice")
    assert (row.kind, row.value, row.item.external_id) == ("purchase", 2.0, "sku-1")
    assert row.timestamp == datetime(2024, 5, 1, 10, tzinfo=UTC)


def test_csv_without_timestamps_reloads_idempotently(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("u1,i1\nu1,i2\nu2,i1\n")
    call_command("load_movielens", str(path))
    call_command("load_movielens", str(path))

    assert Interaction.objects.count() == 3
    assert set(Interaction.objects.values_list("kind", flat=True)) == {"view"}


def test_reload_is_idempotent(ml100k, capsys):
    call_command("load_movielens", str(ml100k))
    Item.objects.filter(external_id="10").update(title="renamed by hand", is_blocked=True)
    call_command("load_movielens", str(ml100k))

    assert Interaction.objects.count() == 3
    assert (Item.objects.count(), UserProfile.objects.count()) == (2, 2)
    amelie = Item.objects.get(external_id="10")
    assert (amelie.title, amelie.is_blocked) == ("Amélie (2001)", True)
    assert "0 new, 3 already present" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("make_path", "options", "message"),
    [
        (lambda tmp: tmp / "missing", [], "no such file or folder"),
        (lambda tmp: tmp, [], "neither a MovieLens 100K folder"),
        (lambda tmp: tmp / "ml-100k", ["--format", "1m"], "no ratings"),
        (lambda tmp: tmp / "ml-100k", ["--format", "csv"], "needs a file"),
        (lambda tmp: tmp / "empty.csv", [], "empty"),
        (lambda tmp: tmp / "bad.dat", [], "line 2"),
    ],
)
def test_wrong_path_or_format_is_a_clear_error(tmp_path, ml100k, make_path, options, message):
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "bad.dat").write_text("1::2::5::100\n1::x::5::200\n")
    with pytest.raises(CommandError, match=message):
        call_command("load_movielens", str(make_path(tmp_path)), *options)
    assert Interaction.objects.count() == 0


def test_unknown_format_option_is_refused(ml100k):
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("load_movielens", str(ml100k), "--format", "10m")


@pytest.mark.data
@pytest.mark.skipif(not (SHARED_DATA / "ml-100k").is_dir(), reason="shared data absent")
def test_real_movielens_100k():
    call_command("load_movielens", str(SHARED_DATA / "ml-100k"))

    assert (UserProfile.objects.count(), Item.objects.count()) == (943, 1682)
    assert Interaction.objects.count() == 100_000


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.skipif(not (SHARED_DATA / "ml-1m").is_dir(), reason="shared data absent")
def test_real_movielens_1m_positives():
    if connection.vendor != "postgresql" and not os.environ.get("SPLITLAB_FULL"):
        pytest.skip("575k rows: the PostgreSQL COPY path (SQLite only with SPLITLAB_FULL=1)")
    call_command("load_movielens", str(SHARED_DATA / "ml-1m" / "ratings_ge4_complete.dat"))

    assert Interaction.objects.count() == 575_281
    assert UserProfile.objects.count() == 6_040
    assert Item.objects.count() == 3_883
