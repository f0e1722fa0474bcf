"""Validate every state machine as it will be deployed: render the template the way Terraform's
templatefile() does (`${name}` placeholders, with ARNs of the right shape), check the structure AWS
checks, then run asl-validator (JSONPath) on the result."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "local"))

from bbws_local.patches import structure_problems  # noqa: E402

PLACEHOLDER = re.compile(r"\$\{([a-z_]+)\}")


def shared_states(machine: str) -> str:
    """statemachine/shared-states.json with `machine`'s names, as the members of an object (the way
    stepfunctions.tf renders `${shared_states}` into the definition's States)."""
    names = json.loads((ROOT / "statemachine" / "shared-states.vars.json").read_text())[machine]
    text = PLACEHOLDER.sub(lambda m: names[m.group(1)], (ROOT / "statemachine" / "shared-states.json").read_text())
    return ",".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in json.loads(text).items())


def tenant_states(machine: str) -> str:
    """statemachine/tenant-states.json with `machine`'s names and the definitions' variables, as the
    members of an object (the way stepfunctions.tf renders `${tenant_states}`)."""
    names = json.loads((ROOT / "statemachine" / "tenant-states.vars.json").read_text())[machine]
    text = (ROOT / "statemachine" / "tenant-states.json").read_text()
    text = render(PLACEHOLDER.sub(lambda m: names.get(m.group(1), m.group(0)), text), machine)
    return ",".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in json.loads(text).items())


def render(text: str, machine: str) -> str:
    def value(m: re.Match) -> str:
        name = m.group(1)
        if name == "env":
            return "sit"
        if name == "lambda_retry":  # as stepfunctions.tf renders it: the file, re-encoded
            return json.dumps(json.loads((ROOT / "statemachine" / "lambda-retry.json").read_text()))
        if name == "shared_states":
            return shared_states(machine)
        if name == "tenant_states":
            return tenant_states(machine)
        if name.endswith("_topic_arn"):
            return "arn:aws:sns:af-south-1:815856636111:bbws-promotion-events-sit"
        if name.endswith("_state_machine_arn"):
            return f"arn:aws:states:af-south-1:815856636111:stateMachine:{name}"
        if name.endswith("_table"):
            return f"bbws-{name.replace('_', '-')}-sit"
        return f"arn:aws:lambda:af-south-1:815856636111:function:bbws-promotion-{name.removesuffix('_arn')}-sit"

    return PLACEHOLDER.sub(value, text)


def main() -> int:
    out_dir = ROOT / "local" / ".state" / "asl"
    out_dir.mkdir(parents=True, exist_ok=True)
    failed = 0
    for template in sorted((ROOT / "statemachine").glob("*.asl.json")):
        rendered = render(template.read_text(), template.name.removesuffix(".asl.json"))
        doc = json.loads(rendered)
        problems = structure_problems(doc)
        target = out_dir / template.name
        target.write_text(rendered)
        r = subprocess.run([str(ROOT / "node_modules" / ".bin" / "asl-validator"), "--json-path", str(target)],
                           capture_output=True, text=True)
        ok = r.returncode == 0 and not problems
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {template.relative_to(ROOT)} ({len(doc['States'])} states)")
        for p in problems:
            print(f"     {p}")
        if r.returncode != 0:
            print(r.stdout + r.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
