"""What `make test` spends on starting processes: the floor under its wall time on this machine.

    python benchmarks/suite_floor.py                 # the whole suite, as `make test` runs it
    python benchmarks/suite_floor.py -- tests/e2e    # pytest arguments after --

Runs pytest as `make test` does (``-n 2 --dist loadgroup --no-loadscope-reorder``) while a sampler reads every
process's CPU time from /proc twice a second (a process that lives under half a second may be missed; the machine's
busy total from /proc/stat has it). Each process started during the run is sorted into a kind by its command line:
a stage script, dvc, MLflow's server and its uvicorn worker, a pytest worker, ... For each kind with a probe, the
probe is what a process of that kind runs before it can do any work: the imports it cannot go without, timed
alone (median of ``--repeats``, user + system CPU); a pytest worker's probe collects what the run collects. Each
process counts the smaller of its own CPU time and its kind's probe, and probes leave out what a process needs only
sometimes (the SQLite store's SQLAlchemy models, a GPU), so the floor is a lower bound. Kinds without a probe
(PostgreSQL, SeaweedFS, git, multiprocessing children) count in the total and not in the floor.

Prints the kinds (processes, CPU measured, probe each, floor), the machine's busy core-seconds and the floor in
seconds of wall time on this machine's cores at the run's utilisation. Run it alone. Figures: docs/measurements.md.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TICK = os.sysconf("SC_CLK_TCK")
MAKE_TEST = ["-n", "2", "--dist", "loadgroup", "--no-loadscope-reorder", "-q", "-p", "no:cacheprovider"]


def _imports(*modules: str) -> tuple[str, ...]:
    return (sys.executable, "-c", f"import gc; gc.disable(); import {', '.join(modules)}")


TORCH_STAGE = ("depthpipe.stage_runner", "depthpipe.tracking.runs", "torchvision")


@dataclass(frozen=True)
class Kind:
    name: str
    pattern: str  # searched in the command line
    probe: tuple[str, ...] | None  # what a process of this kind runs before any work; None: not in the floor
    collects: bool = False  # the probe collects tests: it gets the run's pytest arguments


KINDS = (
    Kind("stage train", r"pipeline/train\.py", _imports(*TORCH_STAGE, "depthpipe.training.trainer")),
    Kind("stage evaluate", r"pipeline/evaluate\.py", _imports(*TORCH_STAGE, "depthpipe.evaluation.evaluate")),
    Kind("stage export", r"pipeline/export\.py", _imports(*TORCH_STAGE, "depthpipe.export.registration")),
    Kind(
        "stage validate",
        r"pipeline/validate\.py",
        _imports(
            "depthpipe.stage_runner", "depthpipe.tracking.runs", "depthpipe.data.validation.suite", "great_expectations"
        ),
    ),
    Kind(
        "stage download/prepare",
        r"pipeline/(download|prepare)\.py",
        _imports("depthpipe.stage_runner", "depthpipe.tracking.runs"),
    ),
    Kind("stage check", r"pipeline/check\.py", _imports("depthpipe.stage_runner")),
    Kind(
        "pytest worker",
        r"-c import sys;exec\(eval\(sys\.stdin",
        (sys.executable, "-m", "pytest", "-n", "0", "--collect-only", "-q", "-p", "no:cacheprovider"),
        collects=True,
    ),
    Kind("MLflow server (uvicorn worker)", r"uvicorn --log-config .*mlflow", _imports("mlflow.server.fastapi_app")),
    Kind("MLflow server (launcher)", r"bin/mlflow server", _imports("mlflow.cli")),
    Kind(
        "mlflow (models serve, db)",
        r"bin/mlflow |mlflow\.pyfunc\.scoring_server|_capture_modules",
        _imports("mlflow.pyfunc"),
    ),
    Kind("dvc", r"bin/dvc ", _imports("dvc.cli", "dvc.repo")),
    Kind("depthpipe predict/serve", r"bin/depthpipe (predict|serve)", _imports("depthpipe.serving.predict")),
    Kind("depthpipe (other verbs)", r"bin/depthpipe ", (str(BIN / "depthpipe"), "--version")),
    Kind("pytest (main process)", r"-m pytest ", None),  # before benchmarks/: its arguments may name their tests
    Kind("torchrun", r"bin/torchrun ", _imports("torch.distributed.run")),
    Kind("benchmarks/", r"benchmarks/\w+\.py", _imports("torch", "torchvision")),
    Kind("PostgreSQL", r"postgres|pginstall|pg_ctl|initdb|pg_dump|pg_restore", None),
    Kind("SeaweedFS", r"weed ", None),
    Kind("multiprocessing child", r"multiprocessing", None),
    Kind("git", r"^git |/git ", None),
)
OTHER = Kind("other", "", None)


def kind_of(cmdline: str) -> Kind:
    """The first kind whose pattern the command line holds (``other`` when none does)."""
    return next((k for k in KINDS if re.search(k.pattern, cmdline)), OTHER)


class Sampler(threading.Thread):
    """Every process started after ``since`` (seconds since boot): its command line and its latest CPU seconds."""

    def __init__(self, since: float, every_s: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.since, self.every_s = since, every_s
        self.seen: dict[tuple[int, int], list] = {}  # (pid, start tick) -> [cmdline, cpu seconds]
        self.done = threading.Event()

    def sample(self) -> None:
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry.name}/stat").read_text()
                fields = stat[stat.rfind(")") + 2 :].split()
                start, cpu = int(fields[19]), (int(fields[11]) + int(fields[12])) / TICK
                if start / TICK < self.since:
                    continue
                # read each time: a process seen between its fork and its exec still shows its parent's command
                raw = Path(f"/proc/{entry.name}/cmdline").read_bytes()
                cmdline = raw.replace(b"\0", b" ").decode(errors="replace").strip()
                key = (int(entry.name), start)
                self.seen[key] = [cmdline or self.seen.get(key, [""])[0], cpu]  # a zombie's is empty
            except (OSError, ValueError, IndexError):
                continue  # it ended while being read

    def run(self) -> None:
        while not self.done.wait(self.every_s):
            self.sample()


def uptime() -> float:
    return float(Path("/proc/uptime").read_text().split()[0])


def busy_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    return sum(values) - values[3] - values[4], sum(values)


def probe_cpu(argv: tuple[str, ...], repeats: int) -> float:
    """Median user + system CPU seconds of ``argv`` run alone in the repository."""
    costs = []
    for _ in range(repeats):
        before = os.times()
        subprocess.run(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        after = os.times()
        costs.append(after.children_user - before.children_user + after.children_system - before.children_system)
    return statistics.median(costs)


def run_suite(pytest_args: list[str]) -> tuple[Sampler, float, float, str]:
    """The suite under the sampler: (sampler, wall seconds, busy core-seconds, pytest's last line)."""
    sampler = Sampler(uptime())
    busy0, _ = busy_jiffies()
    t0 = time.monotonic()
    sampler.start()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *MAKE_TEST, *pytest_args], cwd=REPO, capture_output=True, text=True
    )
    sampler.done.set()
    sampler.join()
    sampler.sample()
    wall = time.monotonic() - t0
    busy = (busy_jiffies()[0] - busy0) / TICK
    last = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
    if done.returncode != 0:
        print(done.stdout[-3000:], done.stderr[-3000:], sep="\n", file=sys.stderr)
    return sampler, wall, busy, last


def report(sampler: Sampler, wall: float, busy: float, last: str, pytest_args: list[str], repeats: int) -> None:
    """The table of kinds and the floor: each process counts the smaller of its CPU time and its kind's probe (a
    process that stops early, as the tests of bad input make them, costs less than a whole start-up)."""
    cpus: dict[Kind, list[float]] = defaultdict(list)
    for cmdline, cpu in sampler.seen.values():
        cpus[kind_of(cmdline)].append(cpu)
    cores = os.cpu_count() or 1
    share = busy / (wall * cores)
    print(f"pytest: {last}")
    print(f"wall {wall:.0f} s; the machine's {cores} cores busy {busy:.0f} core-s ({share:.0%})\n")
    print("| kind | processes | CPU, core-s | probe each, core-s | floor, core-s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    floor = 0.0
    for kind, seen in sorted(cpus.items(), key=lambda item: -sum(item[1])):
        probe = kind.probe and kind.probe + tuple(pytest_args if kind.collects else ())
        each = probe_cpu(probe, repeats) if probe else None
        part = sum(min(cpu, each) for cpu in seen) if each is not None else 0.0
        floor += part
        shown = f"{each:.2f} | {part:.0f}" if each is not None else "- | -"
        print(f"| {kind.name} | {len(seen)} | {sum(seen):.0f} | {shown} |")
    total = sum(sum(seen) for seen in cpus.values())
    print(f"| all | {sum(len(seen) for seen in cpus.values())} | {total:.0f} | | **{floor:.0f}** |\n")
    print(
        f"start-ups alone: {floor:.0f} core-s = {floor / (cores * share):.0f} s of wall time on {cores} cores at "
        f"the run's {share:.0%}; the rest of the run's busy time, {busy - floor:.0f} core-s, is the tests' work and "
        "the services'."
    )
    others = sorted(((cpu, cmd) for cmd, cpu in sampler.seen.values() if kind_of(cmd) is OTHER), reverse=True)
    print(
        "\nthe largest of kind other:",
        *(f"  {cpu:.1f} core-s  {' '.join(cmd.split())[:150]}" for cpu, cmd in others[:5]),
        sep="\n",
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3, help="runs of each probe (median)")
    ap.add_argument("pytest_args", nargs="*", help="after --: what pytest runs (default: the whole suite)")
    args = ap.parse_args()
    sampler, wall, busy, last = run_suite(args.pytest_args)
    report(sampler, wall, busy, last, args.pytest_args, args.repeats)


if __name__ == "__main__":
    main()
