"""The engine's shape, read from its source with ``ast`` (nothing is imported).

Stages run in the order of the pipeline diagram, and a module may import only its own
stage and earlier ones:

    common < data < graph, split < walks < cluster < models < evaluation < explore
           < pipeline < jobs < studies, tuning < cli

``common`` is the plumbing every stage may use (settings, cache, progress, alias tables,
the kernels' RNG). ``graph`` and ``split`` both turn the data into what the walks and
models read and do not import each other. ``cluster`` (the Ray executor's connection
and walk shards) needs only the walks; the pipeline uses it when connected. ``jobs``
executes pipeline runs; a study submits runs through jobs, so does a tune (its trials are
runs), and the CLI fronts all of it.
Imports inside functions count like any other: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ENGINE = REPO / "recsys_core"

STAGES: tuple[tuple[str, ...], ...] = (
    ("common",),
    ("data",),
    ("graph", "split"),
    ("walks",),
    ("cluster",),
    ("models",),
    ("evaluation",),
    ("explore",),
    ("pipeline",),
    ("jobs",),
    ("studies", "tuning"),
    ("cli",),
)
RANK = {name: rank for rank, names in enumerate(STAGES) for name in names}
# The package's own files: __init__ holds only the version; __main__ is the CLI's door.
PACKAGE_FILES = {"recsys_core": -1, "recsys_core.__main__": RANK["cli"]}
APP_SIDE = ("streamlit", "ui", "pages", "app", "bench", "tests")
MAX_LOOSE_MODULES = 7

# Import name -> distribution name, where they differ.
DISTRIBUTIONS = {
    "sklearn": "scikit-learn",
    "umap": "umap-learn",
    "numba_progress": "numba-progress",
    "faiss": "faiss-cpu",
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def engine_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ENGINE.rglob("*.py"))}


def imports_of(path: Path, known: set[str] | None = None) -> list[tuple[str, int]]:
    """Every module ``path`` imports (absolute names, relative ones resolved) with its line.

    ``from package import name`` counts as importing ``package.name`` when that is one of
    the ``known`` modules.
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((module, node.lineno))
            for alias in node.names:
                full = f"{module}.{alias.name}"
                if known is not None and full in known:
                    found.append((full, node.lineno))
    return found


def rank_of(module: str) -> int:
    if module in PACKAGE_FILES:
        return PACKAGE_FILES[module]
    stage = module.split(".")[1]
    if stage not in RANK:
        raise AssertionError(
            f"{module} belongs to no stage: add {stage!r} to STAGES in {Path(__file__).name} "
            "where it sits in the pipeline"
        )
    return RANK[stage]


def engine_edges() -> list[tuple[str, str, int]]:
    modules = engine_modules()
    known = set(modules)
    edges = []
    for name, path in modules.items():
        for target, line in imports_of(path, known):
            if target == "recsys_core" or target.startswith("recsys_core."):
                edges.append((name, target, line))
    return edges


def test_every_engine_module_belongs_to_a_stage():
    for name in engine_modules():
        rank_of(name)  # raises with the fix when a new folder or module has no place


def test_no_stage_imports_a_later_stage():
    wrong = []
    for source, target, line in engine_edges():
        if target == "recsys_core":
            continue  # the package itself: only its version
        if rank_of(target) > rank_of(source):
            wrong.append(f"{source}:{line} imports {target}")
    assert not wrong, "a stage imports a later one:\n" + "\n".join(wrong)


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_graph_and_split_stand_side_by_side():
    between = [
        f"{s}:{line} imports {t}"
        for s, t, line in engine_edges()
        if {_stage(s), _stage(t)} == {"graph", "split"}
    ]
    assert not between, "\n".join(between)


def test_the_engine_imports_no_streamlit_and_nothing_of_the_app():
    wrong = []
    for name, path in engine_modules().items():
        for target, line in imports_of(path):
            if target.split(".")[0] in APP_SIDE:
                wrong.append(f"{name}:{line} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_at_most_seven_loose_modules_beside_the_stage_folders():
    loose = sorted(p.stem for p in ENGINE.glob("*.py") if not p.stem.startswith("__"))
    folders = sorted(p.name for p in ENGINE.iterdir() if (p / "__init__.py").is_file())
    assert len(loose) <= MAX_LOOSE_MODULES, f"loose modules: {loose}; stage folders: {folders}"
    for name in loose + folders:
        assert name in RANK, f"recsys_core/{name} is in no stage of STAGES"


def test_the_import_graph_reader_sees_lazy_and_relative_imports(tmp_path, monkeypatch):
    # The checks above are only as good as this reader: a function-level import, a
    # relative import and ``from package import module`` must all be seen.
    fake_repo = tmp_path
    pkg = fake_repo / "recsys_core" / "models"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "m.py").write_text(
        "def f():\n"
        "    from recsys_core.evaluation import auc\n"
        "    from ..jobs import store\n"
        "    import streamlit\n"
    )
    monkeypatch.setitem(globals(), "REPO", fake_repo)
    known = {"recsys_core.evaluation.auc"}
    found = {t for t, _ in imports_of(pkg / "m.py", known)}
    assert {"recsys_core.evaluation.auc", "recsys_core.jobs", "streamlit"} <= found
    assert rank_of("recsys_core.evaluation.auc") > rank_of("recsys_core.models.m")


# -- requirements ----------------------------------------------------------------------


def _listed(path: Path) -> set[str]:
    return _listed_text(path.read_text())


def _listed_text(text: str) -> set[str]:
    """Distribution names in a requirements file, ``# optional: name...`` lines included."""
    names = set()
    for raw in text.splitlines():
        line = raw.strip()
        optional = re.match(r"#\s*optional:\s*(.*)", line)
        if optional:
            line = optional.group(1).split("(")[0]
            names.update(_name(part) for part in line.split() if _name(part))
        elif line and not line.startswith("#"):
            names.add(_name(line))
    return names


def _name(spec: str) -> str:
    return re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0].strip().lower().replace("_", "-")


def _local_names(path: Path) -> set[str]:
    here = {p.stem for p in path.parent.glob("*.py")} | {
        p.name for p in path.parent.iterdir() if p.is_dir()
    }
    top = {p.stem for p in REPO.glob("*.py")} | {p.name for p in REPO.iterdir() if p.is_dir()}
    return here | top


def test_requirements_list_every_third_party_import():
    listed = _listed(REPO / "requirements.txt") | _listed(REPO / "bench/requirements-pecanpy.txt")
    assert "torch" in listed  # the file was read
    missing = {}
    for path in sorted(REPO.rglob("*.py")):
        if any(part.startswith(".") or part == "node_modules" for part in path.parts):
            continue
        local = _local_names(path)
        for target, _ in imports_of(path):
            top = target.split(".")[0]
            if not top or top in sys.stdlib_module_names or top in local:
                continue
            dist = DISTRIBUTIONS.get(top, top).lower().replace("_", "-")
            if dist not in listed:
                missing.setdefault(dist, str(path.relative_to(REPO)))
    assert not missing, f"imported but not in requirements.txt: {missing}"


@pytest.mark.parametrize(
    ("line", "name"),
    [
        ("torch==2.13.0", "torch"),
        ("numpy>=2.0,<3", "numpy"),
        ("numba_progress>=1.0", "numba-progress"),
    ],
)
def test_requirement_names_are_read_without_their_versions(line, name):
    assert _name(line) == name
    assert _listed_text(f"# optional: {line} other  (why)") == {name, "other"}
