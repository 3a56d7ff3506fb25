import numpy as np
import pytest

from edgevision.core import Detections, Labels, Segmentation


def make_detections(n: int) -> Detections:
    xyxy = np.arange(n * 4, dtype=np.float32).reshape(n, 4)
    return Detections(xyxy, np.linspace(0.1, 0.9, n, dtype=np.float32), np.arange(n, dtype=np.int32))


def test_boolean_indexing_keeps_rows_aligned():
    dets = make_detections(5)
    kept = dets[dets.scores > 0.5]
    assert len(kept) == 2
    assert kept.class_ids.tolist() == [3, 4]
    assert kept.xyxy.tolist() == dets.xyxy[3:].tolist()


def test_single_index_stays_two_dimensional():
    assert make_detections(3)[1].xyxy.shape == (1, 4)


def test_empty_has_zero_rows_of_the_right_shape():
    empty = Detections.empty()
    assert len(empty) == 0 and empty.xyxy.shape == (0, 4)


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError, match="scores has 2 rows"):
        Detections(np.zeros((3, 4), np.float32), np.zeros(2, np.float32), np.zeros(3, np.int32))


def test_labels_fall_back_to_the_id():
    labels = Labels({0: "cat"})
    assert labels[0] == "cat" and labels[7] == "7"


def test_area_fractions_sum_to_one():
    class_map = np.zeros((10, 10), np.int32)
    class_map[:5] = 2
    assert Segmentation(class_map, 3).area_fractions() == {0: 0.5, 2: 0.5}
