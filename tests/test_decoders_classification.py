"""Classification decoder on real TFLite models: logits, probabilities, background class."""

from __future__ import annotations

import numpy as np
import pytest

from model_factory import BACKGROUND_TOP, CLASS_LOGITS, DTYPES, build_model, run_model

FRAME = np.full((30, 50, 3), 128, np.uint8)


@pytest.mark.parametrize("dtype", DTYPES)
def test_logits_become_softmax_top_k(dtype: str) -> None:
    result = run_model(build_model("classification", dtype), FRAME, top_k=3)
    expected = np.exp(CLASS_LOGITS) / np.exp(CLASS_LOGITS).sum()
    order = np.argsort(-expected)[:3]
    assert result.class_ids.tolist() == order.tolist()
    np.testing.assert_allclose(result.scores, expected[order], atol=0.02)


@pytest.mark.parametrize("dtype", DTYPES)
def test_1001_classes_drop_background_and_shift_ids(dtype: str) -> None:
    """Class 0 (background, the highest score here) is never reported; ids index 1000 labels."""
    result = run_model(build_model("classification-1001", dtype), FRAME, top_k=2)
    assert result.class_ids.tolist() == [208 - 1, 13 - 1]
    assert result.scores[0] > result.scores[1] > 0


def test_1001_labels_that_name_background_keep_ids() -> None:
    result = run_model(build_model("classification-1001", "float32"), FRAME, num_labels=1001, top_k=2)
    assert result.class_ids.tolist() == [208, 13]


def test_probabilities_are_not_softmaxed_twice() -> None:
    result = run_model(build_model("classification-1001", "float32"), FRAME, top_k=1)
    logits = np.zeros(1001)
    for class_id, value in BACKGROUND_TOP.items():
        logits[class_id] = value
    probs = np.exp(logits) / np.exp(logits).sum()
    assert result.scores[0] == pytest.approx(probs[208], rel=1e-4)
