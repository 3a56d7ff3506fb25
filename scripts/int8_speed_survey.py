"""int8 vs float32 invoke speed of reference architectures on this machine's CPU.

Issue 3 asks for int8 at least 1.3x faster than float32. Whether that is possible depends on
the CPU's integer kernels more than on our model: this script exports a few standard shapes
(random weights; speed does not depend on them) with our own converter in both types and times
them with LiteRT's XNNPACK on one thread, interleaved, as the export report does. Figures are
written into docs/training.md.

    python scripts/int8_speed_survey.py [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import platform
from collections.abc import Callable

import numpy as np

RUNS = 200


def _plain_cnn(size: int, widths: list[int]):
    import keras
    from keras import layers

    x = inputs = keras.Input((size, size, 3))
    for i, w in enumerate(widths):
        x = layers.Conv2D(w, 3, strides=2 if i % 2 == 0 else 1, padding="same", activation="relu")(x)
    return keras.Model(inputs, layers.Conv2D(16, 1)(x))


def _separable_cnn(size: int, widths: list[int]):
    import keras
    from keras import layers

    x = inputs = keras.Input((size, size, 3))
    x = layers.Conv2D(widths[0], 3, strides=2, padding="same", activation="relu6")(x)
    for i, w in enumerate(widths[1:]):
        x = layers.DepthwiseConv2D(3, strides=2 if i % 2 == 0 else 1, padding="same", activation="relu6")(x)
        x = layers.Conv2D(w, 1, activation="relu6")(x)
    return keras.Model(inputs, layers.Conv2D(16, 1)(x))


def _mobilenet_v2(size: int, alpha: float):
    import keras

    return keras.applications.MobileNetV2(input_shape=(size, size, 3), alpha=alpha, weights=None,
                                          include_top=False)


ARCHITECTURES: dict[str, Callable] = {
    "plain CNN 32-128, 192x192": lambda: _plain_cnn(192, [32, 32, 64, 64, 128, 128]),
    "plain CNN 32-256, 192x192": lambda: _plain_cnn(192, [32, 64, 64, 128, 128, 256]),
    "MobileNet-v1-style 32-512, 192x192": lambda: _separable_cnn(192, [32, 64, 128, 128, 256, 256, 512]),
    "MobileNetV2 0.35, 192x192": lambda: _mobilenet_v2(192, 0.35),
    "MobileNetV2 1.0, 224x224": lambda: _mobilenet_v2(224, 1.0),
}


def survey() -> list[dict]:
    from export.convert import convert
    from export.litert import LiteModel, invoke_latency_ms

    rows = []
    for name, build in ARCHITECTURES.items():
        model = build()
        size = model.input_shape[1]
        rng = np.random.default_rng(0)
        calibration = [rng.uniform(-1, 1, (size, size, 3)).astype(np.float32) for _ in range(8)]
        float32 = convert(model, "float32")
        int8 = convert(model, "int8", calibration, "uint8")
        # As the export report times them: one thread each, runs interleaved.
        models = {"float32": LiteModel(float32, 127.5, 127.5), "int8": LiteModel(int8, 127.5, 127.5)}
        latency = invoke_latency_ms(models, np.zeros((size, size, 3), np.uint8), runs=RUNS)
        f_ms, q_ms = latency["float32"]["median_ms"], latency["int8"]["median_ms"]
        rows.append({"model": name, "float32_ms": f_ms, "int8_ms": q_ms, "speedup": f_ms / q_ms,
                     "float32_bytes": len(float32), "int8_bytes": len(int8), "size_ratio": len(int8) / len(float32)})
        print(f"{name:38s} float32 {f_ms:6.2f} ms  int8 {q_ms:6.2f} ms  int8 speed-up {f_ms / q_ms:4.2f}x  "
              f"size {len(int8) / len(float32):.2f}x", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    rows = survey()
    if args.json:
        from export.litert import cpu_features

        report = {"machine": platform.machine(), "cpu": cpu_features(),
                  "runner": "ai_edge_litert Interpreter, XNNPACK, 1 thread", "rows": rows}
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
