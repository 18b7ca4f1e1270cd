"""benchmarks/suite_floor.py's parts: the kinds of the suite's processes, the /proc sampler, the probes' CPU time."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from helpers.benchmarks import load_benchmark

floor = load_benchmark("suite_floor")
VENV = "/work/x/.venv/bin"
BUSY = (
    "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.4: pass\ntime.sleep(0.6)  # floor-marker"
)


def test_command_lines_of_the_suite_sort_into_their_kinds() -> None:
    cases = {
        f"{VENV}/python pipeline/train.py densedepth": "stage train",
        f"{VENV}/python /work/x/pipeline/train.py semantic_booster": "stage train",
        f"{VENV}/python pipeline/prepare.py": "stage download/prepare",
        f"{VENV}/python -u -c import sys;exec(eval(sys.stdin.readline()))": "pytest worker",
        f"{VENV}/python3 -m uvicorn --log-config {VENV}/../lib/mlflow/server/uvicorn_log_config.yaml --host h": (
            "MLflow server (uvicorn worker)"
        ),
        f"{VENV}/python3 {VENV}/mlflow server --backend-store-uri postgresql+psycopg://u@h/mlflow": (
            "MLflow server (launcher)"
        ),
        f"{VENV}/python3 {VENV}/mlflow db upgrade postgresql+psycopg://u@h/mlflow": "mlflow (models serve, db)",
        f"{VENV}/python3 {VENV}/dvc exp run -S recipe=tiny": "dvc",
        f"{VENV}/python3 {VENV}/depthpipe team up --data-dir /tmp/t": "depthpipe (other verbs)",
        f"{VENV}/python3 {VENV}/depthpipe predict a.png --model m": "depthpipe predict/serve",
        "postgres: depthpipe mlflow 127.0.0.1(5432) idle": "PostgreSQL",
        f"{VENV}/python -B -c from multiprocessing.spawn import spawn_main; spawn_main(tracker_fd=2)": (
            "multiprocessing child"
        ),
        f"{VENV}/python benchmarks/train_throughput.py --variants densedepth": "benchmarks/",
        f"{VENV}/python -m pytest -n 2 tests/unit/benchmarks/test_suite_floor.py": "pytest (main process)",
        "bash -c true": "other",
    }
    assert {cmd: floor.kind_of(cmd).name for cmd in cases} == cases


def test_the_sampler_sees_what_starts_after_it_with_its_cpu_time() -> None:
    sampler = floor.Sampler(floor.uptime(), every_s=0.1)
    sampler.start()
    try:
        subprocess.run([sys.executable, "-c", BUSY], check=True)
    finally:
        sampler.done.set()
        sampler.join()
    mine = [cpu for cmdline, cpu in sampler.seen.values() if "floor-marker" in cmdline]
    assert len(mine) == 1 and 0.3 < mine[0] < 1.0, sampler.seen
    assert all(pid != os.getpid() for pid, _start in sampler.seen)  # started before the sampler: not sampled


def test_a_probe_is_the_median_cpu_time_of_its_runs() -> None:
    t = time.monotonic()
    cpu = floor.probe_cpu((sys.executable, "-c", BUSY.replace("0.6", "0")), repeats=3)
    assert 0.35 < cpu < 0.8 and time.monotonic() - t < 10
