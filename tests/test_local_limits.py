"""The local server under slow, stalled and oversized requests: waitress reads bodies before the
app runs, so a slow client costs others nothing; limits are answered with the limit named.

Driven over loopback with raw sockets (to send what no well-behaved client sends) and requests.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from picsellia_tf.local import LocalServer
from picsellia_tf.local.limits import KIB, MIB, Limits, parse_size
from tests.helpers.local import Api, closed, connect, read_answer, request_head, setup_project


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LocalServer]:
    with LocalServer(tmp_path / "data", limits=Limits(threads=4)) as local:
        yield local


def test_stalled_bodies_do_not_slow_the_other_clients(server: LocalServer) -> None:
    api = Api(server.url, server.token)
    ids = setup_project(api)
    version = {"training_id": ids["training_id"], "network_id": ids["network_id"]}
    # More stalled requests than the server has threads, each announcing 100 bytes and
    # sending one, as the werkzeug server once waited on with the store locked.
    stalled = []
    for _ in range(server.limits.threads * 2):
        sock = connect(server.url)
        sock.sendall(request_head("POST", "/sdk/post_logs", server.token, 100) + b"{")
        stalled.append(sock)
    try:
        latencies = []
        for i in range(20):
            body = {**version, "logs": {"other": {"step": [i], "value": [float(i)]}}}
            started = time.monotonic()
            response = api.call("POST", "/sdk/post_logs", body)
            latencies.append(time.monotonic() - started)
            assert response.status_code in (200, 201), response.text
            assert api.call("GET", "/sdk/get_logs", version).status_code == 200
        # every stalled request is still waiting: the other client went on beside them
        assert not any(closed(sock, within=0) for sock in stalled)
    finally:
        for sock in stalled:
            sock.close()
    assert api.ok("GET", "/sdk/get_logs", version)["logs"]["other"]["step"] == list(range(20))
    assert max(latencies) < 5.0, latencies  # each answered at its own pace, not the stall's


def test_a_large_body_being_received_blocks_no_one(server: LocalServer) -> None:
    api = Api(server.url, server.token)
    ids = setup_project(api)
    version = {"training_id": ids["training_id"], "network_id": ids["network_id"]}
    steps = list(range(200_000))
    big = json.dumps({**version, "logs": {"big": {"step": steps, "value": [0.5] * len(steps)}}})
    sock = connect(server.url)
    sock.sendall(request_head("POST", "/sdk/post_logs", server.token, len(big)))
    sock.sendall(big[: len(big) // 2].encode())  # half of it, the rest later
    try:
        for i in range(10):
            body = {**version, "logs": {"small": {"step": [i], "value": [1.0]}}}
            assert api.call("POST", "/sdk/post_logs", body).status_code in (200, 201)
        sock.sendall(big[len(big) // 2 :].encode())
        status, _, _ = read_answer(sock)
    finally:
        sock.close()
    assert status in (200, 201)
    logs = api.ok("GET", "/sdk/get_logs", version)["logs"]
    assert len(logs["big"]["step"]) == 200_000 and len(logs["small"]["step"]) == 10


def test_a_trickling_request_is_answered_408_naming_the_timeout(tmp_path: Path) -> None:
    limits = Limits(request_timeout=0.5, min_rate=64 * KIB)
    with LocalServer(tmp_path / "d", limits=limits) as local:
        stalled = connect(local.url)
        stalled.sendall(request_head("POST", "/sdk/post_logs", local.token, 100) + b"{")
        trickle = connect(local.url)
        head = request_head("POST", "/sdk/post_logs", local.token, 10_000)
        answered = threading.Event()

        def drip() -> None:  # one byte every 0.1 s: alive, but far too slow
            for byte in head:
                if answered.is_set():
                    return
                try:
                    trickle.sendall(bytes([byte]))
                except OSError:
                    return
                time.sleep(0.1)

        dripper = threading.Thread(target=drip, daemon=True)
        dripper.start()
        try:
            for sock in (stalled, trickle):
                status, headers, body = read_answer(sock)
                assert status == 408
                assert headers["content-type"] == "application/json"
                message = json.loads(body)["error"]
                assert "within 0.5 s" in message and "--request-timeout" in message
                assert closed(sock, within=5)
            answered.set()
            # and the server goes on serving
            assert Api(local.url, local.token).ok("GET", "/sdk/check_connection")
        finally:
            answered.set()
            stalled.close()
            trickle.close()
            dripper.join()


def test_idle_connections_are_closed(tmp_path: Path) -> None:
    with LocalServer(tmp_path / "d", limits=Limits(idle_timeout=1.0)) as local:
        sock = connect(local.url)
        try:
            assert closed(sock, within=10)  # after ~1 s (maintenance runs each second)
        finally:
            sock.close()


def test_size_limits_are_answered_naming_the_limit(tmp_path: Path) -> None:
    limits = Limits(max_body_size=1 * MIB, max_json_size=4 * KIB, max_header_size=8 * KIB)
    with LocalServer(tmp_path / "d", limits=limits) as local:
        api = Api(local.url, local.token)
        sock = connect(local.url)
        try:  # refused from the announced length, before the body is sent
            sock.sendall(request_head("POST", "/api/v1/raw_data/x", local.token, 2 * MIB))
            status, headers, body = read_answer(sock)
        finally:
            sock.close()
        assert status == 413 and headers["content-type"] == "application/json"
        message = json.loads(body)["error"]
        assert "larger than 1 MiB" in message and "--max-body-size" in message
        big = {"dataset_name": "x" * 5000}
        message = api.error(413, "POST", "/api/v1/create_dataset", big)
        assert "larger than 4096 bytes" in message and "--max-json-size" in message
        response = api.call("GET", "/sdk/check_connection", headers={"X-Big": "y" * 9000})
        assert response.status_code == 431
        assert "larger than 8 KiB" in response.json()["error"]
        assert "--max-header-size" in response.json()["error"]
        long_path = "/api/v1/dataset_info/" + "z" * 7000
        assert api.call("GET", long_path).status_code == 404  # long, but within the limits
        assert api.ok("GET", "/sdk/check_connection")


def test_limits_refuse_nonsense_naming_it() -> None:
    with pytest.raises(ValueError, match="threads must be at least 1, got 0"):
        Limits(threads=0)
    with pytest.raises(ValueError, match="request_timeout must be more than 0"):
        Limits(request_timeout=0)
    assert parse_size("64MiB") == 64 * MIB and parse_size("512k") == 512 * KIB
    assert parse_size("1 GiB") == 1024 * MIB and parse_size("100") == 100
    with pytest.raises(ValueError, match="not a size: '1.5G'"):
        parse_size("1.5G")


def test_serve_options_reach_the_server_and_bad_ones_are_named(tmp_path: Path) -> None:
    base = [sys.executable, "-m", "picsellia_tf.local", "--data-dir", str(tmp_path / "d"),
            "--port", "0"]  # fmt: skip
    bad = subprocess.run(
        [*base, "--max-body-size", "lots"], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and "--max-body-size: not a size: 'lots'" in bad.stderr
    bad = subprocess.run(
        [*base, "--threads", "8", "--connection-limit", "2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1
    assert "--connection-limit (2) must be at least --threads (8)" in bad.stderr
    command = [*base, "--max-json-size", "1KiB", "--public-url", "https://files.example:8443/"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            url = process.stdout.readline().strip().rsplit(" ", 1)[1]
            assert process.stdout.readline().strip() == "public URL: https://files.example:8443"
            token = process.stdout.readline().strip().split(": ", 1)[1]
            api = Api(url, token)
            message = api.error(413, "POST", "/api/v1/create_dataset", {"dataset_name": "x" * 2000})
            assert "1024 bytes" in message
            dataset = api.ok("POST", "/api/v1/create_dataset", {"dataset_name": "d"})["dataset_id"]
            files = [("files", ("a.txt", b"a"))]
            item = api.ok("POST", f"/api/v1/raw_data/{dataset}", files=files)["0"]
            assert item["url"].startswith("https://files.example:8443/storage/datasets/")
        finally:
            process.kill()


def test_waitress_refusals_are_json(server: LocalServer) -> None:
    sock = connect(server.url)
    try:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n")
        status, headers, body = read_answer(sock)
    finally:
        sock.close()
    assert status == 400 and headers["content-type"] == "application/json"
    assert headers["x-content-type-options"] == "nosniff"
    assert "Content-Length is invalid" in json.loads(body)["error"]
    assert requests.get(server.url + "/sdk/check_connection", timeout=10).status_code == 401
