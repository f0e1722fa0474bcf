"""Where each lane of `make test-local` spent its time: the seconds of each test file, per lane, from
the lanes' JUnit reports (pytest --junitxml), longest first. What PIPELINE_TESTS_2 and PIPELINE_TESTS_3
in the Makefile are balanced by.

    python local/lane_durations.py local/.state/lanes.xml local/.state-2/lanes.xml local/.state-3/lanes.xml
"""
from __future__ import annotations

import collections
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def file_seconds(report: Path) -> dict[str, float]:
    """Seconds per test file of one JUnit report (the file from each test case's classname)."""
    seconds: dict[str, float] = collections.defaultdict(float)
    for case in ET.parse(report).getroot().iter("testcase"):
        module = case.get("classname", "").split(".")
        name = next((f"{part}.py" for part in module if part.startswith("test_")), case.get("classname", "?"))
        seconds[name] += float(case.get("time") or 0)
    return dict(seconds)


def main(reports: list[str]) -> int:
    for i, path in enumerate(reports, start=1):
        report = Path(path)
        if not report.exists():
            print(f"lane {i}: no report at {report}")
            continue
        seconds = file_seconds(report)
        ordered = sorted(seconds.items(), key=lambda kv: -kv[1])
        listed = ", ".join(f"{name} {s:.0f} s" for name, s in ordered)
        print(f"lane {i}: {sum(seconds.values()):.0f} s in tests: {listed}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
