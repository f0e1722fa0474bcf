"""terraform-provider-aws 5.100 applies a small stack, state machine included, with no drift after."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from bbws_local.settings import terraform_plugin_args
from conftest import ENDPOINT, PROBE_ZIP, STATE, unique, wait_execution

HERE = Path(__file__).parent / "terraform"


def tf(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_IN_AUTOMATION="1", TF_INPUT="0", CHECKPOINT_DISABLE="1",
               AWS_CONFIG_FILE=str(STATE / "aws" / "config"),
               AWS_SHARED_CREDENTIALS_FILE=str(STATE / "aws" / "credentials"))
    r = subprocess.run(["terraform", *args], cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
    if check and r.returncode != 0:
        raise AssertionError(f"terraform {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}")
    return r


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")
def test_terraform_applies_a_state_machine_without_drift(tmp_path, dev):
    work = tmp_path / "stack"
    shutil.copytree(HERE, work)
    name = unique("tf-small")
    tfvars = {"endpoint": ENDPOINT, "name": name, "probe_zip": str(PROBE_ZIP)}
    (work / "terraform.tfvars.json").write_text(json.dumps(tfvars))
    tf(work, "init", "-backend=false", *terraform_plugin_args())
    tf(work, "apply", "-auto-approve")
    try:
        plan = tf(work, "plan", "-detailed-exitcode", check=False)
        assert plan.returncode == 0, f"drift after apply:\n{plan.stdout}"
        arn = json.loads(tf(work, "output", "-json").stdout)["state_machine_arn"]["value"]
        sfn = dev.client("stepfunctions")
        run = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"from": "terraform"}))
        d = wait_execution(dev, run["executionArn"])
        assert d["status"] == "SUCCEEDED" and json.loads(d["output"]) == {"from": "terraform"}
    finally:
        tf(work, "destroy", "-auto-approve")
    names = [m["name"] for page in dev.client("stepfunctions").get_paginator("list_state_machines").paginate()
             for m in page["stateMachines"]]
    assert name not in names
