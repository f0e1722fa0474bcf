"""The fault matrix in its short form (issue 11): one cell per step of every scenario, the kinds taken in
turn, three lanes at once. `make faults` runs every cell (tests/fault_matrix.py says what each checks)."""
from __future__ import annotations

import fault_matrix


def test_every_step_survives_its_fault_and_leaves_a_safe_state():
    lines: list[str] = []
    results = fault_matrix.run(short=True, progress=lines.append)
    report = fault_matrix.table(results)
    print(report)
    steps = {(r.cell.scenario, r.cell.state) for r in results}
    assert {r.cell.scenario for r in results} == {s.name for lane in fault_matrix.LANES for s in lane}, report
    assert len(steps) >= 30, f"only {len(steps)} steps were found: {report}"
    assert {r.cell.kind for r in results} == set(fault_matrix.KINDS), report
    failed = [r for r in results if not r.passed]
    assert not failed, report
