"""What each BBWS service's CI leaves behind for the promotion pipeline: its quality-gate results, one
item per gate keyed by the package's CodeSha256 in `bbws-quality-gates-<env>` (RB-003 §2.1), and a
reader for the DynamoDB items the pipeline writes."""
from __future__ import annotations

import datetime as dt
from typing import Any

# (gate, passed, coverage percent): all five gates of DEV -> SIT, passing.
GATES: list[tuple[str, bool, float | None]] = [
    ("unit_tests", True, 87.5), ("lint", True, None), ("type_check", True, None),
    ("security_scan", True, None), ("integration_tests", True, None)]


def record_gates(session: Any, env: str, function: str, qualifier: str, gates=GATES,
                 ci_run: str | None = None, into: tuple[Any, str] | None = None) -> str:
    """Records `gates` for the package behind `function:qualifier` in `env`; its CodeSha256. `into`
    (a session and its environment) records them in that environment's table instead: its CI ran them
    on the package before it arrived there."""
    sha = session.client("lambda").get_function(
        FunctionName=function, Qualifier=qualifier)["Configuration"]["CodeSha256"]
    session, env = into or (session, env)
    ddb = session.client("dynamodb")
    now = dt.datetime.now(dt.timezone.utc).isoformat()
    for gate, passed, coverage in gates:
        item: dict[str, Any] = {"code_sha256": {"S": sha}, "gate": {"S": gate}, "passed": {"BOOL": passed},
                                "recorded_at": {"S": now}}
        if coverage is not None:
            item["coverage_percent"] = {"N": str(coverage)}
        if ci_run:
            item["ci_run"] = {"S": ci_run}
        ddb.put_item(TableName=f"bbws-quality-gates-{env}", Item=item)
    return sha


def plain(v: dict[str, Any]) -> Any:
    """A DynamoDB attribute value as plain JSON."""
    (kind, value), = v.items()
    if kind == "M":
        return {k: plain(x) for k, x in value.items()}
    if kind == "L":
        return [plain(x) for x in value]
    if kind == "N":
        return float(value) if "." in value else int(value)
    if kind == "NULL":
        return None
    return value
