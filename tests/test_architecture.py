"""The package's shape: no import circle between its modules, counting imports inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "ser_keras"


def _module_name(path: Path) -> str:
    parts = path.with_suffix("").relative_to(PACKAGE.parent).parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes inside ``if TYPE_CHECKING:`` blocks (annotations only, never run)."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING":
            skipped.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    return skipped


def import_graph(*, annotations: bool = False) -> dict[str, set[str]]:
    """Module -> the package modules it imports, at module level or inside functions (and, with
    ``annotations``, inside ``if TYPE_CHECKING:`` blocks too)."""
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text())
        skipped = set() if annotations else _type_checking_nodes(tree)
        deps = set()
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".")
                    base = base if is_package else base[:-1]
                    base = base[: len(base) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                candidates = [target, *(f"{target}.{alias.name}" for alias in node.names)]
                deps.update(c for c in candidates if c in files)
            elif isinstance(node, ast.Import):
                deps.update(alias.name for alias in node.names if alias.name in files)
        deps.discard(name)
        # a package's own __init__ is imported with any of its modules: not an edge back into it
        graph[name] = {d for d in deps if not name.startswith(d + ".")}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for dep in sorted(graph[node]):
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_package_has_no_import_circle():
    graph = import_graph()
    assert graph["ser_keras.training.train"] >= {
        "ser_keras.training.fit_keras",
        "ser_keras.training.fit_sklearn",
    }  # the graph sees imports
    assert "ser_keras.runs.inference" in graph["ser_keras.serving.predict"]  # including those inside functions
    assert cycles(graph) == []


def test_features_form_layers_even_counting_annotations():
    """config below every computation, the registry above them: a reader meets each definition once."""
    graph = import_graph(annotations=True)
    features = {m: {d for d in deps if d.startswith("ser_keras.features")} for m, deps in graph.items()}
    features = {m: deps for m, deps in features.items() if m.startswith("ser_keras.features")}
    assert cycles(features) == []
    assert features["ser_keras.features.config"] == set()
    assert "ser_keras.features.config" in features["ser_keras.features.utterance_graph"]
    users = [m for m, deps in features.items() if "ser_keras.features.registry" in deps]
    assert users == ["ser_keras.features"], users


def test_the_cycle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _stage(module: str) -> int:
    """A module's place in `ser_keras.STAGES` (1-based); 0 for the core modules at the top."""
    from ser_keras import STAGES

    parts = module.split(".")
    return STAGES.index(parts[1]) + 1 if len(parts) > 1 and parts[1] in STAGES else 0


#: The package's front doors, which may name any stage (lazily): its namespace, its API and ``python -m``.
FRONT_DOORS = ("ser_keras", "ser_keras.__main__", "ser_keras.api")


def test_no_import_runs_upward_between_the_stages():
    """signal -> data -> ... -> cli: a module imports from its own stage, earlier ones and the core, never later."""
    upward = sorted(
        f"{module} -> {dep}"
        for module, deps in import_graph().items()
        if module not in FRONT_DOORS
        for dep in deps
        if dep != "ser_keras" and _stage(dep) > _stage(module)
    )
    assert upward == []


def test_the_stages_have_no_circle_and_the_top_holds_at_most_ten_modules():
    from ser_keras import STAGES

    graph = import_graph()
    stages = {}
    for module, deps in graph.items():
        if module in FRONT_DOORS:
            continue
        stages.setdefault(_stage(module), set()).update(_stage(d) for d in deps if _stage(d) != _stage(module))
    assert cycles(stages) == []
    assert sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()) == sorted([*STAGES])
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 10, top


def test_every_stage_says_what_it_is_for_and_names_its_public_api():
    from importlib import import_module

    from ser_keras import STAGES

    for stage in STAGES:
        package = import_module(f"ser_keras.{stage}")
        assert package.__doc__ and len(package.__doc__.split()) > 20, stage
        assert len(package.__all__) >= 3, stage
        for name in package.__all__:
            assert getattr(package, name) is not None, (stage, name)
