"""The evaluate stage: a trained variant on the test split, against full-resolution ground truth.

Predictions are converted to metres (``m / pred``), upsampled to the ground-truth size (480x640 for NYU),
clipped to ``[min_depth, max_depth]``, optionally averaged with their horizontally flipped twin, and scored
per image with :func:`depthpipe.metrics.depth_metrics` (Eigen crop by default), then averaged over images.
A mean-depth baseline (the train split's mean depth everywhere) is scored the same way, so every number
has its floor beside it. The semantic branch adds mIoU and pixel accuracy over the 40 classes.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Mapping

import h5py
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from depthpipe import tracking
from depthpipe.checkpoint import load_trained
from depthpipe.errors import DepthpipeError
from depthpipe.io import sha256_file, write_json_atomic, write_text_atomic
from depthpipe.metrics import (
    average_metrics, depth_metrics, miou_from_confusion, pixel_accuracy_from_confusion,
    segmentation_confusion, valid_mask,
)
from depthpipe.models import to_metres
from depthpipe.config import EvaluateConfig, flatten
from depthpipe.viz import prediction_grid

@torch.no_grad()
def predict_full(model: torch.nn.Module, rgb: np.ndarray, full_size: tuple[int, int], max_depth: float,
                 min_depth: float, clip: tuple[float, float], flip_tta: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Depth in metres at ``full_size`` and, for the booster, 40-class labels (1..40) at ``full_size``.

    ``rgb`` (B,H,W,3) uint8 at the model input size -> ((B,Hf,Wf) float32, (B,Hf,Wf) uint8 | None).
    """
    x = torch.from_numpy(rgb).permute(0, 3, 1, 2).float().div_(255.0)
    out = model(x)
    depth = to_metres(out["depth"].float(), max_depth, min_depth)
    sem = out.get("semantic")
    if flip_tta:
        out_f = model(x.flip(-1))
        depth = 0.5 * (depth + to_metres(out_f["depth"].float(), max_depth, min_depth).flip(-1))
        if sem is not None:
            sem = 0.5 * (sem.float().softmax(1) + out_f["semantic"].float().softmax(1).flip(-1))
    depth = F.interpolate(depth, size=full_size, mode="bilinear", align_corners=False).clamp_(*clip)
    labels = None
    if sem is not None:
        labels = np.stack([
            (F.interpolate(s[None].float(), size=full_size, mode="bilinear", align_corners=False).argmax(1)[0] + 1)
            .to(torch.uint8).numpy() for s in sem
        ])
    return depth[:, 0].numpy(), labels


def error_by_depth(pred: list[np.ndarray], gt: list[np.ndarray], bins: list[float]) -> list[dict[str, Any]]:
    """Mean absolute error, abs_rel and pixel count per ground-truth depth bin, over all valid pixels."""
    p = np.concatenate([x.ravel() for x in pred])
    g = np.concatenate([x.ravel() for x in gt])
    rows = []
    for lo, hi in zip(bins, bins[1:]):
        sel = (g > lo) & (g <= hi)
        n = int(sel.sum())
        rows.append({
            "depth_bin": f"{lo:g}-{hi:g}", "depth_mid": (lo + hi) / 2, "pixels": n,
            "mae": float(np.abs(p[sel] - g[sel]).mean()) if n else float("nan"),
            "abs_rel": float((np.abs(p[sel] - g[sel]) / g[sel]).mean()) if n else float("nan"),
        })
    return rows


def _csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    return buf.getvalue()


def evaluate_variant(variant: str, cfg: EvaluateConfig, model_dir: Path, prepared_dir: Path,
                     metrics_path: Path, report_dir: Path, progress: bool = True) -> dict[str, Any]:
    """Score ``variant`` on the test split; writes metrics JSON, per-frame CSV, error-by-depth CSV and a grid PNG."""
    ep = cfg.model_dump()
    torch.manual_seed(0)
    model, config = load_trained(model_dir)
    if config["variant"] != variant:
        raise DepthpipeError(f"{model_dir}/config.json: holds variant '{config['variant']}', expected '{variant}'")
    test_h5, train_h5 = prepared_dir / "test.h5", prepared_dir / "train.h5"
    for p in (test_h5, train_h5):
        if not p.exists():
            raise DepthpipeError(f"{p}: prepared data not found (run `dvc repro prepare`)")
    with h5py.File(train_h5, "r") as f:
        mean_depth = float(f.attrs["mean_depth"])
    lo, hi = float(ep["min_depth"]), float(ep["max_depth"])
    per_frame: list[dict[str, Any]] = []
    model_m: list[dict[str, float]] = []
    base_m: list[dict[str, float]] = []
    preds_valid, gts_valid = [], []
    conf = None
    grid_n = int(ep.get("grid_frames", 4))
    grid: dict[str, list[np.ndarray]] = {"rgb": [], "gt": [], "pred": []}
    with h5py.File(test_h5, "r") as f:
        for key in ("rgb", "depth_full", "index"):
            if key not in f:
                raise DepthpipeError(f"{test_h5}: missing key '{key}'")
        n = int(f["rgb"].shape[0])
        full_size = tuple(int(v) for v in f["depth_full"].shape[1:])
        has_labels = "label_full" in f
        bs = int(ep["batch_size"])
        for start in tqdm(range(0, n, bs), desc=f"evaluate {variant}", unit="batch", disable=not progress):
            stop = min(n, start + bs)
            rgb = f["rgb"][start:stop]
            gt = f["depth_full"][start:stop]
            idx = f["index"][start:stop]
            pred, labels = predict_full(model, rgb, full_size, config["max_depth"], config["min_depth"], (lo, hi),
                                        bool(ep["flip_tta"]))
            for j in range(stop - start):
                valid = valid_mask(gt[j], lo, hi, ep["crop"])
                if not valid.any():
                    raise DepthpipeError(f"{test_h5}: test frame {int(idx[j])} has no valid ground-truth pixel in the crop")
                m = depth_metrics(pred[j], gt[j], min_depth=lo, max_depth=hi, crop=ep["crop"])
                b = depth_metrics(np.full_like(gt[j], mean_depth), gt[j], min_depth=lo, max_depth=hi, crop=ep["crop"])
                model_m.append(m)
                base_m.append(b)
                row = {"position": start + j, "nyu_index": int(idx[j]), **m, **{f"baseline_{k}": v for k, v in b.items()}}
                preds_valid.append(pred[j][valid])
                gts_valid.append(gt[j][valid])
                if labels is not None and has_labels:
                    gl = f["label_full"][start + j]
                    c = segmentation_confusion(labels[j], gl, num_classes=int(config["model"].get("num_classes", 40)))
                    conf = c if conf is None else conf + c
                    row["pixel_acc"] = pixel_accuracy_from_confusion(c)
                per_frame.append(row)
                if len(grid["rgb"]) < grid_n:
                    grid["rgb"].append(f["rgb"][start + j] if full_size == rgb.shape[1:3] else _upsample_rgb(rgb[j], full_size))
                    grid["gt"].append(gt[j])
                    grid["pred"].append(pred[j])

    metrics: dict[str, Any] = {k: round(v, 6) for k, v in average_metrics(model_m).items()}
    metrics["baseline"] = {k: round(v, 6) for k, v in average_metrics(base_m).items()}
    metrics["baseline"]["mean_depth"] = round(mean_depth, 6)
    metrics["frames"] = len(per_frame)
    if conf is not None:
        metrics["miou"] = round(miou_from_confusion(conf), 6)
        metrics["pixel_acc"] = round(pixel_accuracy_from_confusion(conf), 6)
    write_json_atomic(metrics_path, metrics)
    report_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(report_dir / "per_frame.csv", _csv(per_frame))
    write_text_atomic(report_dir / "error_by_depth.csv", _csv(error_by_depth(preds_valid, gts_valid, list(ep["depth_bins"]))))
    prediction_grid(np.stack(grid["rgb"]), np.stack(grid["gt"]), np.stack(grid["pred"]), report_dir / "grid.png",
                    max_depth=hi, titles=[f"frame {r['nyu_index']}" for r in per_frame[:grid_n]])

    with h5py.File(test_h5, "r") as f:
        src, src_sha = str(f.attrs.get("source", "")), str(f.attrs.get("source_sha256", ""))
    tags = tracking.stage_tags("evaluate", variant, src or None, src_sha or None)
    tags["depthpipe.train_run"] = str(config.get("mlflow_run_id") or "")
    logged = {**flatten({"evaluate": ep}), "variant": variant}
    test_digest = sha256_file(test_h5)
    with tracking.stage_run("evaluate", variant, logged, tags) as run:
        run.log_dataset(test_h5, "prepared-test", test_digest, "testing", len(per_frame))
        flat = {f"test_{k}": v for k, v in metrics.items() if isinstance(v, float)}
        flat |= {f"baseline_{k}": v for k, v in metrics["baseline"].items()}
        run.log_metrics(flat)
        for name in ("per_frame.csv", "error_by_depth.csv", "grid.png"):
            run.log_artifact(report_dir / name)
        run.log_artifact(metrics_path)
        run.log_artifact(model_dir / "config.json")
    return metrics


def _upsample_rgb(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    t = torch.from_numpy(rgb).permute(2, 0, 1)[None].float()
    return F.interpolate(t, size=size, mode="bilinear", align_corners=False)[0].permute(1, 2, 0).clamp(0, 255).byte().numpy()
