"""The layers a reader sees in the folders hold in the import graph.

``sifuwu/`` is the runtime every service imports; ``services/`` the four services;
``tooling/`` what operators and developers run. The contracts are in
pyproject.toml (``[tool.importlinter]``); this test runs them and also refuses any
import cycle between modules, imports inside functions included.
"""

import sys
from pathlib import Path

import grimp
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("sifuwu", "services", "tooling")


def test_layer_contracts_are_kept(monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.syspath_prepend(str(ROOT))
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"),
                        no_cache=True) == 0


def strongly_connected(graph):
    """Tarjan's algorithm over ``graph`` (module -> imported modules)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            found.append(component)

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_through_others():
    built = grimp.build_graph(*PACKAGES, cache_dir=None)
    graph = {module: built.find_modules_directly_imported_by(module)
             for module in built.modules}
    # a package importing its own submodules (``from pkg import a``) is not a cycle
    # of modules; drop edges from a package to its children and back
    for module, targets in graph.items():
        graph[module] = {t for t in targets if t in graph
                         and not t.startswith(module + ".")
                         and not module.startswith(t + ".")}
    cycles = [sorted(c) for c in strongly_connected(graph) if len(c) > 1]
    assert cycles == []


def test_the_cycle_check_finds_a_cycle():
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) \
        == [{"a", "b", "c"}, {"d"}]
