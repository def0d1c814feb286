"""What every endpoint group shares: the transport, route building, argument checks, paging."""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from picsellia_tf import wire
from picsellia_tf._checks import check_choice as choice
from picsellia_tf._checks import check_flag as flag
from picsellia_tf._checks import check_int
from picsellia_tf._checks import check_string as string
from picsellia_tf._checks import check_text as text
from picsellia_tf._limits import MAX_RANGE
from picsellia_tf.errors import ValidationError
from picsellia_tf.wire import WireError

if TYPE_CHECKING:
    from picsellia_tf._http import Transport

T = TypeVar("T")

__all__ = [
    "Endpoints",
    "answer_count",
    "answer_field",
    "check_concurrency",
    "check_page_size",
    "check_training_id",
    "choice",
    "flag",
    "ident",
    "pages",
    "pages_concurrently",
    "parse_items",
    "route",
    "span",
    "string",
    "text",
]


class Endpoints:
    """A group of endpoints over one transport."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._transport!r})"

    def _ranged(
        self, path: str, start: int, stop: int, parse: Callable[[Any, str], T], name: str
    ) -> list[T]:
        """Items ``start`` to ``stop - 1`` of a ranged GET route, each through ``parse``."""
        return parse_items(
            self._transport.request("GET", path, json={"range": span(start, stop)}), name, parse
        )


def parse_items(answer: Any, name: str, parse: Callable[[Any, str], T]) -> list[T]:
    """Each item of an index-keyed answer through ``parse``, named ``name[i]`` in errors."""
    return [parse(item, f"{name}[{i}]") for i, item in enumerate(wire.from_indexed(answer, name))]


def route(prefix: str, *segments: object) -> str:
    """``prefix`` followed by each segment, URL-quoted (``/`` inside a segment included)."""
    return prefix + "".join("/" + quote(str(s), safe="") for s in segments)


def ident(value: Any, arg: str) -> str:
    """An id argument: a non-empty string (a UUID object is accepted too)."""
    if value is not None and not isinstance(value, str) and type(value).__name__ == "UUID":
        return str(value)
    return text(value, arg)


def check_training_id(value: Any, arg: str = "training_id") -> int:
    """An experiment version number: an int >= 1."""
    return int(check_int(value, arg, low=1))


def span(start: Any, stop: Any) -> list[int]:
    """A ``[start, stop]`` range: half-open, non-negative ints, at most 10000 items."""
    start, stop = check_int(start, "start", low=0), check_int(stop, "stop", low=0)
    if start > stop:
        raise ValidationError(f"range: start ({start}) must not be greater than stop ({stop})")
    if stop - start > MAX_RANGE:
        raise ValidationError(f"range: at most {MAX_RANGE} items per call, asked {stop - start}")
    return [int(start), int(stop)]


MAX_CONCURRENT_PAGES = 8


def check_concurrency(value: Any) -> int:
    """How many pages an ``iter`` method may request at once: 1..8."""
    return int(check_int(value, "concurrency", low=1, high=MAX_CONCURRENT_PAGES))


def check_page_size(value: Any) -> int:
    """A page size for ``iter`` methods: 1..10000."""
    return int(check_int(value, "page_size", low=1, high=MAX_RANGE))


def pages(
    fetch: Callable[[int, int], list[T]],
    size: int,
    *,
    total: int | None = None,
    route: str = "a ranged route",
) -> Iterator[T]:
    """Every item of a ranged route, ``size`` at a time, until a short or empty page, or the
    ``total`` the server announced (nothing past it is asked for).

    Raises :class:`WireError` naming ``route`` when a page holds more items than asked, or
    repeats the page before it (a server ignoring the range would be paged forever)."""
    yield from pages_concurrently(fetch, size, 1, total=total, route=route)


def pages_concurrently(
    fetch: Callable[[int, int], list[T]],
    size: int,
    concurrency: int,
    total: int | None = None,
    *,
    route: str = "a ranged route",
) -> Iterator[T]:
    """The items of :func:`pages`, in the same order and with the same bounds, with up to
    ``concurrency`` pages requested ahead of the reader (each in a daemon thread, so an
    abandoned or interrupted listing never holds the process)."""
    ahead: deque[tuple[int, int, queue.SimpleQueue[tuple[bool, Any]]]] = deque()
    next_start = 0

    def launch() -> None:
        nonlocal next_start
        start = next_start
        stop = start + size if total is None else min(start + size, total)
        next_start = stop
        box: queue.SimpleQueue[tuple[bool, Any]] = queue.SimpleQueue()
        if concurrency <= 1:  # in the reader's thread
            _run(box, fetch, start, stop)
        else:
            threading.Thread(
                target=_run, args=(box, fetch, start, stop), name=f"picsellia-page-{start}",
                daemon=True,
            ).start()  # fmt: skip
        ahead.append((start, stop, box))

    def top_up() -> None:
        while len(ahead) < max(concurrency, 1) and (total is None or next_start < total):
            launch()

    previous: tuple[int, T, T] | None = None  # the page before: its length, first and last
    top_up()
    while ahead:
        start, stop, box = ahead.popleft()
        ok, page = _take(box)
        if not ok:
            raise page
        count = len(page)
        if count > stop - start:
            raise WireError(f"{route}: asked for {stop - start} items from {start}, got {count}")
        if page and (count, page[0], page[-1]) == previous:
            raise WireError(
                f"{route}: the items from {start} repeat the page before them (the server "
                f"seems to ignore the range); stopped after {start} items"
            )
        if page:
            previous = (count, page[0], page[-1])
        page.reverse()  # handed out one by one and let go of: a slow reader holds no page
        while page:
            yield page.pop()
        if count < stop - start:
            return
        top_up()


def _run(
    box: queue.SimpleQueue[tuple[bool, Any]],
    fetch: Callable[[int, int], list[Any]],
    start: int,
    stop: int,
) -> None:
    try:
        box.put((True, fetch(start, stop)))
    except BaseException as exc:  # noqa: BLE001 -- re-raised in the reader's thread
        box.put((False, exc))


def _take(box: queue.SimpleQueue[tuple[bool, Any]]) -> tuple[bool, Any]:
    """The next result in ``box``, waiting in short steps (Ctrl-C interrupts it)."""
    while True:
        try:
            return box.get(timeout=0.1)
        except queue.Empty:
            continue


def answer_field(answer: Any, key: str, kind: type = object) -> Any:
    """A required field of an answer object, an instance of ``kind``."""
    if not isinstance(answer, dict) or answer.get(key) is None:
        raise WireError(f"answer: missing field {key!r} in {str(answer)[:200]}")
    value = answer[key]
    if not isinstance(value, kind):
        raise WireError(
            f"answer: field {key!r} should be a {kind.__name__}, got {type(value).__name__}"
        )
    return value


def answer_count(answer: Any, key: str, default: int) -> int:
    """An optional count field of an answer (``default`` when the server gives none)."""
    value = answer.get(key) if isinstance(answer, dict) else None
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise WireError(f"answer: field {key!r} should be a count, got {value!r}")
    return value
