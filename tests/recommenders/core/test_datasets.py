"""Readers of MovieLens 100K / 1M and CSV, and the InteractionData builder."""

from __future__ import annotations

import numpy as np
import pytest

from recommenders.core.datasets import (
    DatasetFormatError,
    load_dataset,
    read_dataset,
    to_interaction_data,
)
from tests.recommenders.core.planted import shared_data_folder

GENRES = "unknown|0\nAction|1\nAdventure|2\nAnimation|3\nChildren's|4\nComedy|5\nCrime|6\n"
GENRES += "Documentary|7\nDrama|8\nFantasy|9\nFilm-Noir|10\nHorror|11\nMusical|12\n"
GENRES += "Mystery|13\nRomance|14\nSci-Fi|15\nThriller|16\nWar|17\nWestern|18\n"


def _flags(*on: int) -> str:
    return "|".join("1" if g in on else "0" for g in range(19))


@pytest.fixture
def ml100k(tmp_path):
    folder = tmp_path / "ml-100k"
    folder.mkdir()
    (folder / "u.data").write_text("1\t10\t5\t100\n2\t10\t3\t50\n1\t20\t4\t90\n2\t30\t1\t60\n")
    (folder / "u.genre").write_text(GENRES)
    items = [
        f"10|Toy Story (1995)|01-Jan-1995||http://x|{_flags(3, 4, 5)}",
        f"20|Amélie (2001)|01-Jan-2001||http://x|{_flags(5, 14)}",
        f"30|Heat (1995)|15-Dec-1995||http://x|{_flags(1, 6)}",
    ]
    (folder / "u.item").write_bytes("\n".join(items).encode("latin-1") + b"\n")
    (folder / "u.user").write_text("1|24|M|technician|85711\n2|53|F|other|94043\n")
    return folder


@pytest.fixture
def ml1m(tmp_path):
    folder = tmp_path / "ml-1m"
    folder.mkdir()
    (folder / "ratings.dat").write_text(
        "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::1\n"
    )
    movies = (
        "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n661::Café (1996)::Animation|Musical\n"
    )
    (folder / "movies.dat").write_bytes(movies.encode("latin-1"))
    (folder / "users.dat").write_text("1::F::1::10::48067\n2::M::56::16::70072\n")
    return folder


def test_movielens_100k_ratings_items_and_users(ml100k):
    raw = read_dataset(ml100k)
    assert raw.format == "ml-100k" and len(raw.interactions) == 4
    data = to_interaction_data(raw)
    assert data.matrix.shape == (2, 3)
    assert data.matrix[0, 0] == 5 and data.timestamps[1, 2] == 60
    features = data.item_features
    assert features.texts[1] == "Amélie (2001)"  # latin-1 decoded
    assert features.category_names == [
        "Action",
        "Animation",
        "Children's",
        "Comedy",
        "Crime",
        "Romance",
    ]
    assert features.categories[0].toarray().ravel().tolist() == [0, 1, 1, 1, 0, 0]
    np.testing.assert_array_equal(features.numeric.ravel(), [1995, 2001, 1995])
    assert data.user_features.attributes["occupation"].tolist() == ["technician", "other"]


def test_movielens_1m_folder_and_file(ml1m):
    for path in (ml1m, ml1m / "ratings.dat"):
        raw = read_dataset(path)
        assert raw.format == "ml-1m" and raw.interactions["value"].tolist() == [5, 3, 4]
    data = to_interaction_data(raw, min_value=4, binary=True)
    assert data.matrix.nnz == 2 and set(data.matrix.data) == {1.0}
    np.testing.assert_array_equal(data.item_ids, [1193])
    assert "Café (1996)" in raw.items["title"].tolist()
    assert raw.items.set_index("item_id").loc[661, "categories"] == ["Animation", "Musical"]
    assert data.user_features.attributes["gender"].tolist() == ["F", "M"]


def test_csv_with_header_dates_and_string_ids(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(
        "user_id,item_id,value,timestamp\nalice,x1,2,2024-01-01T00:00:00Z\n"
        "bob,x2,1,2024-01-02T00:00:00Z\nalice,x2,1,1704153600\n"
    )
    data = load_dataset(path)
    assert data.user_ids.tolist() == ["alice", "bob"] and data.item_ids.tolist() == ["x1", "x2"]
    assert data.timestamps[0, 0] == 1704067200.0 and data.timestamps[0, 1] == 1704153600.0


def test_csv_without_header_defaults_value_to_one(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text("1,7\n2,7\n2,8\n")
    data = load_dataset(path)
    assert data.matrix.toarray().tolist() == [[1, 0], [1, 1]] and data.timestamps is None


def test_duplicates_keep_the_latest_event_or_sum(tmp_path):
    path = tmp_path / "dups.csv"
    path.write_text("user_id,item_id,value,timestamp\n1,1,5,10\n1,1,2,30\n1,1,4,30\n1,2,1,5\n")
    last = load_dataset(path)
    assert last.matrix[0, 0] == 4 and last.timestamps[0, 0] == 30  # tie at t=30: later row
    assert last.sequence[0, 0] == 3
    summed = load_dataset(path, duplicates="sum")
    assert summed.matrix[0, 0] == 11


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", "", "empty"),
        ("bad.csv", "user_id,item_id,value\n1,2,abc\n", "line 1: value is not a number"),
        ("wide.csv", "a,b,c,d,e\n1,2,3,4,5\n", "2-4 columns"),
        ("ratings.dat", "1\t2\t3\t4\n", "'::'-separated"),
        ("short.dat", "1::2::3\n", "4 fields"),
        ("u.data", "1\tx\t3\t4\n", "item_id is not a number"),
    ],
)
def test_malformed_files_raise_a_clear_error(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DatasetFormatError, match=message):
        load_dataset(path)


def test_missing_path_and_unknown_folder(tmp_path):
    with pytest.raises(ValueError, match="no such file or folder"):
        read_dataset(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="neither a MovieLens 100K"):
        read_dataset(tmp_path)


def test_min_value_filtering_everything_out_is_an_error(ml100k):
    with pytest.raises(DatasetFormatError, match="no interactions"):
        load_dataset(ml100k, min_value=6)


@pytest.mark.data
def test_real_movielens_files():
    folder = shared_data_folder()
    if not (folder / "ml-100k" / "u.data").is_file():
        pytest.skip(f"MovieLens data not found under {folder}")
    small = load_dataset(folder / "ml-100k")
    assert small.matrix.shape == (943, 1682) and small.matrix.nnz == 100_000
    assert len(small.item_features.category_names) == 19
    large = load_dataset(folder / "ml-1m" / "ratings_ge4_complete.dat")
    assert large.matrix.shape == (6038, 3533) and large.matrix.nnz == 575_281
    assert large.item_features.texts[0] == "Toy Story (1995)"
