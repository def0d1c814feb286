"""The package's layering, read from its source (imports under ``TYPE_CHECKING`` included).

The local platform imports nothing from the client side but the import-free shared modules;
those import no module of the package; the constants they hold, and every other constant, are
defined once.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "picsellia_tf"
SHARED = {"picsellia_tf._limits", "picsellia_tf._colors"}
"""Modules that import nothing of the package: both sides may use them."""


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    base = PACKAGE.parent.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports(path: Path) -> set[str]:
    """The package's modules that ``path`` imports, anywhere in it."""
    found: set[str] = set()
    package = module_name(path) if path.name == "__init__.py" else module_name(path.parent)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{alias.name}" for alias in node.names]
            names = [n if is_module(n) else base for n in names]
        else:
            continue
        found.update(n for n in names if n.split(".")[0] == "picsellia_tf")
    return found


def sources() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def test_the_local_platform_imports_nothing_from_the_client_side() -> None:
    wrong = {
        (name, imported)
        for name, path in sources().items()
        if name.startswith("picsellia_tf.local.") or name == "picsellia_tf.local"
        for imported in imports(path)
        if not imported.startswith("picsellia_tf.local") and imported not in SHARED
    }
    assert not wrong, sorted(wrong)
    assert imports(PACKAGE / "local" / "handlers" / "projects.py") >= {"picsellia_tf._limits"}


def test_the_shared_modules_import_nothing_of_the_package() -> None:
    for name in SHARED:
        assert imports(sources()[name]) == set(), name


def test_the_shared_limits_are_defined_once() -> None:
    limits = ast.parse((PACKAGE / "_limits.py").read_text(encoding="utf-8"))
    names = {
        target.id
        for node in limits.body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        for target in ([node.target] if isinstance(node, ast.AnnAssign) else node.targets)
        if isinstance(target, ast.Name)
    }
    assert {"MAX_TAG_LENGTH", "TOOLS", "ROLES", "QA_TYPES", "PROJECT_TYPES"} <= names
    defined = re.compile(rf"^\s*({'|'.join(sorted(names))})\s*(:[^=]*)?=", re.MULTILINE)
    again = [
        f"{name}: {match[1]}"
        for name, path in sources().items()
        if name != "picsellia_tf._limits"
        for match in defined.finditer(path.read_text(encoding="utf-8"))
    ]
    assert not again, again


def constants(path: Path) -> dict[str, str]:
    """The module-level upper-case names ``path`` assigns, each with its value's source."""
    text = path.read_text(encoding="utf-8")
    found = {}
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
            for target in targets:
                if isinstance(target, ast.Name) and re.fullmatch(r"_?[A-Z][A-Z0-9_]*", target.id):
                    found[target.id] = ast.get_source_segment(text, node.value) or ""
    return found


def test_no_constant_is_written_twice() -> None:
    # a copy is the same name given the same value, or the same list of words under any name
    by_name: dict[tuple[str, str], list[str]] = {}
    by_words: dict[tuple[str, ...], list[str]] = {}
    for module, path in sources().items():
        for name, value in constants(path).items():
            if value.startswith("TypeVar("):
                continue
            by_name.setdefault((name.lstrip("_"), value), []).append(f"{module}.{name}")
            try:
                literal = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                continue
            if isinstance(literal, tuple | list | set | frozenset) and len(literal) > 1:
                if all(isinstance(item, str) for item in literal):
                    by_words.setdefault(tuple(sorted(literal)), []).append(f"{module}.{name}")
    copies = [where for where in [*by_name.values(), *by_words.values()] if len(where) > 1]
    assert not copies, copies


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (each an import cycle)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph.get(node, ())):
            if other not in graph:
                continue
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


KNOWN_CYCLES: list[list[str]] = []


def test_the_import_graph_has_no_cycle_type_only_imports_included() -> None:
    graph = {name: imports(path) - {name} for name, path in sources().items()}
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert "picsellia_tf.client" in graph["picsellia_tf.local_platform"]  # the reader reads
    assert cycles(graph) == KNOWN_CYCLES


def test_data_flows_transport_then_endpoints_then_client() -> None:
    # _http <- api <- client <- features: the transport knows nothing of the endpoint groups
    # or the Client, the groups nothing of the Client (they are typed against _http.Transport).
    graph = {name: imports(path) for name, path in sources().items()}
    upper = ("picsellia_tf.api", "picsellia_tf.client")
    for name in ("picsellia_tf._http", "picsellia_tf._watchdog", "picsellia_tf._retry"):
        assert not [i for i in graph[name] if i.startswith(upper)], name
    groups = [name for name in graph if name.startswith("picsellia_tf.api")]
    assert len(groups) >= 7 and "picsellia_tf.api.account" in groups
    assert not [(n, i) for n in groups for i in graph[n] if i.startswith("picsellia_tf.client")]
    assert "picsellia_tf._http" in graph["picsellia_tf.api._base"]
    assert {"picsellia_tf._http", "picsellia_tf.api"} <= graph["picsellia_tf.client"]
