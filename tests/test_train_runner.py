"""A training run killed at any moment can be resumed from what it left in its run folder."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("keras")

import keras  # noqa: E402

from train.runner import resume_epoch  # noqa: E402

KILLED_WHILE_SAVING = """
import os, signal, sys
from pathlib import Path

import keras
import numpy as np

from train.runner import callbacks


class DiesOnSecondSave(keras.layers.Dense):
    '''Kills its process halfway through writing the second checkpoint, as a power cut would.'''
    saves = 0

    def save_own_variables(self, store):
        DiesOnSecondSave.saves += 1
        if DiesOnSecondSave.saves == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        super().save_own_variables(store)


model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), DiesOnSecondSave(2)])
model.compile("sgd", "mse")
x = np.ones((8, 4), np.float32)
model.fit(x, np.zeros((8, 2), np.float32), epochs=3, verbose=0, callbacks=callbacks(Path(sys.argv[1])))
"""


class DiesOnSecondSave(keras.layers.Dense):
    """The killed run's layer, to load its checkpoint."""


def test_a_run_killed_while_saving_keeps_the_previous_checkpoint(tmp_path: Path) -> None:
    """The checkpoint is never left half-written: the kill during the second epoch's save leaves
    the first epoch's checkpoint, whole, and a history that says one epoch is done."""
    run = tmp_path / "run"
    result = subprocess.run([sys.executable, "-c", KILLED_WHILE_SAVING, str(run)],
                            cwd=Path(__file__).parents[1], capture_output=True, text=True, timeout=120)
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]
    model = keras.models.load_model(run / "last.keras", custom_objects={"DiesOnSecondSave": DiesOnSecondSave},
                                    compile=False)
    assert model.predict(np.ones((1, 4), np.float32), verbose=0).shape == (1, 2)
    assert resume_epoch(run) == 1
