"""Summarise a py-spy profile (``py-spy record -f raw``: collapsed stacks) into hotspots.

    py-spy record -p PID -d 10 -r 200 -f raw --threads -o create.txt
    .venv/bin/python benchmarks/hotspots.py create.txt [--top 25] [--thread MainThread]

Prints, per thread, the share of samples in each function (self) and under each
function (inclusive), so the costs of the broker's layers can be compared with
the floor's. ``benchmarks/profile_broker.py`` records and summarises in one go.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

_THREAD = re.compile(r"^thread \((?P<tid>[0-9A-Fa-fx]+)\)(?::? \"?(?P<name>[^;\"]*)\"?)?$")
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def short_file(path: str) -> str:
    for marker in ("/site-packages/", "/src/", "/lib/python3"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def frame_name(frame: str) -> str:
    m = _FRAME.match(frame)
    if m is None:
        return frame
    return f"{m.group('func')} ({short_file(m.group('file'))})"


def load(path: Path) -> dict[str, list[tuple[list[str], int]]]:
    """Collapsed stacks per thread: thread name -> [(frames root-first, samples)]."""
    threads: dict[str, list[tuple[list[str], int]]] = {}
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        thread = "?"
        # py-spy prefixes "process N:..." and "thread (0x..)" frames with --threads/--subprocesses
        while frames and (frames[0].startswith("process ") or frames[0].startswith("thread ")):
            head = frames.pop(0)
            if head.startswith("thread "):
                m = _THREAD.match(head)
                thread = (m.group("name") or m.group("tid")) if m else head
        threads.setdefault(thread, []).append(([frame_name(f) for f in frames], int(count)))
    return threads


def summarise(stacks: list[tuple[list[str], int]]) -> tuple[int, Counter[str], Counter[str]]:
    total = 0
    own: Counter[str] = Counter()
    under: Counter[str] = Counter()
    for frames, count in stacks:
        total += count
        if frames:
            own[frames[-1]] += count
        for name in set(frames):
            under[name] += count
    return total, own, under


def report(path: Path, top: int, only: str | None, console: Console) -> None:
    threads = load(path)
    grand = sum(c for stacks in threads.values() for _, c in stacks)
    for thread, stacks in sorted(threads.items(), key=lambda kv: -sum(c for _, c in kv[1])):
        if only is not None and only not in thread:
            continue
        total, own, under = summarise(stacks)
        if total < grand * 0.02:
            continue
        table = Table(title=f"{path.name}: thread {thread}, {total} samples ({total / grand:.0%} of all)")
        table.add_column("self %", justify="right")
        table.add_column("function (self)")
        table.add_column("incl %", justify="right")
        table.add_column("function (inclusive)")
        rows_self = own.most_common(top)
        # frames under (nearly) every sample are the thread's entry points: no information
        rows_incl = [(n, c) for n, c in under.most_common() if c < total * 0.995][:top]
        for i in range(max(len(rows_self), len(rows_incl))):
            s = rows_self[i] if i < len(rows_self) else ("", 0)
            n = rows_incl[i] if i < len(rows_incl) else ("", 0)
            table.add_row(
                f"{s[1] / total:.1%}" if s[0] else "", s[0], f"{n[1] / total:.1%}" if n[0] else "", n[0]
            )
        console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profile", type=Path, nargs="+")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--thread", default=None, help="only threads whose name contains this")
    args = parser.parse_args()
    console = Console(width=200)
    for path in args.profile:
        report(path, args.top, args.thread, console)


if __name__ == "__main__":
    main()
