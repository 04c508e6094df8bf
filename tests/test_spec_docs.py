"""The study-file guide's examples are valid studies, and the generated reference is current."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sweeplab.spec import docgen
from sweeplab.spec.expand import study_from_text

DOCS = Path(__file__).resolve().parent.parent / "docs"
GUIDE = (DOCS / "study-file.md").read_text(encoding="utf-8")
EXAMPLES = [b for b in re.findall(r"```toml\n(.*?)```", GUIDE, re.S) if "[study]" in b]
# trial counts the guide states for its examples, by study name
COUNTS = {"quickstart": 18, "dnn-grid-search": 300, "single-neuron-batch-size": 15,
          "vanishing-gradients": 12, "permuted-pixels": 12, "data-size-and-augmentation": 60,
          "tell-the-time": 1}


@pytest.mark.parametrize("text", EXAMPLES, ids=[re.search(r'name = "(.*?)"', b).group(1) for b in EXAMPLES])
def test_guide_example_is_a_valid_study(text):
    s = study_from_text(text, "example.toml")
    assert len(s.trials) == COUNTS[s.name]


def test_guide_has_the_examples():
    assert len(EXAMPLES) == len(COUNTS)


def test_generated_reference_is_current():
    path = DOCS / "reference" / "study-file.md"
    assert path.read_text(encoding="utf-8") == docgen.render(), \
        "docs/reference/study-file.md is stale: run python -m sweeplab.spec.docgen"
    for field in ("batch_size", "cross_validation", "validation_split", "early_stopping", "loss_weight"):
        assert f"`{field}`" in path.read_text(encoding="utf-8")
