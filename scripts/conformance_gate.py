"""Conformance gate: compare ETSI suite results with docs/conformance.md.

    python scripts/conformance_gate.py groups             # the TP paths to run
    python scripts/conformance_gate.py check OUT [--record]

The table between the gate markers in docs/conformance.md lists each group with
the passes recorded last time; `check` fails (exit 1) when a group now passes
fewer, and `--record` writes the new counts back (only ever upwards).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "conformance.md"
START, END = "<!-- gate:start -->", "<!-- gate:end -->"
ROW = re.compile(r"^\|\s*`?(TP/NGSI-LD/[^|`]+?)`?\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|(.*)$")
LINE = re.compile(r"^(\S+)\s+(\d+) pass\s+(\d+) fail\s+(\d+) skip")


def table() -> list[tuple[str, int, int]]:
    text = DOC.read_text()
    block = text.split(START, 1)[1].split(END, 1)[0]
    rows = []
    for line in block.splitlines():
        m = ROW.match(line.strip())
        if m:
            rows.append((m.group(1).strip(), int(m.group(2)), int(m.group(3))))
    if not rows:
        raise SystemExit(f"no gate rows in {DOC}")
    return rows


def results(path: str) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for line in Path(path).read_text().splitlines():
        m = LINE.match(line.strip())
        if m:
            out[m.group(1)] = (int(m.group(2)), int(m.group(2)) + int(m.group(3)) + int(m.group(4)))
    return out


def main(argv: list[str]) -> int:
    if argv[:1] == ["groups"]:
        print(" ".join(path for path, _, _ in table()))
        return 0
    if len(argv) < 2 or argv[0] != "check":
        print(__doc__)
        return 2
    got = results(argv[1])
    record = "--record" in argv
    failed = False
    text = DOC.read_text()
    for path, recorded, _total in table():
        prefix = path.removeprefix("TP/NGSI-LD/")
        passed = sum(p for k, (p, _) in got.items() if k == prefix or k.startswith(prefix + "/"))
        total = sum(t for k, (_, t) in got.items() if k == prefix or k.startswith(prefix + "/"))
        status = "ok" if passed >= recorded else "REGRESSION"
        print(f"{path:62s} {passed:4d}/{total:<4d} recorded {recorded:4d}  {status}")
        if passed < recorded:
            failed = True
        elif record and (passed > recorded or total != _total):
            pattern = re.compile(rf"^(\|\s*`?{re.escape(path)}`?\s*\|)\s*\d+\s*\|\s*\d+\s*\|", re.M)
            text = pattern.sub(rf"\g<1> {passed} | {total} |", text)
    if record:
        DOC.write_text(text)
    if failed:
        print("conformance: a group passes fewer ETSI cases than docs/conformance.md records", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
