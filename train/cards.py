"""Model cards for the shipped models, filled from their export reports."""

from __future__ import annotations

from pathlib import Path

TARGETS = {
    "classification": ("top1", 0.98, 0.5),
    "detection": ("mAP@0.5", 0.90, 2.0),
    "segmentation": ("mIoU", 0.80, 2.0),
}


def _met(ok: bool) -> str:
    return "met" if ok else "**not met**"


def write_card(path: Path, title: str, summary: str, data: str, architecture: str, report: dict,
               command: str, training: dict | None, usage: str) -> None:
    """``training``: ``{"seconds", "cpu"}`` of the run that made the model, or None."""
    acc = report.get("accuracy", {})
    q = report["quantization"]
    key, floor, tolerance = TARGETS[report["task"]]
    rows = []
    for metric in [k for k in acc.get("float32", {}) if "/" not in k]:
        rows.append(f"| {metric} | {acc['float32'][metric]:.4f} | {acc[q][metric]:.4f} |")
    lat = report["latency"]
    lines = [
        f"# {title}", "",
        summary, "",
        "## Files", "",
        f"- `{report['model']}`: {q} (input {report['io_dtype']}, output {report['output_dtype']}, "
        f"{report['size_bytes'][q] / 1024:.1f} KiB; "
        f"the float32 export is {report['size_bytes']['float32'] / 1024:.1f} KiB, ratio {report['size_ratio']:.2f})",
        f"- export report: `reports/{Path(report['model']).stem}.report.md` (JSON and PNG beside it)",
        "- standard TFLite metadata: name, description, version, input normalization "
        f"(pixel - {report['normalization']['mean']}) / {report['normalization']['std']}, labels file `labels.txt`", "",
        "## Model", "", architecture, "",
        "## Data", "", data, "",
        f"## Metrics (held-out, {report.get('heldout_images', '?')} images; LiteRT, both models from the same weights)", "",
        f"| metric | float32 | {q} |", "|---|---|---|", *rows, "",
        f"Targets: {q} {key} >= {floor} -- {_met(acc[q][key] >= floor)}; within {tolerance} points of "
        f"float32 -- {_met(100 * (acc['float32'][key] - acc[q][key]) <= tolerance)}; file <= 30% of "
        f"float32 -- {_met(report['size_ratio'] <= 0.30)}; invoke >= 1.3x faster than float32 -- "
        f"{_met(report['speedup_vs_float32'] >= 1.3)}.",
        "",
        f"Invoke latency ({lat['runner']}, {lat['cpu']}, same run): "
        f"float32 {lat['float32']['median_ms']:.2f} ms, {q} {lat[q]['median_ms']:.2f} ms median "
        f"({report['speedup_vs_float32']:.2f}x).",
        f"Edge TPU check: {'every op is integer' if report['edgetpu']['all_integer'] else 'float ops: ' + ', '.join(report['edgetpu']['float_ops'])}"
        + (" (the SSD post-processing op runs on the CPU, as in every Edge TPU detector)." if report["task"] == "detection" else "."),
        "",
    ]
    if report.get("warnings"):
        lines += ["**Warnings from the export:**", *[f"- {w}" for w in report["warnings"]], ""]
    lines += [
        "## Reproduce", "",
        "```", command, "```", "",
        (f"Training took {training['seconds'] / 60:.1f} minutes on this project's CPU machine ({training['cpu']}), "
         "wall-clock from scratch, data preparation and any pretraining included." if training else ""),
        "",
        "## Use", "", usage, "",
    ]
    path.write_text("\n".join(lines).replace("\n\n\n", "\n\n"))
