"""``evaluate_recommenders`` and ``recommend_offline`` on a planted dataset, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

N_USERS, N_ITEMS, PER_USER = 40, 40, 8


@pytest.fixture
def planted_csv(tmp_path: Path) -> Path:
    """Two disjoint taste groups: users u0-u19 only take items i0-i19, the others i20-i39."""
    rng = np.random.default_rng(0)
    lines = ["user_id,item_id,value,timestamp"]
    times = 1_600_000_000 + 60 * rng.permutation(N_USERS * PER_USER)  # users interleave
    for user in range(N_USERS):
        group = 0 if user < N_USERS // 2 else N_ITEMS // 2
        for j, item in enumerate(rng.choice(N_ITEMS // 2, size=PER_USER, replace=False)):
            lines.append(f"u{user},i{group + item},1,{times[user * PER_USER + j]}")
    path = tmp_path / "planted.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def read_lists(path: Path) -> dict[str, list[str]]:
    lists = {}
    for line in path.read_text().splitlines():
        user, _, items = line.partition("\t")
        lists[user] = items.split(",") if items else []
    return lists


def training_items(path: Path) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {}
    for line in path.read_text().splitlines()[1:]:
        user, item, *_ = line.split(",")
        seen.setdefault(user, set()).add(item)
    return seen


def group_of(external_id: str) -> int:
    return int(int(external_id[1:]) >= N_ITEMS // 2)


@pytest.mark.parametrize("model", ["item_cf", "user_cf"])
def test_recommend_offline_writes_in_group_unseen_lists(planted_csv, tmp_path, model, capsys):
    out = tmp_path / "out" / "recs.tsv"
    call_command("recommend_offline", "--model", model, "--train", str(planted_csv),
                 "--k", "5", "--out", str(out))  # fmt: skip

    lists = read_lists(out)
    seen = training_items(planted_csv)
    assert set(lists) == set(seen)
    for user, items in lists.items():
        assert len(items) == 5
        assert not set(items) & seen[user]
        assert {group_of(i) for i in items} == {group_of(user.replace("u", "i"))}
    assert f"wrote top-5 lists for {N_USERS} users" in capsys.readouterr().out
    assert not list(out.parent.glob("*.partial"))


def test_recommend_offline_params_and_short_lists(planted_csv, tmp_path):
    out = tmp_path / "recs.tsv"
    call_command("recommend_offline", "--model", "popular", "--train", str(planted_csv),
                 "--k", "100", "--out", str(out))  # fmt: skip

    lists = read_lists(out)
    # 40 items, 8 seen: every list holds the 32 unseen items, no padding
    assert {len(items) for items in lists.values()} == {N_ITEMS - PER_USER}


def test_evaluate_recommenders_prints_a_table_and_writes_json(planted_csv, tmp_path, capsys):
    out = tmp_path / "report.json"
    call_command("evaluate_recommenders", "--data", str(planted_csv),
                 "--models", "popular,item_cf", "--protocol", "leave-last-out", "--k", "5",
                 "--json", str(out), "--param", "item_cf.neighbours=10")  # fmt: skip

    printed = capsys.readouterr().out
    assert "HR@5" in printed and "NDCG@5" in printed
    assert "popular" in printed and "item_cf" in printed
    report = json.loads(out.read_text())
    assert report["protocol"] == "leave-last-out"
    assert report["n_users_evaluated"] == N_USERS
    by_model = {r["model"]: r for r in report["results"]}
    assert by_model["item_cf"]["params"]["neighbours"] == 10
    # the planted structure: item-CF stays in the right group, popularity does not
    assert by_model["item_cf"]["hr"] > by_model["popular"]["hr"]
    assert 0 <= by_model["item_cf"]["ndcg"] <= by_model["item_cf"]["hr"] <= 1


@pytest.mark.parametrize("protocol", ["temporal", "random"])
def test_evaluate_other_protocols(planted_csv, protocol, capsys):
    call_command("evaluate_recommenders", "--data", str(planted_csv), "--models", "popular",
                 "--protocol", protocol, "--k", "3")  # fmt: skip
    assert f"protocol {protocol}" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--models", "popular,wizard"], "unknown model"),
        (["--models", "popular", "--k", "0"], "--k must be a positive integer"),
        (["--models", "popular", "--param", "als.factors=8"], "not in --models"),
        (["--models", "popular", "--param", "factors=8"], "expected model.name=value"),
        (["--models", "item_cf", "--param", "item_cf.colour=red"], "unknown parameter"),
        (["--models", "popular", "--protocol", "by-moon"], "invalid choice"),
    ],
)
def test_evaluate_bad_arguments(planted_csv, arguments, message):
    with pytest.raises(CommandError, match=message):
        call_command("evaluate_recommenders", "--data", str(planted_csv), *arguments)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty"),
        ("user_id,item_id,value\nu1,i1,1\nu1,i2,oops\n", "value is not a number"),
        ("user_id,item_id\nu1,i1\n", "no held-out interactions"),
    ],
)
def test_evaluate_empty_or_malformed_data(tmp_path, content, message):
    path = tmp_path / "data.csv"
    path.write_text(content)
    with pytest.raises(CommandError, match=message):
        call_command("evaluate_recommenders", "--data", str(path), "--models", "popular")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--model", "wizard"], "unknown model 'wizard'; known models: popular"),
        (["--model", "popular", "--k", "-1"], "--k must be a positive integer"),
        (["--model", "item_cf", "--param", "colour=red"], "unknown parameter"),
        (["--model", "item_cf", "--param", "neighbours"], "expected name=value"),
    ],
)
def test_recommend_offline_bad_arguments(planted_csv, tmp_path, arguments, message):
    options = {"--train": str(planted_csv), "--k": "5", "--out": str(tmp_path / "r.tsv")}
    for flag in arguments[::2]:
        options.pop(flag, None)
    flat = [part for pair in options.items() for part in pair]
    with pytest.raises(CommandError, match=message):
        call_command("recommend_offline", *flat, *arguments)
    assert not (tmp_path / "r.tsv").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "empty"), ("a,b,c,d,e\n1,2,3,4,5\n", "expected a header")],
)
def test_recommend_offline_empty_or_malformed_file(tmp_path, content, message):
    path = tmp_path / "train.csv"
    path.write_text(content)
    with pytest.raises(CommandError, match=message):
        call_command("recommend_offline", "--model", "popular", "--train", str(path),
                     "--k", "5", "--out", str(tmp_path / "r.tsv"))  # fmt: skip


def test_recommend_offline_missing_train_file(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        call_command("recommend_offline", "--model", "popular", "--k", "5",
                     "--train", str(tmp_path / "no.csv"), "--out", str(tmp_path / "r"))  # fmt: skip


@pytest.mark.parametrize("model", ["two_tower", "pipeline"])
def test_models_with_side_features_train_on_interactions_alone(planted_csv, tmp_path, model):
    """A ratings file alone (no user attributes, no item features): two-tower and pipeline
    train and answer like every other model (they crashed with ``step must be nonzero``)."""
    out = tmp_path / "recs.tsv"
    call_command("recommend_offline", "--model", model, "--train", str(planted_csv),
                 "--k", "5", "--out", str(out))  # fmt: skip

    lists = read_lists(out)
    seen = training_items(planted_csv)
    assert set(lists) == set(seen)
    for user, items in lists.items():
        assert len(items) == len(set(items)) == 5
        assert not set(items) & seen[user]
