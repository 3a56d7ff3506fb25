"""The shipped models in a tool users already have: MediaPipe Tasks takes the detector and the
segmenter files unmodified, reads their metadata (labels, normalization, the order of the
detector's outputs) and finds what our runtime finds.

``scripts/test.sh`` installs MediaPipe without its dependencies: they would add
opencv-contrib-python, whose ``cv2`` clashes with opencv-python-headless. MediaPipe runs in a
child process, away from TensorFlow and LiteRT in this one.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from export.litert import LiteModel
from export.metrics import box_iou
from train.digits import LABELS, load_split
from train.scenes import SceneComposer, photos, stretch
from train.segment import SEGMENTATION_STYLE

if importlib.util.find_spec("mediapipe") is None:  # not imported here: see the docstring
    pytest.skip("mediapipe is not installed (scripts/test.sh installs it)", allow_module_level=True)

MODELS = Path(__file__).resolve().parents[1] / "models"
SEED = 515151  # held-out scenes no report or other test uses

MEDIAPIPE = r"""
import json, sys
import mediapipe as mp
from mediapipe.tasks.python import BaseOptions, vision

task, model, paths = sys.argv[1], sys.argv[2], sys.argv[3:]
base = BaseOptions(model_asset_path=model)
if task == "classify":
    with vision.ImageClassifier.create_from_options(
            vision.ImageClassifierOptions(base_options=base, max_results=1)) as classifier:
        out = []
        for path in paths:
            top = classifier.classify(mp.Image.create_from_file(path)).classifications[0].categories[0]
            out.append([top.category_name, top.score])
elif task == "detect":
    with vision.ObjectDetector.create_from_options(
            vision.ObjectDetectorOptions(base_options=base, score_threshold=0.3)) as detector:
        out = []
        for path in paths:
            found = detector.detect(mp.Image.create_from_file(path)).detections
            out.append([[d.bounding_box.origin_x, d.bounding_box.origin_y, d.bounding_box.width,
                         d.bounding_box.height, d.categories[0].category_name, d.categories[0].score] for d in found])
else:
    with vision.ImageSegmenter.create_from_options(
            vision.ImageSegmenterOptions(base_options=base, output_category_mask=True)) as segmenter:
        out = {"labels": segmenter.labels, "masks": []}
        for path in paths:
            mask = segmenter.segment(mp.Image.create_from_file(path)).category_mask.numpy_view()
            out["masks"].append(mask[..., 0].tolist() if mask.ndim == 3 else mask.tolist())
print(json.dumps(out))
"""


def _mediapipe(task: str, model: Path, images: list[np.ndarray], folder: Path) -> object:
    paths = []
    for i, image in enumerate(images):
        paths.append(folder / f"{task}{i}.png")
        cv2.imwrite(str(paths[-1]), image[..., ::-1])  # RGB scene -> BGR file
    proc = subprocess.run([sys.executable, "-c", MEDIAPIPE, task, str(model), *map(str, paths)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.splitlines()[-1])


def test_mediapipe_object_detector_runs_the_shipped_detector(tmp_path: Path) -> None:
    comp = SceneComposer(load_split("test"), photos("test"), seed=SEED)
    scenes = [comp.compose(640, 360) for _ in range(8)]
    results = _mediapipe("detect", MODELS / "digit_detector.tflite", [s.image.astype(np.uint8) for s in scenes],
                         tmp_path)
    found = truths = right = 0
    for scene, detections in zip(scenes, results):
        assert all(d[4] in LABELS for d in detections)  # names from the metadata's label file
        boxes = np.array([[x, y, x + w, y + h] for x, y, w, h, *_ in detections], np.float32).reshape(-1, 4)
        names = [d[4] for d in detections]
        iou = box_iou(scene.boxes, boxes)
        truths += len(scene.boxes)
        found += len(detections)
        for t, label in enumerate(scene.classes):
            hits = [j for j in np.flatnonzero(iou[t] >= 0.5) if names[j] == LABELS[label]]
            right += bool(hits)
    # The runtime finds about 90% of held-out digits at this threshold (docs/training.md); read in
    # any other order, MediaPipe's boxes, classes and scores would be nonsense.
    assert right / truths >= 0.8, (right, truths)
    assert found <= 1.5 * truths


def test_mediapipe_image_segmenter_draws_the_runtimes_mask(tmp_path: Path) -> None:
    path = MODELS / "digit_segmenter.tflite"
    comp = SceneComposer(load_split("test"), photos("test"), seed=SEED, style=SEGMENTATION_STYLE)
    scenes = [stretch(comp.compose(240, 240), 160, 160, with_mask=True) for _ in range(4)]
    images = [s.image.astype(np.uint8) for s in scenes]
    result = _mediapipe("segment", path, images, tmp_path)
    assert result["labels"] == ["background", *LABELS]
    ours = LiteModel(path.read_bytes(), 127.5, 127.5)
    for image, mask in zip(images, result["masks"]):
        runtime = np.argmax(ours(image)[0], axis=-1)
        mask = np.array(mask)
        assert mask.shape == runtime.shape
        assert (mask == runtime).mean() >= 0.99
        assert (runtime > 0).any() and set(np.unique(mask)) <= set(range(11))


def test_mediapipe_image_classifier_runs_an_rgb_classifier(tmp_path: Path) -> None:
    """MediaPipe's ImageClassifier takes RGB models only, so not the shipped MNIST classifier
    (28x28 grey, the issue's recipe); an RGB classifier exported by our code it takes: labels
    from the metadata, the class and score our runtime gives."""
    import keras

    from export.pipeline import ExportJob, convert_with_metadata
    from train.models import mnist_cnn

    rng = np.random.default_rng(3)
    images = [np.clip(rng.normal(grey, 25, (32, 32, 3)), 0, 255).astype(np.uint8)
              for grey in (40, 210) * 12]
    labels = np.array([0, 1] * 12)
    model = mnist_cnn(2, (32, 32, 3))  # the MNIST recipe with RGB input, as ``--rgb`` trains it
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    model.fit((np.stack(images).astype(np.float32) - 127.5) / 127.5, labels, epochs=3, batch_size=8, verbose=0)
    job = ExportJob(task="classification", name="light_or_dark", description="test", version="0.0.1",
                    labels=["dark", "light"], mean=127.5, std=127.5, representative=images)
    path = tmp_path / "light_or_dark.tflite"
    path.write_bytes(convert_with_metadata(model, job, "int8"))
    ours = LiteModel(path.read_bytes(), 127.5, 127.5)
    probes = images[:4]
    for image, (name, score) in zip(probes, _mediapipe("classify", path, probes, tmp_path)):
        probabilities = np.asarray(ours(image)[0], np.float32)
        assert name == job.labels[int(np.argmax(probabilities))]
        assert score == pytest.approx(float(probabilities.max()), abs=0.02)
