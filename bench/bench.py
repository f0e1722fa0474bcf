"""`make bench`: what the pipeline costs to run, measured on the local estate, side by side in one run.

Each figure is measured RUNS times and reported as min / median / max; the table is printed and written
to bench/results.json. What is measured (and what is the estate's own):

- cold start: the Init Duration of each pipeline function (the estate's Runtime API: from the process's
  start to its first `next`, as AWS's REPORT line) against the estate's probe, a minimal `lambda_runtime`
  function built by the same cargo-lambda command; the ratio per function; each zip's size; peak memory.
- active time: a DEV -> SIT and a SIT -> PROD promotion's wall time minus its Wait states and the
  approval wait (from the execution history); the five states that take the rest.
- cost: state transitions per execution (AWS bills Standard workflows per transition), Lambda GB-seconds
  (the estate's journal of invocations), priced at the public rates below.
- approval latency: from the approver's confirming POST to the next state entered.
- breach -> rollback: a SIT -> PROD promotion of a build that fails under traffic (no smoke test in the
  deployed catalog, so it reaches the monitor); live traffic on latest-prod as soon as the monitor waits
  for its next poll; from the first failing invocation to `latest-prod` back on the good version in both
  regions (polled every 50 ms), against the monitor's poll interval (goal: at most the interval + 5 s).
- scale: N promotions of different services and environments started at once (N = 1, 3: the three
  services into SIT, 6: and the three into PROD), wall time of the batch and active time of each; and N
  promotions of the same service and environment at once (the lock lets one through; how long the others
  take to be refused).
- a 30-service catalog: 27 generated services (copies of one of the runbook's, one function each) seeded in
  DEV and SIT, and both accounts applied with the catalog (the rules as an S3 document; IAM naming every
  function): a DEV -> SIT release's preflight of 3 and of 30 services (up to its approval request, then
  rejected), 20 DEV -> SIT promotions of different services at once, and PROD's `terraform plan` with the
  same catalog, which IAM's 10,240 characters of inline policy per role refuse (the module's precondition
  names each role and its size; from those and the applied policies, how many service functions PROD's
  roles can name). Applied back to the runbook's catalog and the generated functions deleted afterwards.
- the estate's own overhead: the median round trip of a cheap call (Lambda GetAlias) through the gateway,
  so a figure is not mistaken for the pipeline's.
"""
from __future__ import annotations

import copy
import json
import re
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "local"))

from bbws_local import pipeline  # noqa: E402
from bbws_local import pipeline_client as ph  # noqa: E402

RUNS = 3
# Public list prices (USD, x86): Standard workflow transitions, Lambda compute and requests.
PRICE_PER_TRANSITION = 0.025 / 1000
PRICE_PER_GB_SECOND = 0.0000166667
PRICE_PER_REQUEST = 0.20 / 1_000_000
FAST = {"monitor": {"sit_seconds": 1, "prod_seconds": 1, "poll_seconds": 1}}
PIPELINE_FUNCTIONS = ("preflight", "backup-alias", "deploy", "monitor", "rollback", "record", "approval", "watch")


def spread(values: list[float]) -> dict[str, float]:
    return {"min": round(min(values), 3), "median": round(statistics.median(values), 3),
            "max": round(max(values), 3), "runs": len(values)}


def local(path: str) -> Any:
    r = requests.get(f"{ph.SETTINGS.endpoint}{path}", timeout=30)
    r.raise_for_status()
    return r.json()


def invocations_since(seq: int) -> list[dict[str, Any]]:
    return local(f"/_local/invocations?since={seq}")["invocations"]


def journal_seq() -> int:
    return local("/_local/invocations?since=999999999")["seq"]


# cold start -----------------------------------------------------------------------------------------------
MINIMAL = "bbws-bench-minimal-runtime"
MINIMAL_ZIP = ROOT / "target" / "lambda" / "bbws-local-probe" / "bootstrap.zip"


def ensure_minimal() -> str:
    """The estate's probe (local/probe: `lambda_runtime`, serde_json, tokio; built by the same cargo-lambda
    command as the pipeline's zips) as a function of SIT, the baseline a pipeline function's cold start is
    compared with."""
    session = ph.session("sit")
    lam = session.client("lambda")
    try:
        lam.get_function(FunctionName=MINIMAL)
        return MINIMAL
    except lam.exceptions.ResourceNotFoundException:
        pass
    role = ph.ensure_role(session, MINIMAL, {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    lam.create_function(FunctionName=MINIMAL, Runtime="provided.al2023", Handler="bootstrap", Role=role,
                        Code={"ZipFile": MINIMAL_ZIP.read_bytes()}, MemorySize=128, Timeout=10,
                        Architectures=["x86_64"])
    ph.wait_for(lambda: lam.get_function(FunctionName=MINIMAL)["Configuration"]["State"] == "Active",
                30, "the minimal function to be Active")
    return MINIMAL


def cold_start() -> dict[str, Any]:
    """Each function invoked cold RUNS times (its processes recycled first) with an empty event: the init
    is the same whatever the event, and an empty one changes nothing."""
    lam = ph.client("sit", "lambda")
    names = {short: f"bbws-promotion-{short}-sit" for short in PIPELINE_FUNCTIONS}
    names["(minimal lambda_runtime)"] = ensure_minimal()
    out: dict[str, Any] = {}
    for short, fn in names.items():
        inits, rss = [], []
        for _ in range(RUNS):
            ph.recycle("sit", fn)
            seq = journal_seq()
            lam.invoke(FunctionName=fn, Payload=b"{}")
            entries = [e for e in invocations_since(seq) if e["function"] == fn and e["cold"]]
            if entries and entries[0]["init_ms"] is not None:
                inits.append(entries[0]["init_ms"])
                if entries[0]["max_rss_kb"]:
                    rss.append(entries[0]["max_rss_kb"] / 1024)
        zip_path = MINIMAL_ZIP if fn == MINIMAL else ROOT / "target" / "lambda" / f"bbws-{short}" / "bootstrap.zip"
        out[short] = {"function": fn, "init_ms": spread(inits) if inits else None,
                      "max_memory_mb": spread(rss) if rss else None,
                      "zip_bytes": zip_path.stat().st_size if zip_path.exists() else None}
    base = (out.get("(minimal lambda_runtime)") or {}).get("init_ms")
    for v in out.values():
        if base and v["init_ms"]:
            v["ratio_to_minimal"] = round(v["init_ms"]["median"] / base["median"], 2)
    return out


# promotions -----------------------------------------------------------------------------------------------
def _t(event: dict[str, Any]) -> float:
    return event["timestamp"].timestamp()


def state_times(events: list[dict[str, Any]]) -> tuple[dict[str, float], dict[str, float], int]:
    """From an execution history: when each state was last entered, the time spent in each (summed over
    its entries), and the transitions (states entered)."""
    entered: dict[str, float] = {}
    open_: dict[str, float] = {}
    durations: dict[str, float] = {}
    transitions = 0
    for e in events:
        if e["type"].endswith("StateEntered"):
            transitions += 1
            name = e["stateEnteredEventDetails"]["name"]
            entered[name] = open_[name] = _t(e)
        elif e["type"].endswith("StateExited"):
            name = e["stateExitedEventDetails"]["name"]
            if name in open_:
                durations[name] = durations.get(name, 0.0) + _t(e) - open_.pop(name)
    return entered, durations, transitions


def anatomy(env: str, arn: str) -> dict[str, Any]:
    """Wall time, time in Wait states and in the approval wait, per-state durations, transitions."""
    events = ph.history(env, arn)
    start, end = _t(events[0]), _t(events[-1])
    _, durations, transitions = state_times(events)
    waits = sum(d for n, d in durations.items() if n.startswith("Wait"))
    approval = sum(d for n, d in durations.items() if "approval" in n.lower())
    busy = {n: d for n, d in durations.items() if not n.startswith("Wait") and "approval" not in n.lower()}
    top = sorted(busy.items(), key=lambda kv: -kv[1])[:5]
    return {"wall_s": end - start, "wait_s": waits, "approval_wait_s": approval,
            "active_s": end - start - waits - approval, "transitions": transitions,
            "top": [(n, round(d, 3)) for n, d in top]}


def run_promotion(env: str, event: dict[str, Any], approvers: list[tuple[str, str]],
                  before: Callable[[], None], timeout: float = 300) -> dict[str, Any]:
    before()
    seq = journal_seq()
    arn = ph.start(env, event)
    latency = None
    for address, _role in approvers:
        links = ph.approval_links(address, arn, timeout=60)
        t0 = time.time()
        ph.confirm(links["approve"])
        latency = t0
    d = ph.wait_execution(env, arn, timeout=timeout)
    if d["status"] != "SUCCEEDED":
        raise RuntimeError(f"{arn} ended {d['status']} {d.get('error')}: {d.get('cause')}")
    a = anatomy(env, arn)
    if latency is not None:
        after = [_t(e) for e in ph.history(env, arn)
                 if e["type"].endswith("StateEntered") and _t(e) >= latency - 0.001]
        a["approval_latency_s"] = (min(after) - latency) if after else None
    invs = [i for i in invocations_since(seq) if i["account"] == ph.ACCOUNTS[env]]
    a["lambda_invocations"] = len(invs)
    a["lambda_gb_s"] = sum(i["duration_ms"] / 1000 * i["memory_mb"] / 1024 for i in invs)
    a["usd_per_1000"] = 1000 * (a["transitions"] * PRICE_PER_TRANSITION + a["lambda_gb_s"] * PRICE_PER_GB_SECOND
                     + len(invs) * PRICE_PER_REQUEST)
    return a


def promotions() -> dict[str, Any]:
    sit_event = ph.sample_input("promote-dev-to-sit")
    prod_event = ph.sample_input("promote-sit-to-prod")
    sit_prev = ph.set_config("sit", FAST)
    prod_prev = ph.set_config("prod", {**ph.inside_every_window(), **FAST})
    tenant = "tenant-instance-management"
    try:
        results: dict[str, list[dict[str, Any]]] = {"dev -> sit": [], "sit -> prod": []}
        for _ in range(RUNS):
            results["dev -> sit"].append(run_promotion(
                "sit", sit_event, [ph.DEV_LEAD],
                lambda: ph.record_gates("dev", f"bbws-{tenant}-dev", "latest-dev")))
            results["sit -> prod"].append(run_promotion(
                "prod", prod_event, [ph.TECH_LEAD, ph.OPS_LEAD],
                lambda: ph.record_gates("sit", f"bbws-{tenant}-sit", "latest-sit")))
    finally:
        ph.restore_config("sit", sit_prev)
        ph.restore_config("prod", prod_prev)
    out: dict[str, Any] = {}
    for path, runs in results.items():
        out[path] = {k: spread([r[k] for r in runs if r.get(k) is not None])
                     for k in ("wall_s", "active_s", "wait_s", "approval_wait_s", "approval_latency_s",
                               "transitions", "lambda_invocations", "lambda_gb_s", "usd_per_1000")
                     if any(r.get(k) is not None for r in runs)}
        out[path]["top_states_last_run"] = runs[-1]["top"]
    return out


def full_monitor() -> dict[str, Any]:
    """One SIT -> PROD promotion with the runbook's own monitor (5 minutes, a poll every 30 s): its
    transitions and cost, for the goal of <= 60 transitions with the monitor. Real time: about 5 min."""
    prod_prev = ph.set_config("prod", ph.inside_every_window())
    tenant = "tenant-instance-management"
    try:
        a = run_promotion("prod", ph.sample_input("promote-sit-to-prod"), [ph.TECH_LEAD, ph.OPS_LEAD],
                          lambda: ph.record_gates("sit", f"bbws-{tenant}-sit", "latest-sit"), timeout=600)
    finally:
        ph.restore_config("prod", prod_prev)
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in a.items() if k != "top"}


def watch_cost() -> dict[str, Any]:
    """The 24-hour watch a DEV -> SIT promotion starts, its four checks a second apart: transitions,
    Lambda time and cost of one watch (the budget: at most 20 transitions)."""
    sit_prev = ph.set_config("sit", FAST)
    watch_prev = ph.set_config("sit", {"watch": {"check_after_seconds": [1, 2, 3, 4]}}, function="watch")
    tenant = "tenant-instance-management"
    try:
        ph.record_gates("dev", f"bbws-{tenant}-dev", "latest-dev")
        ph.reset_service("sit", tenant)
        seq = journal_seq()
        arn = ph.start("sit", ph.sample_input("promote-dev-to-sit"))
        ph.confirm(ph.approval_links(ph.DEV_LEAD[0], arn, timeout=60)["approve"])
        d = ph.wait_execution("sit", arn, timeout=120)
        if d["status"] != "SUCCEEDED":
            raise RuntimeError(f"{arn} ended {d['status']} {d.get('error')}: {d.get('cause')}")
        [record] = ph.records_of("sit", arn)
        watch = record["watch_execution_arn"]
        w = ph.wait_execution("sit", watch, timeout=120)
        if w["status"] != "SUCCEEDED":
            raise RuntimeError(f"{watch} ended {w['status']} {w.get('error')}: {w.get('cause')}")
    finally:
        ph.restore_config("sit", watch_prev, function="watch")
        ph.restore_config("sit", sit_prev)
    a = anatomy("sit", watch)
    invs = [i for i in invocations_since(seq)
            if i["account"] == ph.ACCOUNTS["sit"] and i.get("function", "").startswith("bbws-promotion-watch-")]
    gb_s = sum(i["duration_ms"] / 1000 * i["memory_mb"] / 1024 for i in invs)
    return {"transitions": a["transitions"], "active_s": round(a["active_s"], 3),
            "lambda_invocations": len(invs), "lambda_gb_s": round(gb_s, 4),
            "usd_per_1000": round(1000 * (a["transitions"] * PRICE_PER_TRANSITION + gb_s * PRICE_PER_GB_SECOND
                                          + len(invs) * PRICE_PER_REQUEST), 4)}


# breach -> rollback ------------------------------------------------------------------------------------------
BREACH_POLL_SECONDS = 4


def breach_to_rollback() -> dict[str, Any]:
    tenant = "tenant-instance-management"
    prev = ph.set_config("prod", {**ph.inside_every_window(),
                                  "monitor": {"prod_seconds": 60, "poll_seconds": BREACH_POLL_SECONDS},
                                  "catalog": ph.catalog_with(tenant, smoke_tests=[])})
    sit_before = ph.deploy_build("sit", tenant, "errors-under-traffic", "1.4.3")
    runs: list[dict[str, float]] = []
    try:
        ph.record_service_gates("sit", tenant)
        for _ in range(RUNS):
            good = ph.latest_versions("prod", tenant)
            arn = ph.start("prod", ph.sample_input("promote-sit-to-prod"))
            ph.approve_with_task_token("prod", arn, [ph.TECH_LEAD, ph.OPS_LEAD])
            ph.wait_state_entered("prod", arn, "Wait before next check")
            first_failure = time.time()
            report = ph.traffic.send_traffic("prod", tenant, requests=8, estate=ph.ESTATE)
            if report.total.function_errors == 0:
                raise RuntimeError("the errors-under-traffic build answered without errors")
            while ph.latest_versions("prod", tenant) != good:
                if time.time() - first_failure > 120:
                    raise RuntimeError(f"{arn}: latest-prod not back on {good} within 120 s")
                time.sleep(0.05)
            back = time.time()
            d = ph.wait_execution("prod", arn, timeout=120)
            if d.get("error") != "Bbws.RolledBack":
                raise RuntimeError(f"{arn} ended {d['status']} {d.get('error')}: {d.get('cause')}")
            runs.append({"breach_to_good_s": back - first_failure})
    finally:
        ph.restore_aliases("sit", sit_before)
        ph.restore_config("prod", prev)
    return {"poll_seconds": BREACH_POLL_SECONDS, "goal_s": BREACH_POLL_SECONDS + 5,
            "breach_to_good_s": spread([r["breach_to_good_s"] for r in runs])}


# scale -------------------------------------------------------------------------------------------------------
def _promote_concurrently(jobs: list[tuple[str, str]], record: bool = True) -> dict[str, Any]:
    """Start every (target env, service) promotion at once, each approved as soon as it asks; the
    batch's wall time and each one's active time. `record`: record the services' CI gates first (the
    generated services' are recorded when they are seeded)."""
    events = {"sit": ph.sample_input("promote-dev-to-sit"), "prod": ph.sample_input("promote-sit-to-prod")}
    approvers = {"sit": [ph.DEV_LEAD], "prod": [ph.TECH_LEAD, ph.OPS_LEAD]}
    # The SIT promotion of a service in the same batch may move latest-sit before the PROD promotion
    # of that service reads it: SIT's gates are recorded for DEV's package too.
    for env, service in jobs if record else []:
        ph.record_service_gates("dev" if env == "sit" else "sit", service)
        if env == "prod":
            for fn in ph.functions_of(service, "dev"):
                ph.record_gates("dev", fn, "latest-dev", into="sit")
    results: dict[tuple[str, str], dict[str, Any]] = {}
    errors: list[str] = []

    def one(env: str, service: str) -> None:
        arn = ""
        try:
            arn = ph.start(env, {**events[env], "service": service})
            ph.approve_with_task_token(env, arn, approvers[env])
            d = ph.wait_execution(env, arn, timeout=300)
            if d["status"] != "SUCCEEDED":
                errors.append(f"{service} -> {env}: {d.get('error')}: {d.get('cause')}")
                return
            results[(env, service)] = anatomy(env, arn)
        except Exception as e:  # noqa: BLE001 - reported with the batch
            d = ph.client(env, "stepfunctions").describe_execution(executionArn=arn) if arn else {}
            errors.append(f"{service} -> {env}: {e} ({d.get('status')} {d.get('error')}: {d.get('cause')})")

    t0 = time.time()
    threads = [threading.Thread(target=one, args=job) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError("; ".join(errors))
    return {"n": len(jobs), "batch_wall_s": round(time.time() - t0, 3),
            "active_s": spread([r["active_s"] for r in results.values()]),
            "wall_s": spread([r["wall_s"] for r in results.values()])}


def _same_one_at_once(n: int) -> dict[str, Any]:
    """N promotions of the same service into SIT at once: one runs, the lock refuses the others."""
    event = ph.sample_input("promote-dev-to-sit")
    ph.record_service_gates("dev", "site-management")
    arns = [ph.start("sit", {**event, "service": "site-management"}) for _ in range(n)]
    t0 = time.time()
    refused, ran = [], []
    sfn = ph.client("sit", "stepfunctions")
    for arn in arns:
        while True:
            d = sfn.describe_execution(executionArn=arn)
            if d["status"] != "RUNNING":
                if d.get("error") != "Bbws.PromotionInProgress":
                    raise RuntimeError(f"{arn} ended {d['status']} {d.get('error')}: {d.get('cause')}")
                refused.append(anatomy("sit", arn)["wall_s"])
                break
            if "Request approval" in ph.states_entered("sit", arn):
                ran.append(arn)
                break
            if time.time() - t0 > 120:
                raise RuntimeError(f"{arn} neither refused nor asking for approval after 120 s")
            time.sleep(0.1)
    for arn in ran:
        ph.approve_with_task_token("sit", arn, [ph.DEV_LEAD])
        ph.wait_execution("sit", arn, timeout=300)
    return {"n": n, "ran": len(ran), "refused": len(refused),
            "refused_after_s": spread(refused) if refused else None, "checked_in_s": round(time.time() - t0, 3)}


# The DEV errors and throttles the source is judged by: the last minute (the integration tests leave errors
# and throttles in DEV on purpose, which refuse a DEV -> SIT promotion for an hour).
BENCH_STABILITY = {"stability": {"dev_to_sit": {"lookback_seconds": 60, "errors": {"fewer_than": 10},
                                                "throttles": {"at_most": 0}}}}


def scale() -> dict[str, Any]:
    services = ph.SERVICE_NAMES
    prev = {env: ph.set_config(env, {**ph.inside_every_window(), **FAST, **BENCH_STABILITY})
            for env in ("sit", "prod")}
    try:
        out = {f"n={len(jobs)}": _promote_concurrently(jobs) for jobs in (
            [("sit", services[0])],
            [("sit", s) for s in services],
            [("sit", s) for s in services] + [("prod", s) for s in services])}
        out["same service and environment, n=3"] = _same_one_at_once(3)
    finally:
        for env, p in prev.items():
            ph.restore_config(env, p)
    return out


# a 30-service catalog, and 20 promotions at once -------------------------------------------------------------
BIG_CATALOG = 30
CONCURRENT = 20
# The generated services are copies of this one (one function, its packages and seeded versions).
TEMPLATE_SERVICE = "tenant-instance-management"


def generated_services(count: int) -> list[dict[str, Any]]:
    """`count` services after the runbook's three: one function each (a copy of TEMPLATE_SERVICE's), no smoke test."""
    return [{"name": f"bench-svc-{i:02d}", "release_order": 10 + i, "health_wait_seconds": 1,
             "functions": [f"bbws-bench-svc-{i:02d}-{{env}}"], "smoke_tests": []} for i in range(1, count + 1)]


def big_catalog_config(services: list[dict[str, Any]]) -> dict[str, Any]:
    """The runbook's rules with `services` added to its catalog, the bench's fast monitor and source window."""
    config = copy.deepcopy(ph.RUNBOOK_CONFIG)
    config["catalog"] = config["catalog"] + services
    for overrides in (ph.inside_every_window(), FAST, BENCH_STABILITY):
        ph._merge(config, copy.deepcopy(overrides))
    return config


def _function(service: dict[str, Any], env: str) -> str:
    return service["functions"][0].replace("{env}", env)


def seed_generated(services: list[dict[str, Any]], envs: tuple[str, ...] = ("dev", "sit")) -> None:
    """Each generated service's function in DEV and SIT, seeded as the template's is (its baseline builds
    published, latest-<env> on the newest), and its CI gates recorded in DEV."""
    template = ph.fixtures.service(TEMPLATE_SERVICE)
    packages = ph.seed.Packages(ph.ESTATE.state_dir)
    changes: list[Any] = []
    for env in envs:
        account = ph.seed.Account(ph.ESTATE, env, "af-south-1", changes)
        role = account.ensure_role()
        for service in services:
            ph.seed.seed_function(account, packages, template, template.functions[0], role,
                                  name=_function(service, env), reset=True)
    for service in services:
        ph.record_gates("dev", _function(service, "dev"), "latest-dev")


def delete_generated(services: list[dict[str, Any]], envs: tuple[str, ...] = ("dev", "sit")) -> None:
    for env in envs:
        lam = ph.client(env, "lambda")
        for service in services:
            try:
                lam.delete_function(FunctionName=_function(service, env))
            except lam.exceptions.ResourceNotFoundException:
                pass


def release_preflight(services: list[str]) -> dict[str, Any]:
    """A DEV -> SIT release of `services` up to its approval request (then rejected): the time of its
    validation, its lock and its preflight of every service."""
    request = {"target_env": "sit", "services": services, "requested_by": "lead@bbws.io",
               "reason": f"bench: preflight of {len(services)} services"}
    arn = ph.start("sit", request, kind="release")
    ph.wait_state_entered("sit", arn, "Request release approval", timeout=300)
    ph.reject_with_task_token("sit", arn, "bench: measured up to the approval request")
    d = ph.wait_execution("sit", arn, timeout=120)
    if d.get("error") != "Bbws.ApprovalRejected":
        raise RuntimeError(f"{arn} ended {d['status']} {d.get('error')}: {d.get('cause')}")
    events = ph.history("sit", arn)
    entered, durations, _ = state_times(events)
    asked = entered["Request release approval"]
    return {"to_approval_s": asked - _t(events[0]), "validate_s": durations["Validate release request"],
            "lock_s": durations["Lock release"], "checks_s": durations["Preflight checks of every service"]}


def iam_cap(config: dict[str, Any]) -> dict[str, Any]:
    """PROD's plan with the big catalog: IAM's 10,240 characters of inline policy per role, as the pipeline
    module's precondition reports them (PROD's roles name each function in two regions)."""
    code, out = pipeline.plan_with(ph.SETTINGS, "prod", {"promotion_config": json.dumps(config)})
    text = re.sub(r"\s*\n[│ ]*", " ", out)  # the diagnostics' lines joined
    refused = sorted(set(re.findall(r"The policy of (\S+) takes (\d+) characters", text)))
    # Each role's policy grows by the same characters per service function (its ARNs in every region): from
    # the applied policy (the runbook's catalog) and the planned one, the functions PROD's roles can name.
    functions_now = sum(len(s["functions"]) for s in ph.RUNBOOK_CONFIG["catalog"])
    functions_big = sum(len(s["functions"]) for s in config["catalog"])
    iam = ph.client("prod", "iam")
    roles = []
    for role, characters in refused:
        now = sum(len(re.sub(r"\s", "", json.dumps(iam.get_role_policy(RoleName=role, PolicyName=p)["PolicyDocument"])))
                  for p in iam.list_role_policies(RoleName=role)["PolicyNames"])
        per_function = (int(characters) - now) / (functions_big - functions_now)
        roles.append({"role": role, "characters": int(characters), "applied_characters": now,
                      "per_function": round(per_function, 1),
                      "max_functions": functions_now + int((10_240 - now) // per_function)})
    return {"plan_exit": code, "refused_roles": roles,
            "max_functions": min((r["max_functions"] for r in roles), default=None)}


def big_catalog() -> dict[str, Any]:
    """SIT and DEV applied with a 30-service catalog (the rules in S3, IAM naming every function): a
    release's preflight of 3 and of 30 services, and 20 DEV -> SIT promotions of different services at
    once; PROD's plan with the same catalog (IAM's quota). Everything is put back afterwards."""
    services = generated_services(BIG_CATALOG - len(ph.RUNBOOK_CONFIG["catalog"]))
    config = big_catalog_config(services)
    out: dict[str, Any] = {"services": len(config["catalog"]),
                           "config_bytes": len(json.dumps(config, separators=(",", ":")))}
    seed_generated(services)
    for name in ph.SERVICE_NAMES:
        ph.record_service_gates("dev", name)
    try:
        t0 = time.time()
        pipeline.apply_with(ph.SETTINGS, ["sit", "dev"], {"promotion_config": json.dumps(config)})
        out["apply_s"] = round(time.time() - t0, 1)
        names = [s["name"] for s in config["catalog"]]
        for n in (3, len(names)):
            runs = [release_preflight(names[:n]) for _ in range(RUNS)]
            out[f"release preflight, {n} services"] = {k: spread([r[k] for r in runs]) for k in runs[0]}
        out[f"n={CONCURRENT}"] = _promote_concurrently([("sit", s["name"]) for s in services[:CONCURRENT]],
                                                      record=False)
        out["prod_plan"] = iam_cap(config)
    finally:
        pipeline.apply_with(ph.SETTINGS, ["sit", "dev"], {})
        delete_generated(services)
    return out


# the estate's own overhead ---------------------------------------------------------------------------------
def estate_overhead() -> dict[str, Any]:
    lam = ph.client("sit", "lambda")
    samples = []
    for _ in range(30):
        t0 = time.perf_counter()
        lam.get_alias(FunctionName="bbws-tenant-instance-management-sit", Name="latest-sit")
        samples.append((time.perf_counter() - t0) * 1000)
    return {"get_alias_ms": spread(samples)}


def table(results: dict[str, Any]) -> str:
    lines = ["cold start (Init Duration, ms; median of {} cold starts)".format(RUNS),
             f"  {'function':<26} {'init ms':>9} {'x minimal':>9} {'peak MB':>8} {'zip KB':>8}"]
    for name, v in results["cold_start"].items():
        init = v["init_ms"]["median"] if v["init_ms"] else float("nan")
        mem = v["max_memory_mb"]["median"] if v["max_memory_mb"] else float("nan")
        zkb = (v["zip_bytes"] or 0) / 1024
        lines.append(f"  {name:<26} {init:>9.1f} {v.get('ratio_to_minimal', float('nan')):>9.2f} "
                     f"{mem:>8.1f} {zkb:>8.0f}")
    for path, v in results["promotions"].items():
        lines.append(f"promotion {path} (min / median / max of {RUNS})")
        for k in ("wall_s", "active_s", "wait_s", "approval_wait_s", "approval_latency_s", "transitions",
                  "lambda_invocations", "lambda_gb_s", "usd_per_1000"):
            if k in v:
                s = v[k]
                lines.append(f"  {k:<20} {s['min']:>10} {s['median']:>10} {s['max']:>10}")
        lines.append("  slowest states (last run, s): " + ", ".join(f"{n} {d}" for n, d in v["top_states_last_run"]))
    b = results["breach_to_rollback"]
    s = b["breach_to_good_s"]
    lines.append(f"breach -> latest-prod back on the good version in both regions (s; poll {b['poll_seconds']} s, "
                 f"goal <= {b['goal_s']} s): {s['min']} / {s['median']} / {s['max']}")
    lines.append("scale: promotions started at once (batch wall s; active s min / median / max)")
    for k, v in results["scale"].items():
        if "batch_wall_s" in v:
            a = v["active_s"]
            lines.append(f"  {k:<6} batch {v['batch_wall_s']:>7} s   active {a['min']} / {a['median']} / {a['max']}")
        else:
            r = v["refused_after_s"] or {}
            lines.append(f"  {k}: {v['ran']} ran, {v['refused']} refused by the lock after "
                         f"{r.get('min')} / {r.get('median')} / {r.get('max')} s")
    w = results["watch"]
    lines.append(f"24-hour watch (4 checks): {w['transitions']} transitions (budget 20), {w['lambda_invocations']} "
                 f"invocations, {w['lambda_gb_s']} GB-s, ${w['usd_per_1000']} per 1,000 watches")
    f = results["full_monitor"]
    lines.append(f"sit -> prod with the runbook's 5-minute monitor (one run): {f['transitions']} transitions "
                 f"(goal <= 60), wall {f['wall_s']} s, active {f['active_s']} s, ${f['usd_per_1000']} per 1,000")
    b = results["big_catalog"]
    lines.append(f"a {b['services']}-service catalog ({b['config_bytes']:,} bytes of rules in S3; DEV and SIT applied "
                 f"with it in {b['apply_s']} s)")
    for k, v in b.items():
        if k.startswith("release preflight"):
            lines.append(f"  {k}: to the approval request {v['to_approval_s']['median']} s, of which the checks "
                         f"{v['checks_s']['min']} / {v['checks_s']['median']} / {v['checks_s']['max']} s")
    c = b[f"n={CONCURRENT}"]
    lines.append(f"  {CONCURRENT} DEV -> SIT promotions of different services at once: batch {c['batch_wall_s']} s, "
                 f"active {c['active_s']['min']} / {c['active_s']['median']} / {c['active_s']['max']} s")
    p = b["prod_plan"]
    refused = ", ".join(f"{r['role']} {r['characters']:,}" for r in p["refused_roles"]) or "none"
    lines.append(f"  PROD plan with it (exit {p['plan_exit']}): roles over IAM's 10,240 characters: {refused}; "
                 f"PROD's roles can name {p['max_functions']} service functions (each adds "
                 f"{min((r['per_function'] for r in p['refused_roles']), default=0)}-"
                 f"{max((r['per_function'] for r in p['refused_roles']), default=0)} characters to a role)")
    o = results["estate_overhead"]["get_alias_ms"]
    lines.append(f"estate: one GetAlias round trip {o['min']} / {o['median']} / {o['max']} ms")
    return "\n".join(lines)


def main() -> int:
    problem = ph.check_up()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    ph.use_estate_profiles()
    # From the seed's picture, and back to it afterwards (as the test suites do): `make test` after
    # `make bench` finds every latest-<env> on its seeded build.
    ph.seed.seed(ph.ESTATE, reset=True)
    try:
        return _measure()
    finally:
        ph.seed.seed(ph.ESTATE, reset=True)


def _measure() -> int:
    t0 = time.time()
    results = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "runs": RUNS,
               "cold_start": cold_start(), "promotions": promotions(), "breach_to_rollback": breach_to_rollback(),
               "scale": scale(), "estate_overhead": estate_overhead(), "watch": watch_cost(),
               "full_monitor": full_monitor(), "big_catalog": big_catalog()}
    results["seconds"] = round(time.time() - t0, 1)
    out = ROOT / "bench" / "results.json"
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(table(results))
    print(f"written to {out.relative_to(ROOT)} in {results['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
