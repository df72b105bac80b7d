"""Bulk loading of the catalogue: items, user profiles and interactions.

Every loader is idempotent: items and users are upserted by external id (a reload refreshes
their metadata but never touches ``Item.is_blocked``, which belongs to the content policy),
interactions are inserted once per (user, item, kind, timestamp).

On PostgreSQL rows travel with ``COPY ... FROM STDIN`` (psycopg 3 ``cursor.copy``) into a
temporary staging table, then one ``INSERT ... SELECT ... ON CONFLICT`` moves them into
place; on other databases (SQLite, the embedded default) ``bulk_create`` in batches with
``ignore_conflicts`` / ``update_conflicts`` does the same job more slowly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
from django.db import connection, transaction
from django.utils import timezone

from recommenders.models import Interaction, Item, UserProfile

__all__ = [
    "CatalogLoadError",
    "InteractionColumns",
    "ItemRecord",
    "LoadResult",
    "UserRecord",
    "do_load_interactions",
    "do_load_items",
    "do_load_user_profiles",
]

BATCH_SIZE = 5_000
# rows per COPY chunk: bounds the text buffer built in memory
COPY_CHUNK_ROWS = 200_000
# ids per "external_id IN (...)" query: below SQLite's oldest variable limit (999)
LOOKUP_CHUNK = 900
INTERACTION_KINDS = frozenset(Interaction.Kind.values)
EXTERNAL_ID_MAX_LENGTH = Item._meta.get_field("external_id").max_length


class CatalogLoadError(ValueError):
    """Input that cannot be loaded; the message says which row or column and why."""


@dataclass(frozen=True)
class ItemRecord:
    """One item to upsert. ``created_at`` None: now for a new item, unchanged on reload."""

    external_id: str
    title: str = ""
    categories: Sequence[str] = ()
    text: str = ""
    year: int | None = None
    price: float | None = None
    attributes: dict[str, float] = field(default_factory=dict)
    creator: str = ""
    created_at: datetime | None = None


@dataclass(frozen=True)
class UserRecord:
    """One user profile to upsert. ``created_at`` None: now when new, unchanged on reload."""

    external_id: str
    age_band: str = ""
    gender: str = ""
    occupation: str = ""
    region: str = ""
    signup_context: dict[str, str] = field(default_factory=dict)
    preferences: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None


@dataclass
class InteractionColumns:
    """Interactions as parallel columns (what parsers produce, no per-row objects).

    ``user_ids``/``item_ids`` are external ids (integers are taken as their decimal
    string); ``timestamps`` unix seconds; ``values`` default to 1.0; ``kinds`` is one kind
    for every row or a column of kinds (``Interaction.Kind`` values), kept as
    ``kind_codes``, indices into :data:`KIND_ORDER`.
    """

    user_ids: Sequence[str] | np.ndarray
    item_ids: Sequence[str] | np.ndarray
    timestamps: Sequence[float] | np.ndarray
    values: Sequence[float] | np.ndarray | None = None
    kinds: str | Sequence[str] | np.ndarray = Interaction.Kind.VIEW
    kind_codes: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.user_ids = _id_column(self.user_ids)
        self.item_ids = _id_column(self.item_ids)
        self.timestamps = np.asarray(self.timestamps, dtype=np.float64)
        n_rows = len(self.user_ids)
        self.values = (
            np.ones(n_rows) if self.values is None else np.asarray(self.values, np.float64)
        )
        self.kind_codes = _kind_codes(self.kinds, n_rows)
        lengths = {len(c) for c in (self.item_ids, self.timestamps, self.values, self.kind_codes)}
        if lengths != {n_rows}:
            raise CatalogLoadError("interaction columns have different lengths")
        for name in ("timestamps", "values"):
            bad = np.flatnonzero(~np.isfinite(getattr(self, name)))
            if len(bad):
                raise CatalogLoadError(f"row {bad[0] + 1}: {name} is not a finite number")

    def __len__(self) -> int:
        return len(self.user_ids)


KIND_ORDER: tuple[str, ...] = tuple(Interaction.Kind.values)


def _id_column(ids: Sequence[str] | np.ndarray) -> np.ndarray:
    """Integer ids stay integers (fast to deduplicate); anything else becomes strings."""
    column = np.asarray(ids)
    if column.dtype.kind in "iu":
        return column.astype(np.int64)
    return column.astype(str)


def _kind_codes(kinds: str | Sequence[str] | np.ndarray, n_rows: int) -> np.ndarray:
    if isinstance(kinds, str):
        names, inverse = np.array([kinds]), np.zeros(n_rows, np.int64)
    else:
        names, inverse = np.unique(np.asarray(kinds).astype(str), return_inverse=True)
    unknown = sorted(set(names.tolist()) - INTERACTION_KINDS)
    if unknown:
        raise CatalogLoadError(
            f"unknown interaction kind(s) {unknown}; known: {sorted(INTERACTION_KINDS)}"
        )
    codes = np.array([KIND_ORDER.index(name) for name in names.tolist()], np.int16)
    return codes[inverse.reshape(-1)] if len(inverse) else np.zeros(0, np.int16)


@dataclass(frozen=True)
class LoadResult:
    """What a loader did: rows received, rows newly inserted, rows already present."""

    received: int
    inserted: int

    @property
    def already_present(self) -> int:
        return self.received - self.inserted


# --- items and users ------------------------------------------------------------------------
ITEM_FIELDS = ("title", "categories", "text", "year", "price", "attributes", "creator")
USER_FIELDS = (
    "age_band",
    "gender",
    "occupation",
    "region",
    "signup_context",
    "preferences",
)
JSON_FIELDS = frozenset({"categories", "attributes", "signup_context", "preferences"})


def do_load_items(records: Iterable[ItemRecord]) -> LoadResult:
    """Upsert items by external id (the last record of a repeated id wins).

    Never changes ``is_blocked``; keeps ``created_at`` of existing items unless the
    record gives one. Atomic: all records or none.
    """
    rows = _dedupe(records)
    return _upsert(Item, rows, ITEM_FIELDS, _item_row)


def do_load_user_profiles(records: Iterable[UserRecord]) -> LoadResult:
    """Upsert user profiles by external id (the last record of a repeated id wins). Atomic."""
    rows = _dedupe(records)
    return _upsert(UserProfile, rows, USER_FIELDS, _user_row)


def _dedupe(records: Iterable[ItemRecord | UserRecord]) -> list[Any]:
    by_id: dict[str, Any] = {}
    for record in records:
        external_id = str(record.external_id).strip()
        if not external_id:
            raise CatalogLoadError("a record has an empty external id")
        if len(external_id) > EXTERNAL_ID_MAX_LENGTH:
            raise CatalogLoadError(
                f"external id {external_id[:80]!r} is longer than {EXTERNAL_ID_MAX_LENGTH}"
            )
        if external_id != record.external_id:
            record = replace(record, external_id=external_id)
        by_id[external_id] = record
    return list(by_id.values())


def _item_row(record: ItemRecord) -> dict[str, Any]:
    price = record.price
    return {
        "title": str(record.title)[:500],
        "categories": [str(c) for c in record.categories],
        "text": str(record.text),
        "year": None if record.year is None else int(record.year),
        "price": None if price is None or math.isnan(price) else round(float(price), 2),
        "attributes": {str(k): float(v) for k, v in record.attributes.items()},
        "creator": str(record.creator)[:200],
    }


def _user_row(record: UserRecord) -> dict[str, Any]:
    return {
        "age_band": str(record.age_band)[:16],
        "gender": str(record.gender)[:16],
        "occupation": str(record.occupation)[:64],
        "region": str(record.region)[:64],
        "signup_context": dict(record.signup_context),
        "preferences": dict(record.preferences),
    }


@transaction.atomic
def _upsert(model: type, records: list[Any], fields: Sequence[str], to_row: Any) -> LoadResult:
    before = model.objects.count()
    if records:
        if connection.vendor == "postgresql":
            _upsert_postgresql(model, records, fields, to_row)
        else:
            _upsert_bulk_create(model, records, fields, to_row)
    return LoadResult(received=len(records), inserted=model.objects.count() - before)


def _upsert_bulk_create(
    model: type, records: list[Any], fields: Sequence[str], to_row: Any
) -> None:
    # one insert in record order (primary keys follow the input), then the creation times
    # given for records that already existed
    now = timezone.now()
    objects = [
        model(external_id=r.external_id, created_at=r.created_at or now, **to_row(r))
        for r in records
    ]
    model.objects.bulk_create(
        objects,
        batch_size=BATCH_SIZE,
        update_conflicts=True,
        unique_fields=["external_id"],
        update_fields=list(fields),
    )
    timed = [
        model(external_id=r.external_id, created_at=r.created_at) for r in records if r.created_at
    ]
    if timed:
        model.objects.bulk_create(
            timed,
            batch_size=BATCH_SIZE,
            update_conflicts=True,
            unique_fields=["external_id"],
            update_fields=["created_at"],
        )


def _upsert_postgresql(model: type, records: list[Any], fields: Sequence[str], to_row: Any) -> None:
    from psycopg.types.json import Jsonb

    table = connection.ops.quote_name(model._meta.db_table)
    columns = [_pg_column(model, name) for name in fields]
    names = [name for name, _ in columns]
    staging = ", ".join(
        [
            "ordinal bigserial",
            "external_id text",
            *(f"{name} {kind}" for name, kind in columns),
            "created_at timestamptz",
        ]
    )
    copied = ", ".join(["external_id", *names, "created_at"])
    assignments = "".join(f"{name} = s.{name}, " for name in names)
    inserted_columns = ", ".join(["external_id", *names, "created_at", *_pg_new_row_columns(model)])
    inserted_values = ", ".join(
        ["external_id", *names, "COALESCE(created_at, now())", *_pg_new_row_values(model)]
    )
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE catalog_staging ({staging}) ON COMMIT DROP")
        with cursor.cursor.copy(f"COPY catalog_staging ({copied}) FROM STDIN") as copy:
            for record in records:
                row = to_row(record)
                values = [Jsonb(row[f]) if f in JSON_FIELDS else row[f] for f in fields]
                copy.write_row([record.external_id, *values, record.created_at])
        cursor.execute(
            f"UPDATE {table} AS t SET {assignments}"
            "created_at = COALESCE(s.created_at, t.created_at) "
            "FROM catalog_staging AS s WHERE t.external_id = s.external_id"
        )
        cursor.execute(
            f"INSERT INTO {table} ({inserted_columns}) SELECT {inserted_values} "
            "FROM catalog_staging ORDER BY ordinal ON CONFLICT (external_id) DO NOTHING"
        )
        cursor.execute("DROP TABLE catalog_staging")


def _pg_column(model: type, name: str) -> tuple[str, str]:
    """A field's column name and its PostgreSQL type, for the staging table."""
    model_field = model._meta.get_field(name)
    return model_field.column, model_field.db_type(connection)


def _pg_new_row_columns(model: type) -> list[str]:
    """Columns a new row needs beyond the loaded ones (Django sets no database defaults)."""
    return ["is_blocked"] if model is Item else []


def _pg_new_row_values(model: type) -> list[str]:
    return ["false"] if model is Item else []


# --- interactions ---------------------------------------------------------------------------
def do_load_interactions(columns: InteractionColumns, *, create_missing: bool = True) -> LoadResult:
    """Insert interactions once per (user, item, kind, timestamp); atomic.

    Users and items are matched by external id. ``create_missing``: users and items not yet
    in the catalogue are created bare (an interactions file without a catalogue); otherwise
    their rows raise :class:`CatalogLoadError`.
    """
    n_rows = len(columns)
    if n_rows == 0:
        return LoadResult(0, 0)
    with transaction.atomic():
        user_pks = _pks_for(UserProfile, columns.user_ids, create_missing)
        item_pks = _pks_for(Item, columns.item_ids, create_missing)
        if connection.vendor == "postgresql":
            inserted = _insert_interactions_postgresql(columns, user_pks, item_pks)
        else:
            inserted = _insert_interactions_bulk_create(columns, user_pks, item_pks)
    return LoadResult(received=n_rows, inserted=inserted)


def _pks_for(model: type, external_ids: np.ndarray, create_missing: bool) -> np.ndarray:
    """Primary keys aligned with ``external_ids`` (vectorised through the unique ids)."""
    unique_values, inverse = np.unique(external_ids, return_inverse=True)
    unique_ids = [str(i) for i in unique_values.tolist()]
    _check_ids(unique_ids)
    known = _pk_map(model, unique_ids)
    missing = [i for i in unique_ids if i not in known]
    if missing:
        if not create_missing:
            label = model._meta.verbose_name
            raise CatalogLoadError(
                f"{len(missing)} unknown {label} id(s), e.g. {missing[:5]}; load them first"
            )
        now = timezone.now()
        model.objects.bulk_create(
            [model(external_id=i, created_at=now) for i in missing],
            batch_size=BATCH_SIZE,
            ignore_conflicts=True,
        )
        known.update(_pk_map(model, missing))
    pks = np.fromiter((known[i] for i in unique_ids), np.int64, len(unique_ids))
    return pks[inverse.reshape(-1)]


def _check_ids(external_ids: list[str]) -> None:
    for external_id in external_ids:
        if not external_id.strip():
            raise CatalogLoadError("an interaction has an empty user or item id")
        if len(external_id) > EXTERNAL_ID_MAX_LENGTH:
            raise CatalogLoadError(
                f"external id {external_id[:80]!r} is longer than {EXTERNAL_ID_MAX_LENGTH}"
            )


def _pk_map(model: type, external_ids: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for lo in range(0, len(external_ids), LOOKUP_CHUNK):
        chunk = external_ids[lo : lo + LOOKUP_CHUNK]
        found.update(model.objects.filter(external_id__in=chunk).values_list("external_id", "pk"))
    return found


def _insert_interactions_postgresql(
    columns: InteractionColumns, user_pks: np.ndarray, item_pks: np.ndarray
) -> int:
    """COPY the rows in binary into a staging table, then insert the new ones.

    The staging rows are fixed-width (the kind travels as a small integer), so the
    binary COPY stream is one numpy record array: no per-row Python.
    """
    table = connection.ops.quote_name(Interaction._meta.db_table)
    kinds = ", ".join(f"'{name}'" for name in KIND_ORDER)  # fixed choices, not user input
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE interaction_staging (user_id bigint, item_id bigint, "
            "kind_code smallint, value double precision, ts double precision) ON COMMIT DROP"
        )
        with cursor.cursor.copy("COPY interaction_staging FROM STDIN (FORMAT BINARY)") as copy:
            for lo in range(0, len(columns), COPY_CHUNK_ROWS):
                hi = lo + COPY_CHUNK_ROWS
                copy.write(
                    _binary_copy_rows(
                        user_pks[lo:hi],
                        item_pks[lo:hi],
                        columns.kind_codes[lo:hi],
                        columns.values[lo:hi],
                        columns.timestamps[lo:hi],
                        header=lo == 0,
                        trailer=hi >= len(columns),
                    )
                )
        # sorted by the unique key: the index is filled in order, not at random
        cursor.execute(
            f'INSERT INTO {table} (user_id, item_id, kind, value, "timestamp") '
            f"SELECT user_id, item_id, (ARRAY[{kinds}])[kind_code + 1], value, to_timestamp(ts) "
            "FROM interaction_staging ORDER BY user_id, item_id, kind_code, ts "
            'ON CONFLICT (user_id, item_id, kind, "timestamp") DO NOTHING'
        )
        inserted = cursor.rowcount
        cursor.execute("DROP TABLE interaction_staging")
    return inserted


# PostgreSQL's binary COPY format: a signature, flags and header-extension length; each row
# a field count then (length, big-endian value) per field; -1 as the trailer.
PG_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
PG_COPY_TRAILER = (-1).to_bytes(2, "big", signed=True)
PG_COPY_ROW = np.dtype(
    [
        ("n_fields", ">i2"),
        ("user_len", ">i4"),
        ("user_id", ">i8"),
        ("item_len", ">i4"),
        ("item_id", ">i8"),
        ("kind_len", ">i4"),
        ("kind_code", ">i2"),
        ("value_len", ">i4"),
        ("value", ">f8"),
        ("ts_len", ">i4"),
        ("ts", ">f8"),
    ]
)


def _binary_copy_rows(
    user_pks: np.ndarray,
    item_pks: np.ndarray,
    kind_codes: np.ndarray,
    values: np.ndarray,
    timestamps: np.ndarray,
    *,
    header: bool,
    trailer: bool,
) -> bytes:
    rows = np.empty(len(user_pks), PG_COPY_ROW)
    rows["n_fields"] = 5
    rows["user_len"] = rows["item_len"] = rows["value_len"] = rows["ts_len"] = 8
    rows["kind_len"] = 2
    rows["user_id"], rows["item_id"], rows["kind_code"] = user_pks, item_pks, kind_codes
    rows["value"], rows["ts"] = values, timestamps
    return (
        (PG_COPY_SIGNATURE if header else b"")
        + rows.tobytes()
        + (PG_COPY_TRAILER if trailer else b"")
    )


def _insert_interactions_bulk_create(
    columns: InteractionColumns, user_pks: np.ndarray, item_pks: np.ndarray
) -> int:
    before = Interaction.objects.count()
    for lo in range(0, len(columns), COPY_CHUNK_ROWS):
        hi = lo + COPY_CHUNK_ROWS
        objects = [
            Interaction(
                user_id=user_id,
                item_id=item_id,
                kind=kind,
                value=value,
                timestamp=datetime.fromtimestamp(ts, UTC),
            )
            for user_id, item_id, kind, value, ts in zip(
                user_pks[lo:hi].tolist(),
                item_pks[lo:hi].tolist(),
                [KIND_ORDER[code] for code in columns.kind_codes[lo:hi].tolist()],
                columns.values[lo:hi].tolist(),
                columns.timestamps[lo:hi].tolist(),
                strict=True,
            )
        ]
        Interaction.objects.bulk_create(objects, batch_size=BATCH_SIZE, ignore_conflicts=True)
    return Interaction.objects.count() - before
