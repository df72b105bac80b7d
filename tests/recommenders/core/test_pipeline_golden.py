"""A pipeline saved by the earlier code loads and answers exactly as it did then.

``golden/pipeline_model`` was fitted and saved, and ``golden/pipeline_answers.json``
written, by ``golden/make_pipeline_golden.py`` with the mixin-based pipeline; this test
holds every later version of the code to the same lists (items, order and sources exactly,
scores to float32 precision) on warm users, every kind of rule, request histories, stated
preferences, demographics, context and unknown users.
"""

from __future__ import annotations

import json

import pytest

from recommenders.core.registry import load_model
from tests.recommenders.core.golden.make_pipeline_golden import ANSWERS_FILE, MODEL_FOLDER, answer


def test_a_pipeline_saved_by_the_earlier_code_answers_the_same():
    golden = json.loads(ANSWERS_FILE.read_text())
    model = load_model(MODEL_FOLDER)
    for request, expected in zip(golden["requests"], golden["answers"], strict=True):
        got = answer(model, request)
        assert [(item, source) for item, _, source in got] == [
            (item, source) for item, _, source in expected
        ], request
        assert [score for _, score, _ in got] == pytest.approx(
            [score for _, score, _ in expected], rel=1e-5, abs=1e-7
        ), request
