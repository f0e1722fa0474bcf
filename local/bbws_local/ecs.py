"""ECS services whose tasks start, as DescribeServices reports them on AWS.

moto 5.2.5 (measured): CreateService leaves runningCount 0 and pendingCount = desiredCount with the
deployment IN_PROGRESS for ever (unless MOTO_ECS_SERVICE_RUNNING is set for the whole process);
UpdateService sets runningCount to the new desiredCount at once and leaves the deployment as it was
(its desiredCount, runningCount and rolloutState stale). On AWS the scheduler starts the tasks: pending
first, running a moment later, and the deployment's rolloutState becomes COMPLETED ("ECS deployment
<id> completed.") once it runs its desired count.

Here a service's tasks "start" START_SECONDS after CreateService or an UpdateService that changes its
desired count, task definition or forces a new deployment: until then the earlier running count holds
(0 for a new service) and the rest is pending; after it, runningCount = desiredCount, pendingCount 0, the
deployment COMPLETED. A new task definition or forceNewDeployment is a new deployment id.

A hold (`POST /_local/ecs/hold`) keeps a service's runningCount at a number below its desired count,
as tasks that keep failing to start do: the deployment stays IN_PROGRESS, the rest pending, and
`failedTasks` counts the failed starts (one per START_SECONDS) until the hold is released.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

START_SECONDS = 2.0  # "a second or two" for tasks to start


@dataclass
class Rollout:
    since: float  # when the current deployment (or desired count) began
    running_before: int  # the running count until the tasks start


@dataclass(frozen=True)
class Hold:
    running: int
    since: float


class Services:
    """The estate's view of each service's rollout, and the holds, by (account, region, cluster, service)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rollouts: dict[tuple[str, str, str, str], Rollout] = {}
        self._holds: dict[tuple[str, str, str, str], Hold] = {}

    def began(self, key: tuple[str, str, str, str], running_before: int, now: float | None = None) -> None:
        with self._lock:
            self._rollouts[key] = Rollout(time.time() if now is None else now, running_before)

    def hold(self, key: tuple[str, str, str, str], running: int) -> None:
        if running < 0:
            raise ValueError("running: a count of 0 or more is required")
        with self._lock:
            self._holds[key] = Hold(running, time.time())

    def release(self, key: tuple[str, str, str, str]) -> bool:
        with self._lock:
            released = self._holds.pop(key, None) is not None
            rollout = self._rollouts.get(key)
            if released and rollout is not None:
                # Released tasks start like any others: a moment after the release.
                self._rollouts[key] = Rollout(time.time(), rollout.running_before)
        return released

    def holds(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{"account": k[0], "region": k[1], "cluster": k[2], "service": k[3], "running": h.running}
                    for k, h in self._holds.items()]

    def counts(self, key: tuple[str, str, str, str], desired: int,
               now: float | None = None) -> tuple[int, int, str, int]:
        """(running, pending, rolloutState, failedTasks) of a service now."""
        now = time.time() if now is None else now
        with self._lock:
            rollout = self._rollouts.get(key)
            hold = self._holds.get(key)
        return service_counts(desired, rollout, hold, now)


def service_counts(desired: int, rollout: Rollout | None, hold: Hold | None,
                   now: float) -> tuple[int, int, str, int]:
    """The pure rule: see the module's docstring."""
    before = min(rollout.running_before, desired) if rollout is not None else desired
    started = rollout is None or now - rollout.since >= START_SECONDS
    running = desired if started else before
    failed = 0
    if hold is not None and hold.running < desired:
        running = min(running, hold.running)
        failed = int((now - hold.since) // START_SECONDS)
    pending = max(desired - running, 0)
    state = "COMPLETED" if running >= desired else "IN_PROGRESS"
    return running, pending, state, failed


def settle(services: Services, account: str, region: str, service: Any) -> None:
    """Write the counts of now into moto's Service (and its primary deployment) before it is described."""
    key = (account, region, service.cluster_name, service.name)
    running, pending, state, failed = services.counts(key, int(service.desired_count or 0))
    service.running_count, service.pending_count = running, pending
    for deployment in service.deployments[:1]:
        changed = deployment.get("rolloutState") != state or deployment.get("runningCount") != running
        deployment.update({
            "desiredCount": service.desired_count, "runningCount": running, "pendingCount": pending,
            "failedTasks": failed, "rolloutState": state, "taskDefinition": service.task_definition,
            "rolloutStateReason": (f"ECS deployment {deployment['id']} completed." if state == "COMPLETED"
                                   else f"ECS deployment {deployment['id']} in progress."),
        })
        if changed:
            from moto.core.utils import utcnow

            deployment["updatedAt"] = utcnow()
