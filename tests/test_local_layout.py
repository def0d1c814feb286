"""The local platform's shape, read from its source: handlers validate, query, answer.

Handlers run no SQL themselves (their statements live in ``local/queries``), import no other
handler module (``handlers/common.py`` is shared and holds no route), and nothing sets a
context's transaction from outside it.
"""

from __future__ import annotations

import ast
from pathlib import Path

LOCAL = Path(__file__).resolve().parents[1] / "picsellia_tf" / "local"
HANDLERS = LOCAL / "handlers"


def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def handler_modules() -> list[Path]:
    return sorted(p for p in HANDLERS.glob("*.py") if p.name != "__init__.py")


def imported_handlers(tree: ast.Module) -> set[str]:
    """The handler modules ``tree`` imports (``common`` included)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "picsellia_tf.local.handlers":
                found.update(alias.name for alias in node.names)
            elif node.module.startswith("picsellia_tf.local.handlers."):
                found.add(node.module.rsplit(".", 1)[1])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("picsellia_tf.local.handlers."):
                    found.add(alias.name.rsplit(".", 1)[1])
    return found


def test_handlers_run_no_sql_of_their_own() -> None:
    calls = [
        f"{path.name}:{node.lineno}"
        for path in handler_modules()
        for node in ast.walk(parsed(path))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"execute", "executemany", "executescript"}
    ]
    assert not calls, calls
    assert len(handler_modules()) >= 10


def test_handlers_import_no_other_handler_and_common_holds_no_route() -> None:
    wrong = {
        (path.stem, other)
        for path in handler_modules()
        for other in imported_handlers(parsed(path))
        if other != "common"
    }
    assert not wrong, sorted(wrong)
    common = parsed(HANDLERS / "common.py")
    names = {
        target.id
        for node in common.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    assert "ROUTES" not in names
    assert "Route" not in ast.unparse(common)
    # the sample is read as the test reads a handler: a cross-import is seen
    sample = ast.parse("from picsellia_tf.local.handlers.models import x\n")
    assert imported_handlers(sample) == {"models"}


def test_no_context_transaction_is_set_from_outside() -> None:
    writes = [
        f"{path.relative_to(LOCAL)}:{node.lineno}"
        for path in sorted(LOCAL.rglob("*.py"))
        for node in ast.walk(parsed(path))
        if isinstance(node, ast.Assign | ast.AugAssign)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Attribute)
        and target.attr.startswith("_")
        and not (isinstance(target.value, ast.Name) and target.value.id == "self")
    ]
    assert not writes, writes
