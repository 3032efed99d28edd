"""The engine's shape holds: its layers import one way (lower to higher), it never
imports Dagster, and the README's Layout section names every one of its modules."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENGINE = REPO / "anon_pipeline" / "engine"
LAYERS = ["dicom", "rules", "disk", "files", "batch", "release"]  # lowest first
MODULES = sorted(p for p in ENGINE.rglob("*.py") if p.name != "__init__.py")


def layer_of(path: Path) -> str:
    """The layer a module belongs to: the folder right under engine/."""
    return path.relative_to(ENGINE).parts[0]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):  # function-level imports count too
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_every_engine_module_sits_in_a_layer():
    assert {layer_of(p) for p in MODULES} == set(LAYERS)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ENGINE)))
def test_a_layer_imports_only_the_layers_below_it(path):
    own = LAYERS.index(layer_of(path))
    for module in imported_modules(path):
        if module.startswith("dagster"):
            pytest.fail(f"{path.name} imports {module}: the engine never imports Dagster")
        parts = module.split(".")
        if parts[:2] == ["anon_pipeline", "engine"] and len(parts) > 2 and parts[2] in LAYERS:
            assert LAYERS.index(parts[2]) <= own, f"{path.name} imports {module} from above"
        assert parts[:2] not in (["anon_pipeline", "defs"], ["anon_pipeline", "cli"]), module


def test_the_readme_layout_names_every_engine_module():
    readme = (REPO / "README.md").read_text()
    layout = readme[readme.index("## Layout") :]
    layout = layout[: layout.index("```", layout.index("```") + 3)]
    sections = {}  # each layer's lines: from its heading to the next one's
    starts = sorted((layout.find(f"  {layer}/"), layer) for layer in LAYERS)
    for (start, layer), (end, _) in zip(starts, [*starts[1:], (len(layout), "")], strict=True):
        sections[layer] = layout[start:end] if start >= 0 else ""
    missing = [
        str(path.relative_to(ENGINE))
        for path in MODULES
        if f"{path.stem}.py" not in sections[layer_of(path)]
    ]
    assert not missing, f"README's Layout does not name: {missing}"


FACED = ["batch", "disk"]  # subpackages whose __init__ is what the rest of the project uses
FRONTS = sorted(
    p
    for p in (REPO / "anon_pipeline").rglob("*.py")
    if ENGINE not in p.parents and "synthetic" not in p.parts
)


@pytest.mark.parametrize("path", FRONTS, ids=lambda p: str(p.relative_to(REPO)))
def test_the_cli_and_dagster_use_the_faces_of_batch_and_disk(path):
    """Outside the engine, `batch` and `disk` are imported by their faces (their
    __init__), so their modules can move without touching the CLI or the definitions."""
    tree = ast.parse(path.read_text())
    deep = [
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and node.module
        and any(node.module.startswith(f"anon_pipeline.engine.{face}.") for face in FACED)
    ]
    assert not deep, f"{path.name} imports {deep}: import them from their subpackage"


def test_each_face_exports_names_its_subpackage_defines():
    import importlib

    for face in FACED:
        module = importlib.import_module(f"anon_pipeline.engine.{face}")
        missing = [name for name in module.__all__ if not hasattr(module, name)]
        assert not missing, f"engine.{face} lists {missing} but does not define them"
