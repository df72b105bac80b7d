"""What the simulator sent and the platform acknowledged, written as it happens (JSON lines).

Every line is one fact: ``start`` (the run's parameters), ``experiment`` (the target's
key), ``exposure`` (a user the API put in
an experiment variant), ``batch`` (an event batch the platform acknowledged, with what it
adds to each variant's totals), ``unacknowledged`` (a batch whose answer never came: it may
or may not be stored; re-sending it is safe, ids are idempotency keys) and ``end``. A run that
is interrupted leaves every line it wrote, so the file says how far it got; ``Ledger.load``
sums a file back into totals.

Totals follow the report's definitions: impressions and clicks are credited to the variant
of the served list (``request_id``), conversions and watch time to the user's variant, and
only events after the user's first exposure count (pre-period events are tallied apart).
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

COUNTERS = ("impressions", "clicks", "watch_seconds", "conversions", "sessions", "abandoned")


@dataclass
class ArmTotals:
    """One variant's totals as the ledger saw them."""

    exposed: set[str] = field(default_factory=set)
    converted: set[str] = field(default_factory=set)
    counts: dict[str, float] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0.0))

    def summary(self) -> dict[str, float]:
        return {
            "exposed_users": len(self.exposed),
            "converted_users": len(self.converted),
            **self.counts,
        }


class Ledger:
    """Thread-safe totals per (experiment, variant), mirrored line by line to ``path``."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path else None
        self.arms: dict[tuple[str, str], ArmTotals] = defaultdict(ArmTotals)
        self.batches_acknowledged = 0
        self.batches_unacknowledged = 0
        self.batches_retried = 0
        self.events_sent = 0
        self.events_stored = 0
        self.duplicates_reported = 0
        self.rejected = 0
        self._lock = threading.Lock()
        self._file = self.path.open("a", encoding="utf-8") if self.path else None

    def _write(self, record: dict[str, Any]) -> None:
        if self._file is not None:
            self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
            self._file.flush()

    def start(self, **parameters: Any) -> None:
        with self._lock:
            self._write({"line": "start", "at": time.time(), **parameters})

    def target(self, experiment: str) -> None:
        """The experiment the run drives (known once the server was asked)."""
        with self._lock:
            self._write({"line": "experiment", "key": experiment})

    def exposure(self, user_id: str, experiment: str, variant: str) -> None:
        with self._lock:
            arm = self.arms[(experiment, variant)]
            if user_id not in arm.exposed:
                arm.exposed.add(user_id)
                self._write({"line": "exposure", "user": user_id, "arm": [experiment, variant]})

    def batch(
        self,
        answer: dict[str, Any],
        credits: dict[tuple[str, str], dict[str, float]],
        converted: dict[tuple[str, str], list[str]],
        *,
        sent: int,
        retried: bool,
    ) -> None:
        """An acknowledged batch (``answer``: the API's body) and what it credits."""
        with self._lock:
            self.batches_acknowledged += 1
            self.batches_retried += int(retried)
            self.events_sent += sent
            self.events_stored += int(answer.get("stored", 0))
            self.duplicates_reported += int(answer.get("duplicates", 0))
            self.rejected += len(answer.get("rejected", []))
            for key, counts in credits.items():
                for name, value in counts.items():
                    self.arms[key].counts[name] += value
            for key, users in converted.items():
                self.arms[key].converted.update(users)
            self._write(
                {
                    "line": "batch",
                    "sent": sent,
                    "stored": answer.get("stored", 0),
                    "duplicates": answer.get("duplicates", 0),
                    "rejected": len(answer.get("rejected", [])),
                    "retried": retried,
                    "credits": [[*key, counts] for key, counts in credits.items()],
                    "converted": [[*key, users] for key, users in converted.items()],
                }
            )

    def unacknowledged(self, sent: int, error: str) -> None:
        with self._lock:
            self.batches_unacknowledged += 1
            self._write({"line": "unacknowledged", "sent": sent, "error": error[:300]})

    def end(self, reason: str) -> None:
        with self._lock:
            self._write({"line": "end", "at": time.time(), "reason": reason, **self.progress()})
            if self._file is not None:
                self._file.close()
                self._file = None

    def progress(self) -> dict[str, Any]:
        return {
            "batches_acknowledged": self.batches_acknowledged,
            "batches_unacknowledged": self.batches_unacknowledged,
            "batches_retried": self.batches_retried,
            "events_sent": self.events_sent,
            "events_stored": self.events_stored,
            "duplicates_reported": self.duplicates_reported,
            "rejected": self.rejected,
        }

    def totals(self, experiment: str | None = None) -> dict[str, dict[str, float]]:
        """``{variant: {exposed_users, converted_users, impressions, clicks, ...}}``."""
        with self._lock:
            return {
                variant: arm.summary()
                for (exp, variant), arm in sorted(self.arms.items())
                if experiment is None or exp == experiment
            }

    @classmethod
    def load(cls, path: Path | str) -> Ledger:
        """Totals of a ledger file (of a finished or an interrupted run)."""
        ledger = cls(None)
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                break  # the last line of a run killed mid-write
            kind = record.get("line")
            if kind == "exposure":
                ledger.exposure(record["user"], *record["arm"])
            elif kind == "batch":
                credits = {(e, v): counts for e, v, counts in record["credits"]}
                converted = {(e, v): users for e, v, users in record["converted"]}
                answer = {
                    "stored": record["stored"],
                    "duplicates": record["duplicates"],
                    "rejected": [None] * record["rejected"],
                }
                ledger.batch(
                    answer, credits, converted, sent=record["sent"], retried=record["retried"]
                )
            elif kind == "unacknowledged":
                ledger.unacknowledged(record["sent"], record.get("error", ""))
        return ledger
