"""``python manage.py evaluate_offpolicy --candidate CONFIG --logged-since YYYY-MM-DD
[--until YYYY-MM-DD] [--surface S] [--clip X] [--json OUT]``: off-policy evaluation.

Estimates the candidate configuration's CTR from the lists production served with
propensities in the window, for every estimator (DM, IIPS, SNIIPS, DR, and PI, the
pseudo-inverse slate estimator, on the Plackett-Luce lists) with its interval,
effective sample size and coverage warnings, against production's observed CTR on the same
lists (``recommenders.selectors.offpolicy``). A problem with the input (unknown candidate, no
active version, no traffic, logs without propensities) is one line and exit status 1.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommenders.selectors.offpolicy import (
    OffPolicyInputError,
    evaluate_candidate,
    parse_window,
    report_lines,
)


def _clip(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise CommandError(f"--clip: must be a number greater than 0, got {text!r}")
    return value


class Command(BaseCommand):
    help = "Estimate a candidate configuration's CTR from logged lists (off-policy)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--candidate", required=True, help="recommender configuration name")
        parser.add_argument("--logged-since", required=True, help="first day, YYYY-MM-DD (UTC)")
        parser.add_argument("--until", default=None, help="last day, inclusive (default: now)")
        parser.add_argument("--surface", default="", help="only lists served on this surface")
        parser.add_argument("--clip", default=None, help="clip importance weights at this value")
        parser.add_argument("--json", dest="json_out", help="also write the report here")

    def handle(self, *args: object, **options: object) -> None:
        clip = None if options["clip"] is None else _clip(str(options["clip"]))
        try:
            since, until = parse_window(str(options["logged_since"]), options["until"])  # type: ignore[arg-type]
            report = evaluate_candidate(
                str(options["candidate"]), since, until, str(options["surface"]), clip
            )
        except OffPolicyInputError as error:
            raise CommandError(str(error)) from error
        self.stdout.write("\n".join(report_lines(report)))
        if options["json_out"]:
            Path(str(options["json_out"])).write_text(json.dumps(report.as_dict(), indent=2))
