"""Step Functions' optimised CodeBuild integration, which moto 5.2.5's interpreter lacks ("codebuild" is in
its list of unsupported services: the call is forwarded without the .sync pattern or the PascalCase shape).

What AWS documents (Step Functions Developer Guide, "Manage AWS CodeBuild builds with Step Functions"):
`startBuild` supports Request Response and Run a Job (`.sync`); stopBuild, batchDeleteBuilds,
batchGetReports and the build-batch APIs Request Response (build batches are not run by the estate).
Parameters are given in PascalCase. The output of `startBuild(.sync)` is `{"Build": {...}}`, the build in
PascalCase ("Build": ..., "BuildStatus": ...), timestamps as epoch milliseconds.

A `.sync` task polls BatchGetBuilds as the state machine's role until the build is complete. A build that
ends FAILED, FAULT, TIMED_OUT or STOPPED fails the task with error `States.TaskFailed` and the build (the
same `{"Build": ...}` JSON) as the cause. Note: AWS's documentation does not name that error; it is what
every `.sync` job integration of the interpreter raises (Batch, ECS, Glue) for a job that did not succeed,
and what Step Functions reports for failed CodeBuild jobs in practice. A task that times out
(TimeoutSeconds: States.Timeout), misses its HeartbeatSeconds (no heartbeats come from a build:
States.HeartbeatTimeout) or whose execution is stopped stops its build, as Step Functions stops the job
of a `.sync` task that ends early.

A call CodeBuild refuses fails the task with `CodeBuild.<error code>` and AWS's cause sentence (as the
interpreter names the other services' errors: `Batch.<code>`, `StepFunctions.<code>Exception`).
"""
from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any, Final

from botocore.exceptions import ClientError
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails, TaskTimedOutEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.credentials import StateCredentials
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
    ResourceCondition,
    ResourceRuntimePart,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
    StateTaskServiceCallback,
)
from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackTimeoutError, HeartbeatTimeoutError
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.utils import boto_client as boto_client_mod
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

_SUPPORTED_INTEGRATION_PATTERNS: Final[set[ResourceCondition]] = {ResourceCondition.Sync}

# The parameters Step Functions accepts for each API (PascalCase, as in the integration's docs).
_SUPPORTED_API_PARAM_BINDINGS: Final[dict[str, set[str]]] = {
    "startbuild": {
        "ProjectName", "ArtifactsOverride", "BuildspecOverride", "BuildStatusConfigOverride", "CacheOverride",
        "CertificateOverride", "ComputeTypeOverride", "DebugSessionEnabled", "EncryptionKeyOverride",
        "EnvironmentTypeOverride", "EnvironmentVariablesOverride", "GitCloneDepthOverride",
        "GitSubmodulesConfigOverride", "IdempotencyToken", "ImageOverride", "ImagePullCredentialsTypeOverride",
        "InsecureSslOverride", "LogsConfigOverride", "PrivilegedModeOverride", "QueuedTimeoutInMinutesOverride",
        "RegistryCredentialOverride", "ReportBuildStatusOverride", "SecondaryArtifactsOverride",
        "SecondarySourcesOverride", "SecondarySourcesVersionOverride", "ServiceRoleOverride",
        "SourceAuthOverride", "SourceLocationOverride", "SourceTypeOverride", "SourceVersion",
        "TimeoutInMinutesOverride",
    },
    "stopbuild": {"Id"},
    "batchdeletebuilds": {"Ids"},
    "batchgetreports": {"ReportArns"},
}

_DONE_FAILED: Final[frozenset[str]] = frozenset({"FAILED", "FAULT", "TIMED_OUT", "STOPPED"})
POLL_SECONDS: Final[float] = 0.5


def sfn_cased(value: Any) -> Any:
    """A CodeBuild answer as Step Functions outputs it: PascalCase keys, epoch-millisecond timestamps."""
    if isinstance(value, dict):
        return {(k[:1].upper() + k[1:]): sfn_cased(v) for k, v in value.items()}
    if isinstance(value, list):
        return [sfn_cased(v) for v in value]
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return value


class StateTaskServiceCodeBuild(StateTaskServiceCallback):
    def __init__(self) -> None:
        super().__init__(supported_integration_patterns=_SUPPORTED_INTEGRATION_PATTERNS)

    def _get_supported_parameters(self) -> set[str] | None:
        return _SUPPORTED_API_PARAM_BINDINGS.get(self.resource.api_action.lower())

    def _validate_service_integration_is_supported(self) -> None:
        """Only startBuild runs as `.sync`; no CodeBuild API takes `.waitForTaskToken` (the integration's
        table of patterns): Step Functions refuses such a resource when the definition is created."""
        super()._validate_service_integration_is_supported()
        condition = self.resource.condition
        if condition is not None and (condition not in _SUPPORTED_INTEGRATION_PATTERNS
                                      or self.resource.api_action.lower() != "startbuild"):
            raise ValueError(f"The resource provided {self.resource.resource_arn} not recognized. The value is "
                             "not a valid resource ARN, or the resource is not available in this region.")

    def _client(self, region: str, state_credentials: StateCredentials) -> Any:
        return boto_client_mod.boto_client_for(region=region, service="codebuild",
                                               state_credentials=state_credentials)

    def _normalise_parameters(self, parameters: dict, boto_service_name: str | None = None,
                              service_action_name: str | None = None) -> None:
        from .patches import _operation_model

        op = _operation_model("codebuild", self._get_boto_service_action(service_action_name))
        if op is not None and op.input_shape is not None:
            self._to_boto_request(parameters, op.input_shape)

    def _eval_service_task(self, env: Environment, resource_runtime_part: ResourceRuntimePart,
                           normalised_parameters: dict, state_credentials: StateCredentials) -> None:
        client = self._client(resource_runtime_part.region, state_credentials)
        response = getattr(client, self._get_boto_service_action())(**normalised_parameters)
        response.pop("ResponseMetadata", None)
        env.stack.append(sfn_cased(response))

    def _eval_integration_pattern(self, env: Environment, resource_runtime_part: ResourceRuntimePart,
                                  normalised_parameters: dict, state_credentials: StateCredentials) -> None:
        submitted = env.stack.pop()
        build_id = submitted["Build"]["Id"]
        self.timeout.eval(env=env)
        timeout_seconds = env.stack.pop()
        heartbeat_seconds = None
        if self.heartbeat:
            self.heartbeat.eval(env=env)
            heartbeat_seconds = env.stack.pop()
        client = self._client(resource_runtime_part.region, state_credentials)
        started = time.monotonic()
        while env.is_running():
            build = client.batch_get_builds(ids=[build_id])["builds"][0]
            if build.get("buildComplete"):
                output = sfn_cased({"build": build})
                if build.get("buildStatus") in _DONE_FAILED:
                    raise FailureEventException(self._failed_build(env, output))
                env.stack.append(output)
                return
            elapsed = time.monotonic() - started
            if heartbeat_seconds is not None and elapsed > heartbeat_seconds:
                self._stop(client, build_id)
                raise HeartbeatTimeoutError()
            if timeout_seconds and elapsed > timeout_seconds:
                self._stop(client, build_id)
                raise CallbackTimeoutError()
            time.sleep(POLL_SECONDS)
        # The execution was stopped, or the task's frame ended (its timeout): stop the build.
        self._stop(client, build_id)
        raise CallbackTimeoutError()

    @staticmethod
    def _stop(client: Any, build_id: str) -> None:
        try:
            client.stop_build(id=build_id)
        except ClientError:
            pass  # a build that already ended, or a role without codebuild:StopBuild: as on AWS, it runs on

    def _failed_build(self, env: Environment, output: dict[str, Any]) -> FailureEvent:
        return FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed),
            event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(taskFailedEventDetails=TaskFailedEventDetails(
                resource=self._get_sfn_resource(), resourceType=self._get_sfn_resource_type(),
                error=StatesErrorNameType.StatesTaskFailed.to_name(), cause=to_json_str(output))),
        )

    def _from_error(self, env: Environment, ex: Exception) -> FailureEvent:
        if isinstance(ex, HeartbeatTimeoutError):
            return FailureEvent(
                env=env,
                error_name=StatesErrorName(typ=StatesErrorNameType.StatesHeartbeatTimeout),
                event_type=HistoryEventType.TaskTimedOut,
                event_details=EventDetails(taskTimedOutEventDetails=TaskTimedOutEventDetails(
                    resource=self._get_sfn_resource(), resourceType=self._get_sfn_resource_type(),
                    error=StatesErrorNameType.StatesHeartbeatTimeout.to_name())),
            )
        if isinstance(ex, ClientError):
            code = ex.response["Error"]["Code"]
            meta = ex.response.get("ResponseMetadata", {})
            name = f"CodeBuild.{code}"
            cause = (f"{ex.response['Error'].get('Message', '')} (Service: AWSCodeBuild; Status Code: "
                     f"{meta.get('HTTPStatusCode')}; Error Code: {code}; Request ID: {meta.get('RequestId')}; "
                     f"Proxy: null)")
            return FailureEvent(
                env=env, error_name=CustomErrorName(name), event_type=HistoryEventType.TaskFailed,
                event_details=EventDetails(taskFailedEventDetails=TaskFailedEventDetails(
                    error=name, cause=cause, resource=self._get_sfn_resource(),
                    resourceType=self._get_sfn_resource_type())),
            )
        return super()._from_error(env=env, ex=ex)


def uses_codebuild_sync(definition: Any) -> bool:
    """Whether a definition (JSON text or parsed) has a `codebuild:startBuild.sync` task at any depth."""
    if isinstance(definition, str):
        try:
            definition = json.loads(definition)
        except ValueError:
            return False
    if isinstance(definition, dict):
        resource = definition.get("Resource")
        if isinstance(resource, str) and resource.endswith(":codebuild:startBuild.sync"):
            return True
        return any(uses_codebuild_sync(v) for v in definition.values())
    if isinstance(definition, list):
        return any(uses_codebuild_sync(v) for v in definition)
    return False
