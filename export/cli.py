"""``edgevision export MODEL -o out.tflite``: a trained run to TFLite with metadata and a report."""

from __future__ import annotations

import logging
from pathlib import Path

import click
import numpy as np

from edgevision.errors import UsageError

log = logging.getLogger(__name__)


def _run_dir(model: Path) -> tuple[Path, Path]:
    if not model.exists():
        raise UsageError(f"{model}: not found; pass a run folder made by 'edgevision train' or its .keras file")
    if model.is_dir():
        for name in ("final.keras", "last.keras"):
            if (model / name).is_file():
                return model, model / name
        raise UsageError(f"{model}: no final.keras or last.keras in this run folder")
    if model.suffix != ".keras":
        raise UsageError(f"{model}: not a .keras model file")
    return model.parent, model


@click.command("export", help="Convert a trained model to TFLite (int8 by default) with metadata and a report.")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="The .tflite file to write.")
@click.option("--int8", "quantization", flag_value="int8", default=True, help="Full-integer int8 (default).")
@click.option("--float16", "quantization", flag_value="float16", help="float16 weights.")
@click.option("--dynamic", "quantization", flag_value="dynamic", help="Dynamic-range (int8 weights, float compute).")
@click.option("--float32", "quantization", flag_value="float32", help="No quantization.")
@click.option("--io", "io_dtype", type=click.Choice(["uint8", "int8", "float32"]), default="uint8",
              show_default=True, help="Input (and, except for SSD, output) type of an int8 model.")
@click.option("--per-tensor", is_flag=True,
              help="int8: one weight scale per tensor instead of per channel (a smaller file; check the report).")
@click.option("--per-class-nms", is_flag=True,
              help="Detection: NMS per class in the post-processing op, so an uncertain object keeps its "
                   "second-best class as a lower-scored box (higher mAP; overlapping boxes of different "
                   "classes). Default: TF's fast NMS, one class per box.")
@click.option("--calibration-images", type=click.IntRange(1), default=200, show_default=True,
              help="Training images that calibrate int8 ranges.")
@click.option("--report/--no-report", default=True, show_default=True,
              help="Write <name>.report.json/.md/.png next to the output (accuracy on the held-out split).")
@click.option("--edgetpu", is_flag=True, help="Check that every op is integer, as the Edge TPU compiler needs.")
def export(model, output, quantization, io_dtype, per_tensor, per_class_nms, calibration_images, report, edgetpu):
    from train import userdata
    from train.recipe import Recipe

    # Everything a user can get wrong is checked before TensorFlow loads.
    run_dir, keras_file = _run_dir(model)
    recipe = Recipe.load(run_dir)
    if output.suffix != ".tflite":
        raise UsageError(f"{output}: the output must end in .tflite")
    arrays, _ = userdata.read(recipe)

    from export.convert import SSDPostProcess
    from export.pipeline import ExportJob, HeldOut, edgetpu_check, export_and_report
    from train.layers import load_model

    train_set, val_set = userdata.split(arrays, recipe)
    rng = np.random.default_rng(recipe.seed)
    pick = rng.choice(len(train_set.images), min(calibration_images, len(train_set.images)), replace=False)
    postprocess = None
    custom = None
    if recipe.task == "detection":
        from train.detect import custom_objects
        from train.ssd import spec_from_json

        custom = custom_objects(len(recipe.labels))
        postprocess = SSDPostProcess(spec_from_json(recipe.size, recipe.anchors).anchors(), len(recipe.labels),
                                     use_regular_nms=per_class_nms)
    elif recipe.task == "segmentation":
        from train.segment import custom_objects

        custom = custom_objects(len(recipe.labels))
    try:
        net = load_model(keras_file, custom_objects=custom)
    except (OSError, ValueError) as exc:
        raise UsageError(f"{keras_file}: cannot load the Keras model ({str(exc).splitlines()[0]})") from None
    if recipe.task == "detection":
        from train.ssd import inference_model

        net = inference_model(net)
    elif recipe.task == "segmentation":
        from train.segment import inference_model

        net = inference_model(net, recipe.size)
    h, w = recipe.size
    heldout = HeldOut(list(val_set.images), labels=val_set.labels, masks=None if val_set.masks is None else list(val_set.masks),
                      boxes=val_set.boxes, classes=val_set.classes)
    job = ExportJob(task=recipe.task, name=output.stem, description=f"{recipe.model} {recipe.task} model, {w}x{h} input",
                    version="1.0.0", labels=recipe.labels, mean=recipe.mean, std=recipe.std,
                    representative=list(train_set.images[pick]), heldout=heldout, postprocess=postprocess,
                    grayscale=recipe.grayscale, per_channel=not per_tensor,
                    data_note=f"validation split ({len(val_set.images)} images) of {recipe.data.get('path')}")
    result = export_and_report(net, job, output, quantization, io_dtype=io_dtype,
                               report_dir=output.parent if report else None)
    click.echo(f"wrote {output} ({output.stat().st_size} bytes)", err=True)
    if edgetpu:
        check = result.report.get("edgetpu") or edgetpu_check(output.read_bytes())
        if check["all_integer"]:
            click.echo("Edge TPU check: every op is integer", err=True)
        else:
            click.echo(f"Edge TPU check: float ops remain: {', '.join(check['float_ops'])} "
                       "(export with --int8 for the Edge TPU)", err=True)
