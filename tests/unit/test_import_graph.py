"""No import circles in the engine, its local runtime, the local tools or the bench: every import counts,
the ones inside functions too (a lazy import is a circle hidden, not removed); only `if TYPE_CHECKING:`
imports are left out, since they never run."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ((ROOT / "layers" / "shared", "pushengine"), (ROOT, "samlocal"), (ROOT, "local"), (ROOT, "bench"))


def modules(packages: tuple[tuple[Path, str], ...]) -> dict[str, Path]:
    found = {}
    for base, package in packages:
        for path in sorted((base / package).rglob("*.py")):
            parts = list(path.relative_to(base).with_suffix("").parts)
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def import_graph(found: dict[str, Path]) -> dict[str, set[str]]:
    def known(name: str) -> str | None:  # the module a dotted name lives in (a.b.func -> a.b)
        while name and name not in found:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in found.items():
        tree = ast.parse(path.read_text())
        typing_only = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
                       and "TYPE_CHECKING" in ast.unparse(block.test)
                       for stmt in block.body for node in ast.walk(stmt)}  # fmt: skip
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        names: list[str] = []
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                names += [f"{base}.{alias.name}" for alias in node.names]
        graph[module] = {m for m in map(known, names) if m and m != module}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        out.append(sorted(group))
    return out


def test_no_module_imports_itself_round_a_circle() -> None:
    graph = import_graph(modules(PACKAGES))
    assert len(graph) > 150  # the walk found the tree
    assert circles(graph) == []


def test_a_circle_put_back_is_found(tmp_path: Path) -> None:
    pkg = tmp_path / "shop"
    (pkg / "delivery").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "delivery" / "__init__.py").write_text("")
    (pkg / "campaigns.py").write_text("from shop.delivery import segment\n")
    (pkg / "delivery" / "segment.py").write_text("def f():\n    from shop import automation\n")
    (pkg / "automation.py").write_text("from typing import TYPE_CHECKING\nfrom . import campaigns\n")
    (pkg / "lonely.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from shop import campaigns\n")
    (pkg / "views.py").write_text("import shop.lonely\n")
    graph = import_graph(modules(((tmp_path, "shop"),)))
    assert circles(graph) == [["shop.automation", "shop.campaigns", "shop.delivery.segment"]]
