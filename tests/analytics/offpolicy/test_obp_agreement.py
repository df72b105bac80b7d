"""Agreement with Open Bandit Pipeline 0.5.7 on the same logged data, to 1e-6.

obp does not install into this project's environment (it declares Python < 3.11 and pins
torch 1.12), so its numbers were computed once in a throwaway environment by
``obp_reference.py`` from the arrays of ``obp_cases.py`` and stored in
``obp_reference.json``; this test rebuilds the same arrays and compares.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from analytics.offpolicy import doubly_robust, ips, snips
from tests.analytics.offpolicy.obp_cases import CLIP, LEN_LIST, single_item_case, slate_case

REFERENCE = json.loads(Path(__file__).with_name("obp_reference.json").read_text())
TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def single():
    case = single_item_case()
    rows = np.arange(len(case["action"]))
    target = case["action_dist"][rows, case["action"], 0]
    q_logged = case["q_hat"][rows, case["action"], 0]
    q_target = (case["action_dist"][:, :, 0] * case["q_hat"][:, :, 0]).sum(axis=1)
    return case["reward"], case["pscore"], target, q_logged, q_target


def test_reference_is_obp_0_5_7():
    assert REFERENCE["obp_version"] == "0.5.7"


@pytest.mark.parametrize("clip, key", [(None, "ips"), (CLIP, "ips_clipped")])
def test_ips_matches_obp(single, clip, key):
    reward, pscore, target, _, _ = single
    assert ips(reward, pscore, target, clip=clip).value == pytest.approx(
        REFERENCE[key], abs=TOLERANCE
    )


def test_snips_matches_obp(single):
    reward, pscore, target, _, _ = single
    assert snips(reward, pscore, target).value == pytest.approx(REFERENCE["snips"], abs=TOLERANCE)


@pytest.mark.parametrize("clip, key", [(None, "dr"), (CLIP, "dr_clipped")])
def test_doubly_robust_matches_obp(single, clip, key):
    reward, pscore, target, q_logged, q_target = single
    estimate = doubly_robust(reward, pscore, target, q_logged, q_target, clip=clip)
    assert estimate.value == pytest.approx(REFERENCE[key], abs=TOLERANCE)


@pytest.mark.parametrize("estimator, key", [(ips, "iips"), (snips, "sniips")])
def test_item_position_forms_match_obp_slate_estimators(estimator, key):
    case = slate_case()
    by_slate = {k: v.reshape(-1, LEN_LIST) for k, v in case.items()}
    estimate = estimator(
        by_slate["reward"],
        by_slate["pscore_item_position"],
        by_slate["evaluation_policy_pscore_item_position"],
    )
    assert estimate.value == pytest.approx(REFERENCE[key], abs=TOLERANCE)
