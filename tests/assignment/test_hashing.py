"""GrowthBook compatibility of assignment.hashing: the SDK specification's vectors, golden
numbers from the JavaScript SDK's algorithm, and scalar == vectorised properties."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assignment import hashing

CASES_PATH = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "growthbook_cases.json"
CASES = json.loads(CASES_PATH.read_text()) if CASES_PATH.exists() else None
needs_cases = pytest.mark.skipif(CASES is None, reason=f"{CASES_PATH} is absent")

# A handful of cases copied from GrowthBook's cases.json, so the test means something without
# the file.
HASH_CASES = [
    ("", "a", 1, 0.22),
    ("b", "a", 1, 0.946),
    ("asdf", "8952klfjas09ujk", 1, 0.549),
    ("seed", "a", 2, 0.0505),
    ("foo", "def", 2, 0.2019),
    ("90850943850283058242805", "123", 2, 0.7516),
    ("()**(%$##$%#$#", '___)((*":&', 2, 0.0128),
    ("abc", "def", 99, None),
]
BUCKET_CASES = [
    ([3, 0.2, [0.2, 0.3, 0.5]], [[0, 0.04], [0.2, 0.26], [0.5, 0.6]]),
    ([2, -0.2, None], [[0, 0], [0.5, 0.5]]),
    ([2, 1, [0.7, 0.6]], [[0, 0.5], [0.5, 1]]),
    ([4, 1, [0.4, 0.4, 0.2]], [[0, 0.25], [0.25, 0.5], [0.5, 0.75], [0.75, 1]]),
    ([2, 1, [0.4, 0.5999]], [[0, 0.4], [0.4, 0.9999]]),
]
CHOOSE_CASES = [
    (0.5, [[0, 0.5], [0.5, 1]], 1),
    (0.4, [[0, 0.25], [0.5, 0.75]], -1),
    (0.5, [[0, 0.5], [0.5, 0.5], [0.5, 1]], 2),
]
NAMESPACE_CASES = [
    ("1", ["namespace1", 0, 0.4], False),
    ("1", ["namespace1", 0.4, 1], True),
    ("3", ["namespace2", 0, 0.4], True),
    ("4", ["namespace2", 0.4, 1], False),
]
EQUAL_WEIGHT_CASES = [(-1, []), (0, []), (3, [0.33333333] * 3)]


def _check_hash(seed, value, version, expected):
    result = hashing.hash(seed, value, version)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected, abs=1e-9)


def _check_ranges(args, expected):
    got = hashing.get_bucket_ranges(*args)
    assert len(got) == len(expected)
    for (a, b), (c, d) in zip(got, expected, strict=True):
        assert a == pytest.approx(c, abs=1e-9) and b == pytest.approx(d, abs=1e-9)


def _check_equal(n, expected):
    assert hashing.get_equal_weights(n) == pytest.approx(expected, abs=1e-8)


@pytest.mark.parametrize(("seed", "value", "version", "expected"), HASH_CASES)
def test_hash_inline_cases(seed, value, version, expected):
    _check_hash(seed, value, version, expected)


@pytest.mark.parametrize(("args", "expected"), BUCKET_CASES)
def test_bucket_ranges_inline_cases(args, expected):
    _check_ranges(args, expected)


@pytest.mark.parametrize(("n", "ranges", "expected"), CHOOSE_CASES)
def test_choose_variation_inline_cases(n, ranges, expected):
    assert hashing.choose_variation(n, ranges) == expected


@pytest.mark.parametrize(("user_id", "namespace", "expected"), NAMESPACE_CASES)
def test_in_namespace_inline_cases(user_id, namespace, expected):
    assert hashing.in_namespace(user_id, namespace) is expected


@pytest.mark.parametrize(("n", "expected"), EQUAL_WEIGHT_CASES)
def test_equal_weights_inline_cases(n, expected):
    _check_equal(n, expected)


@needs_cases
def test_every_growthbook_hash_case():
    for seed, value, version, expected in CASES["hash"]:
        _check_hash(seed, value, version, expected)


@needs_cases
def test_every_growthbook_bucket_range_case():
    for _name, args, expected in CASES["getBucketRange"]:
        _check_ranges(args, expected)


@needs_cases
def test_every_growthbook_choose_variation_case():
    for name, n, ranges, expected in CASES["chooseVariation"]:
        assert hashing.choose_variation(n, ranges) == expected, name


@needs_cases
def test_every_growthbook_namespace_case():
    for name, user_id, namespace, expected in CASES["inNamespace"]:
        assert hashing.in_namespace(user_id, namespace) is expected, name


@needs_cases
def test_every_growthbook_equal_weights_case():
    for n, expected in CASES["getEqualWeights"]:
        _check_equal(n, expected)


# Golden numbers from GrowthBook's JavaScript algorithm run in node (charCodeAt: UTF-16 code
# units), e.g. hashFnv32a("😀") === 3409036472.
def test_fnv_over_utf16_code_units_outside_the_bmp():
    assert hashing.fnv1a32("😀") == 3409036472
    assert hashing.hash("a", "😀", 2) == pytest.approx(0.3759)
    assert hashing.hash("a", "😀", 1) == pytest.approx(0.667)
    assert hashing.hash("exp-😀", "user-é-𝄞", 2) == pytest.approx(0.6838)
    assert hashing.hash("seed", "user-é-𝄞", 1) == pytest.approx(0.888)


def test_fnv_known_values():
    # Reference values of 32-bit FNV-1a (Fowler/Noll/Vo test suite).
    assert hashing.fnv1a32("") == 0x811C9DC5
    assert hashing.fnv1a32("a") == 0xE40C292C
    assert hashing.fnv1a32("foobar") == 0xBF9CF968


def test_prefix_state_equals_full_hash():
    state = hashing.fnv1a32("exp-seed")
    assert hashing.hash_v2_with_prefix(state, "user-1") == hashing.hash("exp-seed", "user-1", 2)


text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)


@settings(max_examples=60, deadline=None)
@given(seed=text, values=st.lists(text, min_size=1, max_size=40), version=st.sampled_from([1, 2]))
def test_vectorised_hash_equals_scalar(seed, values, version):
    vector = hashing.hash_many(seed, values, version)
    scalar = [hashing.hash(seed, v, version) for v in values]
    assert vector.tolist() == pytest.approx(scalar, abs=1e-12)


def test_vectorised_hash_handles_nul_and_astral_characters():
    values = ["a\x00", "\x00", "x😀y", "plain", ""]
    assert hashing.hash_many("s", values, 2).tolist() == [hashing.hash("s", v, 2) for v in values]


def test_vectorised_hash_rejects_unknown_version():
    with pytest.raises(ValueError, match="version"):
        hashing.hash_many("s", ["a"], 3)


@settings(max_examples=60, deadline=None)
@given(
    n=st.lists(st.floats(0, 0.99999), min_size=1, max_size=50),
    weights=st.lists(st.floats(0.01, 1), min_size=1, max_size=5),
    coverage=st.floats(0, 1),
)
def test_vectorised_choice_equals_scalar(n, weights, coverage):
    total = sum(weights)
    ranges = hashing.get_bucket_ranges(len(weights), coverage, [w / total for w in weights])
    vector = hashing.choose_variation_many(np.array(n), ranges).tolist()
    assert vector == [hashing.choose_variation(x, ranges) for x in n]


@pytest.mark.parametrize(
    "module", ["assignment.hashing", "assignment.engine", "experiments.targeting"]
)
def test_pure_modules_import_no_framework(module):
    """Imported alone, a pure module loads no Django, DRF or Celery, directly or through the
    modules it imports (the import-linter purity contract checks the same statically)."""
    probe = (
        f"import sys, {module}; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'django', 'rest_framework', 'celery', 'kombu', 'config'}))"
    )
    root = Path(hashing.__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
