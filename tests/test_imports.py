"""The import graph: no module imports both a neural network library and telegram.

The bot renders challenges in worker threads of a process that must start in a second and stay
small, so nothing it imports may pull in torch; the engine explains images with torch and must not
drag the Telegram library along. Only the application shell, which wires the two, reaches both. import-linter's contracts (pyproject.toml) state the package
rules; this test states the per-module rule, following each module's own imports to the end.
"""

from __future__ import annotations

import grimp
import pytest

PACKAGES = ("inv", "bot", "engine", "storage", "testkit")
# External packages that import torch themselves (spacy does through thinc).
TORCH = frozenset({"torch", "torchvision", "timm", "sentence_transformers", "spacy", "thinc"})
TELEGRAM = frozenset({"telegram"})
# The application shell wires the two sides together (it hands the bot a rebuild bound to the label
# models, and the offline demo explains photos, then plays), so only its modules may reach both.
SHELL = "inv"


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, include_external_packages=True, cache_dir=None)


def _reaches(graph: grimp.ImportGraph, module: str, roots: frozenset[str]) -> bool:
    return any(name.split(".")[0] in roots for name in graph.find_upstream_modules(module))


def test_no_module_imports_both_torch_and_telegram(graph: grimp.ImportGraph) -> None:
    libraries = sorted(
        m for m in graph.modules if m.split(".")[0] in PACKAGES and m.split(".")[0] != SHELL
    )
    assert len(libraries) > 50
    both = [m for m in libraries if _reaches(graph, m, TORCH) and _reaches(graph, m, TELEGRAM)]
    assert both == []


def test_the_check_sees_indirect_imports(graph: grimp.ImportGraph) -> None:
    # The bot reaches telegram directly; torch would arrive only through the engine.
    assert _reaches(graph, "bot.app", TELEGRAM)
    assert _reaches(graph, "engine.precompute", TORCH)
    # The shell is exempt because it does join them; if it no longer did, the exemption could go.
    assert _reaches(graph, "inv.wiring", TORCH) and _reaches(graph, "inv.wiring", TELEGRAM)


def test_no_import_cycle() -> None:
    """No module reaches itself through the imports it makes at run time (type-checking imports
    aside): each package reads top to bottom."""
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True, cache_dir=None)
    imports = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    cycles = []
    done: set[str] = set()
    for start in sorted(imports):
        # Depth-first search with an explicit stack; `path` holds the modules being visited.
        path: list[str] = []
        on_path: set[str] = set()
        stack: list[tuple[str, int]] = [(start, 0)]
        while stack:
            module, next_child = stack.pop()
            if next_child == 0:
                if module in done:
                    continue
                path.append(module)
                on_path.add(module)
            children = imports.get(module, [])
            if next_child < len(children):
                stack.append((module, next_child + 1))
                child = children[next_child]
                if child in on_path:
                    cycles.append([*path[path.index(child) :], child])
                elif child not in done:
                    stack.append((child, 0))
                continue
            path.pop()
            on_path.discard(module)
            done.add(module)
    assert cycles == []
