"""Registry names and errors; the core stays pure (no Django, torch or faiss at import)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from recommenders.core.registry import MODEL_NAMES, create_model, load_model, model_class

CLASSIC = ["popular", "trending", "user_cf", "item_cf", "als", "sgd_mf", "content", "ease"]
REPO = Path(__file__).resolve().parents[3]


def test_every_classic_model_is_registered_under_its_name():
    assert set(CLASSIC) <= set(MODEL_NAMES)
    for name in MODEL_NAMES:
        assert model_class(name).name == name


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown model 'nope'; known models: popular, trending"):
        create_model("nope")


def test_create_model_applies_parameters():
    assert create_model("als", factors=8).params["factors"] == 8
    with pytest.raises(ValueError, match="similarity must be one of"):
        create_model("item_cf", similarity="jaccard")


def test_load_model_refuses_a_folder_without_metadata(tmp_path):
    with pytest.raises(ValueError, match="not a saved model"):
        load_model(tmp_path)
    (tmp_path / "model.json").write_text(json.dumps({"name": "nope"}))
    with pytest.raises(ValueError, match="unknown model"):
        load_model(tmp_path)


def test_importing_the_core_imports_no_django_torch_or_faiss():
    modules = ["recommenders.core", "recommenders.core.registry", "recommenders.core.datasets",
               "recommenders.core.evaluation"]  # fmt: skip
    modules += [f"recommenders.core.models.{m}" for m in
                ("popular", "user_cf", "item_cf", "als", "sgd_mf", "content", "ease")]  # fmt: skip
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'django', 'rest_framework', 'celery', 'torch', 'faiss'})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
