"""Readers for MovieLens 100K / 1M and a generic CSV, and the builder of InteractionData.

Public functions (stable names, other apps call them)::

    read_dataset(path) -> RawDataset                 # detects the format below
    read_movielens_100k(folder) -> RawDataset        # u.data, u.item, u.user (latin-1)
    read_movielens_1m(path) -> RawDataset            # folder or a *.dat ratings file;
                                                     # movies.dat / users.dat beside it
    read_csv_interactions(path) -> RawDataset        # user_id,item_id[,value][,timestamp]
    to_interaction_data(raw, *, min_value=None, binary=False, duplicates="last")
        -> InteractionData
    load_dataset(path, **to_interaction_data_kwargs) -> InteractionData

``RawDataset.interactions`` is a DataFrame in input order with columns ``user_id``,
``item_id``, ``value`` (float, 1.0 when absent) and ``timestamp`` (unix seconds, float,
NaN when absent). MovieLens ids are int64; CSV ids are int64 when every id is an integer,
strings otherwise. ``items`` has ``item_id, title, categories`` (list of str), ``year``
(float), ``created_at`` (unix seconds or NaN); ``users`` has ``user_id`` and string
attribute columns (``gender, age, occupation, zip``). A wrong path, an empty file or a
malformed line raises :class:`DatasetFormatError` (a ValueError) naming the file.

Reference for the data: F. M. Harper and J. A. Konstan (2015), "The MovieLens Datasets:
History and Context", ACM TiiS 5(4):19.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommenders.core.base import InteractionData, ItemFeatures, UserFeatures

ML100K_GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
]  # fmt: skip
INTERACTION_COLUMNS = ["user_id", "item_id", "value", "timestamp"]


class DatasetFormatError(ValueError):
    """The path is missing or its content is not in the expected format."""


@dataclass
class RawDataset:
    """Parsed records, before indexing: what a loader stores and a model is built from."""

    interactions: pd.DataFrame
    items: pd.DataFrame | None = None
    users: pd.DataFrame | None = None
    format: str = "csv"


# --- format detection -------------------------------------------------------------------
def read_dataset(path: str | Path) -> RawDataset:
    """Read any supported format: a MovieLens folder or file, or a CSV file."""
    p = Path(path)
    if not p.exists():
        raise DatasetFormatError(f"{p}: no such file or folder")
    if p.is_dir():
        if (p / "u.data").is_file():
            return read_movielens_100k(p)
        if list(p.glob("ratings*.dat")):
            return read_movielens_1m(p)
        raise DatasetFormatError(
            f"{p}: neither a MovieLens 100K folder (u.data) nor 1M folder (ratings*.dat)"
        )
    if p.name == "u.data" or p.suffix == ".data":
        return read_movielens_100k(p.parent, ratings_file=p)
    if p.suffix == ".dat":
        return read_movielens_1m(p)
    return read_csv_interactions(p)


def load_dataset(
    path: str | Path,
    *,
    min_value: float | None = None,
    binary: bool = False,
    duplicates: Literal["last", "sum"] = "last",
) -> InteractionData:
    """``to_interaction_data(read_dataset(path), ...)``."""
    return to_interaction_data(
        read_dataset(path), min_value=min_value, binary=binary, duplicates=duplicates
    )


# --- MovieLens ----------------------------------------------------------------------------
def _read_table(path: Path, sep: str, names: list[str], *, double_colon: bool = False):
    if not path.is_file():
        raise DatasetFormatError(f"{path}: no such file")
    raw = path.read_bytes()
    if not raw.strip():
        raise DatasetFormatError(f"{path}: the file is empty")
    if double_colon:
        if b"::" not in raw[:4096]:
            raise DatasetFormatError(f"{path}: expected '::'-separated MovieLens 1M lines")
        raw = raw.replace(b"::", b"\t")
        sep = "\t"
    try:
        frame = pd.read_csv(
            io.BytesIO(raw), sep=sep, header=None, names=names, encoding="latin-1",
            quoting=csv.QUOTE_NONE, dtype=str, keep_default_na=False,
        )  # fmt: skip
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise DatasetFormatError(f"{path}: cannot parse: {error}") from error
    return frame


def _numeric(frame: pd.DataFrame, column: str, path: Path, *, integer: bool) -> pd.Series:
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() & (frame[column] != "")
    if bad.any() or (frame[column] == "").any():
        line = int(np.flatnonzero(bad | (frame[column] == ""))[0]) + 1
        raise DatasetFormatError(
            f"{path}: line {line}: {column} is not a number: {frame[column].iloc[line - 1]!r}"
        )
    if integer:
        if (values != np.floor(values)).any():
            raise DatasetFormatError(f"{path}: {column} must be an integer")
        return values.astype(np.int64)
    return values.astype(np.float64)


def _ratings(path: Path, sep: str, *, double_colon: bool = False) -> pd.DataFrame:
    frame = _read_table(path, sep, INTERACTION_COLUMNS, double_colon=double_colon)
    if frame["timestamp"].isna().any() or (frame["timestamp"] == "").all():
        raise DatasetFormatError(f"{path}: expected 4 fields: user, item, rating, timestamp")
    return pd.DataFrame(
        {
            "user_id": _numeric(frame, "user_id", path, integer=True),
            "item_id": _numeric(frame, "item_id", path, integer=True),
            "value": _numeric(frame, "value", path, integer=False),
            "timestamp": _numeric(frame, "timestamp", path, integer=False),
        }
    )


def _year(titles: pd.Series) -> pd.Series:
    return pd.to_numeric(titles.str.extract(r"\((\d{4})\)\s*$")[0], errors="coerce")


def read_movielens_100k(folder: str | Path, ratings_file: str | Path | None = None) -> RawDataset:
    """MovieLens 100K: ``u.data`` (tab-separated), ``u.item`` and ``u.user`` (``|``)."""
    folder = Path(folder)
    interactions = _ratings(Path(ratings_file or folder / "u.data"), "\t")
    items = users = None
    genre_file, item_file, user_file = folder / "u.genre", folder / "u.item", folder / "u.user"
    genres = ML100K_GENRES
    if genre_file.is_file():
        names = _read_table(genre_file, "|", ["name", "code"])
        genres = [g for g in names["name"] if g]
    if item_file.is_file():
        cols = ["item_id", "title", "release", "video", "url"] + [f"g{i}" for i in range(19)]
        table = _read_table(item_file, "|", cols)
        flags = table[[f"g{i}" for i in range(len(genres))]].to_numpy() == "1"
        released = pd.to_datetime(table["release"], format="%d-%b-%Y", errors="coerce")
        items = pd.DataFrame(
            {
                "item_id": _numeric(table, "item_id", item_file, integer=True),
                "title": table["title"],
                "categories": [[g for g, f in zip(genres, row, strict=True) if f] for row in flags],
                "year": released.dt.year.astype(float).fillna(_year(table["title"])),
                "created_at": (released - pd.Timestamp(0)).dt.total_seconds(),
            }
        )
    if user_file.is_file():
        table = _read_table(user_file, "|", ["user_id", "age", "gender", "occupation", "zip"])
        table["user_id"] = _numeric(table, "user_id", user_file, integer=True)
        users = table
    return RawDataset(interactions, items, users, format="ml-100k")


def read_movielens_1m(path: str | Path) -> RawDataset:
    """MovieLens 1M: ``UserID::MovieID::Rating::Timestamp``, with ``movies.dat``
    (``MovieID::Title (Year)::Genre|Genre``) and ``users.dat``
    (``UserID::Gender::Age::Occupation::Zip-code``) read from the same folder if present.
    ``path`` is a ratings file or a folder holding ``ratings.dat`` (else the one
    ``ratings*.dat`` there, e.g. ``ratings_ge4_complete.dat``)."""
    p = Path(path)
    if p.is_dir():
        candidates = [p / "ratings.dat"] if (p / "ratings.dat").is_file() else []
        candidates = candidates or sorted(p.glob("ratings*.dat"))
        if not candidates:
            raise DatasetFormatError(f"{p}: no ratings*.dat file")
        p = candidates[0]
    interactions = _ratings(p, "\t", double_colon=True)
    items = users = None
    movie_file, user_file = p.parent / "movies.dat", p.parent / "users.dat"
    if movie_file.is_file():
        table = _read_table(movie_file, "\t", ["item_id", "title", "genres"], double_colon=True)
        items = pd.DataFrame(
            {
                "item_id": _numeric(table, "item_id", movie_file, integer=True),
                "title": table["title"],
                "categories": [g.split("|") if g else [] for g in table["genres"]],
                "year": _year(table["title"]),
                "created_at": np.nan,
            }
        )
    if user_file.is_file():
        cols = ["user_id", "gender", "age", "occupation", "zip"]
        table = _read_table(user_file, "\t", cols, double_colon=True)
        table["user_id"] = _numeric(table, "user_id", user_file, integer=True)
        users = table
    return RawDataset(interactions, items, users, format="ml-1m")


# --- generic CSV ---------------------------------------------------------------------------
def _ids(series: pd.Series) -> pd.Series:
    as_int = pd.to_numeric(series, errors="coerce")
    if as_int.notna().all() and (as_int == np.floor(as_int)).all():
        return as_int.astype(np.int64)
    return series.astype(str)


def _timestamps(series: pd.Series, path: Path) -> pd.Series:
    """Unix seconds; entries that are not numbers are parsed as dates (UTC if naive)."""
    numbers = pd.to_numeric(series, errors="coerce").astype(np.float64)
    textual = numbers.isna()
    if textual.any():
        dates = pd.to_datetime(series[textual], errors="coerce", utc=True, format="mixed")
        if dates.isna().any():
            line = int(np.flatnonzero(textual.to_numpy())[np.flatnonzero(dates.isna())[0]]) + 2
            raise DatasetFormatError(
                f"{path}: line {line}: timestamp is neither unix seconds nor a date"
            )
        numbers[textual] = (dates - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    return numbers


def read_csv_interactions(path: str | Path) -> RawDataset:
    """A CSV with a header ``user_id,item_id[,value][,timestamp]`` (extra columns ignored),
    or without header and 2 to 4 columns in that order. ``timestamp`` is unix seconds or
    an ISO 8601 date."""
    p = Path(path)
    if not p.is_file():
        raise DatasetFormatError(f"{p}: no such file")
    if not p.read_bytes()[:1_000_000].strip():
        raise DatasetFormatError(f"{p}: the file is empty")
    try:
        frame = pd.read_csv(p, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise DatasetFormatError(f"{p}: cannot parse as CSV: {error}") from error
    columns = [str(c).strip().lower() for c in frame.columns]
    if "user_id" not in columns:
        if not 2 <= len(columns) <= 4:
            raise DatasetFormatError(
                f"{p}: expected a header user_id,item_id[,value][,timestamp] "
                f"or 2-4 columns, found {len(columns)}"
            )
        frame = pd.read_csv(
            p,
            dtype=str,
            keep_default_na=False,
            header=None,
            names=INTERACTION_COLUMNS[: len(columns)],
        )
    else:
        frame.columns = columns
        if "item_id" not in columns:
            raise DatasetFormatError(f"{p}: the header has user_id but no item_id column")
    if frame.empty:
        raise DatasetFormatError(f"{p}: no interactions")
    if ((frame["user_id"] == "") | (frame["item_id"] == "")).any():
        line = int(np.flatnonzero((frame["user_id"] == "") | (frame["item_id"] == ""))[0]) + 2
        raise DatasetFormatError(f"{p}: line {line}: empty user_id or item_id")
    out = pd.DataFrame({"user_id": _ids(frame["user_id"]), "item_id": _ids(frame["item_id"])})
    out["value"] = _numeric(frame, "value", p, integer=False) if "value" in frame else 1.0
    has_ts = "timestamp" in frame
    out["timestamp"] = _timestamps(frame["timestamp"], p) if has_ts else np.nan
    return RawDataset(out, format="csv")


# --- building InteractionData ----------------------------------------------------------------
def _deduplicate(
    users: np.ndarray, items: np.ndarray, values: np.ndarray, times: np.ndarray, n_items: int,
    duplicates: str,
) -> tuple[np.ndarray, ...]:  # fmt: skip
    """One entry per (user, item): the latest by (timestamp, row); values last or summed."""
    rows = np.arange(len(users), dtype=np.int64)
    key = users.astype(np.int64) * n_items + items
    order = np.lexsort((rows, np.nan_to_num(times, nan=-np.inf), key))
    key_sorted = key[order]
    last = np.ones(len(order), dtype=bool)
    last[:-1] = key_sorted[1:] != key_sorted[:-1]
    pick = order[last]
    kept_values = values[pick]
    if duplicates == "sum":
        first = np.flatnonzero(np.r_[True, last[:-1]])
        kept_values = np.add.reduceat(values[order], first)
    return users[pick], items[pick], kept_values, times[pick], rows[pick] + 1


def _item_features(raw: RawDataset, item_ids: np.ndarray) -> ItemFeatures | None:
    if raw.items is None:
        return None
    table = raw.items.drop_duplicates("item_id").set_index("item_id").reindex(item_ids)
    categories = [c if isinstance(c, list) else [] for c in table["categories"]]
    names = sorted({c for cats in categories for c in cats})
    position = {name: j for j, name in enumerate(names)}
    rows = np.repeat(np.arange(len(categories)), [len(c) for c in categories])
    cols = np.array([position[c] for cats in categories for c in cats], dtype=np.int64)
    onehot = sp.csr_matrix(
        (np.ones(len(cols), np.float32), (rows, cols)), shape=(len(item_ids), len(names))
    )
    return ItemFeatures(
        categories=onehot,
        category_names=names,
        texts=table["title"].fillna("").astype(str).tolist(),
        numeric=table[["year"]].to_numpy(dtype=np.float64),
        numeric_names=["year"],
        created_at=table["created_at"].to_numpy(dtype=np.float64),
    )


def _user_features(raw: RawDataset, user_ids: np.ndarray) -> UserFeatures | None:
    if raw.users is None:
        return None
    table = raw.users.drop_duplicates("user_id").set_index("user_id").reindex(user_ids)
    return UserFeatures(
        {name: table[name].fillna("").astype(str).to_numpy() for name in table.columns}
    )


def to_interaction_data(
    raw: RawDataset,
    *,
    min_value: float | None = None,
    binary: bool = False,
    duplicates: Literal["last", "sum"] = "last",
) -> InteractionData:
    """Index users and items (sorted external ids) and build the sparse matrices.

    ``min_value`` keeps only interactions with value >= it (e.g. 4 for positive ratings);
    ``binary`` sets every kept value to 1. A pair seen several times keeps its latest
    event by (timestamp, input row); its value is that event's (``duplicates="last"``,
    ratings) or the sum over its events (``"sum"``, counts). ``sequence`` holds the input
    row (1-based) of the kept event.
    """
    frame = raw.interactions
    if min_value is not None:
        frame = frame[frame["value"] >= min_value]
    if frame.empty:
        raise DatasetFormatError("no interactions left to build a matrix from")
    user_codes, user_ids = pd.factorize(frame["user_id"], sort=True)
    item_codes, item_ids = pd.factorize(frame["item_id"], sort=True)
    values = np.ones(len(frame)) if binary else frame["value"].to_numpy(np.float64)
    times = frame["timestamp"].to_numpy(np.float64)
    u, i, v, t, seq = _deduplicate(user_codes, item_codes, values, times, len(item_ids), duplicates)
    if binary:
        v = np.ones_like(v)
    shape = (len(user_ids), len(item_ids))

    def matrix(data: np.ndarray) -> sp.csr_matrix:
        return sp.csr_matrix((data, (u, i)), shape=shape)

    user_ids, item_ids = np.asarray(user_ids), np.asarray(item_ids)
    return InteractionData(
        matrix=matrix(v),
        timestamps=None if np.isnan(t).all() else matrix(np.nan_to_num(t, nan=0.0)),
        user_ids=user_ids,
        item_ids=item_ids,
        item_features=_item_features(raw, item_ids),
        user_features=_user_features(raw, user_ids),
        sequence=matrix(seq.astype(np.float64)),
    )
