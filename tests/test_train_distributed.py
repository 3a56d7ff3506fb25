"""Training across machines: two real ``edgevision train`` processes on loopback, joined by a
``TF_CONFIG`` as on two hosts, run ``tf.distribute.MultiWorkerMirroredStrategy`` (gradients summed
over gRPC every step). Bad cluster settings fail with one line."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from cli_runner import REPO, Completed, edgevision
from test_train_cli import _fails_cleanly, _mask_dataset, _yolo_dataset


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _tf_config(ports: list[int], index: int) -> str:
    return json.dumps({"cluster": {"worker": [f"localhost:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


def _on_workers(commands: list[list[str | Path]], timeout: float = 300) -> list[Completed]:
    """Each ``edgevision`` command in its own process, each process a worker of one cluster."""
    ports = _free_ports(len(commands))
    procs = [subprocess.Popen([sys.executable, "-m", "edgevision", *map(str, args)], cwd=REPO,
                              env={**os.environ, "TF_CONFIG": _tf_config(ports, i)},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i, args in enumerate(commands)]
    try:
        outputs = [p.communicate(timeout=timeout) for p in procs]
        return [Completed(p.returncode, *out) for p, out in zip(procs, outputs)]
    finally:
        for p in procs:
            p.kill()


def _mirrored_copy(data: Path, out: Path) -> Path:
    """The same kind of dataset with every image and mask flipped left to right."""
    for sub in ("images", "masks"):
        (out / sub).mkdir(parents=True)
        for path in (data / sub).glob("*.png"):
            cv2.imwrite(str(out / sub / path.name), cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[:, ::-1])
    (out / "classes.txt").write_text((data / "classes.txt").read_text())
    return out


def test_two_workers_train_one_segmenter(tmp_path: Path) -> None:
    """Each worker reads its own data and keeps its own run folder (as on its own disk). They end
    with the same weights to the bit, though their images differ: every step applied the
    gradients of both workers' batches. The segmenter's layers include the fused batch norm
    (``train.layers``), whose statistics stay per worker, as Keras' own layer's do."""
    from train.layers import load_model
    from train.segment import custom_objects

    data = [_mask_dataset(tmp_path / "data", n=16)]
    data.append(_mirrored_copy(data[0], tmp_path / "mirrored"))
    runs = [tmp_path / "worker0", tmp_path / "worker1"]
    results = _on_workers([["train", "segment", d, "--size", "32", "--epochs", "2", "--batch", "4", "--out", run]
                           for d, run in zip(data, runs)])
    for result in results:
        assert result.returncode == 0, result.stderr[-3000:]
        assert "strategy MultiWorkerMirroredStrategy, 2 replica(s)" in result.stderr
    weights = [[v.numpy() for v in load_model(run / "last.keras", custom_objects=custom_objects(2)).trainable_variables]
               for run in runs]
    assert len(weights[0]) > 50
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)
    losses = [[float(row["loss"]) for row in csv.DictReader((run / "history.csv").open())] for run in runs]
    assert losses[0] == losses[1] and losses[0][1] < losses[0][0]  # one loss, over both workers' batches
    assert all((run / "final.keras").is_file() for run in runs)


def _folder_dataset(root: Path) -> Path:
    rng = np.random.default_rng(2)
    for name, grey in (("dark", 40), ("light", 210)):
        (root / name).mkdir(parents=True)
        for i in range(10):
            image = np.clip(rng.normal(grey, 20, (28, 28, 3)), 0, 255).astype(np.uint8)
            cv2.imwrite(str(root / name / f"{i}.png"), image)
    return root


@pytest.mark.parametrize("task", ["classify", "detect"])
def test_two_workers_train_the_other_recipes(tmp_path: Path, task: str) -> None:
    from train import detect
    from train.layers import load_model

    if task == "classify":
        args = ["classify", _folder_dataset(tmp_path / "data"), "--recipe", "mnist-cnn", "--epochs", "2"]
        custom = None
    else:
        args = ["detect", _yolo_dataset(tmp_path / "data", n=16), "--format", "yolo", "--size", "64x96",
                "--epochs", "1", "--steps", "2"]
        custom = detect.custom_objects(1)
    runs = [tmp_path / "worker0", tmp_path / "worker1"]
    results = _on_workers([["train", *args, "--batch", "4", "--out", run] for run in runs])
    for result in results:
        assert result.returncode == 0, result.stderr[-3000:]
        assert "strategy MultiWorkerMirroredStrategy, 2 replica(s)" in result.stderr
    first, second = ([v.numpy() for v in load_model(run / "last.keras", custom_objects=custom).trainable_variables]
                     for run in runs)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


SPLIT_CPU = """
import tensorflow as tf
tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                           [tf.config.LogicalDeviceConfiguration()] * 2)
"""


def test_mirrored_strategy_on_two_devices(tmp_path: Path) -> None:
    """``--strategy mirrored`` as on a machine with two GPUs, on the CPU split in two: each step
    runs a replica of the segmenter (with its fused batch norm) per device and sums their
    gradients; the model trains and exports."""
    from edgevision.inference.modelfile import read_model_file

    run = tmp_path / "run"
    proc = edgevision("train", "segment", _mask_dataset(tmp_path / "data", n=16), "--size", "32", "--epochs", "2",
                      "--batch", "4", "--strategy", "mirrored", "--out", run, timeout=300, before=SPLIT_CPU)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "strategy MirroredStrategy, 2 replica(s)" in proc.stderr
    losses = [float(row["loss"]) for row in csv.DictReader((run / "history.csv").open())]
    assert len(losses) == 2 and losses[1] < losses[0]
    result = edgevision("export", run, "-o", tmp_path / "m.tflite", "--no-report", timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert read_model_file(tmp_path / "m.tflite").metadata.labels == ["background", "block"]


def test_time_budget_with_several_workers_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "run"
    env = {**os.environ, "TF_CONFIG": _tf_config(_free_ports(2), 0)}
    result = edgevision("train", "segment", _mask_dataset(tmp_path / "data"), "--size", "32",
                        "--time-budget", "60", "--out", out, env=env)
    _fails_cleanly(result, "--time-budget", "several workers")
    assert not out.exists()


def test_broken_tf_config(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = edgevision("train", "segment", _mask_dataset(tmp_path / "data"), "--size", "32", "--out", out,
                        env={**os.environ, "TF_CONFIG": "{'cluster': 1}"})
    _fails_cleanly(result, "TF_CONFIG", "JSON")
    assert not out.exists()
