"""The nginx configuration `make run` writes: complete, accepted by nginx, and a fresh place for
its copy of the world map."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from scripts import launcher


def _site(cache: Path) -> str:
    return launcher.render_nginx(
        listen="127.0.0.1:18000",
        ingest=["127.0.0.1:18001", "127.0.0.1:18002"],
        query=["127.0.0.1:18003"],
        cache_dir=cache,
    )


def test_every_placeholder_is_filled(tmp_path):
    site = _site(tmp_path / "cache")
    assert "${" not in site
    assert f"proxy_cache_path {tmp_path / 'cache'} " in site
    assert "server 127.0.0.1:18001 fail_timeout=1s; server 127.0.0.1:18002" in site


def test_nginx_accepts_the_configuration(tmp_path):
    if not Path(launcher.NGINX).exists():
        pytest.fail(f"nginx is not installed ({launcher.NGINX}): run `make setup`")
    argv, cache = launcher.write_nginx(
        tmp_path / "nginx",
        listen="127.0.0.1:18000",
        ingest=["127.0.0.1:18001", "127.0.0.1:18002"],
        query=["127.0.0.1:18003"],
    )
    try:
        checked = subprocess.run([*argv, "-t"], capture_output=True, text=True, check=False)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    assert checked.returncode == 0, checked.stderr


def test_the_copy_starts_empty_under_the_prefix(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    earlier = tmp_path / "cache" / "a" / "copy"
    earlier.parent.mkdir(parents=True)
    earlier.write_bytes(b"an earlier run's map")
    cache = launcher.nginx_cache_dir(tmp_path)
    assert cache == tmp_path / "cache"
    assert cache.is_dir() and not any(cache.iterdir())


def test_as_root_the_copy_is_where_nginx_workers_can_reach(tmp_path, monkeypatch):
    # nginx's workers run as nobody then, and pytest's directories are private to root.
    owners: list[tuple[Path, str]] = []
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(launcher.shutil, "chown", lambda path, user: owners.append((path, user)))
    cache = launcher.nginx_cache_dir(tmp_path)
    try:
        assert not cache.is_relative_to(tmp_path)
        assert cache.is_dir() and not any(cache.iterdir())
        assert owners == [(cache, "nobody")]
    finally:
        cache.rmdir()
