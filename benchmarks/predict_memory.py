"""Peak memory and time of ``depthpipe predict`` and of the served model (``mlflow models serve``) on large photos.

    python benchmarks/predict_memory.py                                  # 1, 12, 100 MP; 96x128 DenseDepth
    python benchmarks/predict_memory.py --megapixels 1 12 100 144 --input-size 480 640

Once, cached in ``--workdir``: baseline JPEGs (4:3, quality 90) of each size, a real NYU test photo
(tests/data/nyu) upscaled with grain so they compress like camera photos; the cpu recipe's DenseDepth
(decoder_width 0.25) at ``--input-size`` with seeded random weights, exported (.pt2 + ONNX) and registered in
a SQLite store of the workdir. Then, per photo:

- ``predict``: ``predict_images`` on the photo in a fresh child process (ONNX backend); peak RSS of that
  process (``ru_maxrss``, imports included), how far it rose above the RSS before the call, and seconds of
  the call (loading the ONNX session, decode, model, depth PNG, preview);
- ``served``: the photo POSTed as base64 to one ``mlflow models serve`` of the registered version; peak RSS
  of the server's processes (sampled every 10 ms during the request), how far it rose above the RSS before
  the request, and seconds of the request (JSON in and out included).

Targets: peak RSS flat across photo sizes (within 0.5 GiB of the 1 MP figure) and no photo slower than a few
seconds. Prints one table.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "tests" / "data" / "nyu" / "test_0001_rgb.png"
VENV_BIN = Path(sys.executable).parent

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from depthpipe.serving.predict import predict_images
a = json.loads(sys.argv[1])
with open("/proc/self/status") as fh:
    idle = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmRSS:"))
t0 = time.perf_counter()
result = predict_images([Path(a["photo"])], a["model"], Path(a["out"]))
seconds = time.perf_counter() - t0
assert result[0][1] is None, result
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"seconds": seconds, "peak_rss": peak, "idle_rss": idle}))
"""

REGISTER = r"""
import json, sys
from pathlib import Path
from mlflow.tracking import MlflowClient
from depthpipe.tracking import registry, runs
export_dir = Path(sys.argv[1])
card = json.loads((export_dir / "export.json").read_text())["model_card"]
with runs.stage_run("export", "densedepth", {}, {}) as run:
    info = registry.log_servable_model("densedepth", export_dir, card)
version = registry.register(MlflowClient(), "densedepth", info, run.run_id, card, {})
print(json.dumps({"version": version}))
"""


def make_photo(path: Path, megapixels: float) -> tuple[int, int]:
    """A 4:3 baseline JPEG of about ``megapixels`` at ``path`` (once); returns its (width, height)."""
    h = int(round(math.sqrt(megapixels * 1e6 * 3 / 4)))
    w = int(round(h * 4 / 3))
    if not path.exists():
        base = Image.open(PHOTO).convert("RGB").resize((w, h), Image.Resampling.BILINEAR)
        grain = np.random.default_rng(0).normal(0, 6, (256, 256, 3)).astype(np.int16)
        arr = np.asarray(base)
        del base
        out = np.empty_like(arr)
        for y in range(0, h, 256):  # grain in bands: the photo stays the only full-size array
            band = arr[y : y + 256].astype(np.int16)
            tile = np.tile(grain, (1, math.ceil(w / 256), 1))[: band.shape[0], :w]
            out[y : y + 256] = np.clip(band + tile, 0, 255).astype(np.uint8)
        del arr
        tmp = path.with_name(f"{path.stem}.tmp{path.suffix}")
        Image.fromarray(out).save(tmp, quality=90)
        os.replace(tmp, path)
    return w, h


def make_export(workdir: Path, input_size: tuple[int, int]) -> Path:
    """The exported DenseDepth of ``input_size`` in the workdir (once)."""
    import torch

    from depthpipe.export.exporter import staged_export
    from depthpipe.models import build_model
    from depthpipe.models.trained import save_trained

    out = workdir / f"exports_{input_size[0]}x{input_size[1]}" / "densedepth"
    if (out / "export.json").exists():
        return out
    params = {"decoder_width": 0.25, "encoder_weights": "none"}
    torch.manual_seed(0)
    model = build_model("densedepth", params)
    config = {
        "variant": "densedepth",
        "model": params,
        "input_size": list(input_size),
        "output_size": [input_size[0] // 2, input_size[1] // 2],
        "min_depth": 0.1,
        "max_depth": 10.0,
        "data_sha256": "0" * 64,
    }
    model_dir = out.parent.parent / f"models_{input_size[0]}x{input_size[1]}" / "densedepth"
    save_trained(model_dir, model.state_dict(), config)
    frame = np.asarray(Image.open(PHOTO).convert("RGB").resize(input_size[::-1], Image.Resampling.BILINEAR))
    with staged_export(model_dir, out, np.stack([frame] * 2), tolerance=1e-2, opset=18):
        pass  # in place once the block ends
    return out


def run_predict(photo: Path, export_dir: Path, workdir: Path) -> dict[str, float]:
    args = {"photo": str(photo), "model": str(export_dir), "out": str(workdir / "predictions")}
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(args)], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"predict {photo.name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and its descendants (from /proc)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                total += next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmRSS:"))
            with open(f"/proc/{p}/task/{p}/children") as fh:
                todo.extend(int(c) for c in fh.read().split())
        except (OSError, StopIteration):
            continue
    return total


class Server:
    """``mlflow models serve`` of one registered version, on a free port."""

    def __init__(self, uri: str, store: str, log: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        env = {
            **os.environ,
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
            "MLFLOW_TRACKING_URI": store,
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        }
        cmd = [str(VENV_BIN / "mlflow"), "models", "serve", "-m", uri, "--env-manager", "local"]
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [*cmd, "--host", "127.0.0.1", "--port", str(self.port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/ping", timeout=2):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    tail = "\n".join(log.read_text(errors="replace").strip().splitlines()[-15:])
                    raise SystemExit(f"mlflow models serve exited; the end of {log}:\n{tail}") from None
                time.sleep(1)
        raise SystemExit("mlflow models serve did not answer /ping in 180 s")

    def post(self, photo: Path) -> dict[str, float]:
        body = json.dumps(
            {"dataframe_split": {"columns": ["image"], "data": [[base64.b64encode(photo.read_bytes()).decode()]]}}
        ).encode()
        peak, stop = [tree_rss(self.proc.pid)], threading.Event()

        def sample() -> None:
            while not stop.wait(0.01):
                peak.append(tree_rss(self.proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/invocations", data=body, headers={"Content-Type": "application/json"}
        )
        t0 = time.perf_counter()
        with urllib.request.urlopen(request, timeout=600) as answer:
            depth = np.asarray(json.loads(answer.read())["predictions"][0], dtype=np.float32)
        seconds = time.perf_counter() - t0
        stop.set()
        sampler.join()
        return {"seconds": seconds, "peak_rss": max(peak), "idle_rss": peak[0], "depth": depth.shape}  # type: ignore[dict-item]

    def close(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=60)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--megapixels", type=float, nargs="+", default=[1, 12, 100])
    ap.add_argument("--input-size", type=int, nargs=2, default=[96, 128], metavar=("H", "W"))
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/depthpipe-bench-predict"))
    ap.add_argument("--no-serve", action="store_true", help="only predict")
    args = ap.parse_args()
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    photos = {mp: workdir / f"photo_{mp:g}mp.jpg" for mp in args.megapixels}
    sizes = {mp: make_photo(path, mp) for mp, path in photos.items()}
    export_dir = make_export(workdir, tuple(args.input_size))
    rows = []
    for mp, photo in photos.items():
        r = run_predict(photo, export_dir, workdir)
        rows.append(("predict", mp, sizes[mp], r["seconds"], r["peak_rss"], r["idle_rss"], ""))
        print(f"predict {mp:g} MP: {r['seconds']:.2f} s, peak RSS {r['peak_rss'] / 2**20:.0f} MiB", flush=True)
    if not args.no_serve:
        store = f"sqlite:///{workdir / f'mlflow_{args.input_size[0]}x{args.input_size[1]}.db'}"
        env = {**os.environ, "MLFLOW_TRACKING_URI": store}
        reg = subprocess.run(
            [sys.executable, "-c", REGISTER, str(export_dir)], capture_output=True, text=True, env=env, check=False
        )
        if reg.returncode != 0:
            raise SystemExit(f"registering the model failed:\n{reg.stderr[-3000:]}")
        version = json.loads(reg.stdout.strip().splitlines()[-1])["version"]
        server = Server(f"models:/depthpipe-densedepth/{version}", store, workdir / "serve.log")
        try:
            for mp, photo in photos.items():
                r = server.post(photo)
                depth = f"{r['depth'][1]}x{r['depth'][0]}"  # type: ignore[index]
                rows.append(("served", mp, sizes[mp], r["seconds"], r["peak_rss"], r["idle_rss"], depth))
                print(f"served {mp:g} MP: {r['seconds']:.2f} s, peak RSS {r['peak_rss'] / 2**20:.0f} MiB", flush=True)
        finally:
            server.close()
    threads = os.environ.get("OMP_NUM_THREADS", "1")
    print(f"\nmodel input {args.input_size[0]}x{args.input_size[1]}, OMP_NUM_THREADS={threads}")
    print("| path | photo | JPEG | seconds | s/MP | peak RSS (MiB) | above idle (MiB) | depth returned |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for path, mp, (w, h), seconds, rss, idle, depth in rows:
        size_mb = photos[mp].stat().st_size / 1e6
        print(
            f"| {path} | {w}x{h} ({w * h / 1e6:.1f} MP) | {size_mb:.1f} MB | {seconds:.2f} | "
            f"{seconds / (w * h / 1e6):.3f} | {rss / 2**20:.0f} | {(rss - idle) / 2**20:.0f} | {depth} |"
        )


if __name__ == "__main__":
    main()
