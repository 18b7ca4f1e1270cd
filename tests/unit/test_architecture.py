"""The codebase's shape, checked: DVC deps that cover every stage's imports, params read only where declared,
no import cycles, MLflow only in ``depthpipe.tracking``, function-local imports only where they pay, every module
saying first what its one idea is, and a README whose layout lists every package."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from helpers.imports import SRC, closure, cycles, import_graph, imports_of, library_modules, module_path
from helpers.paths import REPO

MODULES = library_modules()
STAGES = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]

# Modules that change no stage output, so a stage need not declare them (what they import still counts): a name
# covers that module and, for a package, its submodules; "depthpipe" is only the package's __init__
NO_OUTPUT = {
    "depthpipe": "the package itself: applies depthpipe.env",
    "depthpipe.env": "telemetry off and MLflow's HTTP timeouts",
    "depthpipe.errors": "the error type and how a message is put on one line",
    "depthpipe.stage_runner": "reads params.yaml, prints errors, exits: what a stage writes is its script's",
    "depthpipe.tracking": "MLflow: runs, tags, registry; no DVC output holds anything it decides",
}
# Function-local imports, allowed only for what is slow to import and needed by few callers:
LOCAL_IMPORTS = {
    "great_expectations": "about 3 s to import; only the validation suite runs it",
    "mlflow": "about 2.5 s; depthpipe.tracking.store checks a store without it (the check stage)",
}
# ... and the modules that may import anything in a function: each verb's handler loads what it needs (torch, MLflow,
# boto3), so `depthpipe --help` and the light verbs start at once
LOCAL_IMPORTERS = {
    "depthpipe.cli": "the command line's verb handlers",
    "depthpipe.data.codec": "torch and torchvision (3 s) for decoding: the stages that only read a .mat never decode",
}


def _no_output(module: str) -> bool:
    return any(module == m or m != "depthpipe" and module.startswith(m + ".") for m in NO_OUTPUT)


def _code_free(path: Path) -> bool:
    """A module that holds only its docstring (and ``from __future__``): it cannot change anything."""
    body = ast.parse(path.read_text()).body
    return all(
        isinstance(n, ast.Expr)
        and isinstance(n.value, ast.Constant)
        or isinstance(n, ast.ImportFrom)
        and n.module == "__future__"
        for n in body
    )


def _expanded_stages() -> dict[str, dict]:
    """``name -> stage``, one entry per ``foreach`` item (``${item}`` replaced)."""
    out = {}
    for name, stage in STAGES.items():
        if "foreach" not in stage:
            out[name] = stage
            continue
        for item in stage["foreach"]:
            text = yaml.safe_dump(stage["do"]).replace("${item}", item)
            out[f"{name}@{item}"] = yaml.safe_load(text)
    return out


EXPANDED = _expanded_stages()


def _script(stage: dict) -> Path:
    (script,) = re.findall(r"pipeline/\w+\.py", stage["cmd"])
    return REPO / script


def _covered(path: Path, deps: list[str]) -> bool:
    rel = path.relative_to(REPO).as_posix()
    return any(rel == d or rel.startswith(d.rstrip("/") + "/") for d in deps)


@pytest.mark.parametrize("stage", sorted(EXPANDED))
def test_stage_deps_cover_every_module_it_imports(stage: str) -> None:
    spec = EXPANDED[stage]
    deps = [d if isinstance(d, str) else next(iter(d)) for d in spec["deps"]]
    script = _script(spec)
    assert _covered(script, deps), f"{stage}: its script {script.relative_to(REPO)} is not a dependency"
    missing = sorted(
        m
        for m in closure(script)
        if not _no_output(m) and not _code_free(module_path(m)) and not _covered(module_path(m), deps)
    )
    assert not missing, (
        f"{stage} imports {', '.join(missing)} ({', '.join(str(module_path(m).relative_to(REPO)) for m in missing)}),"
        f" which dvc.yaml does not declare: a change there would leave its outputs stale"
    )


def _params_read(source: str) -> set[str]:
    """The dotted params keys a stage script reads: ``params.a.b`` chains; ``train_config(v)`` reads
    ``train.<item>``, ``model_config_of(v)`` ``models.<item>``, ``validate_`` is ``validate``."""
    methods = {"train_config": "train.<item>", "model_config_of": "models.<item>"}
    tree = ast.parse(source)
    inner = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    chains = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or id(node) in inner:
            continue
        parts, value = [node.attr], node.value
        while isinstance(value, ast.Attribute):
            parts.append(value.attr)
            value = value.value
        if isinstance(value, ast.Name) and value.id == "params":
            chains.add(".".join(reversed(parts)))
    keys = set()
    for chain in chains:
        head, _, rest = chain.partition(".")
        head = methods.get(head, "validate" if head == "validate_" else head)
        keys.add(f"{head}.{rest}" if rest and head not in methods.values() else head)
    return keys


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_a_stage_reads_only_the_params_it_declares(stage: str) -> None:
    spec = STAGES[stage].get("do", STAGES[stage])
    declared = [p.replace("${item}", "<item>") for p in spec.get("params", [])]
    read = _params_read((REPO / "pipeline" / f"{stage}.py").read_text())
    assert read, f"{stage}: reads no params?"
    undeclared = sorted(k for k in read if not any(k == d or k.startswith(d + ".") for d in declared))
    assert not undeclared, f"{stage} reads params {undeclared} that dvc.yaml does not declare ({declared})"


def test_the_check_stage_declares_every_section_and_download_depends_on_it() -> None:
    from depthpipe.config import Params

    sections = {f.alias or n for n, f in Params.model_fields.items()}
    assert set(STAGES["check"]["params"]) == sections
    assert "reports/check.json" in STAGES["download"]["deps"]


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_only_the_tracking_package_imports_mlflow() -> None:
    """No module outside ``depthpipe.tracking`` (its package and submodules) and no stage script imports
    ``mlflow`` or any of its submodules, at module level or inside a function."""
    offenders = [
        f"{name} (line {imp.line})"
        for name, path in MODULES.items()
        if name != "depthpipe.tracking" and not name.startswith("depthpipe.tracking.")
        for imp in imports_of(path.read_text())
        if imp.module.split(".")[0] == "mlflow"
    ]
    offenders += [
        f"{script.relative_to(REPO)} (line {imp.line})"
        for script in sorted((REPO / "pipeline").glob("*.py"))
        for imp in imports_of(script.read_text())
        if imp.module.split(".")[0] == "mlflow"
    ]
    assert not offenders, f"mlflow imported outside depthpipe.tracking: {offenders}"


def test_function_local_imports_are_only_the_slow_ones() -> None:
    offenders = [
        f"{name}:{imp.line} imports {imp.module}"
        for name, path in MODULES.items()
        for imp in imports_of(path.read_text())
        if imp.local
        and imp.module.split(".")[0] not in LOCAL_IMPORTS
        and not any(name == m or name.startswith(m + ".") for m in LOCAL_IMPORTERS)
    ]
    assert not offenders, f"function-local imports outside {sorted(LOCAL_IMPORTS)}: {offenders}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_says_first_what_it_holds(name: str) -> None:
    doc = ast.get_docstring(ast.parse(MODULES[name].read_text()))
    assert doc and doc.splitlines()[0].strip(), f"{name}: no module docstring"


def test_readme_layout_lists_every_package() -> None:
    readme = (REPO / "README.md").read_text()
    layout = readme[readme.index("## Layout") :]
    packages = sorted(
        {p.parent.relative_to(SRC / "depthpipe").as_posix() for p in (SRC / "depthpipe").rglob("__init__.py")} - {"."}
    )
    missing = [p for p in packages if f" {p.split('/')[-1]}/ " not in layout]
    assert not missing, f"README's layout does not list {missing}"


MAX_FUNCTION_LINES, MAX_MODULE_LINES = 60, 400


def test_no_function_over_60_lines_and_no_module_over_400() -> None:
    offenders = []
    for path in sorted([*(REPO / "src" / "depthpipe").rglob("*.py"), *(REPO / "pipeline").rglob("*.py")]):
        text, where = path.read_text(), path.relative_to(REPO)
        if len(text.splitlines()) > MAX_MODULE_LINES:
            offenders.append(f"{where}: {len(text.splitlines())} lines")
        offenders += [
            f"{where}:{node.lineno} {node.name}: {node.end_lineno - node.lineno + 1} lines"
            for node in ast.walk(ast.parse(text))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno is not None
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
        ]
    assert not offenders, f"over {MAX_FUNCTION_LINES} lines a function or {MAX_MODULE_LINES} a module: {offenders}"
