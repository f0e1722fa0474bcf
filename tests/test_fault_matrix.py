"""The fault matrix in its short form (issue 11): one cell per step of every state machine definition, the
kinds taken in turn, three lanes at once. `make faults` runs every cell (tests/fault_matrix.py says what each checks)."""
from __future__ import annotations

import fault_matrix


# The steps (Task states that make AWS calls) each scenario's way through its definition takes, as a
# run without a fault shows them: each must get its cell (discovery attributes calls to states by the
# execution history's times, so a step it missed would otherwise go untested without a word). A timing
# may show one more (a states-role call inside a neighbouring state); that one is run too.
STEPS = {
    "promote": {"Validate input", "Lock promotion", "Preflight checks", "Request approval",
                "Re-check maintenance window", "Create backup alias", "Deploy", "Verify health",
                "Start monitoring", "Check health, errors and throttles", "Record success", "Release lock"},
    "release": {"Validate release request", "Lock release", "Preflight checks of every service",
                "Request release approval", "Start the phases", "Promote the next service",
                "Check the promoted service", "Start health wait", "Phase done", "Cross-service verification",
                "Record release", "Release lock"},
    "rollback": {"Lock service", "Resolve target version", "Roll back to target", "Record rollback", "Release lock"},
}


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
    missing = sorted((machine, state) for machine, states in STEPS.items() for state in states
                     if (machine, state) not in run)
    assert not missing, f"steps the scenarios take without a cell: {missing}\n{report}"
    assert {r.cell.kind for r in results} == set(fault_matrix.KINDS), report
    failed = [r for r in results if not r.passed]
    assert not failed, report
