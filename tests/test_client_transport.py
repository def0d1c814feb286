"""The client's transport against small scripted HTTP servers on loopback: configuration,
error mapping, retries, timeouts, redirects, storage URLs, and where the token may go."""

from __future__ import annotations

import hashlib
import json
import pickle
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from picsellia_tf.client import Client
from picsellia_tf.errors import (
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    NetworkError,
    NotFoundError,
    RateLimitError,
    RequestTimeout,
    ServerError,
    ValidationError,
)
from picsellia_tf.types import ImageAnnotation
from picsellia_tf.wire import WireError
from tests.helpers.recorder import Recorder, Reply, json_reply
from tests.helpers.retries import quickly

TOKEN = "tok-5ecret-0123456789abcdef"


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder()
    yield rec
    rec.close()


@pytest.fixture
def other_host() -> Iterator[Recorder]:
    rec = Recorder()
    yield rec
    rec.close()


def make_client(url: str, **kw: Any) -> Client:
    kw.setdefault("timeout", 2.0)
    kw.setdefault("retry_deadline", 5.0)
    return quickly(Client(TOKEN, url, **kw))


# --------------------------------------------------------------------------- configuration


def test_token_and_host_from_environment(monkeypatch, recorder):
    monkeypatch.setenv("PICSELLIA_TOKEN", TOKEN)
    monkeypatch.setenv("PICSELLIA_HOST", recorder.url + "/")
    client = Client()
    assert client.host == recorder.url
    client.request("GET", "/sdk/check_connection")
    assert recorder.requests[0]["headers"]["Authorization"] == f"Bearer {TOKEN}"


def test_default_host(monkeypatch):
    monkeypatch.delenv("PICSELLIA_HOST", raising=False)
    assert Client(TOKEN).host == "https://app.picsellia.com"


def test_with_options_keeps_host_and_token_changes_only_what_is_given(recorder):
    client = make_client(recorder.url, max_retries=4)
    quick = client.with_options(timeout=0.5, max_retries=0)
    assert (quick.host, quick.timeout, quick.max_retries) == (recorder.url, 0.5, 0)
    assert quick.retry_deadline == client.retry_deadline and quick is not client
    assert TOKEN not in repr(quick)
    quick.request("GET", "/sdk/check_connection")
    assert recorder.requests[0]["headers"]["Authorization"] == f"Bearer {TOKEN}"


def test_missing_token_says_how_to_set_it(monkeypatch):
    monkeypatch.delenv("PICSELLIA_TOKEN", raising=False)
    with pytest.raises(ConfigurationError, match="PICSELLIA_TOKEN"):
        Client(host="http://127.0.0.1:1")
    with pytest.raises(ConfigurationError, match="no API token"):
        Client("", host="http://127.0.0.1:1")


def test_malformed_token_is_refused_without_echoing_it():
    with pytest.raises(ConfigurationError) as info:
        Client("abc def\nInjected: x", host="http://127.0.0.1:1")
    assert "abc def" not in str(info.value) and "malformed" in str(info.value)


@pytest.mark.parametrize("host", ["ftp://x.org", "app.picsellia.com", "http://", "http://h:99999"])
def test_bad_host_names_the_setting(host):
    with pytest.raises(ConfigurationError, match="host"):
        Client(TOKEN, host)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"timeout": 0}, "timeout"),
        ({"max_retries": -1}, "max_retries"),
        ({"retry_deadline": "x"}, "retry_deadline"),
    ],
)
def test_bad_numbers_are_validation_errors(kw, message):
    with pytest.raises(ValidationError, match=message):
        Client(TOKEN, "http://127.0.0.1:1", **kw)


def test_token_not_in_repr_str_vars_or_pickle():
    client = Client(TOKEN, "http://127.0.0.1:1")
    assert TOKEN not in repr(client) and TOKEN not in str(client)
    assert "127.0.0.1:1" in repr(client)
    assert TOKEN not in repr(vars(client)) and TOKEN not in str(vars(client))
    assert TOKEN not in repr(client._transport._session.auth)
    with pytest.raises(TypeError):
        pickle.dumps(client)


def test_user_agent_json_body_on_get_and_nan(recorder):
    client = make_client(recorder.url)
    client.request("GET", "/api/v1/raw_data/x", json={"range": [0, 2], "v": float("nan")})
    sent = recorder.requests[0]
    assert sent["headers"]["User-Agent"].startswith("picsellia-tf/")
    assert "python-requests/" in sent["headers"]["User-Agent"]
    assert sent["headers"]["Content-Type"] == "application/json"
    assert sent["body"] == b'{"range": [0, 2], "v": NaN}'


def test_pool_is_large_enough_for_concurrent_downloads():
    client = Client(TOKEN, "http://127.0.0.1:1")
    adapter = client._transport._session.get_adapter("http://127.0.0.1:1")
    assert adapter._pool_maxsize >= 16  # type: ignore[attr-defined]
    assert client._transport._storage.get_adapter("http://x")._pool_maxsize >= 16  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (404, NotFoundError),
        (405, BadRequestError),
        (409, ConflictError),
        (413, BadRequestError),
        (500, ServerError),
    ],
)
def test_status_maps_to_error_family_with_message(recorder, status, cls):
    recorder.script = lambda *a: json_reply(status, {"error": f"field 'x' broke {status}"})
    client = make_client(recorder.url, max_retries=1)
    with pytest.raises(cls) as info:
        client.request("PUT", "/api/v1/project_infos/p", json={})
    err = info.value
    assert (err.status, err.method, err.path) == (status, "PUT", "/api/v1/project_infos/p")
    assert err.message == f"field 'x' broke {status}"
    assert len(recorder.requests) == (2 if status == 500 else 1)  # a 4xx is never retried


def test_plain_text_error_is_truncated_and_token_scrubbed(recorder):
    text = f"echo {TOKEN} " + "x" * 5000
    recorder.script = lambda *a: (400, {"Content-Type": "text/plain"}, text.encode())
    with pytest.raises(BadRequestError) as info:
        make_client(recorder.url).request("GET", "/sdk/check_connection")
    assert TOKEN not in str(info.value) and "<token>" in info.value.message
    assert len(info.value.message) < 600


def test_non_json_success_is_a_server_error(recorder):
    recorder.script = lambda *a: (200, {"Content-Type": "text/html"}, b"<html>login</html>")
    with pytest.raises(ServerError, match="expected a JSON answer, got text/html"):
        make_client(recorder.url).request("GET", "/api/v1/project_list")


def test_bare_string_and_empty_answers(recorder):
    answers = iter([json_reply(200, "Model attached"), (200, {}, b"")])
    recorder.script = lambda *a: next(answers)
    client = make_client(recorder.url)
    assert client.request("POST", "/api/v1/attach_model/p/m") == "Model attached"
    assert client.request("DELETE", "/api/v1/dataset/d") is None


@pytest.mark.parametrize(
    ("answer", "call", "message"),
    [
        (
            {"points": "many"},
            lambda c: c.experiments.post_logs(1, "n", {"loss": {"step": [0], "value": [1.0]}}),
            "field 'points' should be a count",
        ),
        (
            {"count": -1},
            lambda c: c.annotations.upload("p", [ImageAnnotation("r")]),
            "field 'count' should be a count",
        ),
        (
            {"url": "http://127.0.0.1:1/storage/upload", "fields": ["key"]},
            lambda c: c.experiments.upload_preview(1, "n", b"x", project_id="p"),
            "field 'fields' should be a dict, got list",
        ),
    ],
)
def test_malformed_answer_is_a_wire_error_naming_the_field(recorder, answer, call, message):
    recorder.script = lambda *a: json_reply(200, answer)
    with pytest.raises(WireError, match=message):
        call(make_client(recorder.url))
    assert len(recorder.requests) == 1  # nothing sent on the strength of a bad answer


def test_a_server_ignoring_the_range_is_not_paged_forever(recorder):
    item = {"id": "r", "external_url": "a.png"}
    recorder.script = lambda *a: json_reply(200, {str(i): item for i in range(3)})
    with pytest.raises(WireError, match="GET /api/v1/raw_data/d: asked for 2 items from 0, got 3"):
        list(make_client(recorder.url).datasets.iter_raw_data("d", page_size=2, total=9))
    assert len(recorder.requests) == 1


def test_path_must_be_absolute(recorder):
    with pytest.raises(ValidationError, match="path"):
        make_client(recorder.url).request("GET", "sdk/check_connection")
    assert recorder.requests == []


# --------------------------------------------------------------------------- retries


def scripted(*replies: Reply) -> Callable[..., Reply]:
    queue = list(replies)
    return lambda *a: queue.pop(0) if queue else json_reply(200, {"ok": True})


def test_get_retries_503_then_succeeds(recorder):
    recorder.script = scripted(json_reply(503, {"error": "busy"}), json_reply(502, {"error": "x"}))
    assert make_client(recorder.url).request("GET", "/api/v1/project_list") == {"ok": True}
    assert len(recorder.requests) == 3


def test_post_logs_is_retried_but_other_posts_are_not(recorder):
    recorder.script = scripted(json_reply(503, {"error": "busy"}))
    client = make_client(recorder.url)
    logs = {"loss": {"step": [0, 1], "value": [1.0, 0.5]}}
    assert client.experiments.post_logs(4, "m1", logs) == 2
    assert [r["path"] for r in recorder.requests] == ["/sdk/post_logs"] * 2
    recorder.script = scripted(json_reply(503, {"error": "busy"}))
    with pytest.raises(ServerError):
        client.request("POST", "/sdk/post_logs", json={})  # the transport knows no route
    assert len(recorder.requests) == 3
    recorder.script = scripted(json_reply(503, {"error": "busy"}))
    with pytest.raises(ServerError) as info:
        client.request("POST", "/sdk/init_model", json={})
    assert info.value.status == 503 and len(recorder.requests) == 4


def test_init_sends_a_get_with_its_json_body_once(recorder):
    version = json_reply(200, {"network_id": "m1", "training_id": 4})
    recorder.script = scripted(json_reply(503, {"error": "busy"}), version)
    client = make_client(recorder.url)
    with pytest.raises(ServerError):
        client.experiments.init("p1", "resnet")
    assert len(recorder.requests) == 1  # it creates a version: never retried blindly
    exp = client.experiments.init("p1", "resnet", project_token="tok-p1")
    assert (exp.network_id, exp.training_id, exp.project_id) == ("m1", 4, "p1")
    sent = recorder.requests[-1]
    assert (sent["method"], sent["path"]) == ("GET", "/sdk/init_model")
    assert sent["headers"]["Content-Type"] == "application/json"
    assert json.loads(sent["body"]) == {
        "project_id": "p1",
        "model_name": "resnet",
        "project_token": "tok-p1",
    }


@pytest.mark.parametrize("nested", [True, False])
def test_preview_upload_reads_the_nested_and_the_flat_answer(recorder, other_host, nested):
    form = {"url": other_host.url + "/upload", "fields": {"key": "k", "policy": "p"}}
    recorder.script = lambda *a: json_reply(200, {"url": form} if nested else form)
    other_host.script = lambda *a: (204, {}, b"")
    name = make_client(recorder.url).experiments.upload_preview(
        3, "m1", b"\x89PNG\r\n\x1a\nxx", project_id="p1", name="a.png"
    )
    assert name == "p1/m1/3/results/a.png"
    assert json.loads(recorder.requests[0]["body"]) == {"object_name": name}
    (upload,) = other_host.requests
    assert upload["method"] == "POST" and upload["path"] == "/upload"
    assert b'name="policy"' in upload["body"] and b"\x89PNG" in upload["body"]
    assert "Authorization" not in upload["headers"]


def test_retries_stop_after_max_retries(recorder):
    recorder.script = lambda *a: json_reply(504, {"error": "gateway"})
    with pytest.raises(ServerError) as info:
        make_client(recorder.url, max_retries=2).request("GET", "/api/v1/models_list")
    assert info.value.status == 504 and len(recorder.requests) == 3


def test_500_is_retried_then_raised(recorder):
    recorder.script = lambda *a: json_reply(500, {"error": "bug"})
    with pytest.raises(ServerError) as info:
        make_client(recorder.url, max_retries=2).request("GET", "/api/v1/models_list")
    assert info.value.status == 500 and len(recorder.requests) == 3


def test_500_is_not_retried_for_a_post_that_is_not_safe_to_repeat(recorder):
    recorder.script = lambda *a: json_reply(500, {"error": "bug"})
    with pytest.raises(ServerError):
        make_client(recorder.url).request("POST", "/api/v1/models", json={"name": "m"})
    assert len(recorder.requests) == 1


def test_429_honours_retry_after(recorder):
    recorder.script = scripted(json_reply(429, {"error": "slow down"}, **{"Retry-After": "0.2"}))
    start = time.monotonic()
    make_client(recorder.url).request("GET", "/api/v1/models_list")  # backoff alone: <= 0.01 s
    assert time.monotonic() - start >= 0.15
    assert len(recorder.requests) == 2


def test_429_beyond_the_deadline_raises_rate_limit_at_once(recorder):
    recorder.script = lambda *a: json_reply(429, {"error": "slow down"}, **{"Retry-After": "30"})
    with pytest.raises(RateLimitError) as info:
        make_client(recorder.url, retry_deadline=2.0).request("GET", "/api/v1/models_list")
    # every backoff sleep is followed by a retry: one request means it raised without sleeping
    assert info.value.retry_after == 30 and len(recorder.requests) == 1


def listener() -> tuple[socket.socket, str]:
    """A socket that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_silent_server_times_out_within_retry_deadline():
    sock, url = listener()
    try:
        client = make_client(url, timeout=0.3, retry_deadline=0.6)
        start = time.monotonic()
        with pytest.raises(RequestTimeout, match="did not answer GET /sdk/check_connection"):
            client.request("GET", "/sdk/check_connection")
        elapsed = time.monotonic() - start
        assert 0.3 <= elapsed < 2.0
        start = time.monotonic()
        with pytest.raises(RequestTimeout):
            client.request("POST", "/sdk/init_model", json={})
        assert time.monotonic() - start < 0.9  # sent once, not retried
    finally:
        sock.close()


def test_connection_refused_is_a_network_error():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    client = make_client(f"http://127.0.0.1:{port}", retry_deadline=0.2)
    with pytest.raises(NetworkError) as info:
        client.request("GET", "/sdk/check_connection")
    assert not isinstance(info.value, RequestTimeout)
    assert "cannot reach" in str(info.value) and "refused" in str(info.value).lower()
    assert TOKEN not in str(info.value) and info.value.__cause__ is None
    assert info.value.__context__ is None


# --------------------------------------------------------------------------- where the token goes


def test_redirect_to_another_host_is_not_followed(recorder, other_host):
    recorder.script = lambda *a: (302, {"Location": other_host.url + "/steal"}, b"")
    with pytest.raises(BadRequestError, match="redirected to another host") as info:
        make_client(recorder.url).request("GET", "/sdk/check_connection")
    assert TOKEN not in str(info.value)
    assert other_host.requests == []


def test_redirect_within_the_host_is_followed_with_the_token(recorder):
    def script(rec: Recorder, method: str, path: str, body: bytes) -> Reply:
        if path == "/old":
            return 307, {"Location": "/new"}, b""
        return json_reply(200, {"path": path, "body": body.decode()})

    recorder.script = script
    answer = make_client(recorder.url).request("PUT", "/old", json={"a": 1})
    assert answer == {"path": "/new", "body": '{"a": 1}'}
    assert recorder.requests[1]["headers"]["Authorization"] == f"Bearer {TOKEN}"


def test_303_after_a_post_is_followed_by_a_bare_get(recorder):
    recorder.script = lambda rec, method, path, body: (
        (303, {"Location": "/done"}, b"") if path == "/start" else json_reply(200, {"m": method})
    )
    assert make_client(recorder.url).request("POST", "/start", json={"a": 1}) == {"m": "GET"}
    follow = recorder.requests[1]
    assert (follow["method"], follow["path"], follow["body"]) == ("GET", "/done", b"")
    assert "Content-Type" not in follow["headers"]
    assert follow["headers"]["Authorization"] == f"Bearer {TOKEN}"


def test_storage_calls_never_carry_the_token(recorder, other_host):
    payload = b"\x89PNG fake bytes" * 100
    other_host.script = lambda rec, m, p, b: (
        (200, {"Content-Type": "image/png"}, payload) if m == "GET" else (204, {}, b"")
    )
    client = make_client(recorder.url)
    url = other_host.url + "/storage/a/b.png?expires=1&signature=abc"
    assert client.storage_get(url) == payload
    client.storage_post(other_host.url + "/storage/upload", {"key": "k"}, "p.png", b"data")
    # the same host as the API: still no token on storage calls
    recorder.script = lambda *a: (200, {"Content-Type": "image/png"}, payload)
    assert client.storage_get(recorder.url + "/storage/x.png?signature=s") == payload
    for rec in (other_host, recorder):
        assert all("Authorization" not in r["headers"] for r in rec.requests)
        assert TOKEN not in rec.all_headers_text()
    post = other_host.requests[1]
    assert b'name="key"' in post["body"] and b'filename="p.png"' in post["body"]
    assert b'name="file"' in post["body"]


def test_storage_errors_hide_the_signature(other_host):
    other_host.script = lambda *a: json_reply(403, {"error": "signature expired"})
    client = make_client("http://127.0.0.1:1")
    with pytest.raises(AuthenticationError, match="signature expired") as info:
        client.storage_get(other_host.url + "/storage/a.png?expires=1&signature=deadbeef")
    assert "deadbeef" not in str(info.value) and info.value.path.endswith("/storage/a.png")
    with pytest.raises(ValidationError, match="url"):
        client.storage_get("/relative/path")


def test_download_is_atomic_and_checks_sha256(tmp_path, other_host):
    payload = bytes(range(256)) * 1000
    replies = [json_reply(503, {"error": "busy"})]
    other_host.script = lambda *a: replies.pop() if replies else (200, {}, payload)
    client = make_client("http://127.0.0.1:1")
    dest = tmp_path / "sub" / "file.bin"
    digest = hashlib.sha256(payload).hexdigest()
    assert client.download(other_host.url + "/storage/f", dest, sha256=digest) == len(payload)
    assert dest.read_bytes() == payload and len(other_host.requests) == 2
    client.max_retries = 1
    with pytest.raises(NetworkError, match="corrupt"):
        client.download(other_host.url + "/storage/f", tmp_path / "bad.bin", sha256="0" * 64)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub"]  # no partial files left
    assert "Authorization" not in other_host.requests[-1]["headers"]
    sent = len(other_host.requests)
    for bad in ("abc", 123, "g" * 64):
        with pytest.raises(ValidationError, match="sha256: expected 64 hex digits"):
            client.download(other_host.url + "/storage/f", tmp_path / "new" / "x", sha256=bad)
    assert len(other_host.requests) == sent and not (tmp_path / "new").exists()


def test_downloads_follow_the_proxy_environment_host_by_host(
    tmp_path, monkeypatch, recorder, other_host
):
    # the environment is read once per storage host (not per request), and still applied:
    # a host named by no_proxy is reached directly, every other one through the proxy
    for name in ("http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", recorder.url)  # the recorder plays the proxy
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    recorder.script = lambda *a: (200, {}, b"via proxy")
    other_host.script = lambda *a: (200, {}, b"direct")
    client = make_client("http://127.0.0.1:1")
    port = other_host.url.rsplit(":", 1)[1]
    for i in range(2):
        client.download(f"http://localhost:{port}/storage/p{i}?sig=1", tmp_path / f"p{i}")
        client.download(f"{other_host.url}/storage/d{i}?sig=1", tmp_path / f"d{i}")
    assert [r["path"] for r in recorder.requests] == [
        f"http://localhost:{port}/storage/p{i}?sig=1" for i in range(2)
    ]
    assert [r["path"] for r in other_host.requests] == ["/storage/d0?sig=1", "/storage/d1?sig=1"]
    assert (tmp_path / "p1").read_bytes() == b"via proxy"
    assert (tmp_path / "d1").read_bytes() == b"direct"


def test_concurrent_requests_share_one_client(recorder):
    client = make_client(recorder.url)
    results: list[Any] = []

    def work() -> None:
        for _ in range(5):
            results.append(client.request("GET", "/api/v1/project_list"))

    threads = [threading.Thread(target=work) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [{"ok": True}] * 80


def test_requests_library_would_not_strip_the_header_we_add_per_request():
    """Our auth object only signs requests for the configured origin."""
    client = Client(TOKEN, "http://127.0.0.1:8000")
    auth = client._transport._session.auth
    assert callable(auth)
    same = requests.Request("GET", "http://127.0.0.1:8000/x").prepare()
    other = requests.Request("GET", "http://127.0.0.1:8001/x").prepare()
    assert auth(same).headers["Authorization"] == f"Bearer {TOKEN}"
    assert "Authorization" not in auth(other).headers


def test_token_never_in_logs_even_at_debug(recorder, caplog):
    recorder.script = scripted(
        json_reply(503, {"error": "busy"}), json_reply(401, {"error": f"bad token {TOKEN}"})
    )
    client = make_client(recorder.url)
    with caplog.at_level("DEBUG"):
        with pytest.raises(AuthenticationError) as info:
            client.request("GET", "/sdk/check_connection")
    assert "retry 1/5" in caplog.text  # the retry was logged
    assert TOKEN not in caplog.text and TOKEN not in str(info.value)
    assert info.value.__cause__ is None and info.value.__context__ is None
