"""Recompute ``obp_reference.json`` with Open Bandit Pipeline (not a test).

obp 0.5.7 declares Python < 3.11 and pins torch 1.12, so it does not install into the
project's environment; the stored numbers came from a throwaway environment:

    python3 -m venv /tmp/obpvenv
    /tmp/obpvenv/bin/pip install --no-deps --ignore-requires-python obp==0.5.7
    /tmp/obpvenv/bin/pip install numpy scipy pandas scikit-learn matplotlib seaborn pyyaml \
        tqdm mypy-extensions torch
    PYTHONPATH=. /tmp/obpvenv/bin/python tests/analytics/offpolicy/obp_reference.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import obp
from obp.ope import (
    DoublyRobust,
    InverseProbabilityWeighting,
    SelfNormalizedInverseProbabilityWeighting,
    SelfNormalizedSlateIndependentIPS,
    SlateIndependentIPS,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from obp_cases import CLIP, LEN_LIST, single_item_case, slate_case  # noqa: E402


def main() -> None:
    single = single_item_case()
    common = {k: single[k] for k in ("reward", "action", "pscore", "action_dist")}
    q_hat = single["q_hat"]
    slate = slate_case()
    slate_args = {
        "slate_id": slate["slate_id"],
        "reward": slate["reward"],
        "position": slate["position"],
        "pscore_item_position": slate["pscore_item_position"],
        "evaluation_policy_pscore_item_position": slate["evaluation_policy_pscore_item_position"],
    }
    numbers = {
        "obp_version": obp.__version__,
        "ips": InverseProbabilityWeighting().estimate_policy_value(**common),
        "ips_clipped": InverseProbabilityWeighting(lambda_=CLIP).estimate_policy_value(**common),
        "snips": SelfNormalizedInverseProbabilityWeighting().estimate_policy_value(**common),
        "dr": DoublyRobust().estimate_policy_value(**common, estimated_rewards_by_reg_model=q_hat),
        "dr_clipped": DoublyRobust(lambda_=CLIP).estimate_policy_value(
            **common, estimated_rewards_by_reg_model=q_hat
        ),
        "iips": SlateIndependentIPS(len_list=LEN_LIST).estimate_policy_value(**slate_args),
        "sniips": SelfNormalizedSlateIndependentIPS(len_list=LEN_LIST).estimate_policy_value(
            **slate_args
        ),
    }
    numbers = {k: v if isinstance(v, str) else float(v) for k, v in numbers.items()}
    out = Path(__file__).with_name("obp_reference.json")
    out.write_text(json.dumps(numbers, indent=2) + "\n")
    print(json.dumps(numbers, indent=2))


if __name__ == "__main__":
    main()
