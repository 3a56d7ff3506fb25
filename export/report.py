"""The human-readable parts of the export report: Markdown and the float-vs-quantized PNG."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

PALETTE = np.array([(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
                    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 190),
                    (0, 128, 128)], np.uint8)


def _fmt(v) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def write_markdown(report: dict, path: Path) -> None:
    lines = [f"# Export report: {report['model']}", ""]
    for w in report.get("warnings", []):
        lines += [f"> **WARNING:** {w}", ""]
    lines += [f"- task: {report['task']}; quantization: {report['quantization']} "
              f"(input {report['io_dtype']}, output {report['output_dtype']})",
              f"- input normalization: (pixel - {report['normalization']['mean']}) / "
              f"{report['normalization']['std']}"]
    if report.get("data"):
        lines.append(f"- data: {report['data']}")
    sizes = report.get("size_bytes", {})
    if sizes:
        lines.append("- size: " + ", ".join(f"{k} {v / 1024:.1f} KiB" for k, v in sizes.items())
                     + f" (ratio {report['size_ratio']:.2f})")
    lat = report.get("latency", {})
    if lat:
        lines.append(f"- invoke latency ({lat['runner']} on {lat['cpu']}): " + ", ".join(
            f"{k} {v['median_ms']:.2f} ms median / {v['min_ms']:.2f} ms best"
            for k, v in lat.items() if isinstance(v, dict)))
    if "speedup_vs_float32" in report:
        lines.append(f"- speed-up against float32: {report['speedup_vs_float32']:.2f}x")
    tpu = report.get("edgetpu")
    if tpu:
        lines.append(f"- Edge TPU check: {'every op is integer' if tpu['all_integer'] else 'float ops: ' + ', '.join(tpu['float_ops'])}")
    acc = report.get("accuracy")
    if acc:
        names = list(acc)
        keys = [k for k in acc[names[0]] if "/" not in k]
        lines += ["", f"## Accuracy on {report.get('heldout_images', '?')} held-out images", "",
                  "| metric | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        lines += [f"| {k} | " + " | ".join(_fmt(acc[n][k]) for n in names) + " |" for k in keys]
        per_class = [k for k in acc[names[0]] if "/" in k]
        if per_class:
            lines += ["", "<details><summary>per class</summary>", "",
                      "| metric | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
            lines += [f"| {k} | " + " | ".join(_fmt(acc[n][k]) for n in names) + " |" for k in per_class]
            lines += ["", "</details>"]
    if report.get("samples_png"):
        lines += ["", f"![float32 vs {report['quantization']} on held-out images]({report['samples_png']})"]
    path.write_text("\n".join(lines) + "\n")


def _draw_detections(image: np.ndarray, det, labels: list[str]) -> np.ndarray:
    out = image.copy()
    h, w = out.shape[:2]
    for (x1, y1, x2, y2), c, s in zip(det.boxes, det.classes, det.scores):
        color = tuple(int(v) for v in PALETTE[int(c) % len(PALETTE)])
        p1, p2 = (int(x1 * w), int(y1 * h)), (int(x2 * w), int(y2 * h))
        cv2.rectangle(out, p1, p2, color, 2)
        cv2.putText(out, f"{labels[int(c)]} {s:.2f}", (p1[0], max(p1[1] - 3, 10)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.45, color, 1, cv2.LINE_AA)
    return out


def _panel(model, job, image: np.ndarray, size: int) -> np.ndarray:
    from export.pipeline import predict

    pred = predict(model, job.task, image)
    rgb = image if image.shape[-1] == 3 else np.repeat(image, 3, axis=-1)
    rgb = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_NEAREST if image.shape[0] < 64 else cv2.INTER_LINEAR)
    if job.task == "detection":
        return _draw_detections(rgb, pred, job.labels)
    if job.task == "segmentation":
        colors = PALETTE[np.asarray(pred) % len(PALETTE)]
        colors = cv2.resize(colors, (size, size), interpolation=cv2.INTER_NEAREST)
        fg = cv2.resize((np.asarray(pred) > 0).astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST)
        blend = np.where(fg[..., None] > 0, (0.45 * rgb + 0.55 * colors).astype(np.uint8), rgb)
        return blend
    c = int(np.argmax(pred))
    out = rgb.copy()
    cv2.putText(out, f"{job.labels[c]} {float(pred[c]):.2f}", (4, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.55,
                (255, 40, 40), 1, cv2.LINE_AA)
    return out


def write_samples(models: dict, job, path: Path, samples: int = 4, size: int = 256) -> None:
    """One row per held-out image, one column per model (float32 first)."""
    rows = []
    for image in job.heldout.images[:samples]:
        panels = []
        for name, model in models.items():
            panel = _panel(model, job, image, size)
            cv2.putText(panel, name, (4, size - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 2, cv2.LINE_AA)
            cv2.putText(panel, name, (4, size - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
            panels.append(panel)
        rows.append(np.hstack(panels))
    grid = np.vstack(rows)
    cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
