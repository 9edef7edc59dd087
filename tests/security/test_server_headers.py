"""Responses Django's middleware never shapes carry the app's security headers too: whitenoise's
static files, and gunicorn's own answer to a request it cannot parse."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.test import Client, override_settings

ROOT = Path(__file__).resolve().parents[2]


def test_a_static_file_carries_the_security_headers_and_stays_cacheable(tmp_path):
    (tmp_path / "probe.css").write_text("body { color: black; }")
    with override_settings(STATIC_ROOT=tmp_path):
        response = Client().get("/static/probe.css")
        assert response.status_code == 200
        assert "default-src 'self'" in response["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
        assert response["X-Frame-Options"] == "DENY" and response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
        assert "no-store" not in response.get("Cache-Control", "")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _raw(port: int, payload: bytes) -> bytes:
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(payload)
                chunks = []
                while data := s.recv(65536):
                    chunks.append(data)
                return b"".join(chunks)
        except (ConnectionRefusedError, ConnectionResetError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@pytest.mark.skipif(sys.platform == "win32", reason="gunicorn runs on POSIX only")
def test_gunicorns_own_error_page_carries_the_security_headers(tmp_path):
    port = _free_port()
    env = {**os.environ, "DJANGO_ENV": "test", "SQLITE_PATH": str(tmp_path / "db.sqlite3")}
    env.pop("DATABASE_URL", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "compassionclub.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        answer = _raw(port, b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 414")
        assert b"Content-Security-Policy: " in head and b"default-src 'self'" in head
        assert b"X-Frame-Options: DENY" in head and b"X-Content-Type-Options: nosniff" in head
        assert b"Cache-Control: no-store" in head
        assert b"aaaa" not in body  # the error text is not echoed
        bad_line = _raw(port, b"NOT A REQUEST\r\n\r\n")
        assert bad_line.startswith(b"HTTP/1.1 400") and b"Content-Security-Policy" in bad_line
    finally:
        server.terminate()
        server.wait(timeout=30)
