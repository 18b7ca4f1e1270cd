"""Wheels for running the pipeline on a machine that reaches no package registry but has its own torch.

    python benchmarks/gpu_wheelhouse.py                       # -> wheelhouse/, for the GPU machines' image
    python benchmarks/gpu_wheelhouse.py --have have.txt --python-version 3.12 --out wheelhouse --limit-mib 56

What the pipeline needs is depthpipe's own ``[project] dependencies`` (not the ``team`` or ``test`` extras) and
everything they require, at the versions this venv holds (``requirements.lock``'s), with environment markers read
for the target Python on Linux. Packages the target machine already has are left out: ``--have`` names them, one
per line (``pip list --format=freeze`` there, or ``benchmarks/gpu_image_packages.txt``, the GPU image's list).
Each of the rest is downloaded as a binary wheel for that Python (``pip download --no-deps --only-binary=:all:``)
into ``--out``; the total is checked against ``--limit-mib`` (what travels with the working tree to the GPU
machine is at most 64 MiB, the repository included). There, ``benchmarks/gpu_check.sh`` installs them with
``pip install --no-index --no-deps --target`` beside the machine's own packages.

Exit codes: 0 done, 1 a wheel could not be had or the total is over the limit, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
IMAGE_LIST = REPO / "benchmarks" / "gpu_image_packages.txt"
PLATFORMS = [f"manylinux_2_{n}_x86_64" for n in (39, 35, 34, 31, 28, 27, 24, 17)] + ["manylinux2014_x86_64"]


def target_environment(python_version: str) -> dict[str, str]:
    """Marker values for CPython ``python_version`` on x86-64 Linux (the rest from this interpreter)."""
    env = default_environment()
    env.update(
        python_version=python_version,
        python_full_version=f"{python_version}.0",
        implementation_name="cpython",
        platform_python_implementation="CPython",
        sys_platform="linux",
        platform_system="Linux",
        os_name="posix",
        platform_machine="x86_64",
    )
    return env


def requirement_closure(root: str, env: dict[str, str]) -> dict[str, str]:
    """``{name: version}`` of what ``root``'s plain dependencies need, transitively, as installed here."""
    wanted: dict[str, str] = {}
    todo = [Requirement(r) for r in metadata.requires(root) or []]
    todo = [r for r in todo if r.marker is None or r.marker.evaluate(env | {"extra": ""})]
    extras_of: dict[str, set[str]] = {}
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        seen_extras = extras_of.setdefault(name, set())
        if name in wanted and req.extras <= seen_extras:
            continue
        seen_extras |= req.extras
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing = f"gpu_wheelhouse: {req.name} (the pipeline needs it) is not installed here: make venv"
            raise SystemExit(missing) from None
        wanted[name] = dist.version
        for text in dist.requires or []:
            sub = Requirement(text)
            extras = {""} | req.extras
            if sub.marker is None or any(sub.marker.evaluate(env | {"extra": e}) for e in extras):
                todo.append(sub)
    return wanted


def read_have(path: Path) -> set[str]:
    """Names in a ``pip list --format=freeze``-style file (one per line, ``==version`` and comments ignored)."""
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.add(canonicalize_name(line.split("==", 1)[0].split(" ", 1)[0]))
    return names


def pip_download(pins: list[str], out: Path, python_version: str) -> subprocess.CompletedProcess[str]:
    """``pip download`` of binary wheels for CPython ``python_version`` on x86-64 Linux, no dependencies."""
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps"]
    cmd += ["--only-binary=:all:", "--python-version", python_version, "--implementation", "cp", "-d", str(out)]
    for platform in PLATFORMS:
        cmd += ["--platform", platform]
    return subprocess.run([*cmd, *pins], capture_output=True, text=True)


def build_pure_wheel(pin: str, out: Path) -> bool:
    """Build ``pin`` from its source distribution here; kept only if the wheel is pure Python (any target)."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--no-deps"]
        proc = subprocess.run([*cmd, "--no-binary=:all:", "-w", tmp, pin], capture_output=True, text=True)
        built = list(Path(tmp).glob("*-none-any.whl"))
        if proc.returncode != 0 or len(built) != 1:
            return False
        shutil.move(built[0], out / built[0].name)
    return True


def download(pins: dict[str, str], out: Path, python_version: str) -> list[str]:
    """Each pin's wheel for the target into ``out``; a pin with no binary wheel is built here when it is pure
    Python. Returns the pins that could not be had, each named on stderr."""
    out.mkdir(parents=True, exist_ok=True)
    wanted = [f"{name}=={version}" for name, version in sorted(pins.items())]
    failed = []
    while wanted:
        proc = pip_download(wanted, out, python_version)
        if proc.returncode == 0:
            break
        # pip stops at the first pin it cannot match and names it: that one is set aside, the rest tried again
        missing = [pin for pin in wanted if f"for {pin}" in proc.stderr or f"for {pin.lower()}" in proc.stderr]
        if not missing:
            last = (proc.stderr.strip().splitlines() or ["pip failed"])[-1]
            raise SystemExit(f"gpu_wheelhouse: pip download failed: {last}")
        wanted.remove(missing[0])
        if not build_pure_wheel(missing[0], out):
            print(
                f"gpu_wheelhouse: {missing[0]}: no wheel for Python {python_version}, nor a pure one",
                file=sys.stderr,
            )
            failed.append(missing[0])
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--have", type=Path, default=IMAGE_LIST, help="packages the target already has")
    parser.add_argument("--python-version", default="3.12", help="the target's Python (major.minor)")
    parser.add_argument("--out", type=Path, default=REPO / "wheelhouse")
    parser.add_argument("--limit-mib", type=float, default=56.0, help="the most the wheels may weigh together")
    args = parser.parse_args(argv)
    if not args.have.is_file():
        parser.error(f"--have {args.have}: no such file")

    have = read_have(args.have)
    needed = requirement_closure("depthpipe", target_environment(args.python_version))
    pins = {name: version for name, version in needed.items() if name not in have}
    print(f"gpu_wheelhouse: the pipeline needs {len(needed)} packages; {len(needed) - len(pins)} are on the target")
    failed = download(pins, args.out, args.python_version)
    wheels = sorted(args.out.glob("*.whl"))
    mib = sum(w.stat().st_size for w in wheels) / 2**20
    print(f"gpu_wheelhouse: {len(wheels)} wheels, {mib:.1f} MiB in {args.out}")
    if failed:
        print(f"gpu_wheelhouse: no wheel for Python {args.python_version}: {', '.join(failed)}", file=sys.stderr)
        return 1
    if mib > args.limit_mib:
        print(f"gpu_wheelhouse: {mib:.1f} MiB is over --limit-mib {args.limit_mib:g}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
