"""End to end: a real `boulevard serve` process, killed with SIGKILL mid-stream, loses no acknowledged write."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

BASE = "/ngsi-ld/v1"
WRITERS = 4
TARGET_ACKS = 300
STREAM_SECONDS = 8.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def server(db: Path, log: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`boulevard serve` on a free port with the default (FULL) synchronous mode."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "boulevard.cli", "serve", "--db", str(db), "--port", str(port),
             "--host", "127.0.0.1"],
            stdout=out, stderr=subprocess.STDOUT, cwd=db.parent, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        deadline = time.monotonic() + 30
        with httpx.Client(base_url=url, timeout=2) as client:
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"server exited with {proc.returncode}: {log.read_text()[-2000:]}")
                try:
                    if client.get(f"{BASE}/info/sourceIdentity").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"server did not start: {log.read_text()[-2000:]}")
                time.sleep(0.05)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def entity(eid: str, n: int) -> dict[str, object]:
    return {"id": eid, "type": "Counter", "n": {"type": "Property", "value": n},
            "tag": {"type": "Property", "value": f"payload-{n}"}}


@pytest.mark.slow
def test_acknowledged_creates_survive_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "durable.db"
    log = tmp_path / "server.log"
    acked: dict[str, int] = {}
    unexpected: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    with server(db, log) as (proc, url):

        def writer(w: int) -> None:
            with httpx.Client(base_url=url, timeout=10) as client:
                i = 0
                while not stop.is_set():
                    eid = f"urn:ngsi-ld:Counter:{w}-{i}"
                    n = w * 1_000_000 + i
                    try:
                        resp = client.post(f"{BASE}/entities", json=entity(eid, n))
                    except httpx.TransportError:
                        return  # the server is gone
                    with lock:
                        if resp.status_code == 201:
                            acked[eid] = n
                        else:
                            unexpected.append(f"{eid}: {resp.status_code} {resp.text}")
                    i += 1

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + STREAM_SECONDS
        while time.monotonic() < deadline:
            with lock:
                if len(acked) >= TARGET_ACKS:
                    break
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)  # mid-stream: requests are in flight
        proc.wait(timeout=30)
        stop.set()
        for t in threads:
            t.join(timeout=30)
        assert proc.returncode == -signal.SIGKILL

    assert not unexpected, unexpected[:5]
    assert len(acked) >= 20, f"only {len(acked)} creates were acknowledged before the kill"

    with server(db, log) as (_proc, url), httpx.Client(base_url=url, timeout=10) as client:
        stored: dict[str, int] = {}
        offset = 0
        while True:
            resp = client.get(f"{BASE}/entities", params={"type": "Counter", "limit": 1000, "offset": offset,
                                                          "options": "keyValues"})
            assert resp.status_code == 200, resp.text
            page = resp.json()
            stored.update({e["id"]: e["n"] for e in page})
            if len(page) < 1000:
                break
            offset += 1000
        missing = sorted(set(acked) - set(stored))
        assert not missing, f"{len(missing)} acknowledged entities lost, e.g. {missing[:5]}"
        assert all(stored[eid] == n for eid, n in acked.items())
        # a sample read one by one, in full
        for eid in list(acked)[:: max(1, len(acked) // 20)]:
            got = client.get(f"{BASE}/entities/{eid}")
            assert got.status_code == 200
            assert got.json()["tag"]["value"] == f"payload-{acked[eid]}"
        # the restarted broker keeps working on the same file
        resp = client.post(f"{BASE}/entities", json=entity("urn:ngsi-ld:Counter:after", 1))
        assert resp.status_code == 201, resp.text
