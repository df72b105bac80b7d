"""The pipeline answers exactly as the earlier (mixin-based) code did.

``golden/pipeline_answers.json`` holds what a small pipeline, fitted (one thread, fixed seeds)
and saved by the earlier code with ``golden/make_pipeline_golden.py``, answered to requests
covering warm users, every kind of rule, request histories, stated preferences,
demographics, context and unknown users. This test fits the same model with the current code,
saves and loads it (the saved format's round trip), and holds it to the same lists: items,
order and sources exactly, scores to float32 precision. No fitted model is kept in the
repository: model artifacts are built, never committed.
"""

from __future__ import annotations

import json

import pytest

from recommenders.core.registry import load_model
from tests.recommenders.core.golden.make_pipeline_golden import (
    ANSWERS_FILE,
    answer,
    fit_golden_model,
)


def test_the_pipeline_answers_as_the_earlier_code_did(tmp_path):
    golden = json.loads(ANSWERS_FILE.read_text())
    fit_golden_model().save(tmp_path / "pipeline")
    model = load_model(tmp_path / "pipeline")
    for request, expected in zip(golden["requests"], golden["answers"], strict=True):
        got = answer(model, request)
        assert [(item, source) for item, _, source in got] == [
            (item, source) for item, _, source in expected
        ], request
        assert [score for _, score, _ in got] == pytest.approx(
            [score for _, score, _ in expected], rel=1e-5, abs=1e-7
        ), request
