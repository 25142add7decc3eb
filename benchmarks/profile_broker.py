"""Profile the broker under one wrk scenario with py-spy, and print its hotspots.

py-spy is not a dependency of boulevard; install it in a separate virtualenv:

    python3 -m venv /tmp/pyspy && /tmp/pyspy/bin/pip install py-spy
    .venv/bin/python benchmarks/profile_broker.py create --py-spy /tmp/pyspy/bin/py-spy
    .venv/bin/python benchmarks/profile_broker.py batch_upsert --app floor --seconds 15

The raw profile (collapsed stacks) is written to benchmarks/results/profile-APP-SCENARIO.txt;
``benchmarks/hotspots.py`` summarises it (it runs here too).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchlib import BENCH, Server, broker_command, floor_command, free_port, snapshot_src, wrk_run
from hotspots import report
from rich.console import Console
from run import PRELOAD_PREFIX, SCENARIOS, preload, wrk_args


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", choices=[s.key for s in SCENARIOS])
    parser.add_argument("--app", choices=["broker", "floor"], default="broker")
    parser.add_argument("--sync", default="FULL", type=str.upper, choices=["FULL", "NORMAL"])
    parser.add_argument("--seconds", type=float, default=12.0, help="profiled seconds (12)")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second (250)")
    parser.add_argument("--connections", type=int, default=None, help="wrk connections (32; 8 for batches)")
    parser.add_argument("--py-spy", default=shutil.which("py-spy") or "/tmp/pyspy/bin/py-spy")
    parser.add_argument("--rev", default=None, help="profile the broker of this git revision")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--native", action="store_true", help="py-spy --native (C frames too)")
    parser.add_argument("--gil", action="store_true",
                        help="py-spy --gil: only the thread holding the GIL (where the CPU goes; waits excluded)")
    opts = parser.parse_args()
    console = Console(width=200)
    if not Path(opts.py_spy).exists():
        console.print(f"[red]py-spy not found at {opts.py_spy}[/]; see the module docstring")
        return 1
    scenario = next(s for s in SCENARIOS if s.key == opts.scenario)
    conns = opts.connections or (8 if scenario.entities_per_request > 1 else 32)
    out = BENCH / "results" / f"profile-{opts.app}-{scenario.key}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="boulevard-prof-") as tmp:
        port = free_port()
        db = Path(tmp) / "prof.db"
        env = None
        if opts.rev is not None and opts.app == "broker":
            src, _ = snapshot_src(opts.rev, Path(tmp))
            env = {"PYTHONPATH": str(src)}
        command = broker_command(db, port, opts.sync) if opts.app == "broker" else floor_command(db, port, opts.sync)
        with Server(opts.app, command, port, Path(tmp) / "server.log", env=env) as server:
            preload(server, 10_000)
            load_seconds = opts.seconds + 4
            result: dict[str, object] = {}

            def load() -> None:
                result["summary"] = wrk_run(server.url, scenario.script,
                                            wrk_args(scenario, f"prof{int(time.time())}", 10_000),
                                            connections=conns, duration=load_seconds)

            thread = threading.Thread(target=load)
            thread.start()
            time.sleep(2)
            cmd = [opts.py_spy, "record", "-p", str(server.pid), "-d", f"{opts.seconds:g}", "-r", str(opts.rate),
                   "-f", "raw", "--threads", "-o", str(out)]
            if opts.native:
                cmd.append("--native")
            if opts.gil:
                cmd.append("--gil")
            spy = subprocess.run(cmd, capture_output=True, text=True, check=False)
            thread.join()
            if spy.returncode != 0:
                console.print(f"[red]py-spy failed[/]: {spy.stderr.strip()}")
                return 1
    summary = result.get("summary")
    if isinstance(summary, dict):
        rps = summary["requests"] / (summary["duration_us"] / 1e6)
        console.print(f"{opts.app} {scenario.title} under py-spy: {rps:,.0f} req/s "
                      f"(preloaded ids: {PRELOAD_PREFIX}-*); profile in {out}")
    report(out, opts.top, None, console)
    return 0


if __name__ == "__main__":
    sys.exit(main())
