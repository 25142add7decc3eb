"""Helpers shared by the benchmark scripts: servers as subprocesses, entities, machine facts."""

from __future__ import annotations

import json
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
VENV_BIN = Path(sys.executable).parent
BASE = "/ngsi-ld/v1"
OBSERVED_AT = "2026-05-04T08:30:00Z"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def broker_command(db: Path, port: int, sync: str) -> list[str]:
    exe = VENV_BIN / "boulevard"
    return [str(exe), "serve", "--db", str(db), "--port", str(port), "--sync", sync]


def floor_command(db: Path, port: int, sync: str) -> list[str]:
    return [sys.executable, str(BENCH / "floor_app.py"), "--db", str(db), "--port", str(port), "--sync", sync]


@dataclass
class Server:
    """A server process on 127.0.0.1:port, logging to a file; a context manager."""

    name: str
    command: list[str]
    port: int
    log_path: Path
    env: dict[str, str] | None = None  # extra environment (PYTHONPATH of a source snapshot)
    proc: subprocess.Popen[bytes] | None = None
    _log: TextIO | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 30.0) -> None:
        self._log = self.log_path.open("w")
        env = {**os.environ, **(self.env or {})}
        self.proc = subprocess.Popen(self.command, stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        deadline = time.monotonic() + timeout
        probe = f"{self.url}{BASE}/entities/urn:ngsi-ld:Probe:none"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log_path}")
            try:
                answered = httpx.get(probe, timeout=1.0).status_code in (200, 404)
            except httpx.HTTPError:
                answered = False
            # the answer must come from our process, not from another one that took the port
            if answered and listens_on(self.proc.pid, self.port):
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer on port {self.port} within {timeout:.0f}s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def listens_on(pid: int, port: int) -> bool:
    """Whether process `pid` holds the listening TCP socket of 127.0.0.1:`port`."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(cols[9])
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return True
    return False


def proc_status(pid: int, key: str) -> int:
    """A kB field of /proc/PID/status (VmRSS, VmHWM, ...), in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) from /proc/PID/stat."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def system_busy_seconds() -> float:
    """CPU seconds spent busy by the whole machine since boot (all cores), from /proc/stat."""
    parts = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in parts]
    idle = values[3] + values[4]  # idle + iowait
    busy = sum(values[:8]) - idle  # user nice system idle iowait irq softirq steal
    return busy / os.sysconf("SC_CLK_TCK")


def cpu_calibration_ms() -> float:
    """Milliseconds a fixed pure-Python loop takes here (best of 3): on a shared VM the host's
    speed drifts, and this shows it next to each measurement."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for i in range(200_000):
            total += i * i
        best = min(best, time.perf_counter() - started)
    return best * 1000


def machine() -> dict[str, Any]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    try:
        wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False).stdout.splitlines()[0]
    except (OSError, IndexError):
        wrk = "not found"
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "wrk": wrk.split("Copyright")[0].strip(),
        "revision": git_revision(),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
    }


def crowd_flow(entity_id: str, rng: random.Random) -> dict[str, Any]:
    """A CrowdFlowObserved like benchmarks/wrk/common.lua writes (normalized NGSI-LD)."""
    return {
        "id": entity_id,
        "type": "CrowdFlowObserved",
        "location": {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [-3.70 + rng.random() * 0.02, 40.41 + rng.random() * 0.02]},
        },
        "peopleCount": {"type": "Property", "value": rng.randint(0, 400), "observedAt": OBSERVED_AT},
        "averageCrowdSpeed": {
            "type": "Property", "value": round(rng.random() * 2, 2), "unitCode": "MTS", "observedAt": OBSERVED_AT,
        },
        "congested": {"type": "Property", "value": rng.random() < 0.3, "observedAt": OBSERVED_AT},
        "refDevice": {"type": "Relationship", "object": f"urn:ngsi-ld:Device:camera-{rng.randint(1, 120):03d}"},
    }


def parking_spot(entity_id: str, rng: random.Random) -> dict[str, Any]:
    """A ParkingSpot like benchmarks/wrk/common.lua writes (normalized NGSI-LD)."""
    return {
        "id": entity_id,
        "type": "ParkingSpot",
        "location": {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [-3.70 + rng.random() * 0.02, 40.41 + rng.random() * 0.02]},
        },
        "status": {
            "type": "Property", "value": rng.choice(("free", "occupied", "closed", "unknown")),
            "observedAt": OBSERVED_AT,
        },
        "category": {"type": "Property", "value": ["onStreet", "forDisabled"]},
        "width": {"type": "Property", "value": round(2 + rng.random(), 2), "unitCode": "MTR"},
        "refParkingSite": {
            "type": "Relationship", "object": f"urn:ngsi-ld:ParkingSite:boulevard-{rng.randint(1, 40):02d}",
        },
    }


def snapshot_src(rev: str, into: Path) -> tuple[Path, str]:
    """Extract src/ of git revision `rev` into `into`: a PYTHONPATH entry, and the full commit id.

    Benchmarks a committed state while src/ is being edited: the broker imports
    boulevard from PYTHONPATH before the editable install of the virtualenv."""
    commit = subprocess.run(["git", "rev-parse", rev], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.strip()
    archive = subprocess.run(["git", "archive", commit, "src"], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src", commit


def git_revision() -> str:
    """The commit of the working tree, with '+dirty' when src/ has uncommitted changes."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=ROOT, capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + ("+dirty" if dirty else "")


WRK_DIR = BENCH / "wrk"


def wrk_run(
    url: str, script: str, args: list[str], *, connections: int, duration: float,
    tick: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """One `wrk -t1` run of benchmarks/wrk/SCRIPT; its BENCH_JSON summary (see common.lua).

    Raises RuntimeError when wrk fails, prints no summary, or saw any error
    (connect/read/write/timeout, or a status other than 2xx/3xx)."""
    cmd = [
        "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency", "--timeout", "10s",
        "-s", str(WRK_DIR / script), url, "--", *args,
    ]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while proc.poll() is None:
        if tick is not None:
            tick(time.monotonic() - started)
        time.sleep(0.2)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}) against {url}: {err.strip() or out.strip()}")
    line = next((ln for ln in out.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary against {url}:\n{out}\n{err}")
    summary: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
    errors = {k: v for k, v in summary.items() if k.startswith("errors_") and v}
    if errors or summary["requests"] == 0:
        raise RuntimeError(f"{script} against {url}: {summary['requests']} requests, errors {errors}")
    return summary
