"""The fault matrix in its short form (issue 11): one cell per step of every state machine definition, the
kinds taken in turn, three lanes at once. `make faults` runs every cell (tests/fault_matrix.py says what each checks)."""
from __future__ import annotations

import fault_matrix


def test_every_step_survives_its_fault_and_leaves_a_safe_state():
    lines: list[str] = []
    results = fault_matrix.run(short=True, progress=lines.append)
    report = fault_matrix.table(results)
    print(report)
    scenarios = [s for lane in fault_matrix.LANES for s in lane]
    machine_of = {s.name: s.machine for s in scenarios}
    run = {(machine_of[r.cell.scenario], r.cell.state) for r in results}
    found = {(machine_of[name], state) for name, states in fault_matrix._DISCOVERED.items() for state in states}
    assert set(fault_matrix._DISCOVERED) == {s.name for s in scenarios}, report
    # One cell for every step (a state that makes AWS calls) of every state machine definition.
    assert found and found <= run, f"steps without a cell: {sorted(found - run)}\n{report}"
    assert len(run) >= 30, f"only {len(run)} steps were found: {report}"
    assert {r.cell.kind for r in results} == set(fault_matrix.KINDS), report
    failed = [r for r in results if not r.passed]
    assert not failed, report
