"""The shape of the code: every module imports only its own layer and the layers below it
(``rasd.LAYERS``), and no module imports another that (directly or not) imports it back.
Every import counts, also those inside functions: a lazy upward import is still upward."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import rasd

PACKAGES = ("rasd", "rasd.crawler", "rasd.pipelines", "rasd.scheduler")


def modules() -> dict[str, Path]:
    """``{module name: file}`` of every module of the installed ``rasd`` package."""
    out: dict[str, Path] = {}
    for pkg in PACKAGES:
        root = Path(importlib.util.find_spec(pkg).submodule_search_locations[0])
        for path in root.rglob("*.py"):
            rel = path.relative_to(root).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            name = ".".join([pkg, *parts])
            if name.split(".")[1:2] in (["crawler"], ["pipelines"], ["scheduler"]) and pkg == "rasd":
                continue
            out[name] = path
    return out


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The Rasd modules ``name`` imports (``from a.b import c`` counts ``a.b.c`` when that is a
    module, else ``a.b``); relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        found.update(t for t in targets if t == "rasd" or t.startswith("rasd."))
    return found - {name}


def layer(module: str) -> int:
    """Index of ``module``'s layer in ``rasd.LAYERS``; the package root ``rasd`` is below all."""
    matches = [i for i, lay in enumerate(rasd.LAYERS) if module == lay or module.startswith(lay + ".")]
    return matches[-1] if matches else -1


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: {t for t in imports(name, path, known) if t in known}
            for name, path in mods.items()}


def test_every_module_is_in_a_layer():
    assert [m for m in modules() if m != "rasd" and layer(m) < 0] == []


def test_no_upward_import():
    upward = [f"{m} ({rasd.LAYERS[layer(m)]}) imports {t} ({rasd.LAYERS[layer(t)]})"
              for m, targets in graph().items() for t in sorted(targets) if layer(t) > layer(m)]
    assert upward == []


def test_no_import_cycle():
    g, index, low, stack, on, cycles = graph(), {}, {}, [], set(), []

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in g[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    assert cycles == []


def test_the_shape_checker_sees_a_real_graph():
    g = graph()
    assert len(g) > 60
    assert "rasd.core.article" in g["rasd.pipelines.dedup"]
    assert layer("rasd.cli.main") == len(rasd.LAYERS) - 1 and layer("rasd.core.urls") == 0
