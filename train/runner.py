"""What every recipe shares: device strategy, callbacks, checkpoints and resume, curves."""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)


def several_workers(kind: str = "auto") -> bool:
    """Whether ``kind`` means training across machines: ``multiworker``, or ``auto`` with a
    ``TF_CONFIG`` that names several workers."""
    from edgevision.errors import UsageError

    try:
        config = json.loads(os.environ.get("TF_CONFIG") or "{}")
        workers = len(config.get("cluster", {}).get("worker", []))
    except (ValueError, AttributeError) as e:
        raise UsageError(f"TF_CONFIG: not a JSON object with cluster.worker addresses ({e}); "
                         "see docs/training.md") from None
    return kind == "multiworker" or (kind == "auto" and workers > 1)


@functools.cache
def select_strategy(kind: str = "auto"):
    """The ``tf.distribute`` strategy for this machine, made once per process.

    ``auto``: ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` names several workers,
    ``MirroredStrategy`` with two or more GPUs, one GPU or the CPU otherwise. ``kind`` may also
    be ``default``, ``mirrored`` or ``multiworker``. TensorFlow sets up the collective ops of
    several workers only before its first op, so the train commands call this before they read
    any data, and :func:`fit` gets the same object back.
    """
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if several_workers(kind):
        kind = "multiworker"
    elif kind == "auto":
        kind = "mirrored" if len(gpus) > 1 else "default"
    if kind == "multiworker":
        strategy = _multi_worker_strategy()
    elif kind == "mirrored":
        # One replica per GPU; without GPUs, per logical CPU (one, unless a program splits the CPU
        # into several before TensorFlow starts, as tests/test_train_distributed.py does).
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        strategy = tf.distribute.MirroredStrategy([d.name for d in devices])
    elif kind == "default":
        strategy = tf.distribute.get_strategy()
    else:
        raise ValueError(f"unknown strategy {kind!r} (auto, default, mirrored, multiworker)")
    log.info("strategy %s, %d replica(s), %d GPU(s)", type(strategy).__name__,
             strategy.num_replicas_in_sync, len(gpus))
    return strategy


def _multi_worker_strategy():
    """``tf.distribute.MultiWorkerMirroredStrategy`` whose ``reduce`` takes what Keras 3 gives it.

    Keras 3's ``fit`` fails across several workers (keras-team/keras#20585, open in Keras 3.15):
    before its first step it reduces a whole ``(x, y)`` batch in one ``reduce`` call (made for one
    distributed value; MirroredStrategy happens to accept a structure), and after each step it
    reduces the scalar losses with ``axis=0``. This reduces each tensor of a structure on its own,
    and scalars across workers only, which is what Keras means."""
    import tensorflow as tf

    class MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
        def reduce(self, reduce_op, value, axis):
            parent = super().reduce

            def one(v):
                rank = self.experimental_local_results(v)[0].shape.rank
                return parent(reduce_op, v, None if rank == 0 else axis)

            return tf.nest.map_structure(one, value)

    return MultiWorkerMirroredStrategy()


def use_mixed_precision_if_gpu() -> bool:
    """float16 compute with float32 variables on a GPU (where it helps); float32 on CPUs."""
    import keras
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        keras.mixed_precision.set_global_policy("mixed_float16")
        return True
    return False


def time_budget(seconds: float | None):
    """A Keras callback that stops training once ``seconds`` of wall time have passed."""
    import keras

    class TimeBudget(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.start = time.monotonic()

        def on_train_batch_end(self, batch, logs=None):
            if seconds is not None and time.monotonic() - self.start > seconds:
                self.model.stop_training = True

    return TimeBudget()


def checkpoint(path: Path):
    """A Keras callback that saves the model to ``path`` after every epoch, whole or not at all.

    Keras writes a ``.keras`` file in place, so a run killed mid-save (a power cut) would leave a
    truncated checkpoint that cannot be resumed; this writes a sibling file and renames it over
    ``path``, which keeps the previous epoch's checkpoint until the new one is complete."""
    import keras

    class AtomicCheckpoint(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            partial = path.with_name(f"{path.stem}.partial{path.suffix}")
            self.model.save(partial)
            os.replace(partial, path)

    return AtomicCheckpoint()


def callbacks(run_dir: Path, time_budget_s: float | None = None) -> list:
    """The checkpoint to resume from, TensorBoard logs, a CSV log and the time budget.

    The checkpoint comes before the CSV log, so a history row always has its checkpoint."""
    import keras

    run_dir.mkdir(parents=True, exist_ok=True)
    out = [
        checkpoint(run_dir / "last.keras"),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
        time_budget(time_budget_s),
    ]
    if tensorboard_available():
        out.append(keras.callbacks.TensorBoard(str(run_dir / "tensorboard"), update_freq="epoch",
                                               profile_batch=0))
    else:
        log.warning("tensorboard is not installed: no TensorBoard logs (pip install tensorboard)")
    return out


def tensorboard_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


def resume_epoch(run_dir: Path) -> int:
    """The number of epochs a previous run in ``run_dir`` completed (0 when none)."""
    history = run_dir / "history.csv"
    if not (run_dir / "last.keras").exists() or not history.exists():
        return 0
    lines = [ln for ln in history.read_text().splitlines()[1:] if ln.strip()]
    return len(lines)


def plot_curves(run_dir: Path, out: Path | None = None) -> Path:
    """Training and validation curves from ``history.csv`` as a PNG."""
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(csv.DictReader((run_dir / "history.csv").open()))
    out = out or run_dir / "curves.png"
    metrics = [k for k in rows[0] if k != "epoch" and not k.startswith("val_") and k != "learning_rate"]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3.2), squeeze=False)
    epochs = [int(r["epoch"]) + 1 for r in rows]
    for ax, name in zip(axes[0], metrics):
        ax.plot(epochs, [float(r[name]) for r in rows], label="train")
        if f"val_{name}" in rows[0]:
            ax.plot(epochs, [float(r[f"val_{name}"]) for r in rows], label="validation")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def fit(build: Callable[[], object], dataset, validation, run_dir: Path, epochs: int,
        recalibration_batches: Callable[[], object], steps_per_epoch: int | None = None,
        custom_objects: dict | None = None, strategy: str = "auto",
        time_budget_s: float | None = None, verbose: int = 1):
    """Builds and compiles the model with ``build()`` inside the distribution strategy (or
    loads ``run_dir/last.keras`` to resume) and fits it with checkpoints, logs and curves.

    Returns the last model with its batch-norm statistics recomputed over batches from
    ``recalibration_batches()`` (normalized training inputs), also saved as ``final.keras``.
    Batch-norm moving averages lag behind weights that still change fast at the end of a short
    run (inference-mode losses were twice the training-mode ones here), so validation loss in
    inference mode is no guide to a "best" checkpoint either.
    """
    from train.layers import load_model

    use_mixed_precision_if_gpu()
    dist = select_strategy(strategy)
    initial_epoch = resume_epoch(run_dir)
    with dist.scope():
        if initial_epoch:
            log.info("resuming %s after epoch %d", run_dir, initial_epoch)
            model = load_model(run_dir / "last.keras", custom_objects=custom_objects)
        else:
            model = build()
    if initial_epoch < epochs:
        model.fit(dataset, epochs=epochs, initial_epoch=initial_epoch, steps_per_epoch=steps_per_epoch,
                  validation_data=validation, verbose=verbose,
                  callbacks=callbacks(run_dir, time_budget_s=time_budget_s))
    plot_curves(run_dir)
    return finalize(run_dir, recalibration_batches(), custom_objects)


def finalize(run_dir: Path, batches, custom_objects: dict | None = None, steps: int = 40):
    """``last.keras`` with recalibrated batch-norm statistics, saved as ``final.keras``."""
    from train.layers import load_model

    model = load_model(run_dir / "last.keras", custom_objects=custom_objects)
    recalibrate_batchnorm(model, batches, steps)
    model.save(run_dir / "final.keras")
    return model


def recalibrate_batchnorm(model, batches, steps: int = 40) -> None:
    """Sets every BatchNormalization layer's moving mean and variance to the average batch
    statistics of the final weights over ``steps`` batches (normalized inputs).

    Moving averages lag behind weights that still change quickly at the end of a short
    training run; inference would then normalize with stale statistics.
    """
    import keras

    layers = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in layers]
    try:
        for k, x in zip(range(steps), batches):
            for layer in layers:
                layer.momentum = k / (k + 1.0)  # a running mean of the batch statistics
            model(x, training=True)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
