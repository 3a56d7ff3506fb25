"""Bad input to ``edgevision train`` and ``edgevision export``: one clear line naming the file
(and line), exit code 2, and nothing half-written. Run as a user would, in a subprocess."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from cli_runner import edgevision


def _fails_cleanly(result, *needles: str) -> str:
    lines = result.error_lines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, lines
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_missing_dataset(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = edgevision("train", "classify", tmp_path / "nope", "--out", out)
    _fails_cleanly(result, str(tmp_path / "nope"), "not found")
    assert not out.exists()


def test_empty_class_folder(tmp_path: Path) -> None:
    (tmp_path / "data" / "a").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "data" / "a" / "0.png"), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "data" / "b").mkdir()
    out = tmp_path / "run"
    _fails_cleanly(edgevision("train", "classify", tmp_path / "data", "--out", out), str(tmp_path / "data" / "b"))
    assert not out.exists()


def test_broken_yolo_line(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    cv2.imwrite(str(root / "images" / "a.png"), np.zeros((20, 20, 3), np.uint8))
    (root / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n0 0.5 oops 0.2 0.2\n")
    (root / "classes.txt").write_text("thing\n")
    out = tmp_path / "run"
    _fails_cleanly(edgevision("train", "detect", root, "--format", "yolo", "--out", out),
                   f"{root / 'labels' / 'a.txt'}:2:")
    assert not out.exists()


def test_coco_box_outside_image(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((20, 30, 3), np.uint8))
    ann = tmp_path / "instances.json"
    ann.write_text('{"images": [{"id": 1, "file_name": "a.png", "width": 30, "height": 20}],'
                   ' "annotations": [{"id": 5, "image_id": 1, "category_id": 1, "bbox": [25, 2, 10, 5]}],'
                   ' "categories": [{"id": 1, "name": "x"}]}')
    out = tmp_path / "run"
    _fails_cleanly(edgevision("train", "detect", tmp_path, "--format", "coco", "--annotations", ann, "--out", out),
                   str(ann), "annotation 5", "outside")
    assert not out.exists()


@pytest.mark.parametrize("args", [("train", "detect", ".", "--format", "voc", "--out", "x"), ("train", "track", ".")])
def test_unknown_format_or_task(args: tuple[str, ...]) -> None:
    result = edgevision(*args)
    assert result.returncode == 2 and ("voc" in result.stderr or "track" in result.stderr)


def test_export_missing_model_and_recipe(tmp_path: Path) -> None:
    _fails_cleanly(edgevision("export", tmp_path / "nope", "-o", tmp_path / "m.tflite"), str(tmp_path / "nope"))
    run = tmp_path / "run"
    run.mkdir()
    (run / "final.keras").write_bytes(b"not a model")
    _fails_cleanly(edgevision("export", run, "-o", tmp_path / "m.tflite"), "recipe.json")
    assert not (tmp_path / "m.tflite").exists()


def _yolo_dataset(root: Path, n: int = 14) -> Path:
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for i in range(n):
        image = np.full((48, 64, 3), 90, np.uint8)
        x, y = rng.integers(4, 40), rng.integers(4, 24)
        image[y:y + 20, x:x + 16] = (250, 250, 250)
        cv2.imwrite(str(root / "images" / f"{i}.png"), image)
        (root / "labels" / f"{i}.txt").write_text(f"0 {(x + 8) / 64} {(y + 10) / 48} {16 / 64} {20 / 48}\n")
    (root / "classes.txt").write_text("block\n")
    return root


def test_train_export_run_round_trip(tmp_path: Path) -> None:
    """The whole desktop path on a tiny YOLO dataset: train, export int8 with a report, read back."""
    from edgevision.inference.modelfile import read_model_file
    from export.litert import LiteModel

    data = _yolo_dataset(tmp_path / "data")
    run = tmp_path / "run"
    result = edgevision("train", "detect", data, "--format", "yolo", "--size", "64x96", "--epochs", "1",
                        "--steps", "2", "--batch", "4", "--out", run, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    for name in ("final.keras", "last.keras", "history.csv", "curves.png", "recipe.json"):
        assert (run / name).is_file(), name
    assert list((run / "tensorboard").rglob("events.out.tfevents.*")), "no TensorBoard logs"
    out = tmp_path / "block.tflite"
    result = edgevision("export", run, "-o", out, "--edgetpu", "--per-class-nms", timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Edge TPU check: every op is integer" in result.stderr
    info = read_model_file(out)
    assert info.custom_ops == ("TFLite_Detection_PostProcess",)
    assert info.op_options["TFLite_Detection_PostProcess"]["use_regular_nms"]
    assert info.metadata.labels == ["block"] and info.metadata.mean == (127.5,)
    assert LiteModel(info.content, 127.5, 127.5).input_shape == (1, 64, 96, 3)  # --size HxW
    for suffix in (".report.json", ".report.md", ".report.png"):
        assert (tmp_path / f"block{suffix}").is_file()
    report = json.loads((tmp_path / "block.report.json").read_text())
    assert (report["io_dtype"], report["output_dtype"]) == ("uint8", "float32")  # as the file has them
    assert not list(tmp_path.glob("*.part"))


def _mask_dataset(root: Path, n: int = 14) -> Path:
    """Images with one bright block each, and masks marking that block as class 1."""
    rng = np.random.default_rng(1)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        image = np.full((48, 64, 3), 60, np.uint8)
        mask = np.zeros((48, 64), np.uint8)
        x, y = rng.integers(4, 36), rng.integers(4, 20)
        image[y:y + 20, x:x + 20] = (240, 240, 240)
        mask[y:y + 20, x:x + 20] = 1
        cv2.imwrite(str(root / "images" / f"{i}.png"), image)
        cv2.imwrite(str(root / "masks" / f"{i}.png"), mask)
    (root / "classes.txt").write_text("background\nblock\n")
    return root


@pytest.mark.parametrize("size, crop", [(32, None), (64, 32)])
def test_train_segment_export_round_trip(tmp_path: Path, size: int, crop: int | None) -> None:
    """Train a segmenter on image + mask pairs (whole, or random crops) and export it: the files
    give input-sized class maps that follow the Keras model they came from (float32 exactly; int8
    within int8 error of a one-epoch model, on average over the dataset, as a share of the scores'
    range: they are logits)."""
    from edgevision.inference.modelfile import read_model_file
    from export.litert import LiteModel
    from train.layers import load_model
    from train.segment import custom_objects, inference_model

    data = _mask_dataset(tmp_path / "data")
    run = tmp_path / "run"
    crop_option = [] if crop is None else ["--crop", crop]
    result = edgevision("train", "segment", data, "--size", size, *crop_option, "--epochs", "1", "--batch", "4",
                        "--out", run, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    trained = load_model(run / "final.keras", custom_objects=custom_objects(2))
    assert trained.input.shape[1] == (crop or size)
    net = inference_model(trained, (size, size))
    # Over every image (2% of the range when measured): one image of a one-epoch int8 model can be
    # off far more on its own.
    images = np.stack([cv2.resize(cv2.imread(str(path)), (size, size))[..., ::-1]
                       for path in sorted((data / "images").glob("*.png"))])
    expected = net.predict((images.astype(np.float32) - 127.5) / 127.5, verbose=0)
    for quantization, mean_error in (("--float32", 1e-4), ("--int8", 0.05 * np.ptp(expected))):
        out = tmp_path / f"seg{quantization}.tflite"
        result = edgevision("export", run, "-o", out, quantization, "--no-report", timeout=600)
        assert result.returncode == 0, result.stderr[-2000:]
        assert read_model_file(out).metadata.labels == ["background", "block"]
        lite = LiteModel(out.read_bytes(), 127.5, 127.5)
        assert lite.outputs[0]["shape"].tolist() == [1, size, size, 2]
        got = np.stack([lite(np.ascontiguousarray(image))[0] for image in images])
        assert np.abs(got - expected).mean() < mean_error, quantization


def test_killed_run_resumes_where_it_stopped(tmp_path: Path) -> None:
    """Killed mid-run (SIGKILL, as by a power cut), the same command carries on from the last
    finished epoch: its checkpoint, and one history with every epoch once."""
    import csv
    import signal
    import subprocess
    import sys
    import time

    from cli_runner import REPO

    data = _mask_dataset(tmp_path / "data")
    run = tmp_path / "run"
    args = ["train", "segment", str(data), "--size", "32", "--batch", "4", "--out", str(run)]
    proc = subprocess.Popen([sys.executable, "-m", "edgevision", *args, "--epochs", "200"], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    history = run / "history.csv"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and len(history.read_text().splitlines() if history.exists() else []) < 3:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(history.read_text().splitlines()) - 1
    assert 2 <= done < 200
    result = edgevision(*args, "--epochs", done + 1, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"resuming {run} after epoch {done}" in result.stderr
    assert [int(row["epoch"]) for row in csv.DictReader(history.open())] == list(range(done + 1))
    assert (run / "final.keras").is_file()


MIXED_PRECISION = """
import keras
keras.mixed_precision.set_global_policy("mixed_float16")  # what train.runner does on a GPU
"""


def test_model_trained_in_mixed_precision_exports(tmp_path: Path) -> None:
    """On a GPU the recipes train in mixed precision, and the saved model keeps its float16
    layers, which the TFLite converter refuses. Export makes a float32 copy with the same
    weights: the file gives the trained model's class map."""
    from edgevision.inference.modelfile import read_model_file
    from export.litert import LiteModel
    from train.layers import load_model
    from train.segment import custom_objects, inference_model

    data = _mask_dataset(tmp_path / "data")
    run = tmp_path / "run"
    proc = edgevision("train", "segment", data, "--size", "32", "--epochs", "2", "--batch", "4", "--out", run,
                      timeout=300, before=MIXED_PRECISION)
    assert proc.returncode == 0, proc.stderr[-2000:]
    trained = load_model(run / "final.keras", custom_objects=custom_objects(2))
    assert trained.get_layer("stem_conv").dtype_policy.compute_dtype == "float16"
    out = tmp_path / "m.tflite"
    result = edgevision("export", run, "-o", out, "--float32", "--no-report", timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    images = np.stack([cv2.resize(cv2.imread(str(p)), (32, 32))[..., ::-1]
                       for p in sorted((data / "images").glob("*.png"))])
    expected = np.asarray(inference_model(trained, (32, 32)).predict((images.astype(np.float32) - 127.5) / 127.5,
                                                                      verbose=0), np.float32)
    lite = LiteModel(out.read_bytes(), 127.5, 127.5)
    got = np.stack([lite(np.ascontiguousarray(image))[0] for image in images])
    assert read_model_file(out).metadata.labels == ["background", "block"]
    assert np.abs(got - expected).max() < 0.05 * np.ptp(expected)  # float16 against float32 arithmetic


@pytest.mark.parametrize("crop", ["48", "96"])
def test_bad_segmenter_crop(tmp_path: Path, crop: str) -> None:
    out = tmp_path / "run"
    result = edgevision("train", "segment", _mask_dataset(tmp_path / "data"), "--size", "64", "--crop", crop,
                        "--out", out)
    _fails_cleanly(result, f"--crop {crop}", "multiple of 32 no larger than --size 64")
    assert not out.exists()


@pytest.mark.parametrize("size, needle", [("192x", "192x"), ("20x256", "64-1024"), ("200x256", "multiples of 16")])
def test_bad_detector_input_size(tmp_path: Path, size: str, needle: str) -> None:
    out = tmp_path / "run"
    result = edgevision("train", "detect", _yolo_dataset(tmp_path / "data"), "--format", "yolo", "--size", size,
                        "--out", out)
    _fails_cleanly(result, "--size", needle)
    assert not out.exists()
