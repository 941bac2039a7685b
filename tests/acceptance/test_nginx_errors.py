"""The errors nginx answers itself, before any service sees the request, are in Sensorium's
error model: JSON with the request id, never nginx's HTML page."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from scripts import launcher


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[str]:
    """nginx with the project's site, in front of services that are not running; its base URL."""
    if not Path(launcher.NGINX).exists():
        pytest.fail(f"nginx is not installed ({launcher.NGINX}): run `make setup`")
    port, nobody = launcher.free_port(), launcher.free_port()
    argv, cache = launcher.write_nginx(
        tmp_path / "nginx",
        listen=f"127.0.0.1:{port}",
        ingest=[f"127.0.0.1:{nobody}"],
        query=[f"127.0.0.1:{nobody}"],
    )
    process = subprocess.Popen(argv)
    try:
        _wait_for_listening(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(cache, ignore_errors=True)


def _wait_for_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert process.poll() is None, "nginx exited: see its error.log"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    pytest.fail("nginx did not listen within 10 s")


def _answer(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.mark.parametrize(
    ("path", "headers", "status", "code"),
    [
        ("/v0/devices?q=" + "a" * 9000, {}, 414, "uri_too_long"),
        ("/v0/devices", {"X-Padding": "a" * 9000}, 400, "bad_request"),
        ("/v0/devices", {}, 503, "service_unavailable"),  # the services are not running
        ("/.sensorium/bad_request", {}, 404, "record_not_found"),  # nginx's own, internal
    ],
)
def test_nginx_answers_its_own_errors_in_the_error_model(nginx, path, headers, status, code):
    got, answer_headers, body = _answer(nginx + path, headers)
    assert got == status, body[:200]
    assert answer_headers["Content-Type"] == "application/json"
    error = orjson.loads(body)
    assert (error["object"], error["code"]) == ("error", code)
    assert error["request_id"] == answer_headers["X-Request-ID"]
    assert len(error["request_id"]) == 32


async def test_a_request_that_is_not_http_is_a_400_in_the_error_model(nginx):
    host, port = nginx.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"NOT HTTP AT ALL\r\n\r\n")
    answer = await reader.read()
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), head
    assert b"Content-Type: application/json" in head
    assert orjson.loads(body)["code"] == "bad_request"
