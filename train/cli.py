"""``edgevision train classify|detect|segment DATA``: train on your own data.

Every run folder gets ``last.keras`` (to resume), ``final.keras`` (the trained model), ``history.csv``,
TensorBoard logs, ``curves.png`` and ``recipe.json`` (what ``edgevision export`` needs).
The shipped digit models are reproduced with ``python -m train.shipped``.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click
import numpy as np

from edgevision.errors import UsageError

_common = [
    click.option("--out", "run_dir", type=click.Path(path_type=Path), required=True,
                 help="Run folder for checkpoints, logs and recipe.json; an existing run resumes."),
    click.option("--epochs", type=click.IntRange(1), default=20, show_default=True),
    click.option("--batch", type=click.IntRange(1), default=32, show_default=True),
    click.option("--validation-split", type=click.FloatRange(0, 1, min_open=True, max_open=True),
                 default=0.1, show_default=True, help="Fraction held out for validation and the export report."),
    click.option("--strategy", type=click.Choice(["auto", "default", "mirrored", "multiworker"]),
                 default="auto", show_default=True,
                 help="tf.distribute: auto picks MultiWorkerMirrored from TF_CONFIG, Mirrored for several GPUs."),
    click.option("--time-budget", type=click.FloatRange(1), default=None, help="Stop after this many seconds."),
    click.option("--seed", type=int, default=0, show_default=True),
]


class InputSize(click.ParamType):
    """``N`` for a square input or ``HxW`` (height x width), e.g. ``192x256`` for 16:9 frames:
    stretched into a square input, narrow objects lose most of their width."""

    name = "N|HxW"

    def convert(self, value, param, ctx) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value
        parts = str(value).lower().split("x")
        if len(parts) not in (1, 2) or not all(p.isdigit() and 64 <= int(p) <= 1024 for p in parts):
            self.fail(f"{value!r}: give N or HxW, each 64-1024 pixels (e.g. 192 or 192x256)", param, ctx)
        return int(parts[0]), int(parts[-1])


def common(f):
    for option in reversed(_common):
        f = option(f)
    return f


@click.group("train", help="Train a classifier, detector or segmenter (Keras on TensorFlow).")
def train() -> None:
    pass


def _start(recipe, run_dir: Path, strategy: str, time_budget: float | None):
    """Reads and checks the whole dataset before anything is written, starts the distribution
    strategy, then saves the recipe."""
    from train import runner, userdata

    if runner.several_workers(strategy) and time_budget is not None:
        raise UsageError("--time-budget: not with several workers (each would stop at its own step and "
                         "leave the others waiting); give --epochs instead")
    arrays, names = userdata.read(recipe)  # no TensorFlow (see below), so bad data fails fast
    recipe.labels = names
    if len(arrays.images) < 2:
        raise UsageError(f"{recipe.data.get('path')}: {len(arrays.images)} image(s); training needs at least 2")
    recipe.command = " ".join(shlex.quote(a) for a in ["edgevision", *sys.argv[1:]])
    train_set, val_set = userdata.split(arrays, recipe)
    runner.select_strategy(strategy)  # before any TensorFlow op: see runner.select_strategy
    recipe.save(run_dir)
    return train_set, val_set


@train.command("classify")
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--recipe", "model", type=click.Choice(["mnist-cnn", "mobilenet-v2"]), default="mobilenet-v2",
              show_default=True, help="mnist-cnn: the classic small CNN; mobilenet-v2: camera images.")
@click.option("--size", type=click.IntRange(16, 1024), default=None, help="Input size (28 for mnist-cnn, 96 otherwise).")
@click.option("--grayscale/--rgb", default=None, help="Input colour (grayscale for mnist-cnn by default).")
@common
def classify(data, model, size, grayscale, run_dir, epochs, batch, validation_split, strategy, time_budget, seed):
    """DATA is a folder with one sub-folder of images per class."""
    from train import classify as recipe_mod
    from train.recipe import Recipe

    size = size or (28 if model == "mnist-cnn" else 96)
    grayscale = (model == "mnist-cnn") if grayscale is None else grayscale
    cfg = recipe_mod.ClassifierTraining(run_dir=run_dir, recipe=model, size=size, grayscale=grayscale,
                                        batch=batch, epochs=epochs, strategy=strategy, time_budget_s=time_budget)
    recipe = Recipe("classification", model, [], (size, size), cfg.mean, cfg.std, grayscale,
                    {"format": "folder", "path": str(data)}, validation_split, seed)
    tr, va = _start(recipe, run_dir, strategy, time_budget)
    recipe_mod.train(cfg, tr.images, tr.labels, va.images, va.labels, len(recipe.labels))
    click.echo(f"trained {run_dir / 'final.keras'}; export with: edgevision export {run_dir} -o model.tflite", err=True)


@train.command("detect")
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["coco", "yolo"]), required=True,
              help="coco: DATA is the image folder, --annotations the JSON; yolo: DATA has images/ and labels/.")
@click.option("--annotations", type=click.Path(path_type=Path), default=None, help="COCO instances JSON.")
@click.option("--size", type=InputSize(), default="192", show_default=True,
              help="Input size: N (square) or HxW, e.g. 192x256 for 16:9 frames.")
@click.option("--steps", type=click.IntRange(1), default=None, help="Steps per epoch (default: one pass).")
@common
def detect_cmd(data, fmt, annotations, size, steps, run_dir, epochs, batch, validation_split, strategy, time_budget, seed):
    """An SSD-style detector; frames are stretched to the input, as SSD runtimes do."""
    from train import detect
    from train.detect import MEAN, STD
    from train.recipe import Recipe
    from train.ssd import GENERAL_LEVELS, AnchorSpec, TargetEncoder, spec_to_json

    if size[0] % 16 or size[1] % 16:
        raise UsageError(f"--size {size[0]}x{size[1]}: both sides must be multiples of 16")
    if fmt == "coco" and annotations is None:
        raise UsageError("--format coco needs --annotations FILE.json")
    spec = AnchorSpec(size, GENERAL_LEVELS)
    recipe = Recipe("detection", "ssd", [], size, MEAN, STD, False,
                    {"format": fmt, "path": str(data), "annotations": str(annotations) if annotations else None},
                    validation_split, seed, spec_to_json(spec))
    tr, va = _start(recipe, run_dir, strategy, time_budget)
    encoder = TargetEncoder(spec.anchors())

    def encode(arrays):
        return np.stack([encoder.encode(b[:, [1, 0, 3, 2]], c) for b, c in zip(arrays.boxes, arrays.classes)])

    pool = (tr.images, encode(tr).astype(np.float16))
    batch = min(batch, len(tr.images))
    val_t = encode(va)
    cfg = detect.DetectorTraining(run_dir=run_dir, num_classes=len(recipe.labels), batch=batch, epochs=epochs,
                                  steps_per_epoch=steps or max(1, len(tr.images) // batch),
                                  time_budget_s=time_budget, strategy=strategy)
    detect.train(cfg, pool, (detect.normalize(va.images), (val_t, val_t)), spec, seed=seed)
    click.echo(f"trained {run_dir / 'final.keras'}; export with: edgevision export {run_dir} -o model.tflite", err=True)


@train.command("segment")
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--size", type=click.IntRange(32, 1024), default=160, show_default=True, help="Square input size.")
@click.option("--crop", type=click.IntRange(32, 1024), default=None,
              help="Train on random square crops of this side (cheaper steps); the model still exports at --size.")
@common
def segment_cmd(data, size, crop, run_dir, epochs, batch, validation_split, strategy, time_budget, seed):
    """DATA has images/, masks/ (PNG, pixel value = class id) and classes.txt (background first)."""
    from train import segment
    from train.recipe import Recipe

    if size % 32:
        raise UsageError(f"--size {size}: must be a multiple of 32")
    if crop is not None and (crop % 32 or crop > size):
        raise UsageError(f"--crop {crop}: must be a multiple of 32 no larger than --size {size}")
    recipe = Recipe("segmentation", "fcn", [], (size, size), segment.MEAN, segment.STD, False,
                    {"format": "masks", "path": str(data)}, validation_split, seed)
    tr, va = _start(recipe, run_dir, strategy, time_budget)
    cfg = segment.SegmenterTraining(run_dir=run_dir, num_classes=len(recipe.labels), size=size, crop=crop,
                                    batch=batch, epochs=epochs, strategy=strategy, time_budget_s=time_budget)
    segment.train(cfg, (tr.images, tr.masks), (va.images, va.masks))
    click.echo(f"trained {run_dir / 'final.keras'}; export with: edgevision export {run_dir} -o model.tflite", err=True)
