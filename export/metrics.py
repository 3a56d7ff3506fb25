"""Accuracy measures for the export report: top-1, COCO-style mAP and mean IoU."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

COCO_IOUS = np.round(np.arange(0.5, 0.951, 0.05), 2)


def top1(predicted: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.asarray(predicted) == np.asarray(labels)))


@dataclass(frozen=True)
class ImageDetections:
    """Boxes ``[N, 4]`` as ``x1, y1, x2, y2`` (any consistent unit), scores and classes."""

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` ``[N, 4]`` with every box in ``b`` ``[M, 4]``, both corner form
    (x1, y1, x2, y2 or y1, x1, y2, x2 alike)."""
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(br - tl, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12)


def _average_precision(tp: np.ndarray, scores: np.ndarray, num_gt: int) -> float:
    """COCO's 101-point interpolated AP for one class at one IoU threshold."""
    if num_gt == 0:
        return float("nan")
    if len(tp) == 0:
        return 0.0
    order = np.argsort(-scores, kind="mergesort")
    tp = tp[order]
    ctp, cfp = np.cumsum(tp), np.cumsum(1 - tp)
    recall = ctp / num_gt
    precision = ctp / np.maximum(ctp + cfp, 1e-12)
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    points = np.linspace(0, 1, 101)
    idx = np.searchsorted(recall, points, side="left")
    return float(np.mean([precision[i] if i < len(precision) else 0.0 for i in idx]))


def mean_average_precision(predictions: list[ImageDetections], truths: list[ImageDetections],
                           num_classes: int, iou_thresholds=COCO_IOUS) -> dict[str, float]:
    """``{"mAP@0.5": ..., "mAP@0.5:0.95": ..., "AP@0.5/<class>": ...}``, greedy matching by
    score per image and class, as COCO does (without area ranges or crowd boxes)."""
    iou_thresholds = np.asarray(iou_thresholds, np.float64)
    ap = np.full((len(iou_thresholds), num_classes), np.nan)
    for c in range(num_classes):
        tps = [[] for _ in iou_thresholds]
        all_scores: list[np.ndarray] = []
        num_gt = 0
        for pred, truth in zip(predictions, truths):
            pb, ps = pred.boxes[pred.classes == c], pred.scores[pred.classes == c]
            gb = truth.boxes[truth.classes == c]
            num_gt += len(gb)
            order = np.argsort(-ps, kind="mergesort")
            pb, ps = pb[order], ps[order]
            all_scores.append(ps)
            iou = box_iou(pb, gb) if len(pb) and len(gb) else np.zeros((len(pb), len(gb)))
            for t, thr in enumerate(iou_thresholds):
                taken = np.zeros(len(gb), bool)
                hits = np.zeros(len(pb))
                for i in range(len(pb)):
                    if not len(gb):
                        break
                    cand = np.where(taken, -1.0, iou[i])
                    j = int(np.argmax(cand))
                    if cand[j] >= thr:
                        taken[j] = True
                        hits[i] = 1
                tps[t].append(hits)
        scores = np.concatenate(all_scores) if all_scores else np.zeros(0)
        for t in range(len(iou_thresholds)):
            ap[t, c] = _average_precision(np.concatenate(tps[t]) if tps[t] else np.zeros(0), scores, num_gt)
    result = {
        "mAP@0.5": float(np.nanmean(ap[0])),
        "mAP@0.5:0.95": float(np.nanmean(ap)),
    }
    for c in range(num_classes):
        result[f"AP@0.5/{c}"] = float(ap[0, c])
    return result


def confusion(predicted: np.ndarray, truth: np.ndarray, num_classes: int) -> np.ndarray:
    """``[C, C]`` pixel counts, rows truth, columns prediction."""
    idx = truth.astype(np.int64).ravel() * num_classes + predicted.astype(np.int64).ravel()
    return np.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def mean_iou(conf: np.ndarray) -> dict[str, float]:
    """mIoU over the classes that occur (in truth or prediction), and per-class IoU."""
    tp = np.diag(conf).astype(np.float64)
    union = conf.sum(0) + conf.sum(1) - tp
    iou = np.where(union > 0, tp / np.maximum(union, 1), np.nan)
    out = {"mIoU": float(np.nanmean(iou)), "pixel_accuracy": float(tp.sum() / max(conf.sum(), 1))}
    out.update({f"IoU/{c}": float(v) for c, v in enumerate(iou)})
    return out
