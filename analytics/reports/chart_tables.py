"""Each chart's plotted series as a table, for its download link: the rows are read from the
same chart data the page draws, so the file holds exactly what the chart shows (gaps as empty
cells)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

Table = tuple[list[str], list[list[Any]]]


def effect_table(chart: dict[str, Any]) -> Table:
    """The cumulative primary effect of each treatment with its band, one row per day."""
    unit = "_pp" if chart.get("unit") == "percentage points" else ""
    header = ["day", "variant", f"effect{unit}", f"lower{unit}", f"upper{unit}"]
    rows = [
        [day, series["label"], effect, lower, upper]
        for series in chart["effect"]
        for day, effect, lower, upper in zip(
            series["days"], series["effect"], series["lower"], series["upper"], strict=True
        )
    ]
    return header, rows


def exposure_table(chart: dict[str, Any]) -> Table:
    """Users first exposed per variant and day."""
    rows = [
        [day, series["label"], users]
        for series in chart["exposures"]
        for day, users in zip(chart["days"], series["data"], strict=True)
    ]
    return ["day", "variant", "users_first_exposed"], rows


def holdout_table(line: dict[str, Any]) -> Table:
    """One metric's relative effect of everyone else against the holdout, in %."""
    rows = [[day, line["label"], r] for day, r in zip(line["days"], line["relative"], strict=True)]
    return ["day", "metric", "relative_effect_percent"], rows


def preference_table(chart: dict[str, Any]) -> Table:
    """The interleaving preference: share of decided users favouring each team, with its
    Wilson interval."""
    rows = [
        [day, f"{team} over {chart['control']}", p["share"], p["low"], p["high"]]
        for team, points in chart["series"].items()
        for day, p in zip(chart["labels"], points, strict=True)
    ]
    return ["day", "comparison", "share", "lower", "upper"], rows


def power_curve_table(chart: dict[str, Any]) -> Table:
    """The planner's power curve: power (%) against the effect on the chart's x axis."""
    rows = [[p["x"], p["y"]] for p in chart["points"]]
    return [chart["x_title"], "power_percent"], rows


def table_csv(table: Table) -> str:
    header, rows = table
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(_cells(row) for row in rows)
    return buffer.getvalue()


def _cells(row: Sequence[Any]) -> Iterable[str]:
    return ["" if value is None else repr(value) if isinstance(value, float) else str(value)
            for value in row]  # fmt: skip
