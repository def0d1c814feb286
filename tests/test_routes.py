"""Every route the client calls is served by the local platform, with that method.

The client's calls are read from its source with ``ast`` (every module of the package outside
``picsellia_tf/local``, read as text, not imported: wherever a call lives after a move, it is
found): each ``<something>.request("METHOD", path)`` whose path is a constant, a ``route(prefix,
*segments)``, an f-string, a sum of those or a local variable assigned one of them; a path that
is a parameter of its function (``_ranged(path, ...)``) is followed to the function's callers.
A call the scan cannot read fails the test, so that a new way of building paths teaches it
rather than hides a route. The routing table is the local platform's own (``App.map``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from werkzeug.exceptions import MethodNotAllowed, NotFound

from picsellia_tf.local.app import App, Route
from picsellia_tf.local.handlers import ROUTES
from picsellia_tf.local.storage import Storage
from picsellia_tf.local.store import Store

PACKAGE = Path(__file__).resolve().parents[1] / "picsellia_tf"
METHODS = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"}
SEGMENT = "1"  # what a path segment given at run time is replaced with (an int route takes it)


@dataclass(frozen=True)
class Call:
    """One API request the client sends: ``method`` on ``path`` (run-time segments as ``1``),
    at ``where`` (``module.py:line``)."""

    method: str
    path: str
    where: str


@dataclass(frozen=True)
class _Param:
    """A path that is the function's parameter ``index`` (counting ``self``)."""

    index: int


class _Unreadable(Exception):
    pass


def _functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def _own_nodes(function: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterator[ast.AST]:
    """The nodes of ``function``'s body, not those of functions nested in it."""
    stack: list[ast.AST] = list(function.body)
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                stack.append(child)


def _params(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    args = function.args
    return [a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]]


class _Scope:
    """What a function's path expressions can be resolved against."""

    def __init__(self, function: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.params = _params(function)
        self.assigned: dict[str, list[ast.expr]] = {}
        for node in _own_nodes(function):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        self.assigned.setdefault(target.id, []).append(node.value)
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                if isinstance(node.target, ast.Name):
                    self.assigned.setdefault(node.target.id, []).append(node.value)

    def paths(self, expr: ast.expr) -> list[str | _Param]:
        """The paths ``expr`` can be; raises :class:`_Unreadable`."""
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return [expr.value]
        if isinstance(expr, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else SEGMENT for v in expr.values)
            return [text]
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
            lefts, rights = self.paths(expr.left), self.paths(expr.right)
            if any(isinstance(p, _Param) for p in [*lefts, *rights]):
                raise _Unreadable(ast.unparse(expr))
            return [f"{a}{b}" for a in lefts for b in rights]
        if isinstance(expr, ast.Call) and _name(expr.func) == "route":
            if not expr.args or any(isinstance(a, ast.Starred) for a in expr.args):
                raise _Unreadable(ast.unparse(expr))
            segments = "".join("/" + SEGMENT for _ in expr.args[1:])
            return [f"{p}{segments}" for p in self.paths(expr.args[0]) if isinstance(p, str)]
        if isinstance(expr, ast.Name):
            if expr.id in self.assigned:
                return [p for value in self.assigned[expr.id] for p in self.paths(value)]
            if expr.id in self.params:
                return [_Param(self.params.index(expr.id))]
        raise _Unreadable(ast.unparse(expr))


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _arg(call: ast.Call, index: int, keyword: str) -> ast.expr | None:
    if len(call.args) > index:
        return call.args[index]
    return next((k.value for k in call.keywords if k.arg == keyword), None)


def client_modules() -> Iterator[Path]:
    """The package's modules outside the local platform."""
    for path in sorted(PACKAGE.rglob("*.py")):
        if "local" not in path.relative_to(PACKAGE).parts[:1]:
            yield path


def client_calls(paths: Iterable[Path] | None = None) -> tuple[list[Call], list[str]]:
    """The requests the client's source sends, and the calls it could not read."""
    calls: list[Call] = []
    unreadable: list[str] = []
    # forwarding function name -> [(method, index of its path parameter, where)]
    forwards: dict[str, list[tuple[str, int, str]]] = {}
    parsed = []
    for path in client_modules() if paths is None else paths:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        module = path.relative_to(PACKAGE.parent) if path.is_relative_to(PACKAGE) else path
        parsed.append((Path(module).as_posix(), tree))
    for module, tree in parsed:
        for function in _functions(tree):
            scope = _Scope(function)
            for node in _own_nodes(function):
                if not (isinstance(node, ast.Call) and _name(node.func) == "request"):
                    continue
                where = f"{module}:{node.lineno}"
                method = _arg(node, 0, "method")
                target = _arg(node, 1, "path")
                if isinstance(method, ast.Name) and method.id in scope.params:
                    continue  # the transport passing a request on
                if not (isinstance(method, ast.Constant) and method.value in METHODS):
                    unreadable.append(f"{where}: method {ast.unparse(method) if method else '?'}")
                    continue
                if target is None:
                    unreadable.append(f"{where}: no path")
                    continue
                try:
                    found = scope.paths(target)
                except _Unreadable as exc:
                    unreadable.append(f"{where}: path {exc}")
                    continue
                for p in found:
                    if isinstance(p, _Param):
                        forwards.setdefault(function.name, []).append(
                            (method.value, p.index, where)
                        )
                    else:
                        calls.append(Call(method.value, p, where))
    # the callers of functions that take the path as a parameter
    for module, tree in parsed:
        for function in _functions(tree):
            scope = _Scope(function)
            for node in _own_nodes(function):
                if not isinstance(node, ast.Call):
                    continue
                name = _name(node.func)
                for method, index, origin in forwards.get(name or "", []):
                    bound = isinstance(node.func, ast.Attribute)  # self.f(...): no self argument
                    arg = _arg(node, index - 1 if bound else index, "path")
                    where = f"{module}:{node.lineno} (via {origin})"
                    try:
                        found = [] if arg is None else scope.paths(arg)
                    except _Unreadable as exc:
                        unreadable.append(f"{where}: path {exc}")
                        continue
                    if not found or any(isinstance(p, _Param) for p in found):
                        unreadable.append(f"{where}: path not resolved")
                    calls.extend(Call(method, p, where) for p in found if isinstance(p, str))
    return calls, unreadable


def unserved(calls: Iterable[Call], app: App) -> list[str]:
    """The calls ``app``'s routing table does not serve with their method."""
    adapter = app.map.bind("localhost")
    problems = []
    for call in calls:
        try:
            adapter.match(call.path, call.method)
        except MethodNotAllowed as exc:
            allowed = ", ".join(sorted(exc.valid_methods or []))
            problems.append(f"{call.method} {call.path} ({call.where}): served only as {allowed}")
        except NotFound:
            problems.append(f"{call.method} {call.path} ({call.where}): not served")
    return problems


def make_app(tmp_path: Path, routes: Iterable[Route]) -> App:
    store = Store(tmp_path)
    return App(store, Storage(tmp_path), routes)


@pytest.fixture(scope="module")
def calls() -> list[Call]:
    found, unreadable = client_calls()
    assert not unreadable, "calls the route scan cannot read (teach it):\n" + "\n".join(unreadable)
    return found


def test_every_route_the_client_calls_is_served_with_its_method(
    calls: list[Call], tmp_path: Path
) -> None:
    app = make_app(tmp_path, ROUTES)
    try:
        assert not unserved(calls, app), "\n".join(unserved(calls, app))
    finally:
        app.store.close()


def test_the_storage_urls_the_platform_hands_out_are_served_with_the_clients_methods(
    tmp_path: Path,
) -> None:
    """The client POSTs presigned forms (``storage_post``) and GETs signed URLs
    (``download``, ``storage_get``): URLs of the platform's choosing, not in the client's
    source."""
    app = make_app(tmp_path, ROUTES)
    try:
        base = "http://127.0.0.1:1"
        form = app.storage.post_form(base, "p/m/1/results/epoch 1.png")["url"]
        signed = app.storage.get_url(base, "datasets/d/k/an image.png")
        calls = [
            Call("POST", unquote(urlsplit(form).path), "storage.post_form"),
            Call("GET", unquote(urlsplit(signed).path), "storage.get_url"),
        ]
        assert not unserved(calls, app), unserved(calls, app)
    finally:
        app.store.close()


def test_the_scan_finds_the_clients_calls(calls: list[Call]) -> None:
    found = {(c.method, c.path) for c in calls}
    # one of each way a path is written: a constant, route(), a variable, a forwarded parameter
    assert {
        ("GET", "/sdk/check_connection"),
        ("GET", "/api/v1/project_infos/1"),
        ("PUT", "/api/v1/project_collaborators/1"),
        ("GET", "/api/v1/annotations/1"),
        ("GET", "/api/v1/raw_data/1"),
        ("DELETE", "/api/v1/delete_experiments/1/1/1"),
    } <= found
    assert len(found) >= 35, sorted(found)


def test_a_route_missing_from_the_server_or_a_method_it_does_not_serve_fails(
    calls: list[Call], tmp_path: Path
) -> None:
    kept = [r for r in ROUTES if not (r.method == "GET" and r.rule == "/sdk/get_logs")]
    app = make_app(tmp_path, kept)
    try:
        assert [p for p in unserved(calls, app) if "/sdk/get_logs" in p]
        assert unserved([Call("PATCH", "/api/v1/project_list", "here")], app) == [
            "PATCH /api/v1/project_list (here): served only as GET, HEAD"
        ]
        assert unserved([Call("GET", "/api/v1/no_such_route", "here")], app) == [
            "GET /api/v1/no_such_route (here): not served"
        ]
    finally:
        app.store.close()


def test_the_scan_reads_each_way_of_writing_a_path_and_flags_what_it_cannot(
    tmp_path: Path,
) -> None:
    source = tmp_path / "sample.py"
    source.write_text(
        "class Group:\n"
        "    def one(self, id):\n"
        '        self._client.request("GET", "/a")\n'
        '        self._client.request("PUT", route("/b", id, id))\n'
        '        path = f"/c/{id}"\n'
        '        self._client.request("DELETE", path)\n'
        '        self._fetch(route("/d", id), 1)\n'
        "    def _fetch(self, path, n):\n"
        '        return self._client.request("GET", path)\n'
        "    def odd(self, paths):\n"
        '        self._client.request("GET", paths[0])\n'
        "        self._client.request(self.method, '/e')\n"
        "def send(session, method, url):\n"
        "    return session.request(method, url)\n",
        encoding="utf-8",
    )
    found, unreadable = client_calls([source])
    assert {(c.method, c.path) for c in found} == {
        ("GET", "/a"),
        ("PUT", "/b/1/1"),
        ("DELETE", "/c/1"),
        ("GET", "/d/1"),
    }
    assert sorted(u.split(": ", 1)[1] for u in unreadable) == [
        "method self.method",
        "path paths[0]",
    ]
