"""The import graph of the four packages, read with ``ast``: no cycle between modules, and dependencies point the
way DESIGN.md draws them.

Only module-level imports count (what runs on ``import``): statements at the top of a module and inside
module-level ``if``/``try``/``with`` blocks and class bodies, but not inside functions, and not under
``if TYPE_CHECKING:``. An import of ``a.b.c`` is an edge to ``a.b.c`` (``from a.b import c``: to ``a.b.c`` when
that is a module, else to ``a.b``).

Forbidden, directly or through other modules of the tree (the path is shown):

* ``rewardlab`` -> ``llm_reward`` or ``stable_baselines3`` (the core reaches them only by name, through registries);
* ``envs`` -> ``rewardlab``, ``agents`` or ``llm_reward`` (worlds use nothing of the others);
* ``agents`` -> ``llm_reward`` (an LLM judge reaches a trainer as a RewardSource object).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("rewardlab", "envs", "agents", "llm_reward")

FORBIDDEN = {
    "rewardlab": ("llm_reward", "stable_baselines3"),
    "envs": ("rewardlab", "agents", "llm_reward"),
    "agents": ("llm_reward",),
}

# Known edges in files other engineers are restructuring now (issue 10: the llm_reward cycles, rewardlab/cli.py).
# Each entry is (importer, imported) at module level; remove it when its fix lands. Keep both lists empty if you can.
KNOWN_CYCLE_EDGES: set[tuple[str, str]] = set()
KNOWN_FORBIDDEN_EDGES: set[tuple[str, str]] = set()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> dict[str, Path]:
    files: dict[str, Path] = {}
    for pkg in PACKAGES:
        for path in sorted((REPO / pkg).rglob("*.py")):
            files[module_name(path)] = path
    return files


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def module_level_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements that run when the module is imported."""
    stack: list[ast.stmt] = list(reversed(tree.body))
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            body = [] if _is_type_checking(node.test) else node.body
            stack.extend(reversed([*body, *node.orelse]))
        elif isinstance(node, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            handlers = [s for h in node.handlers for s in h.body]
            stack.extend(reversed([*node.body, *handlers, *node.orelse, *node.finalbody]))
        elif isinstance(node, (ast.With, ast.ClassDef, ast.For, ast.While)):
            stack.extend(reversed(node.body))
        # function bodies run when called, not on import


def imported_names(name: str, path: Path, modules: set[str]) -> set[str]:
    """Absolute names of what module ``name`` imports at module level."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in module_level_imports(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            out.add(sub if sub in modules else base)
    return out


def build_graph() -> dict[str, set[str]]:
    """Module -> what it imports at module level (modules of the tree and outside names alike)."""
    files = source_files()
    modules = set(files)
    return {name: imported_names(name, path, modules) for name, path in files.items()}


def cycles(graph: dict[str, set[str]], ignore: set[tuple[str, str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (or a module importing itself), via Tarjan."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0

    def edges(v: str) -> list[str]:
        return sorted(w for w in graph[v] if w in graph and (v, w) not in ignore)

    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(edges(root)))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(edges(w))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1 or v in edges(v):
                        found.append(sorted(comp))
    return found


def forbidden_paths(graph: dict[str, set[str]], ignore: set[tuple[str, str]]) -> list[str]:
    """Every module of a restricted package that reaches a forbidden one, with the shortest path to it."""
    bad = []
    for name in sorted(graph):
        top = name.split(".")[0]
        banned = FORBIDDEN.get(top, ())
        if not banned:
            continue
        # breadth-first over module-level imports, staying inside the tree
        prev: dict[str, str | None] = {name: None}
        queue = [name]
        hit = None
        while queue and hit is None:
            v = queue.pop(0)
            for w in sorted(graph.get(v, ())):
                if (v, w) in ignore or w in prev:
                    continue
                prev[w] = v
                if w.split(".")[0] in banned:
                    hit = w
                    break
                if w in graph:
                    queue.append(w)
        if hit is not None:
            path = [hit]
            while prev[path[-1]] is not None:
                path.append(prev[path[-1]])  # type: ignore[arg-type]
            bad.append(" -> ".join(reversed(path)))
    return bad


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return build_graph()


def test_the_graph_sees_every_package(graph: dict[str, set[str]]) -> None:
    for pkg in PACKAGES:
        assert pkg in graph, f"{pkg}/__init__.py not found"
    assert "rewardlab.rewards.base" in graph["rewardlab.rewards.compose"]
    assert "rewardlab.rewards.compose" not in graph["rewardlab.rewards.base"]


def test_no_import_cycle(graph: dict[str, set[str]]) -> None:
    found = cycles(graph, KNOWN_CYCLE_EDGES)
    assert not found, "module-level import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_no_forbidden_dependency(graph: dict[str, set[str]]) -> None:
    found = forbidden_paths(graph, KNOWN_FORBIDDEN_EDGES)
    assert not found, "forbidden module-level imports (DESIGN.md: dependencies point one way):\n" + "\n".join(found)


def test_the_checks_catch_what_they_look_for() -> None:
    g = {"rewardlab.a": {"rewardlab.b"}, "rewardlab.b": {"rewardlab.a", "numpy"}, "envs.x": {"envs.y"}}
    g["envs.y"] = {"rewardlab.rewards"}
    g["agents.z"] = {"agents.w"}
    g["agents.w"] = {"llm_reward.search"}
    g["rewardlab.c"] = {"agents.z"}
    g["rewardlab.d"] = {"stable_baselines3.common"}
    assert cycles(g, set()) == [["rewardlab.a", "rewardlab.b"]]
    assert cycles(g, {("rewardlab.b", "rewardlab.a")}) == []
    assert forbidden_paths(g, set()) == [
        "agents.w -> llm_reward.search",
        "agents.z -> agents.w -> llm_reward.search",
        "envs.x -> envs.y -> rewardlab.rewards",
        "envs.y -> rewardlab.rewards",
        "rewardlab.c -> agents.z -> agents.w -> llm_reward.search",
        "rewardlab.d -> stable_baselines3.common",
    ]


def test_type_checking_blocks_and_function_bodies_are_not_module_level(tmp_path: Path) -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "import a\n"
        "if TYPE_CHECKING:\n    import b\nelse:\n    import c\n"
        "try:\n    import d\nexcept ImportError:\n    import e\n"
        "def f():\n    import g\n"
        "class K:\n    import h\n"
    )
    names = {alias.name for node in module_level_imports(tree) for alias in node.names}
    assert names == {"TYPE_CHECKING", "a", "c", "d", "e", "h"}
