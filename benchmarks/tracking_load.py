"""Load on the tracking store: N concurrent clients logging runs, against the team server and a SQLite file.

Each client is a process of its own (as teammates and CI runners are) that, until the time is up, repeats:
create a run, log 10 params, log 2 metrics per step for 20 steps (one request per step), log a 1 KB artifact,
register the run as a new version of one registered model shared by all clients, end the run. Every request's
latency is recorded; what the store acknowledged is counted, and afterwards what it holds is read back, so a
lost write shows as "written < acknowledged". Backends:

- ``team``: ``mlflow server`` on PostgreSQL with artifacts proxied to the S3 store, as ``depthpipe team up``
  starts it (``--data-dir`` of a running stack, else a temporary one started here and stopped after);
- ``sqlite``: MLflow's SQLite file store (``sqlite:///.../mlflow.db``, artifacts in a folder), written by every
  client directly, which is what ``mlflow.db`` is when no server runs.

Run: ``python benchmarks/tracking_load.py`` (N = 2, 8, 32, 20 s each; ``--clients``, ``--seconds``,
``--backend``). Prints one row per backend and N.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import multiprocessing as mp
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

STEPS = 20
MODEL = "load-test"


def _client_loop(uri: str, experiment_id: str, load_id: str, seconds: float, barrier, out) -> None:
    """One client: runs with params, stepped metrics, an artifact and a registered version, until time is up."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # an error counts as one, not as a retry storm
    os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    artifact = Path(tempfile.mkdtemp()) / "note.txt"
    artifact.write_text("x" * 1024)
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    acked = {"runs": 0, "points": 0, "versions": 0}

    def call(fn, *args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs), True
        except Exception as exc:  # noqa: BLE001 - every failure is counted by its kind
            errors[f"{type(exc).__name__}: {' '.join(str(exc).split())[:160]}"] += 1
            return None, False
        finally:
            latencies.append(time.perf_counter() - start)

    barrier.wait()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run, ok = call(client.create_run, experiment_id, tags={"load_id": load_id})
        if not ok:
            continue
        run_id = run.info.run_id
        call(client.log_batch, run_id, params=[Param(f"p{i}", str(i)) for i in range(10)])
        for step in range(STEPS):
            now = int(time.time() * 1000)
            metrics = [Metric("loss", 1.0 / (step + 1), now, step), Metric("acc", step / STEPS, now, step)]
            if call(client.log_batch, run_id, metrics=metrics)[1]:
                acked["points"] += len(metrics)
        call(client.log_artifact, run_id, str(artifact))
        version, ok = call(client.create_model_version, MODEL, f"runs:/{run_id}/note.txt", run_id, await_creation_for=0)
        acked["versions"] += int(ok)
        if call(client.set_terminated, run_id, "FINISHED")[1]:
            acked["runs"] += 1
    out.put({"latencies": latencies, "errors": dict(errors), **acked})


def _written(uri: str, experiment_id: str, load_id: str) -> dict[str, int]:
    """What the store holds of one load: finished runs, metric points, model versions."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    found = client.search_runs([experiment_id], f"tags.load_id = '{load_id}'", max_results=50000)
    points = sum(len(client.get_metric_history(r.info.run_id, k)) for r in found for k in ("loss", "acc"))
    ids = {r.info.run_id for r in found}
    versions = [v for v in client.search_model_versions(f"name = '{MODEL}'", max_results=50000) if v.run_id in ids]
    return {
        "runs": sum(r.info.status == "FINISHED" for r in found),
        "points": points,
        "versions": len(versions),
    }


def _prepare(uri: str, artifacts: str | None) -> str:
    """The load's experiment and the shared registered model (and, for SQLite, its schema), made once."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment_id = client.create_experiment(f"load-{uuid.uuid4().hex[:8]}", artifact_location=artifacts)
    with contextlib.suppress(MlflowException):  # made by an earlier load
        client.create_registered_model(MODEL)
    return experiment_id


def measure(backend: str, uri: str, artifacts: str | None, n: int, seconds: float) -> dict:
    experiment_id = _prepare(uri, artifacts)
    load_id = uuid.uuid4().hex
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(n), ctx.Queue()
    procs = [
        ctx.Process(target=_client_loop, args=(uri, experiment_id, load_id, seconds, barrier, out)) for _ in range(n)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=seconds + 900) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    latencies = sorted(x for r in results for x in r["latencies"])
    errors: Counter[str] = Counter()
    for r in results:
        errors.update(r["errors"])
    acked = {k: sum(r[k] for r in results) for k in ("runs", "points", "versions")}
    return {
        "backend": backend,
        "n": n,
        "acked": acked,
        "written": _written(uri, experiment_id, load_id),
        "errors": errors,
        "p50_ms": 1000 * statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))] if latencies else float("nan"),
        "requests": len(latencies),
    }


def _row(r: dict) -> str:
    a, w = r["acked"], r["written"]
    errors = sum(r["errors"].values())
    return (
        f"{r['backend']:7} {r['n']:>3} {w['runs']:>6}/{a['runs']:<6} {w['points']:>8}/{a['points']:<8} "
        f"{w['versions']:>6}/{a['versions']:<6} {errors:>7} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['requests']:>8}"
    )


def _team_uri(data_dir: str | None, scratch: Path) -> tuple[str, Path | None]:
    """The team server's URI: of the stack in ``data_dir``, else of a temporary one started here."""
    from depthpipe.team import settings

    depthpipe = str(Path(sys.executable).with_name("depthpipe"))
    if data_dir:
        team = settings.load(Path(data_dir))
        if team is None:
            raise SystemExit(f"no team stack in {data_dir}")
        return team.tracking_uri, None
    own = scratch / "stack"
    subprocess.run(
        [depthpipe, "team", "up", "--data-dir", str(own), "--mlflow-port", "0", "--s3-port", "0"]
        + ["--postgres-port", "0", "--no-dvc-remote"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    team = settings.load(own)
    assert team is not None
    return team.tracking_uri, own


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, nargs="+", default=[2, 8, 32])
    p.add_argument("--seconds", type=float, default=20.0, help="logging time per backend and N")
    p.add_argument("--backend", choices=("team", "sqlite", "both"), default="both")
    p.add_argument("--data-dir", help="a running `depthpipe team up` stack (default: start a temporary one)")
    args = p.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="tracking-load-", dir="/tmp"))
    os.chmod(scratch, 0o755)  # PostgreSQL's user (nobody, for root) enters the temporary stack's folder
    own_stack = None
    rows = []
    try:
        backends = []
        if args.backend in ("team", "both"):
            uri, own_stack = _team_uri(args.data_dir, scratch)
            backends.append(("team", uri, None))
        if args.backend in ("sqlite", "both"):
            backends.append(("sqlite", f"sqlite:///{scratch / 'mlflow.db'}", (scratch / "mlartifacts").as_uri()))
        print(
            f"{os.cpu_count()} CPUs; {args.seconds:g} s per row; each run: 10 params, {STEPS} steps x 2 metrics, "
            "1 artifact, 1 model version",
            flush=True,
        )
        print("backend   N   runs w/a     points w/a     versions w/a  errors  p50 ms   p99 ms  requests")
        for backend, uri, artifacts in backends:
            for n in args.clients:
                result = measure(backend, uri, artifacts, n, args.seconds)
                rows.append(result)
                print(_row(result), flush=True)
        for r in rows:
            for message, count in r["errors"].most_common(3):
                print(f"  {r['backend']} N={r['n']}: {count} x {message}")
    finally:
        if own_stack is not None:
            depthpipe = str(Path(sys.executable).with_name("depthpipe"))
            subprocess.run([depthpipe, "team", "down", "--data-dir", str(own_stack)], stdout=subprocess.DEVNULL)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
