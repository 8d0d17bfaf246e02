"""The architecture holds: imports flow one way through the layers, no circles, no private name
crosses packages.

Layers, bottom to top (a package may import only from packages below it):
devices, data -> crossbar -> networks -> solvers -> learning -> experiments -> sweeps -> cli;
plotting sits beside cli, as the CLI's only helper for figures: it may import what is below
experiments, and the sweeps store it draws, never the studies nor the CLI, and only the CLI
imports it. The root-level modules (errors, io, progress and the
memprop-wide internals _validate, _atomic, _rng, _runtime) sit below everything.

Every ``import`` statement counts, including those inside functions (a lazy import is still a
dependency). Checked by parsing the source with ``ast``, so nothing is imported to check it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "memprop"

LEVEL = {
    "devices": 1, "data": 1,
    "crossbar": 2,
    "networks": 3,
    "solvers": 4,
    "learning": 5,
    "experiments": 6,
    "sweeps": 7,
    "plotting": 8,
    "cli": 9,
}
FORBIDDEN = {"plotting": {"experiments", "cli"}}
"""Edges the levels would allow but the design forbids (plots read results, never rerun studies)."""
ROOT_API = {"__init__", "__main__"}
"""Root modules that re-export the public API or start the CLI (they may import anything)."""


def _modules():
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).with_suffix("")
        yield path, rel.parts


def _package(parts: tuple[str, ...]) -> str | None:
    """The top-level subpackage of a module (None for root-level modules)."""
    return parts[0] if len(parts) > 1 else None


def _resolve(parts: tuple[str, ...], node: ast.ImportFrom | ast.Import) -> list[tuple[tuple[str, ...], list[str]]]:
    """(target module parts inside memprop, imported names) for each memprop import."""
    out = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name == "memprop" or alias.name.startswith("memprop."):
                out.append((tuple(alias.name.split(".")[1:]), []))
        return out
    names = [a.name for a in node.names]
    if node.level:
        base = list(parts[:-1])  # the module's package
        if node.level > 1:
            base = base[: len(base) - (node.level - 1)]
        target = tuple(base + (node.module.split(".") if node.module else []))
    elif node.module and (node.module == "memprop" or node.module.startswith("memprop.")):
        target = tuple(node.module.split(".")[1:])
    else:
        return out
    out.append((target, names))
    return out


def _edges():
    for path, parts in _modules():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target, names in _resolve(parts, node):
                    yield path, parts, target, names


def test_imports_follow_the_layers():
    bad = []
    for path, parts, target, _ in _edges():
        src, dst = _package(parts), (target[0] if target and (target[0] in LEVEL) else None)
        if src is None or dst is None or src == dst:
            continue  # root modules, root-level targets, imports inside a package
        if LEVEL[dst] >= LEVEL[src] or dst in FORBIDDEN.get(src, ()):
            bad.append(f"{path.relative_to(SRC)} imports {'.'.join(target)} ({src} -> {dst})")
    assert not bad, "imports against the layering:\n" + "\n".join(bad)


def test_root_modules_import_no_layer():
    bad = []
    for path, parts, target, _ in _edges():
        if len(parts) == 1 and parts[0] not in ROOT_API and target and target[0] in LEVEL:
            bad.append(f"{path.relative_to(SRC)} imports {'.'.join(target)}")
    assert not bad, "root-level modules must sit below every layer:\n" + "\n".join(bad)


def test_no_circle_between_packages():
    graph: dict[str, set[str]] = {}
    for _, parts, target, _ in _edges():
        src, dst = _package(parts), (target[0] if target and target[0] in LEVEL else None)
        if src and dst and src != dst:
            graph.setdefault(src, set()).add(dst)
    state: dict[str, int] = {}

    def visit(node, stack):
        if state.get(node) == 1:
            raise AssertionError("import circle: " + " -> ".join([*stack, node]))
        if state.get(node) == 2:
            return
        state[node] = 1
        for nxt in graph.get(node, ()):
            visit(nxt, [*stack, node])
        state[node] = 2

    for node in list(graph):
        visit(node, [])


def test_private_names_do_not_cross_packages():
    bad = []
    for path, parts, target, names in _edges():
        src = _package(parts)
        dst = target[0] if len(target) > 1 or (target and target[0] in LEVEL) else None
        if dst is None or dst == src:
            continue  # root-level internals are memprop-wide; a package's own privates are its own
        private_module = any(p.startswith("_") and p != "__init__" for p in target[1:])
        private_names = [n for n in names if n.startswith("_") and not n.startswith("__")]
        if private_module or private_names:
            bad.append(f"{path.relative_to(SRC)}: {'.'.join(target)} {private_names or ''}")
    assert not bad, "private names used across packages:\n" + "\n".join(bad)


@pytest.mark.parametrize("package", ["experiments"])
def test_studies_hold_no_argparse_and_no_plotting(package):
    bad = []
    for path in sorted((SRC / package).rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            mods = []
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                mods = [node.module]
            for m in mods:
                if m.split(".")[0] in ("argparse", "matplotlib") or "plotting" in m.split("."):
                    bad.append(f"{path.relative_to(SRC)} imports {m}")
    assert not bad, "\n".join(bad)
