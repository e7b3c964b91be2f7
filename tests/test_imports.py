"""The import graph: no module imports both a neural network library and telegram.

The bot renders challenges in worker threads of a process that must start in a second and stay
small, so nothing it imports may pull in torch; the engine explains images with torch and must not
drag the Telegram library along. import-linter's contracts (pyproject.toml) state the package
rules; this test states the per-module rule, following each module's own imports to the end.
"""

from __future__ import annotations

import grimp
import pytest

PACKAGES = ("inv", "bot", "engine", "storage", "testkit")
# External packages that import torch themselves (spacy does through thinc).
TORCH = frozenset({"torch", "torchvision", "timm", "sentence_transformers", "spacy", "thinc"})
TELEGRAM = frozenset({"telegram"})
# The shell's modules that run the explainer and the bot in one process on purpose: the command
# line (which offers every subcommand) and the offline demo (which explains photos, then plays).
BOTH_ON_PURPOSE = frozenset({"inv.cli", "inv.commands.demo", "inv.demo.run"})


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, include_external_packages=True, cache_dir=None)


def _reaches(graph: grimp.ImportGraph, module: str, roots: frozenset[str]) -> bool:
    return any(name.split(".")[0] in roots for name in graph.find_upstream_modules(module))


def test_no_module_imports_both_torch_and_telegram(graph: grimp.ImportGraph) -> None:
    ours = sorted(m for m in graph.modules if m.split(".")[0] in PACKAGES)
    assert len(ours) > 50
    both = [
        m
        for m in ours
        if m not in BOTH_ON_PURPOSE and _reaches(graph, m, TORCH) and _reaches(graph, m, TELEGRAM)
    ]
    assert both == []


def test_the_check_sees_indirect_imports(graph: grimp.ImportGraph) -> None:
    # The bot reaches telegram directly; torch would arrive only through the engine.
    assert _reaches(graph, "bot.app", TELEGRAM)
    assert _reaches(graph, "engine.precompute", TORCH)
    assert _reaches(graph, "inv.demo.run", TORCH) and _reaches(graph, "inv.demo.run", TELEGRAM)


def test_the_shell_exceptions_still_need_their_exemption(graph: grimp.ImportGraph) -> None:
    # An exemption that no longer applies would hide a future breach: keep the list exact.
    for module in BOTH_ON_PURPOSE:
        assert _reaches(graph, module, TORCH) and _reaches(graph, module, TELEGRAM), module
