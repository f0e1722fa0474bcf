"""Every change this project makes to moto, in one place.

moto is pinned to exactly 5.2.5. Each patch names the moto function it replaces or adds to, and records
the SHA-256 of that function's source as it was when the patch was written: `apply()` refuses to start
the estate if any of them changed (a new moto must be re-read before it is trusted), and
`local/tests/test_patches.py` checks each hash and each behaviour.

The patches, by what AWS does that moto 5.2.5 does not:
 1. lambda-invoke        Invoke runs the deployed package (runtime.Executor), with FunctionError,
                         throttles, async `Event` invocations and X-Amz-Executed-Version; the
                         `?Qualifier=` of Invoke is honoured (moto 5.2.5 reads `qualifier` and so
                         invokes $LATEST whatever version or alias was asked for).
 2. lambda-code-location GetFunction's Code.Location is a short-lived signed URL serving the zip.
 3. lambda-function-url  CreateFunctionUrlConfig opens a loopback listener (urls.FunctionUrls).
 4. sfn-credentials      The interpreter calls services as the state machine's role, in its account
                         (moto uses the key "ak", i.e. the default account, for every call).
 5. sfn-sync2-casing     states:startExecution(.sync/.sync:2) parameters reach boto3 in its casing
                         ("'StateMachineArn'" States.Runtime otherwise), and the results come back in
                         the Step Functions casing (ExecutionArn, Output...).
 6. sfn-task-failure-cause SendTaskFailure keeps its `cause`.
 7. sfn-validate         ValidateStateMachineDefinition answers from a real parse of the definition
                         plus the structural checks AWS makes and moto's parser does not (StartAt and
                         every Next/Default/Catch target exist, each non-terminal state has Next or
                         End, no unreachable state); CreateStateMachine/UpdateStateMachine run the same
                         checks (sfn-definition-checks), so a definition AWS refuses is refused here.
 8. sfn-list-versions    ListStateMachineVersions answers.
 9. sfn-wait-scale       Wait states can be scaled down for demos (BBWS_LOCAL_TIME_SCALE; off = 1.0).
10. sns-email            Email and email-json deliveries land in the local mailbox.
11. cloudwatch-dimensions GetMetricStatistics matches the exact dimension set, as CloudWatch does
                         (moto matches any superset, so FunctionName alone would also count the
                         Resource and ExecutedVersion series), and reads that one series from an index
                         instead of every datapoint the region ever received.
12. sts-trust            AssumeRole requires the role to exist and its trust policy to allow the caller
                         (moto lets any key assume any ARN, which would make the accounts meaningless).
13. dynamodb-atomic-writes PutItem, UpdateItem and DeleteItem check their condition and write as one step,
                         as DynamoDB does (moto's threaded server could let two conditional writes both
                         pass their check: two approvers clicking at the same second); so does
                         TransactWriteItems, all its items together (moto checks and writes them one by
                         one, and restores the table when one fails, so a write beside it could be lost
                         or a condition beside it read a half-done transaction); it keeps the items it
                         writes to put them back, not a copy of each table it names.
14. sfn-stop-execution   StopExecution ends a running execution at once: ABORTED, with its stop date, error
                         and cause (moto's interpreter stays RUNNING until the wait it is in ends, e.g. a
                         task-token wait of 24 h, and drops the error and cause).
15. sfn-retry-task-token Each attempt of a `.waitForTaskToken` task that its Retry runs again gets a new
                         task token, as on AWS (moto's interpreter keeps the first attempt's token).
16. sfn-token-once       A task token answers once: SendTaskSuccess/Failure with a token already answered,
                         or with the token of an attempt a retry replaced, is refused with TaskTimedOut
                         ("Provided task does not exist anymore"), as on AWS (moto accepts it again).
17. sfn-lambda-errors    A Lambda task whose Invoke AWS refuses or throttles fails with `Lambda.<Code>`
                         (Lambda.TooManyRequestsException, Lambda.ServiceException, ...), as on AWS, so a
                         Retry on those names matches (moto names every such failure `Exception`).
18. lambda-publish-same  PublishVersion (and UpdateFunctionCode with Publish) returns the last published
                         version when the function's code and configuration are the same as that
                         version's, as AWS does (moto publishes again whenever either was updated since,
                         even back to the same content: a retried deploy would leave two versions).
19. sfn-sfn-errors       A Step Functions task (`states:startExecution`) whose call AWS refuses fails with the
                         name AWS gives: `StepFunctions.<Shape>Exception` for an error of Step Functions'
                         model (StepFunctions.ExecutionAlreadyExistsException), else the SDK's generic
                         `StepFunctions.AWSStepFunctionsException` (a throttle, a 5xx), so a Retry on those
                         names matches (moto appended `Exception` to any code:
                         StepFunctions.ThrottlingExceptionException).
20. cloudwatch-alarms     Static-threshold metric alarms are evaluated from the estate's metrics as CloudWatch
                         evaluates them (alarms.py: period, evaluation periods, datapoints to alarm,
                         comparison, statistic, treat-missing-data), move between OK, ALARM and
                         INSUFFICIENT_DATA with AWS's reasons and StateReasonData, keep a history
                         (DescribeAlarmHistory answers; moto has none) and publish to their SNS topics
                         (moto stores alarms and never moves them). A new alarm starts in
                         INSUFFICIENT_DATA ("Unchecked: Initial alarm creation"; moto: OK), an updated one
                         keeps its state (moto: back to OK); PutMetricAlarm refuses what AWS refuses (an
                         action in another region, a period that is not 10, 20, 30 or a multiple of 60,
                         DatapointsToAlarm above EvaluationPeriods, an unknown TreatMissingData);
                         SetAlarmState goes through the same transition (history, and the new state's
                         actions when the state changed); DescribeAlarms combines its filters, returns
                         metric alarms only unless AlarmTypes says otherwise, sorted by name, in pages
                         (moto applies one filter and ignores the rest: `--alarm-name-prefix bbws-
                         --state-value ALARM`, RB-003 §4.4, listed alarms in OK).
21. sfn-metrics          Executions put AWS/States ExecutionsStarted, ExecutionsSucceeded, ExecutionsFailed,
                         ExecutionsAborted, ExecutionsTimedOut and ExecutionTime (StateMachineArn), as Step
                         Functions does (moto puts none), so the pipeline's own alarms have data.
22. cloudwatch-dashboards A dashboard belongs to the account, as on AWS: put, get, list and delete from any
                         region see the same dashboards (moto keeps them per region).
23. sfn-execution-name   StartExecution without a name names the execution with a UUID, as Step Functions
                         does (moto names it "None", so a second one is refused as ExecutionAlreadyExists).
24. s3-bucket-policy     A bucket policy is evaluated with its conditions (iam-simulate, aws:SecureTransport
                         true): its explicit Deny refuses anyone, the admin user too; moto ignored conditions,
                         so a TLS-only statement refused every object call.
25. codebuild-builds     StartBuild runs the build (codebuild.py): the buildspec's phases as local processes
                         with the service role's credentials, a GITHUB source cloned from a registered local
                         repository at the requested version, logs in CloudWatch Logs written as the role;
                         BatchGetBuilds reports its phases and status as they happen, StopBuild stops it
                         (moto marked every build SUCCEEDED at the first BatchGetBuilds, ran nothing, and
                         ignored buildspecOverride and environmentVariablesOverride). CreateProject takes a
                         NO_SOURCE project without a location (moto required one for every source type)
                         and keeps its encryptionKey (moto answered alias/aws/s3 whatever was given);
                         UpdateProject answers (moto has none), so Terraform can change a project.
                         StartBuild refuses a service role whose trust does not let CodeBuild assume it for
                         that project, its conditions (aws:SourceAccount, aws:SourceArn) evaluated.
26. sfn-codebuild        `arn:aws:states:::codebuild:startBuild(.sync)` and the other CodeBuild tasks
                         (sfn_codebuild.py): PascalCase parameters, `{"Build": ...}` output, `.sync` waits for
                         the build (moto forwarded the call as an unsupported service, without .sync); a
                         state machine with a `.sync` task whose role may not manage the rule Step Functions
                         needs is refused at CreateStateMachine/UpdateStateMachine, as on AWS.
27. ecs-service-counts   DescribeServices reports a service's tasks starting: runningCount reaches
                         desiredCount two seconds after CreateService/UpdateService and the deployment becomes
                         COMPLETED (moto: 0 running for ever after CreateService, the new count at once after
                         UpdateService with a stale deployment); `/_local/ecs/hold` keeps it below (ecs.py).
28. ecs-az-rebalancing   CreateService keeps availabilityZoneRebalancing (ENABLED when not given, as ECS
                         defaults it for a new service) and DescribeServices returns it (moto drops it on
                         create and keeps it only after an UpdateService, so terraform-provider-aws saw a
                         change to DISABLED on every plan after creating a service).
29. lambda-env-size      CreateFunction and UpdateFunctionConfiguration refuse environment variables whose
                         JSON (compact, as AWS measures it: names, values, quotes and escapes) exceeds 4 KB,
                         with AWS's InvalidParameterValueException (moto accepted any size).
32. iam-role-policy-size PutRolePolicy refuses an inline policy that takes the role's inline policies over
                         IAM's 10,240 characters (white space not counted) with LimitExceeded, as IAM does
                         (moto accepted any size). The pipeline's roles name every service function of
                         the catalog, so this quota is what bounds the catalog.

Four more change how fast the estate works, not what it does:
30. sfn-parse-once       An execution's definition is parsed (ANTLR, in Python: 30-130 ms of CPU for the
                         pipeline's machines) once per definition, not at every StartExecution; each
                         execution still gets evaluation components of its own from the parse tree
                         (6-23 ms).
31. moto-modules-once    moto's list of its service modules is read from the disk once, not on every
                         request (a directory listing and a hundred stat calls each).
33. moto-backend-lookup  A service's backend of an account that has one is found without moto's global
                         lock and its search of every service's backends (about 150 comparisons in
                         Python at every lookup, several per request).
34. sfn-jsonpath-once    Step Functions' JSONPaths (InputPath, OutputPath, Parameters' `.$`, ResultPath,
                         Choice variables) are parsed once per path, not at every use (jsonpath-ng builds
                         its PLY parser tables each time); sfn-result-path-once does it for ResultPath's
                         parser.
35. moto-untracked-models moto no longer keeps every model object it ever made (each DynamoDB item
                         written, each copy of a table TransactWriteItems backs up, each S3 object version)
                         in a list on its class, so what the estate no longer holds is freed: the servers'
                         memory grew with every run (1.5, 3.0 and 4.5 GB after seven) and slowed them.
36. sfn-history-pages    GetExecutionHistory answers in pages as AWS does: maxResults (default 100, at most
                         1000, 0 the default), nextToken, reverseOrder and includeExecutionData (moto
                         returns every event at once whatever is asked, so a caller that reads one page
                         only, or paginates wrongly, passed here and failed on AWS); a page is copied for
                         its answer, not the whole history deep-copied under the execution's lock (23-27
                         ms a call).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import inspect
import json
import logging
import re
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import unquote

from . import alarms as alarms_mod
from . import codebuild as codebuild_mod
from . import ecs as ecs_mod
from . import iam as iam_mod
from . import runtime as runtime_mod
from . import settings as settings_mod
from .mailbox import fresh as mailbox_fresh
from .mailbox import sns_email_body
from .urls import ForbiddenError, FunctionUrls, ThrottledError

LOG = logging.getLogger("bbws_local.patches")

MOTO_VERSION = "5.2.5"


@dataclass(frozen=True)
class Patch:
    name: str
    module: str
    qualname: str
    # SHA-256 of the original function's source, or ABSENT where the patch adds a method moto lacks.
    source_sha256: str


ABSENT = "absent"
_SFN_TASK = "moto.stepfunctions.parser.asl.component.state.exec.state_task.service"


# jsonpath_ng.parse (ResultPath's parser, the plain one; the other paths use jsonpath_ng.ext's).
_JSONPATH_PARSE_SHA256 = "cd433e740d17c7ee11b905343ca5b9d255cf89b83107aabaaa2ac5f0e7686c48"

PATCHES: list[Patch] = [
    Patch("lambda-invoke", "moto.awslambda_simple.models", "LambdaSimpleBackend.invoke",
          "1b029265c71d5ae06e1359dfa5b1f29beac2654e7dc64bf5bb1f6de9b06f9172"),
    Patch("lambda-invoke-qualifier", "moto.awslambda.responses", "LambdaResponse.invoke",
          "8f68f0bf023a3eb476e13ab0f688e6fbde8462c194532e8ce67421dbeb91c44b"),
    Patch("lambda-code-location", "moto.awslambda.models", "LambdaFunction.get_code",
          "06c9aab0ee2bf01397638a3f4e5de32a15a1a98acc7467c854adc041955165cb"),
    Patch("lambda-function-url", "moto.awslambda.models", "LambdaFunction.create_url_config",
          "dd468657df628b355b78a724a0440748a767ff97c9c11f82c39a7af1b0254761"),
    Patch("lambda-function-url-delete", "moto.awslambda.models", "LambdaFunction.delete_url_config",
          "a63386f1fccb821ef0d8a216b839494d8e6964f56d320439880677e85ded93c3"),
    Patch("sfn-credentials", "moto.stepfunctions.parser.asl.utils.boto_client", "boto_client_for",
          "1f44dc2ac8aa2179df62365a6e5ea377f1770ea828a0f107440a2554f1b4edb8"),
    Patch("sfn-sync2-casing", _SFN_TASK + ".state_task_service_sfn", "StateTaskServiceSfn._normalise_parameters",
          "d75d3da19aad01fb6166a22a30955b50a9c0f5c5da6707e492f9757c455bcb6c"),
    Patch("sfn-sync2-casing-response", _SFN_TASK + ".state_task_service", "StateTaskService._normalise_response",
          "00e0b0a50b1dd4baea457d318dcc88928f27a633d3383c6224ae47c17eedbc87"),
    Patch("sfn-task-failure-cause", "moto.stepfunctions.responses", "StepFunctionResponse.send_task_failure",
          "f0fed5e805768377c3886da87839f8dc3ea37bdaa5a64bab13da2784b5e00304"),
    Patch("sfn-validate", "moto.stepfunctions.responses", "StepFunctionResponse.validate_state_machine_definition",
          ABSENT),
    Patch("sfn-definition-checks", "moto.stepfunctions.parser.models",
          "StepFunctionsParserBackend._validate_definition",
          "a5921e3d3b46dcd341ec3a64e61af486cd2f843751a1890e07e9ea0f0008569b"),
    Patch("sfn-list-versions", "moto.stepfunctions.responses", "StepFunctionResponse.list_state_machine_versions",
          ABSENT),
    Patch("sfn-wait-scale", "moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function",
          "WaitFunction._wait_interval", "8f954dee80372b4b8233918f4d94810949f402cb3ddd2361ef4cbd9719d02253"),
    Patch("sns-email", "moto.sns.models", "Subscription.publish",
          "fd07bd0bb87fbe2a2756313a8dae6320aab8fc6540b59ea4bfe50139683f9674"),
    Patch("cloudwatch-dimensions", "moto.cloudwatch.models", "MetricDatumBase.filter",
          "0b48c98ba8611e71f6f7c3e04e70946697b5e430bb09fbc01b324e07df97f363"),
    Patch("cloudwatch-dimensions-empty", "moto.cloudwatch.models", "CloudWatchBackend.get_metric_statistics",
          "844bf661c8f9b2d658376bfd31721dbb418b47126f0f5b10d1b8422d3477dd35"),
    Patch("dynamodb-atomic-put", "moto.dynamodb.models", "DynamoDBBackend.put_item",
          "f5d9a5042c77b89e5f4c88b5884f7966b9dccd95b8b04090ee9e07afc5eea675"),
    Patch("dynamodb-atomic-update", "moto.dynamodb.models", "DynamoDBBackend.update_item",
          "218984588dd689a5de81678ce11e6a40d05c91e7b6c21b44c4ed4122fe74aa9f"),
    Patch("dynamodb-atomic-delete", "moto.dynamodb.models", "DynamoDBBackend.delete_item",
          "083a4bb1af18f6fd2feef40195a4c9c803da66cb2cacd14f87916c6e76930ea5"),
    Patch("dynamodb-atomic-transaction", "moto.dynamodb.models", "DynamoDBBackend.transact_write_items",
          "81db2cb7d94e39c90b3a2077e1f4bb41a449c558ef9b1b1e2910fdaa39978ad4"),
    Patch("sts-trust", "moto.sts.responses", "TokenResponse.assume_role",
          "8e014e59789ffa44daed1f84ac4002fa91a9cd2e6e1434812b4989cdf937f25a"),
    Patch("sfn-execution-name", "moto.stepfunctions.responses", "StepFunctionResponse.start_execution",
          "3f4ac22f2a3e01cfe56bb229ab718ef700e677d91f0efe50f2a4ac4e9ccf2c6f"),
    Patch("sfn-stop-execution", "moto.stepfunctions.responses", "StepFunctionResponse.stop_execution",
          "633c8a544aacfd14c07f24bf62b1688a2125f8aba91eecc1feaa40bb7dc45d24"),
    # Set on the callback task class; pinned to the ExecutionState method it inherits.
    Patch("sfn-retry-task-token", _SFN_TASK + ".state_task_service_callback",
          "StateTaskServiceCallback._evaluate_with_timeout",
          "c56deda08a42e98d3958bfb2ab95de74c7ec7a515085614a80e1ea4948722485"),
    Patch("sfn-token-once", "moto.stepfunctions.parser.asl.eval.callback.callback", "CallbackPoolManager.notify",
          "244536ab931eb3b817e7d5bfb46f77946393cf4f158e230f0423063e8afbdcc1"),
    Patch("sfn-lambda-errors", "moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda",
          "StateTaskLambda._from_error",
          "1a3cdc6f4b303bfe692e515f02bfdd8cea0cabcc2908ad1f5924096423b81a7f"),
    Patch("lambda-publish-same", "moto.awslambda.models", "LambdaStorage.publish_version",
          "b62a3d20bd8f190463137a6278f102877818beb368f36b0b3ca3ab06c9fe20bd"),
    Patch("sfn-sfn-errors", _SFN_TASK + ".state_task_service_sfn", "StateTaskServiceSfn._from_error",
          "7cdee0936130a4c15a18b0bc03087d23215896a841429e6189a159c8ad13dd63"),
    Patch("sfn-token-once-success", "moto.stepfunctions.parser.models",
          "StepFunctionsParserBackend.send_task_success",
          "2e95c66f0d676001a8c7b2e9b5b43972c0419af46a28f49842c81f0405bfc402"),
    Patch("sfn-token-once-failure", "moto.stepfunctions.parser.models",
          "StepFunctionsParserBackend.send_task_failure",
          "2d5a9597cf1d92f9cb4bc47b3b6ae48a0fe5d3c72e20b3cc57afdeabfcddd5ca"),
    Patch("cloudwatch-alarms-put", "moto.cloudwatch.models", "CloudWatchBackend.put_metric_alarm",
          "aff786ddccbc9f135373cec565c38ac5016cbdf68a3e8196fa36ec2325829fbb"),
    Patch("cloudwatch-alarms-state", "moto.cloudwatch.models", "Alarm.update_state",
          "9308fec8c5cd8039de8afdef01bd41053f417824ec558b81e58f2753555998d5"),
    Patch("cloudwatch-alarms-describe", "moto.cloudwatch.responses", "CloudWatchResponse.describe_alarms",
          "f660829b233baf0a7251126afad7b79564c3a408aad665d7ec35886fa92d8efc"),
    Patch("cloudwatch-alarms-history", "moto.cloudwatch.responses", "CloudWatchResponse.describe_alarm_history",
          ABSENT),
    Patch("cloudwatch-dashboards-put", "moto.cloudwatch.models", "CloudWatchBackend.put_dashboard",
          "afc2d07004d9607ec17307ba06e15d33a917802412a81b91edf667c7a75d3a5c"),
    Patch("cloudwatch-dashboards-list", "moto.cloudwatch.models", "CloudWatchBackend.list_dashboards",
          "6a0eb78419522f7d90ba6ba4214b1910914a560535c5b6a968a181cabe5eedf6"),
    Patch("cloudwatch-dashboards-get", "moto.cloudwatch.models", "CloudWatchBackend.get_dashboard",
          "86fc16469257f0e8299772f5ee9658d7f22feaf89554bbaeb22d63fc19c7ecff"),
    Patch("cloudwatch-dashboards-delete", "moto.cloudwatch.models", "CloudWatchBackend.delete_dashboards",
          "0ff5ad5f27206952a993d3e285627127506f427391aeb0464b60bf21e5cfacd0"),
    Patch("sfn-metrics-started", "moto.stepfunctions.parser.backend.execution", "Execution.start",
          "07e927c2d5f9e1045b9afd33ffd85b672eca4da712ad93354365076b2419cc13"),
    Patch("sfn-metrics-ended", "moto.stepfunctions.parser.backend.execution",
          "BaseExecutionWorkerCommunication.terminated",
          "360372a6a57bf99b6067dcd0a364f56330f090650dc94d32f80b41b875456caf"),
    Patch("s3-bucket-policy", "moto.s3.models", "FakeBucket.get_permission",
          "7571412a3495a0e3e1a2a34b0b8ed3fc0af1a96d35514841b274fbe1eac12b99"),
    Patch("codebuild-start-build", "moto.codebuild.responses", "CodeBuildResponse.start_build",
          "64605611d794cd6c3ee383df5cc8cfbee0853b0b50fff1810fa32efffed2aade"),
    Patch("codebuild-batch-get-builds", "moto.codebuild.responses", "CodeBuildResponse.batch_get_builds",
          "046241374f0f9038e28aaf87b08e5774ca1ffef668d33fbdeee3811e276ccbcd"),
    Patch("codebuild-stop-build", "moto.codebuild.responses", "CodeBuildResponse.stop_build",
          "a37ab21f9121a88bc7cbf40ae9f1000cd014eee1e27b97dfefc0bff2b0e22742"),
    Patch("codebuild-update-project", "moto.codebuild.responses", "CodeBuildResponse.update_project", ABSENT),
    Patch("codebuild-create-project", "moto.codebuild.responses", "CodeBuildResponse.create_project",
          "31d6599d02f029dd6798accbaf869ee5c16348d774e029e2f1f77ee637dbc039"),
    Patch("codebuild-list-builds-order", "moto.codebuild.responses", "CodeBuildResponse.list_builds_for_project",
          "d8e7031094568ea2be720843405ab710f1588c48c918fcf6a2058fa7fd7eab61"),
    Patch("codebuild-no-source", "moto.codebuild.responses", "_validate_required_params_source",
          "4681936da4bcdc73f17ba4c0439156939fc95b5c4a8ff6405003bf1c88022b3a"),
    Patch("sfn-codebuild", _SFN_TASK + ".state_task_service_factory", "state_task_service_for",
          "a21a16afc5f63679e4968dc9a7da9f2ee5a18c29b6b166220b4c2507d7401769"),
    Patch("sfn-codebuild-managed-rule", "moto.stepfunctions.parser.models",
          "StepFunctionsParserBackend.create_state_machine",
          "dc56ec54216f7b975da2fe4653e4675e85ea2773e3167dad3017dbfa89c0bbd5"),
    Patch("sfn-codebuild-managed-rule-update", "moto.stepfunctions.parser.models",
          "StepFunctionsParserBackend.update_state_machine",
          "03b6b2ec8ffdfbb0c8e75574810521875200207fbacd0b563e008f82f3f9515f"),
    Patch("ecs-service-counts-create", "moto.ecs.models", "EC2ContainerServiceBackend.create_service",
          "ecba80299ad613f5c9757ee16857d35814dc359095b4585471160fe798c04bf4"),
    Patch("ecs-service-counts-update", "moto.ecs.models", "EC2ContainerServiceBackend.update_service",
          "67910723b60aecfb7134999e637f3ef6f853691d192ab9655cb706b3806d1686"),
    Patch("ecs-service-counts-describe", "moto.ecs.models", "EC2ContainerServiceBackend.describe_services",
          "8602726251fec059d18f31af49ab9a631484d397a534e6c5de30247841276952"),
    Patch("ecs-az-rebalancing", "moto.ecs.responses", "EC2ContainerServiceResponse.create_service",
          "61d328f884dc197307edbda93799d07464b02f32a997d7c71ff778125dc6cd43"),
    Patch("lambda-env-size-create", "moto.awslambda.models", "LambdaBackend.create_function",
          "dea879c1b1bc6a0921c49e929e8eeb0b8f1b7cdecf47aa37bea89abd6eb32432"),
    Patch("lambda-env-size-update", "moto.awslambda.models", "LambdaBackend.update_function_configuration",
          "b11ed261c9acd60e195b98f8c9307d95bacd5252dfba134a3e756322b907936b"),
    Patch("sfn-parse-once", "moto.stepfunctions.parser.asl.parse.asl_parser", "AmazonStateLanguageParser.parse",
          "a59a7d18760fb22efc9fd46d8f0fb3bb6c0293abbce2b9053e1589181c6f0711"),
    Patch("moto-modules-once", "moto.backends", "list_of_moto_modules",
          "4f741a10b06500e840c3aaa1b4f02706e6f2bfbababc0e8a2a7b9c9d0e8957dc"),
    Patch("iam-role-policy-size", "moto.iam.models", "IAMBackend.put_role_policy",
          "646445273c90d95fb87bb43c823ffb675ba9db7ba64378be35778716b9705f8d"),
    Patch("moto-backend-lookup", "moto.core.base_backend", "BackendDict._create_account_specific_backend",
          "efcc193ee3ca333752f8d55b94e70a7f2cffd87da07bc1d6140265bf9231f8a6"),
    Patch("sfn-jsonpath-once", "moto.stepfunctions.parser.asl.utils.json_path", "parse",
          "8e8fc5e91980418de2f2dda0105ef9082ea234aeb8625c1a96401aeb399e50b7"),
    Patch("sfn-result-path-once", "moto.stepfunctions.parser.asl.component.common.path.result_path", "parse",
          _JSONPATH_PARSE_SHA256),
    Patch("moto-untracked-models", "moto.core.common_models", "BaseModel.__new__",
          "08cf0ef20e88029a2eb91949492ce3281001a34b98143db186239962ad379eec"),
    Patch("sfn-history-pages", "moto.stepfunctions.responses", "StepFunctionResponse.get_execution_history",
          "3889cc6224ac2f762d44a217cdd02255957d21862ad88af0c6b30af47b17a206"),
]


def _resolve(module: str, qualname: str) -> tuple[Any, str, Any]:
    mod = __import__(module, fromlist=["_"])
    owner: Any = mod
    parts = qualname.split(".")
    for p in parts[:-1]:
        owner = getattr(owner, p)
    return owner, parts[-1], getattr(owner, parts[-1], None)


def source_sha256(module: str, qualname: str) -> str | None:
    _, _, fn = _resolve(module, qualname)
    if getattr(fn, "__bbws_patch__", False):
        fn = fn.__bbws_original__
    if fn is None:
        return None
    return hashlib.sha256(inspect.getsource(fn).encode()).hexdigest()


def check_pins() -> list[str]:
    """What changed under the patches since they were written (empty when all is as expected)."""
    import moto

    problems = []
    if moto.__version__ != MOTO_VERSION:
        problems.append(f"moto is {moto.__version__}, the patches were written for {MOTO_VERSION}")
    for p in PATCHES:
        actual = source_sha256(p.module, p.qualname)
        if p.source_sha256 == ABSENT:
            if actual is not None:
                problems.append(f"{p.name}: moto now has {p.qualname}; read it before replacing it")
        elif actual != p.source_sha256:
            problems.append(f"{p.name}: {p.module}.{p.qualname} changed (sha256 {actual})")
    return problems


def _replace(module: str, qualname: str, new: Callable) -> None:
    owner, attr, old = _resolve(module, qualname)
    new.__bbws_patch__ = True  # type: ignore[attr-defined]
    new.__bbws_original__ = old  # type: ignore[attr-defined]
    if isinstance(inspect.getattr_static(owner, attr, None), staticmethod):
        new = staticmethod(new)  # type: ignore[assignment]
    setattr(owner, attr, new)


# ---------------------------------------------------------------------------------------------------
# Shared state
# ---------------------------------------------------------------------------------------------------


class Estate:
    """What the patches talk to: the executor, the URL listeners, the mailbox, the settings."""

    def __init__(self, settings: settings_mod.Settings):
        self.settings = settings
        self.executor = runtime_mod.Executor(settings, role_credentials, put_metrics)
        self.urls = FunctionUrls(settings.host, settings.url_port_base, invoke_for_url)
        self.mailbox = mailbox_fresh(settings.state_dir / "mailbox")
        self.iam = iam_mod.Authorizer(settings.state_dir)
        self.alarms = alarms_mod.Alarms(settings.time_scale, authorize=alarm_action_refusal)
        self.builds = codebuild_mod.Builds(settings.state_dir, settings.endpoint, role_session_credentials)
        self.ecs = ecs_mod.Services()


ESTATE: Estate | None = None


def estate() -> Estate:
    if ESTATE is None:
        raise RuntimeError("bbws_local.patches.apply() has not run")
    return ESTATE


# ---------------------------------------------------------------------------------------------------
# Credentials and metrics: moto's own backends, called in-process
# ---------------------------------------------------------------------------------------------------

_cred_lock = threading.Lock()
_cred_cache: dict[tuple[str, str], tuple[float, dict[str, str]]] = {}


def role_credentials(account: str, region: str, role_arn: str) -> dict[str, str]:
    """Temporary credentials of `role_arn` acting in `account`, as Lambda and Step Functions get them."""
    from moto.sts.models import sts_backends

    key = (account, role_arn)
    with _cred_lock:
        cached = _cred_cache.get(key)
        if cached and cached[0] > time.time() + 600:
            return cached[1]
        session = role_arn.rsplit("/", 1)[-1][:64] or "bbws-local"
        role = sts_backends[account]["aws"].assume_role(
            region_name=region, role_session_name=session, role_arn=role_arn,
            policy=None, duration=43200, external_id=None,
        )
        creds = {
            "AWS_ACCESS_KEY_ID": role.access_key_id,
            "AWS_SECRET_ACCESS_KEY": role.secret_access_key,
            "AWS_SESSION_TOKEN": role.session_token,
        }
        _cred_cache[key] = (time.time() + 43200, creds)
        return creds


def put_metrics(account: str, region: str, data: list[dict[str, Any]], namespace: str = "AWS/Lambda") -> None:
    from moto.cloudwatch.models import cloudwatch_backends

    cloudwatch_backends[account][region].put_metric_data(namespace, data)


# ---------------------------------------------------------------------------------------------------
# 1. lambda-invoke
# ---------------------------------------------------------------------------------------------------


class TooManyRequests(Exception):
    """Built lazily on moto's LambdaClientError (so importing this module does not import moto)."""


def _throttle_error(reason: str) -> Exception:
    from moto.awslambda.exceptions import LambdaClientError

    class TooManyRequestsException(LambdaClientError):
        code = 429

        def __init__(self) -> None:
            super().__init__("TooManyRequestsException", "Rate Exceeded.")
            self.description = json.dumps({"Reason": reason, "Type": "User", "message": "Rate Exceeded.",
                                           "__type": "TooManyRequestsException"})

    return TooManyRequestsException()


def _qualifier_of(function_name: str, qualifier: str | None) -> str | None:
    if function_name.startswith("arn:"):
        tail = function_name.split(":function:", 1)[-1]
        return tail.split(":", 1)[1] if ":" in tail else qualifier
    if ":" in function_name:
        return function_name.split(":", 1)[1]
    return qualifier


def _spec_of(fn: Any) -> runtime_mod.FunctionSpec:
    return runtime_mod.FunctionSpec(
        account=fn.account_id, region=fn.region, name=fn.function_name, version=str(fn.version),
        runtime=fn.run_time or "", handler=fn.handler or "", role=fn.role, timeout=float(fn.timeout or 3),
        memory=int(fn.memory_size or 128), code_sha=fn.code_sha_256,
        env=tuple(sorted((str(k), str(v)) for k, v in (fn.environment_vars or {}).items())),
    )


def run_function(backend: Any, function_name: str, qualifier: str | None, body: bytes,
                 invocation_type: str = "RequestResponse") -> tuple[runtime_mod.Outcome | None, str]:
    """Invoke through the executor; returns (outcome or None for async/dry-run, executed version)."""
    fn = backend.get_function(function_name, qualifier)
    latest = backend.get_function(fn.function_name, None)
    qual = _qualifier_of(function_name, qualifier)
    resource = f"{fn.function_name}:{qual}" if qual and qual != "$LATEST" else fn.function_name
    reserved = latest.reserved_concurrency
    reserved = int(reserved) if reserved is not None else None
    invoked_arn = f"arn:aws:lambda:{fn.region}:{fn.account_id}:function:{fn.function_name}" + (
        f":{qual}" if qual else "")
    spec = _spec_of(fn)
    if invocation_type == "DryRun":
        return None, spec.version
    payload = body if body else b"{}"
    if isinstance(payload, str):
        payload = payload.encode()
    ex = estate().executor
    if invocation_type == "Event":
        def _bg() -> None:
            try:
                ex.invoke(spec, fn.code_bytes, payload, invoked_arn, resource, reserved)
            except runtime_mod.Throttled:
                pass  # AWS would retry an async event; locally it is dropped after the Throttles metric
            except Exception:
                LOG.exception("async invocation of %s failed", fn.function_name)

        threading.Thread(target=_bg, daemon=True).start()
        return None, spec.version
    outcome = ex.invoke(spec, fn.code_bytes, payload, invoked_arn, resource, reserved)
    return outcome, spec.version


def _lambda_invoke(self: Any, function_name: str, qualifier: str | None, body: Any, headers: Any,
                   response_headers: Any) -> bytes:
    inv_type = "RequestResponse"
    if headers is not None:
        inv_type = headers.get("X-Amz-Invocation-Type") or headers.get("x-amz-invocation-type") or inv_type
    try:
        outcome, version = run_function(self, function_name, qualifier, body, inv_type)
    except runtime_mod.Throttled as t:
        raise _throttle_error(t.reason)
    except runtime_mod.InvalidRuntime as e:
        from moto.awslambda.exceptions import InvalidParameterValueException

        raise InvalidParameterValueException(str(e))
    response_headers["X-Amz-Executed-Version"] = version
    if outcome is None:
        return b""
    if outcome.function_error:
        response_headers["x-amz-function-error"] = outcome.function_error
    response_headers["Content-Length"] = str(len(outcome.payload))
    return outcome.payload


def _lambda_response_invoke(self: Any) -> tuple[int, dict[str, str], bytes]:
    response_headers: dict[str, str] = {}
    function_name = unquote(self.path.rsplit("/", 2)[-2])
    qualifier = self._get_param("Qualifier") or self._get_param("qualifier")
    payload = self.backend.invoke(function_name, qualifier, self.body, self.headers, response_headers)
    inv_type = self.headers.get("X-Amz-Invocation-Type") or "RequestResponse"
    if inv_type in ("Event", "DryRun"):
        status = 202 if inv_type == "Event" else 204
        response_headers["status"] = str(status)  # moto's server takes the status from this header
        return status, response_headers, b""
    response_headers["content-type"] = "application/json"
    return 200, response_headers, payload


def invoke_for_url(account: str, region: str, function_name: str, event: bytes) -> tuple[bytes, str | None]:
    from moto.awslambda.utils import get_backend

    if iam_mod.enforcing() and not iam_mod.anonymous_function_url_allowed(
            estate().iam.evaluator, account, region, function_name):
        LOG.info("function URL call of %s refused: its resource policy does not allow both "
                 "lambda:InvokeFunctionUrl and lambda:InvokeFunction via the URL", function_name)
        raise ForbiddenError()
    try:
        outcome, _ = run_function(get_backend(account, region), function_name, None, event)
    except runtime_mod.Throttled:
        raise ThrottledError()
    assert outcome is not None
    return outcome.payload, outcome.function_error


# ---------------------------------------------------------------------------------------------------
# 2. lambda-code-location: a signed, expiring link to the package, served by the gateway
# ---------------------------------------------------------------------------------------------------

CODE_LINK_SECONDS = 600  # AWS's presigned Code.Location lasts 10 minutes


def sign_code_link(account: str, region: str, name: str, version: str, now: float | None = None) -> str:
    claims = {"a": account, "r": region, "f": name, "v": version,
              "e": int((now or time.time()) + CODE_LINK_SECONDS)}
    raw = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode()).decode().rstrip("=")
    sig = hmac.new(estate().settings.signing_key, raw.encode(), hashlib.sha256).hexdigest()
    return f"{estate().settings.endpoint}/_local/code/{raw}.{sig}"


def verify_code_link(token: str) -> dict[str, Any] | None:
    raw, _, sig = token.partition(".")
    good = hmac.new(estate().settings.signing_key, raw.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(good, sig):
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except ValueError:
        return None
    if not isinstance(claims, dict) or claims.get("e", 0) < time.time():
        return None
    return claims


def _make_get_code(original: Callable) -> Callable:
    def get_code(self: Any) -> dict[str, Any]:
        resp = original(self)
        if "ZipFile" in self.code or "S3Key" in self.code:
            resp["Code"] = {
                "RepositoryType": "S3",
                "Location": sign_code_link(self.account_id, self.region, self.function_name, str(self.version)),
            }
        return resp

    return get_code


# ---------------------------------------------------------------------------------------------------
# 3. lambda-function-url
# ---------------------------------------------------------------------------------------------------


def _make_create_url_config(original: Callable) -> Callable:
    def create_url_config(self: Any, config: dict[str, Any]) -> Any:
        cfg = original(self, config)
        cfg.url = estate().urls.open(self.account_id, self.region, self.function_name,
                                     config.get("AuthType") or "NONE")
        return cfg

    return create_url_config


def _make_delete_url_config(original: Callable) -> Callable:
    def delete_url_config(self: Any) -> None:
        original(self)
        estate().urls.close(self.account_id, self.region, self.function_name)

    return delete_url_config


# ---------------------------------------------------------------------------------------------------
# 4. sfn-credentials
# ---------------------------------------------------------------------------------------------------


_sfn_clients_lock = threading.Lock()
_sfn_clients: dict[tuple[str, str, str, str], Any] = {}
SFN_CLIENTS_KEPT = 512  # (region, service, role, credentials) in use at once: a few dozen


def _boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
    """The client a task of an execution calls AWS with, as the state machine's role. One client per
    region, service, role and credentials, made once and shared (clients are safe to share between
    threads): making one costs 5-10 ms of CPU, and every Lambda task made one."""
    import boto3
    from botocore.config import Config
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds

    role_arn = getattr(state_credentials, "role_arn", None) or ""
    parts = role_arn.split(":")
    if len(parts) < 6 or not parts[4].isdigit():
        raise ValueError(f"state machine role {role_arn!r} is not an IAM role ARN")
    creds = role_credentials(parts[4], region, role_arn)
    key = (region, service, role_arn, creds["AWS_ACCESS_KEY_ID"])
    with _sfn_clients_lock:
        client = _sfn_clients.get(key)
    if client is not None:
        return client
    client = boto3.client(
        service_name=service,
        region_name=region,
        endpoint_url=estate().settings.endpoint,
        aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=creds["AWS_SESSION_TOKEN"],
        config=Config(
            parameter_validation=False,
            retries={"max_attempts": 0, "total_max_attempts": 1},
            connect_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
            read_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
        ),
    )
    with _sfn_clients_lock:
        if len(_sfn_clients) >= SFN_CLIENTS_KEPT:
            _sfn_clients.clear()
        return _sfn_clients.setdefault(key, client)


def _install_boto_client_for() -> None:
    """Replace `boto_client_for` in its module and in every interpreter module that imported it by name."""
    import importlib
    import pkgutil

    import moto.stepfunctions.parser as parser_pkg

    for info in pkgutil.walk_packages(parser_pkg.__path__, parser_pkg.__name__ + "."):
        if ".test_state" in info.name or info.name.endswith("_test"):
            continue
        try:
            importlib.import_module(info.name)
        except Exception:  # optional integrations with missing extras
            continue
    _replace("moto.stepfunctions.parser.asl.utils.boto_client", "boto_client_for", _boto_client_for)
    for name, mod in list(sys.modules.items()):
        if name.startswith("moto.stepfunctions.parser") and getattr(mod, "boto_client_for", None) is not None:
            if getattr(mod.boto_client_for, "__bbws_patch__", False):
                continue
            mod.boto_client_for = _boto_client_for  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------------
# 5. sfn-sync2-casing
# ---------------------------------------------------------------------------------------------------


def _operation_model(service: str, action: str) -> Any:
    import botocore.session
    from botocore import xform_name

    model = botocore.session.get_session().get_service_model(service)
    for op in model.operation_names:
        if xform_name(op) == action:
            return model.operation_model(op)
    return None


def _make_sfn_normalise_parameters(original: Callable) -> Callable:
    def _normalise_parameters(self: Any, parameters: dict, boto_service_name: str | None = None,
                              service_action_name: str | None = None) -> None:
        original(self, parameters, boto_service_name, service_action_name)
        op = _operation_model(self._get_boto_service_name(boto_service_name),
                              self._get_boto_service_action(service_action_name))
        if op is not None and op.input_shape is not None:
            self._to_boto_request(parameters, op.input_shape)

    return _normalise_parameters


def _make_normalise_response(original: Callable) -> Callable:
    def _normalise_response(self: Any, response: Any, boto_service_name: str | None = None,
                            service_action_name: str | None = None) -> None:
        original(self, response, boto_service_name, service_action_name)
        # Only the Step Functions integration needed this; the others already match boto3's casing.
        if self._get_boto_service_name(boto_service_name) != "stepfunctions":
            return
        op = _operation_model("stepfunctions", self._get_boto_service_action(service_action_name))
        if op is not None and op.output_shape is not None:
            self._from_boto_response(response, op.output_shape)
            for k, v in list(response.items()) if isinstance(response, dict) else []:
                if isinstance(v, datetime):
                    response[k] = v.astimezone(timezone.utc).isoformat()

    return _normalise_response


# ---------------------------------------------------------------------------------------------------
# 6-8. Step Functions API
# ---------------------------------------------------------------------------------------------------


def _send_task_failure(self: Any) -> Any:
    from moto.core.responses import EmptyResult

    self.stepfunction_backend.send_task_failure(self._get_param("taskToken"), error=self._get_param("error"),
                                                cause=self._get_param("cause"))
    return EmptyResult()


# ---------------------------------------------------------------------------------------------------
# 14. sfn-stop-execution
# ---------------------------------------------------------------------------------------------------


def _start_execution(self: Any) -> Any:
    from moto.core.responses import ActionResult

    name = self._get_param("name") or str(uuid.uuid4())
    execution = self.stepfunction_backend.start_execution(
        self._get_param("stateMachineArn"), name, self._get_param("input", if_none="{}"))
    return ActionResult({"executionArn": execution.execution_arn, "startDate": execution.start_date})


def _stop_execution(self: Any) -> Any:
    from moto.core.responses import ActionResult
    from moto.stepfunctions.parser.api import ExecutionStatus

    execution = self.stepfunction_backend.describe_execution(self._get_param("executionArn"))
    now = datetime.now(timezone.utc)
    error, cause = self._get_param("error"), self._get_param("cause")
    if execution.exec_status == ExecutionStatus.RUNNING:
        execution.bbws_stopping = True

        def aborted() -> None:
            execution.exec_status = ExecutionStatus.ABORTED
            execution.stop_date = now
            execution.error, execution.cause = error, cause

        # The interpreter stops at its next step and then reports how its program ended; a task-token
        # wait woken by the stop can end as an error first. The execution stays ABORTED either way.
        comm = getattr(execution.exec_worker, "_execution_communication", None)
        if comm is not None:
            reflect = comm.terminated

            def terminated() -> None:
                reflect()
                aborted()

            comm.terminated = terminated
        execution.stop(stop_date=now, error=error, cause=cause)
        aborted()
        execution_metrics(execution, "ExecutionsAborted", with_time=True)
    return ActionResult({"stopDate": execution.stop_date or now})


# ---------------------------------------------------------------------------------------------------
# 15. sfn-retry-task-token
# ---------------------------------------------------------------------------------------------------


def _make_retry_task_token(original: Callable) -> Callable:
    def _evaluate_with_timeout(self: Any, env: Any) -> Any:
        from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
            ResourceCondition,
        )

        data = env.states.context_object.context_object_data
        waits = ("Task" in data and self._is_integration_pattern()
                 and ResourceCondition.WaitForTaskToken in self._supported_integration_patterns
                 and getattr(self.resource, "condition", None) == ResourceCondition.WaitForTaskToken)
        retried = data.get("State", {}).get("RetryCount", 0) > 0
        if waits and retried:
            # The replaced attempt's token is dead (16. sfn-token-once).
            with _TOKEN_LOCK:
                CLOSED_TOKENS.add(data["Task"].get("Token"))
            env.callback_pool_manager.add(env.states.context_object.update_task_token())
        try:
            return original(self, env)
        except BaseException:
            # An attempt that failed (its function's error, a timeout) closes its task: on AWS its token
            # is answered TaskTimedOut from then on, also during the Retry's backoff before the next
            # attempt (moto would keep it open until the retry replaced it).
            if waits:
                with _TOKEN_LOCK:
                    CLOSED_TOKENS.add(data["Task"].get("Token"))
            raise

    return _evaluate_with_timeout


# ---------------------------------------------------------------------------------------------------
# 16. sfn-token-once
# ---------------------------------------------------------------------------------------------------


# Tokens answered once, or of an attempt a retry replaced: every later answer is TaskTimedOut.
CLOSED_TOKENS: set[str] = set()
_TOKEN_LOCK = threading.Lock()


def _task_timed_out() -> Exception:
    from moto.core.exceptions import AWSError

    # AWS's code and words (moto's own TaskTimedOut serialises with an empty code).
    return AWSError("Task Timed Out: 'Provided task does not exist anymore'", "TaskTimedOut", 400)


def _make_notify_once(original: Callable) -> Callable:
    def notify(self: Any, callback_id: Any, outcome: Any) -> bool:
        with _TOKEN_LOCK:
            if callback_id in CLOSED_TOKENS:
                raise _task_timed_out()
            answered = original(self, callback_id, outcome)
            if answered:
                CLOSED_TOKENS.add(callback_id)
            return answered

    return notify


def _make_send_task_once(original: Callable) -> Callable:
    """The backend's SendTaskSuccess/SendTaskFailure: a closed token is TaskTimedOut even once its
    execution has ended (moto then answers InvalidToken, which AWS keeps for malformed tokens)."""
    def send(self: Any, task_token: Any, *args: Any, **kwargs: Any) -> Any:
        if task_token in CLOSED_TOKENS:
            raise _task_timed_out()
        return original(self, task_token, *args, **kwargs)

    return send


# ---------------------------------------------------------------------------------------------------
# 17. sfn-lambda-errors
# ---------------------------------------------------------------------------------------------------


def _make_lambda_task_error(original: Callable) -> Callable:
    def _from_error(self: Any, env: Any, ex: Exception) -> Any:
        from botocore.exceptions import ClientError
        from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName

        event = original(self, env, ex)
        if isinstance(ex, ClientError):
            error = f"Lambda.{ex.response['Error']['Code']}"
            event.error_name = CustomErrorName(error)
            details = (event.event_details or {}).get("lambdaFunctionFailedEventDetails")
            if details is not None:
                details["error"] = error
        return event

    return _from_error


# ---------------------------------------------------------------------------------------------------
# 19. sfn-sfn-errors
# ---------------------------------------------------------------------------------------------------


def _sfn_error_shapes() -> frozenset[str]:
    """The error shapes of Step Functions' API model (ExecutionAlreadyExists, InvalidArn, ...)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("stepfunctions")
    return frozenset(s.name for s in model.error_shapes)


def sfn_task_error_name(code: str, modeled: frozenset[str]) -> str:
    """The error a Step Functions task fails with when its Step Functions call is refused with `code`."""
    if code in modeled:
        return f"StepFunctions.{code if code.endswith('Exception') else code + 'Exception'}"
    return "StepFunctions.AWSStepFunctionsException"


def _make_sfn_task_error(original: Callable) -> Callable:
    modeled = _sfn_error_shapes()

    def _from_error(self: Any, env: Any, ex: Exception) -> Any:
        from botocore.exceptions import ClientError
        from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName

        event = original(self, env, ex)
        if isinstance(ex, ClientError):
            error = sfn_task_error_name(ex.response["Error"]["Code"], modeled)
            event.error_name = CustomErrorName(error)
            details = (event.event_details or {}).get("taskFailedEventDetails")
            if details is not None:
                details["error"] = error
        return event

    return _from_error


# ---------------------------------------------------------------------------------------------------
# 18. lambda-publish-same
# ---------------------------------------------------------------------------------------------------

# What a published version is made of, besides its code: AWS compares these with $LATEST's.
_VERSION_CONTENT = ("code_sha_256", "handler", "run_time", "memory_size", "timeout", "role",
                    "environment_vars", "layers", "architectures", "_vpc_config", "ephemeral_storage",
                    "tracing_config", "dead_letter_config", "kms_key_arn", "image_config", "logging_config")


def _make_publish_same(original: Callable) -> Callable:
    def publish_version(self: Any, name_or_arn: str, description: str = "") -> Any:
        function = self.get_function_by_name_or_arn_forbid_qualifier(name_or_arn)
        versions = (self._functions.get(function.function_name) or {}).get("versions") or []
        if versions and all(getattr(function, a, None) == getattr(versions[-1], a, None) for a in _VERSION_CONTENT):
            function.code_or_config_updated = False
        return original(self, name_or_arn, description)

    return publish_version


# ---------------------------------------------------------------------------------------------------
# 29. lambda-env-size
# ---------------------------------------------------------------------------------------------------

ENVIRONMENT_LIMIT_BYTES = 4 * 1024


def environment_problem(spec: dict[str, Any]) -> str | None:
    """AWS's refusal of a function's environment larger than 4 KB, measured as AWS measures it: the
    variables as compact JSON (so a JSON value's quotes count twice, escaped); None when it fits."""
    variables = (spec.get("Environment") or {}).get("Variables")
    if not variables:
        return None
    measured = json.dumps(variables, separators=(",", ":"))
    if len(measured.encode()) <= ENVIRONMENT_LIMIT_BYTES:
        return None
    return ("Lambda was unable to configure your environment variables because the environment variables you "
            f"have provided exceeded the 4KB limit. String measured: {measured}")


def _refuse_large_environment(spec: dict[str, Any]) -> None:
    problem = environment_problem(spec)
    if problem:
        from moto.awslambda.exceptions import InvalidParameterValueException
        raise InvalidParameterValueException(problem)


def _make_env_size_create(original: Callable) -> Callable:
    def create_function(self: Any, spec: dict[str, Any]) -> Any:
        _refuse_large_environment(spec)
        return original(self, spec)

    return create_function


def _make_env_size_update(original: Callable) -> Callable:
    def update_function_configuration(self: Any, function_name: str, qualifier: str,
                                      body: dict[str, Any]) -> Any:
        _refuse_large_environment(body)
        return original(self, function_name, qualifier, body)

    return update_function_configuration


_TERMINAL = {"Succeed", "Fail"}


def structure_problems(doc: Any, where: str = "") -> list[str]:
    """What AWS refuses in a definition's structure (moto's parser checks none of it)."""
    if not isinstance(doc, dict):
        return [f"{where or '/'}: a state machine definition must be a JSON object"]
    states = doc.get("States")
    if not isinstance(states, dict) or not states:
        return [f"{where}/States: must be a non-empty object"]
    problems: list[str] = []
    start = doc.get("StartAt")
    if start not in states:
        problems.append(f"{where}/StartAt: '{start}' is not a state of this scope")
    edges: dict[str, list[str]] = {}
    for name, st in states.items():
        here = f"{where}/States/{name}"
        if not isinstance(st, dict):
            problems.append(f"{here}: a state must be an object")
            continue
        typ = st.get("Type")
        targets = [t for t in [st.get("Next"), st.get("Default")] if t is not None]
        targets += [c.get("Next") for c in st.get("Choices") or [] if isinstance(c, dict)]
        targets += [c.get("Next") for c in st.get("Catch") or [] if isinstance(c, dict)]
        for t in targets:
            if t not in states:
                problems.append(f"{here}: transition to '{t}', which is not a state of this scope")
        edges[name] = [t for t in targets if t in states]
        if typ not in _TERMINAL and typ != "Choice" and not st.get("End") and "Next" not in st:
            problems.append(f"{here}: a {typ} state needs Next or End")
        if st.get("End") and "Next" in st:
            problems.append(f"{here}: Next and End cannot both be set")
        for key in ("Iterator", "ItemProcessor"):
            if key in st:
                problems += structure_problems(st[key], f"{here}/{key}")
        for i, branch in enumerate(st.get("Branches") or []):
            problems += structure_problems(branch, f"{here}/Branches/{i}")
    if start in states:
        seen, todo = set(), [start]
        while todo:
            s = todo.pop()
            if s not in seen:
                seen.add(s)
                todo += edges.get(s, [])
        for name in states:
            if name not in seen:
                problems.append(f"{where}/States/{name}: the state is not reachable from StartAt")
    return problems


def validate_definition(definition: str) -> dict[str, Any]:
    """ValidateStateMachineDefinition's answer, from the interpreter's parser and the structure checks."""
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser, ASLParserException

    def fail(code: str, messages: list[str]) -> dict[str, Any]:
        return {"result": "FAIL", "truncated": False, "diagnostics": [
            {"severity": "ERROR", "code": code, "message": m, "location": m.split(":", 1)[0] or "/"}
            for m in messages]}

    try:
        doc = json.loads(definition)
    except (TypeError, ValueError) as e:
        return fail("INVALID_JSON_DESCRIPTION", [f"/: invalid JSON: {e}"])
    problems = structure_problems(doc)
    if problems:
        return fail("SCHEMA_VALIDATION_FAILED", problems)
    try:
        AmazonStateLanguageParser.parse(definition)
    except ASLParserException as e:
        return fail("SCHEMA_VALIDATION_FAILED", [f"/: {x}" for x in e.errors] or [f"/: {e!r}"])
    except Exception as e:  # the interpreter's own semantic checks raise plain exceptions
        return fail("SCHEMA_VALIDATION_FAILED", [f"/: {e.__class__.__name__}: {e}"])
    return {"result": "OK", "diagnostics": [], "truncated": False}


def _make_validate_definition(original: Callable) -> Callable:
    def _validate_definition(definition: str) -> None:
        from moto.stepfunctions.parser.models import InvalidDefinition

        try:
            original(definition)
        except InvalidDefinition as e:
            # moto's parser defines InvalidDefinition without a TYPE, so it reaches clients with an
            # empty error code; AWS's is "InvalidDefinition".
            raise InvalidDefinition(getattr(e, "message", str(e)), "InvalidDefinition")
        problems = structure_problems(json.loads(definition))
        if problems:
            raise InvalidDefinition("Invalid State Machine Definition: " + "; ".join(problems),
                                    "InvalidDefinition")

    return _validate_definition


def _validate_state_machine_definition(self: Any) -> Any:
    from moto.core.responses import ActionResult

    return ActionResult(validate_definition(self._get_param("definition")))


def _list_state_machine_versions(self: Any) -> Any:
    from moto.core.responses import ActionResult

    arn = self._get_param("stateMachineArn")
    sm = self.stepfunction_backend.describe_state_machine(arn)
    versions = [
        {"stateMachineVersionArn": v.arn, "creationDate": v.creation_date}
        for _, v in sorted(getattr(sm, "versions", {}).items(), reverse=True)
    ]
    return ActionResult({"stateMachineVersions": versions})


# ---------------------------------------------------------------------------------------------------
# 9. sfn-wait-scale
# ---------------------------------------------------------------------------------------------------


def _make_wait_interval(original: Callable) -> Callable:
    def _wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
        scale = estate().settings.time_scale
        if scale >= 1.0 or wait_seconds <= 0:
            return original(self, env, wait_seconds)
        env.program_state_event.wait(wait_seconds * scale)

    return _wait_interval


# ---------------------------------------------------------------------------------------------------
# 10. sns-email
# ---------------------------------------------------------------------------------------------------


def _make_subscription_publish(original: Callable) -> Callable:
    def publish(self: Any, message: str, message_id: str, subject: str | None = None,
                message_attributes: dict | None = None, group_id: str | None = None,
                deduplication_id: str | None = None, message_structure: str | None = None) -> None:
        if self.protocol not in ("email", "email-json"):
            return original(self, message, message_id, subject=subject, message_attributes=message_attributes,
                            group_id=group_id, deduplication_id=deduplication_id,
                            message_structure=message_structure)
        if self._filter_policy_matcher is not None and not self._filter_policy_matcher.matches(
                message_attributes, message):
            return None
        if message_structure == "json":
            message = self._parse_message_structure(message, self.protocol)
        unsubscribe = (f"{estate().settings.endpoint}/?Action=Unsubscribe&SubscriptionArn={self.arn}")
        subj, body = sns_email_body(message, subject, self.protocol, topic_arn=self.topic.arn,
                                    message_id=message_id, unsubscribe_url=unsubscribe,
                                    timestamp=datetime.now(timezone.utc).isoformat())
        estate().mailbox.deliver(self.endpoint, subj, body, topic_arn=self.topic.arn, message_id=message_id)
        return None

    return publish


# ---------------------------------------------------------------------------------------------------
# 11. cloudwatch-dimensions
# ---------------------------------------------------------------------------------------------------


def _make_metric_filter(original: Callable) -> Callable:
    def filter(self: Any, namespace: str | None, name: str | None, dimensions: list[dict[str, str]],
               already_present_metrics: list | None = None) -> bool:
        if not original(self, namespace, name, dimensions, already_present_metrics):
            return False
        if dimensions is None or already_present_metrics is not None:
            return True  # ListMetrics keeps moto's subset semantics (CloudWatch's too)
        wanted = sorted((d["Name"], d.get("Value")) for d in dimensions)
        have = sorted((d.name, d.value) for d in self.dimensions)
        return wanted == have

    return filter


def _make_get_metric_statistics(original: Callable) -> Callable:
    def get_metric_statistics(self: Any, namespace: str, metric_name: str, start_time: Any, end_time: Any,
                              period: int, stats: list[str], dimensions: list[dict[str, str]],
                              unit: str | None = None) -> Any:
        # moto skips the dimension filter when none are given; CloudWatch then matches only
        # undimensioned data. Pass a marker so the exact filter above runs for [] too.
        # moto reads every datapoint the account's region ever received for each query (an estate that
        # ran the suites a few times holds tens of thousands: 25 ms a query); it reads here the one series
        # of that exact dimension set, which is all the exact filter can keep.
        return original(_OneSeries(self, namespace, metric_name, dimensions or []), namespace, metric_name,
                        start_time, end_time, period, stats, dimensions if dimensions else _NoDimensions(), unit)

    return get_metric_statistics


class _OneSeries:
    """Stands in for a CloudWatch backend in moto's get_metric_statistics (which reads nothing of it but
    get_all_metrics): the datapoints of one (namespace, name, exact dimension set) from the backend's
    index (alarms.metric_index), and the metrics moto's other services provide (aws_metric_data,
    computed on demand, as moto reads them)."""

    def __init__(self, backend: Any, namespace: str, name: str, dimensions: list[dict[str, str]]) -> None:
        from .alarms import metric_index

        pairs = [(d["Name"], d.get("Value")) for d in dimensions]
        self.data = [md for _, md in metric_index(backend).points(namespace, name, pairs)]
        self.data += [md for md in backend.aws_metric_data if md.namespace == namespace and md.name == name]

    def get_all_metrics(self) -> list[Any]:
        return self.data


class _NoDimensions(list):
    """An empty dimension list that is truthy, so moto's `if dimensions:` applies the filter."""

    def __bool__(self) -> bool:
        return True


# ---------------------------------------------------------------------------------------------------
# 12. sts-trust
# ---------------------------------------------------------------------------------------------------


def trust_allows(policy: Any, role_arn: str, caller_arn: str, caller_account: str) -> bool:
    """Whether a role's trust policy lets `caller_arn` call sts:AssumeRole (Deny wins; no Conditions)."""
    if isinstance(policy, str):
        try:
            policy = json.loads(unquote(policy))
        except ValueError:
            return False
    if not isinstance(policy, dict):
        return False
    statements = policy.get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    caller_role = caller_arn
    if ":assumed-role/" in caller_arn:  # arn:aws:sts::ACCT:assumed-role/NAME/SESSION -> the role
        acct = caller_arn.split(":")[4]
        caller_role = f"arn:aws:iam::{acct}:role/{caller_arn.split('/')[1]}"
    names = {"*", caller_account, f"arn:aws:iam::{caller_account}:root", caller_arn, caller_role}
    allowed = False
    for st in statements:
        actions = st.get("Action") or []
        actions = [actions] if isinstance(actions, str) else actions
        if not any(a in ("sts:AssumeRole", "sts:*", "*") for a in actions):
            continue
        principal = st.get("Principal")
        if principal == "*":
            match = True
        elif isinstance(principal, dict):
            aws = principal.get("AWS") or []
            aws = [aws] if isinstance(aws, str) else aws
            match = any(p in names or (p.endswith(":role/" + caller_role.rsplit("/", 1)[-1])
                                       and p.split(":")[4] == caller_role.split(":")[4]
                                       and ":role/" in caller_role)
                        for p in aws)
        else:
            match = False
        if not match:
            continue
        if st.get("Effect") == "Deny":
            return False
        if st.get("Effect") == "Allow":
            allowed = True
    return allowed


def _make_assume_role(original: Callable) -> Callable:
    def assume_role(self: Any) -> Any:
        from moto.core.exceptions import AccessDeniedError
        from moto.iam.models import iam_backends
        from moto.sts.models import sts_backends

        role_arn = self._get_param("RoleArn") or ""
        access_key = self.get_access_key()
        caller_account = self.current_account
        _, caller_arn, _ = sts_backends[caller_account]["aws"].get_caller_identity(access_key, self.region)
        parts = role_arn.split(":")
        target_account = parts[4] if len(parts) > 5 else ""
        try:
            role = iam_backends[target_account]["aws"].get_role_by_arn(role_arn)
        except Exception:
            role = None
        if role is None or not trust_allows(role.assume_role_policy_document, role_arn, caller_arn,
                                            caller_account):
            LOG.info("AssumeRole refused: %s -> %s", caller_arn, role_arn)
            raise AccessDeniedError(caller_arn, f"sts:AssumeRole on resource: {role_arn}")
        return original(self)

    return assume_role


# ---------------------------------------------------------------------------------------------------
# 13. dynamodb-atomic-writes
# ---------------------------------------------------------------------------------------------------

_DYNAMODB_WRITE_LOCK = threading.RLock()


def _atomic(original: Callable) -> Callable:
    def write(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _DYNAMODB_WRITE_LOCK:
            return original(self, *args, **kwargs)

    return write


# TransactWriteItems as moto 5.2.5 writes it (each item checked and written in turn; a failed one puts back
# what the others wrote), except what it keeps to put back: moto deep-copied every table the transaction
# names before it started (each copy as large as its table: 50 ms a transaction on an estate some runs
# old, a third of a server's CPU in the approval tests); here each item it is about to write, just
# before. The item is unique in the transaction (ValidationException otherwise), and _atomic holds the
# write lock throughout, so putting back those items gives the tables as they were.


def _transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    import copy

    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    kept: list[tuple[Any, Any, Any, Any]] = []  # (table, hash value, range value, item or None), in order

    def keep(table_name: str, key: dict[str, Any]) -> None:
        table = self.get_table(table_name)
        hash_value, range_value = self.get_keys_value(table, key)
        item = table.get_item(hash_value, range_value)
        kept.append((table, hash_value, range_value, copy.deepcopy(item) if item is not None else None))

    def put_back() -> None:
        for table, hash_value, range_value, item in reversed(kept):
            if range_value is not None:
                if item is None:
                    table.items[hash_value].pop(range_value, None)
                else:
                    table.items[hash_value][range_value] = item
            elif item is None:
                table.items.pop(hash_value, None)
            else:
                table.items[hash_value] = item

    target_items: set[tuple[str, str]] = set()

    def check_unicity(table_name: str, key: dict[str, Any]) -> None:
        item = (str(table_name), str(dict(sorted(key.items()))))
        if item in target_items:
            raise MultipleTransactionsException()
        target_items.add(item)

    errors: list[Any] = []  # [(Code, Message, Item), ..]
    for item in transact_items:
        original_item: dict[str, Any] | None = None
        if len(list(item.keys())) > 1:
            raise TransactWriteSingleOpException
        try:
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            condition_expression = op.get("ConditionExpression")
            expression_attribute_names = op.get("ExpressionAttributeNames")
            expression_attribute_values = op.get("ExpressionAttributeValues")
            return_values_on_condition_check_failure = op.get("ReturnValuesOnConditionCheckFailure")
            if op_type == "Put":
                attrs = op["Item"]
                table = self.get_table(table_name)
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]
            check_unicity(table_name, key)
            current = self.get_item(table_name, key)
            if condition_expression is not None:
                condition_op = get_filter_expression(condition_expression, expression_attribute_names,
                                                     expression_attribute_values)
                if not condition_op.expr(current):
                    if return_values_on_condition_check_failure == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)
            if op_type != "ConditionCheck":
                keep(table_name, key)
            if op_type == "Put":
                self.put_item(table_name, op["Item"], condition_expression=condition_expression,
                              expression_attribute_names=expression_attribute_names,
                              expression_attribute_values=expression_attribute_values)
            elif op_type == "Delete":
                self.delete_item(table_name, key, condition_expression=condition_expression,
                                 expression_attribute_names=expression_attribute_names,
                                 expression_attribute_values=expression_attribute_values)
            elif op_type == "Update":
                self.update_item(table_name, key, update_expression=op["UpdateExpression"],
                                 condition_expression=condition_expression,
                                 expression_attribute_names=expression_attribute_names,
                                 expression_attribute_values=expression_attribute_values)
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            put_back()
            raise
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), original_item))
        except Exception as e:  # noqa: BLE001 - as moto: each item's failure is the transaction's reason
            errors.append((type(e).__name__, str(e), original_item))
    if any(code is not None for code, _, _ in errors):
        put_back()
        raise TransactionCanceledException(errors)


# ---------------------------------------------------------------------------------------------------
# 20. cloudwatch-alarms
# ---------------------------------------------------------------------------------------------------

TREAT_MISSING_DATA = ("breaching", "notBreaching", "ignore", "missing")


def alarm_action_refusal(alarm: Any, topic_arn: str, topic: Any) -> str | None:
    """Why CloudWatch could not publish an alarm's notification to `topic` (None: it can): the topic's
    policy and, for a topic encrypted with a customer key, the key's policy must allow the CloudWatch
    service principal acting for this alarm."""
    if not iam_mod.enforcing():
        return None
    return iam_mod.alarm_publish_refusal(estate().iam.evaluator, alarm.alarm_arn, topic_arn, topic)


def put_metric_alarm_problems(region: str, args: dict[str, Any]) -> list[str]:
    """What PutMetricAlarm refuses that moto accepts (AWS's ValidationError messages)."""
    problems = []
    for key in ("alarm_actions", "ok_actions", "insufficient_data_actions"):
        for arn in args.get(key) or []:
            parts = str(arn).split(":")
            if len(parts) > 3 and parts[0] == "arn" and parts[3] and parts[3] != region:
                problems.append(f"Invalid region {parts[3]} specified. Only {region} is supported.")
    if args.get("rule") or args.get("metric_data_queries"):
        return problems
    period = int(args.get("period") or 0)
    evaluations = int(args.get("evaluation_periods") or 0)
    if period not in (10, 20, 30) and (period <= 0 or period % 60):
        problems.append("The parameter Period must be 10, 20, 30 or a multiple of 60.")
    elif period * evaluations > (86_400 if period < 3_600 else 604_800):
        problems.append("The evaluation period (Period multiplied by EvaluationPeriods) of an alarm with a period "
                        "under one hour may not exceed one day, and may never exceed seven days.")
    if evaluations < 1:
        problems.append("The parameter EvaluationPeriods must be at least 1.")
    points = args.get("datapoints_to_alarm")
    if points is not None and not (1 <= int(points) <= evaluations):
        problems.append("DatapointsToAlarm must be between 1 and EvaluationPeriods.")
    treat = args.get("treat_missing_data")
    if treat is not None and treat not in TREAT_MISSING_DATA:
        problems.append(f"Option {treat} is not supported. Supported options for parameter TreatMissingData are "
                        "breaching, notBreaching, ignore and missing.")
    return problems


def _make_put_metric_alarm(original: Callable) -> Callable:
    signature = inspect.signature(original)

    def put_metric_alarm(self: Any, *args: Any, **kwargs: Any) -> Any:
        from moto.cloudwatch.exceptions import ValidationError

        bound = signature.bind(self, *args, **kwargs)
        params = dict(bound.arguments)
        problems = put_metric_alarm_problems(self.region_name, params)
        if problems:
            raise ValidationError(problems[0])
        previous = self.alarms.get(params["name"])
        alarm = original(self, *args, **kwargs)
        if previous is not None:  # AWS: an update leaves the state as it is
            for attr in ("state_value", "state_reason", "state_reason_data", "state_updated_timestamp",
                         "state_transitioned_timestamp", "bbws_evaluated_at"):
                if hasattr(previous, attr):
                    setattr(alarm, attr, getattr(previous, attr))
        else:
            alarm.state_value = alarms_mod.INSUFFICIENT
            alarm.state_reason = "Unchecked: Initial alarm creation"
            alarm.state_reason_data = None
            alarm.state_transitioned_timestamp = alarm.state_updated_timestamp
        estate().alarms.configured(self.account_id, self.region_name, alarm, created=previous is None)
        return alarm

    return put_metric_alarm


def _alarm_update_state(self: Any, reason: str, reason_data: str, state_value: str) -> None:
    parts = self.alarm_arn.split(":")
    estate().alarms.transition(parts[4], parts[3], self, state_value, reason, reason_data)


ALARM_TYPES = ("MetricAlarm", "CompositeAlarm")


def _describe_alarms(self: Any) -> Any:
    from moto.cloudwatch.exceptions import InvalidParameterCombination, InvalidParameterValue
    from moto.core.responses import ActionResult

    names = self._get_param("AlarmNames", []) or []
    prefix = self._get_param("AlarmNamePrefix")
    if names and prefix:
        raise InvalidParameterCombination("AlarmNamePrefix and AlarmNames cannot be specified together.")
    action_prefix = self._get_param("ActionPrefix")
    state = self._get_param("StateValue")
    types = self._get_param("AlarmTypes", []) or ["MetricAlarm"]
    if any(t not in ALARM_TYPES for t in types):
        raise InvalidParameterValue("AlarmTypes must be MetricAlarm or CompositeAlarm.")
    alarms = sorted(self.cloudwatch_backend.describe_alarms(), key=lambda a: a.name)
    alarms = [a for a in alarms
              if (not names or a.name in names) and (not prefix or a.name.startswith(prefix))
              and (not state or a.state_value == state)
              and (not action_prefix or any(x.startswith(action_prefix) for x in a.alarm_actions or []))
              and ("CompositeAlarm" if a.rule is not None else "MetricAlarm") in types]
    limit = int(self._get_param("MaxRecords") or 50)
    if not 1 <= limit <= 100:
        raise InvalidParameterValue("MaxRecords must be between 1 and 100.")
    token = self._get_param("NextToken")
    start = int(token) if token and str(token).isdigit() else 0
    page = alarms[start:start + limit]
    result: dict[str, Any] = {"MetricAlarms": [a for a in page if a.rule is None],
                              "CompositeAlarms": [a for a in page if a.rule is not None]}
    if start + limit < len(alarms):
        result["NextToken"] = str(start + limit)
    return ActionResult(result)


def _as_epoch(value: Any) -> float | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    try:
        return float(value)
    except (TypeError, ValueError):
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def _describe_alarm_history(self: Any) -> Any:
    from moto.cloudwatch.exceptions import InvalidParameterValue
    from moto.core.responses import ActionResult

    name = self._get_param("AlarmName")
    types = self._get_param("AlarmTypes", []) or ["MetricAlarm"]
    item_type = self._get_param("HistoryItemType")
    if item_type and item_type not in ("ConfigurationUpdate", "StateUpdate", "Action"):
        raise InvalidParameterValue("HistoryItemType must be ConfigurationUpdate, StateUpdate or Action.")
    start, end = _as_epoch(self._get_param("StartDate")), _as_epoch(self._get_param("EndDate"))
    descending = (self._get_param("ScanBy") or "TimestampDescending") == "TimestampDescending"
    items = [i for i in estate().alarms.items(self.current_account, self.region)
             if (not name or i.alarm_name == name) and i.alarm_type in types
             and (not item_type or i.item_type == item_type)
             and (start is None or i.timestamp >= start) and (end is None or i.timestamp <= end)]
    items.sort(key=lambda i: i.timestamp, reverse=descending)
    limit = int(self._get_param("MaxRecords") or 100)
    if not 1 <= limit <= 100:
        raise InvalidParameterValue("MaxRecords must be between 1 and 100.")
    token = self._get_param("NextToken")
    first = int(token) if token and str(token).isdigit() else 0
    result: dict[str, Any] = {"AlarmHistoryItems": [i.as_aws() for i in items[first:first + limit]]}
    if first + limit < len(items):
        result["NextToken"] = str(first + limit)
    return ActionResult(result)


# ---------------------------------------------------------------------------------------------------
# 21. sfn-metrics
# ---------------------------------------------------------------------------------------------------

_SFN_ENDED = {"SUCCEEDED": "ExecutionsSucceeded", "FAILED": "ExecutionsFailed", "ABORTED": "ExecutionsAborted",
              "TIMED_OUT": "ExecutionsTimedOut"}


def execution_metrics(execution: Any, metric: str, with_time: bool = False) -> None:
    """Put one AWS/States metric of an execution (once per execution for the ending ones)."""
    dims = [{"Name": "StateMachineArn", "Value": execution.state_machine_arn}]
    data: list[dict[str, Any]] = [{"MetricName": metric, "Value": 1.0, "Unit": "Count", "Dimensions": dims}]
    if with_time:
        if getattr(execution, "bbws_metrics_ended", False):
            return
        execution.bbws_metrics_ended = True
        started = execution.start_date
        stopped = execution.stop_date or datetime.now(timezone.utc)
        if started is not None:
            if started.tzinfo is None:
                started = started.replace(tzinfo=timezone.utc)
            if stopped.tzinfo is None:
                stopped = stopped.replace(tzinfo=timezone.utc)
            data.append({"MetricName": "ExecutionTime", "Unit": "Milliseconds", "Dimensions": dims,
                         "Value": max(0.0, (stopped - started).total_seconds() * 1000.0)})
    try:
        put_metrics(execution.account_id, execution.region_name, data, namespace="AWS/States")
    except Exception:  # metrics must never fail an execution
        LOG.exception("could not record %s of %s", metric, execution.exec_arn)


def _make_execution_start(original: Callable) -> Callable:
    def start(self: Any) -> None:
        original(self)
        execution_metrics(self, "ExecutionsStarted")

    return start


def _make_execution_terminated(original: Callable) -> Callable:
    def terminated(self: Any) -> None:
        original(self)
        execution = self.execution
        if getattr(execution, "bbws_stopping", False):
            return  # StopExecution puts ExecutionsAborted itself
        status = str(getattr(execution.exec_status, "value", execution.exec_status))
        metric = _SFN_ENDED.get(status)
        if metric:
            execution_metrics(execution, metric, with_time=True)

    return terminated


# ---------------------------------------------------------------------------------------------------
# 22. cloudwatch-dashboards
# ---------------------------------------------------------------------------------------------------

# Where an account's dashboards are kept, whatever region a request names.
DASHBOARD_REGION = "us-east-1"


def _account_wide(original: Callable) -> Callable:
    def dashboards(self: Any, *args: Any, **kwargs: Any) -> Any:
        from moto.cloudwatch.models import cloudwatch_backends

        return original(cloudwatch_backends[self.account_id][DASHBOARD_REGION], *args, **kwargs)

    return dashboards


# ---------------------------------------------------------------------------------------------------
# apply
# ---------------------------------------------------------------------------------------------------

_applied = False


# ---------------------------------------------------------------------------------------------------
# 24. s3-bucket-policy: a bucket policy is evaluated with its conditions, for every caller
# ---------------------------------------------------------------------------------------------------
# moto checks a bucket's policy on object calls without its conditions: a TLS-only statement (Deny s3:*
# when aws:SecureTransport is false) refused every call, which AWS allows over HTTPS. The estate asks
# iam-simulate instead, for the bucket's account, with aws:SecureTransport true (the estate stands in for
# S3's HTTPS endpoints): an explicit Deny refuses the call for anyone, the admin user included (as on
# AWS, where an account's administrator is bound by its bucket's Deny statements); whether the caller
# is allowed is decided by the estate's IAM layer for role sessions (iam.py, with the same policy).


def bucket_policy_denies(bucket: Any, action: str, resource: str) -> bool:
    """Whether `bucket`'s policy explicitly denies `action` on `resource` to the principal of the request
    being answered (its access key, iam.REQUEST; an administrator of the bucket's account when the key is
    unknown), with aws:PrincipalArn, so a Deny that spares named roles spares them."""
    if not bucket.policy:
        return False
    policy = bucket.policy.decode() if isinstance(bucket.policy, bytes) else str(bucket.policy)
    action = {"s3:HeadObject": "s3:GetObject"}.get(action, action)
    account = bucket.account_id
    found = iam_mod.principal_of(getattr(iam_mod.REQUEST, "access_key", None))
    principal, principal_arn = found or (f"arn:{iam_mod.PARTITION}:iam::{account}:user/admin",) * 2
    sim = {"identityPolicies": [{"name": "admin", "policy": {"Version": "2012-10-17", "Statement": [
               {"Effect": "Allow", "Action": "*", "Resource": "*"}]}}],
           "serviceControlPolicies": [], "resourceControlPolicies": [],
           "resourcePolicy": iam_mod._doc(policy),
           "request": {"action": action, "principal": principal,
                       "resource": {"resource": resource, "accountId": account},
                       "contextVariables": {"aws:SecureTransport": "true",
                                            "aws:PrincipalAccount": principal_arn.split(":")[4],
                                            "aws:PrincipalArn": principal_arn}}}
    return estate().iam.evaluator.decide(sim, False) == "ExplicitlyDenied"


def _bucket_get_permission(self: Any, action: str, resource: str) -> Any:
    from moto.iam.access_control import PermissionResult

    return PermissionResult.DENIED if bucket_policy_denies(self, action, resource) else PermissionResult.NEUTRAL


# ---------------------------------------------------------------------------------------------------
# 25. codebuild-builds
# ---------------------------------------------------------------------------------------------------


def role_session_credentials(account: str, region: str, role_arn: str, session: str) -> dict[str, str]:
    """Temporary credentials of `role_arn` in a session of its own name (CodeBuild: AWSCodeBuild-<uuid>)."""
    from moto.sts.models import sts_backends

    role = sts_backends[account]["aws"].assume_role(
        region_name=region, role_session_name=session[:64], role_arn=role_arn,
        policy=None, duration=3600 * 8, external_id=None,
    )
    return {"AWS_ACCESS_KEY_ID": role.access_key_id, "AWS_SECRET_ACCESS_KEY": role.secret_access_key,
            "AWS_SESSION_TOKEN": role.session_token}


def _initiator(access_key: str) -> str:
    """CODEBUILD_INITIATOR: an IAM user's name, or `<role>/<session>` for a role session."""
    from moto.iam.models import iam_backends

    caller = iam_mod.caller_of(access_key)
    if caller is not None:
        return caller.session_arn.split(":assumed-role/", 1)[-1]
    for _account, backends in list(iam_backends.items()):
        key = backends["aws"].access_keys.get(access_key)
        if key is not None:
            return str(getattr(key, "user_name", "") or "unknown")
    return "unknown"


def _codebuild_request(self: Any) -> codebuild_mod.StartRequest:
    from moto.codebuild.exceptions import InvalidInputException

    timeout = self._get_param("timeoutInMinutesOverride")
    if timeout is not None and not (isinstance(timeout, int) and 5 <= timeout <= 2160):
        raise InvalidInputException("timeoutInMinutesOverride: an integer from 5 to 2160 is required")
    try:
        overrides = codebuild_mod.check_variables("environmentVariablesOverride",
                                                  self._get_param("environmentVariablesOverride"))
    except ValueError as e:
        raise InvalidInputException(str(e))
    spec = self._get_param("buildspecOverride")
    if spec is not None and not isinstance(spec, str):
        raise InvalidInputException("buildspecOverride: a string (YAML or a path in the source) is required")
    return codebuild_mod.StartRequest(self._get_param("sourceVersion"), spec, overrides, timeout,
                                      _initiator(self.get_access_key()))


def _codebuild_overridden(self: Any, metadata: dict[str, Any]) -> dict[str, Any]:
    """The project as this build runs it: StartBuild's source and service role overrides applied."""
    import copy

    from moto.codebuild.exceptions import InvalidInputException

    for unsupported in ("secondarySourcesOverride", "secondarySourcesVersionOverride", "sourceAuthOverride"):
        if self._get_param(unsupported):
            raise InvalidInputException(f"{unsupported}: not run by the local estate (one primary source)")
    project = copy.deepcopy(metadata)
    source = project.setdefault("source", {})
    if self._get_param("sourceTypeOverride"):
        source["type"] = self._get_param("sourceTypeOverride")
    if self._get_param("sourceLocationOverride"):
        source["location"] = self._get_param("sourceLocationOverride")
    role = self._get_param("serviceRoleOverride")
    if role:  # a role name or ARN, in the project's account
        project["serviceRole"] = role if role.startswith("arn:") else f"arn:aws:iam::{self.current_account}:role/{role}"
    return project


def _codebuild_start_build(self: Any) -> Any:
    from moto.codebuild.exceptions import InvalidInputException, ResourceNotFoundException
    from moto.core.responses import ActionResult
    from moto.iam.models import iam_backends

    name = str(self._get_param("projectName") or "")
    if name.startswith("arn:"):
        name = name.rsplit("/", 1)[-1]
    backend = self.codebuild_backend
    project = backend.codebuild_projects.get(name)
    if project is None:
        raise ResourceNotFoundException(
            f"Project cannot be found: arn:aws:codebuild:{self.region}:{self.current_account}:project/{name}")
    request = _codebuild_request(self)
    metadata = _codebuild_overridden(self, project.project_metadata)
    role_arn = str(metadata.get("serviceRole") or "")
    try:
        role = iam_backends[self.current_account]["aws"].get_role_by_arn(role_arn)
    except Exception:
        role = None
    project_arn = f"arn:aws:codebuild:{self.region}:{self.current_account}:project/{name}"
    if role is None or not _codebuild_trusted(role, role_arn, project_arn):
        raise InvalidInputException(f"CodeBuild is not authorized to perform: sts:AssumeRole on {role_arn}")
    build = estate().builds.start(self.current_account, self.region, metadata, request)
    backend.build_history.setdefault(name, []).append(build.id)
    return ActionResult({"build": build.snapshot()})


def _codebuild_trusted(role: Any, role_arn: str, project_arn: str) -> bool:
    """The role's trust lets codebuild.amazonaws.com assume it for this project: evaluated with its
    conditions (aws:SourceAccount, aws:SourceArn) where IAM is enforced, else by its principal alone."""
    trust = role.assume_role_policy_document
    if not iam_mod.enforcing():
        return codebuild_mod.trusts_codebuild(trust)
    if isinstance(trust, str):
        trust = unquote(trust)
    return iam_mod.codebuild_may_assume(estate().iam.evaluator, role_arn, trust, project_arn)


def _codebuild_list_builds_for_project(self: Any) -> Any:
    """ListBuildsForProject in the order asked: `sortOrder` DESCENDING (the default, newest first) or
    ASCENDING (moto 5.2.5 answers in the order the builds started whatever was asked, so "the newest
    build" read as AWS answers was the oldest)."""
    original = _codebuild_list_builds_for_project.__bbws_original__  # type: ignore[attr-defined]
    result = original(self)
    order = str(self._get_param("sortOrder") or "DESCENDING")
    if order not in ("ASCENDING", "DESCENDING"):
        from moto.codebuild.exceptions import InvalidInputException

        raise InvalidInputException(f"1 validation error detected: Value '{order}' at 'sortOrder' failed "
                                    "to satisfy constraint: Member must satisfy enum value set: "
                                    "[ASCENDING, DESCENDING]")
    body = getattr(result, "result", None)
    if order == "DESCENDING" and isinstance(body, dict) and isinstance(body.get("ids"), list):
        body["ids"] = list(reversed(body["ids"]))
    return result


def _codebuild_create_project(self: Any) -> Any:
    """CreateProject keeps the project's encryptionKey (moto 5.2.5 drops it and answers alias/aws/s3, so
    Terraform saw a change on every plan of a project with its own key)."""
    original = _codebuild_create_project.__bbws_original__  # type: ignore[attr-defined]
    result = original(self)
    key = self._get_param("encryptionKey")
    project = self.codebuild_backend.codebuild_projects.get(str(self._get_param("name") or ""))
    if key and project is not None:
        project.project_metadata["encryptionKey"] = key  # the dict the answer holds
    return result


def _codebuild_batch_get_builds(self: Any) -> Any:
    from moto.codebuild.exceptions import InvalidInputException
    from moto.core.responses import ActionResult

    ids = self._get_param("ids") or []
    if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
        raise InvalidInputException("ids: a list of 1 to 100 build ids is required")
    found, missing = [], []
    for build_id in ids:
        build_id = str(build_id).split(":build/", 1)[-1]
        build = estate().builds.get(self.current_account, self.region, build_id)
        if build is None:
            missing.append(build_id)
        else:
            found.append(build.snapshot())
    return ActionResult({"builds": found, "buildsNotFound": missing})


def _codebuild_stop_build(self: Any) -> Any:
    from moto.codebuild.exceptions import InvalidInputException, ResourceNotFoundException
    from moto.core.responses import ActionResult

    build_id = str(self._get_param("id") or "").split(":build/", 1)[-1]
    if ":" not in build_id:
        raise InvalidInputException("id: a build id (<project>:<uuid>) is required")
    build = estate().builds.get(self.current_account, self.region, build_id)
    if build is None:
        raise ResourceNotFoundException(f"Build {build_id} does not exist")
    estate().builds.stop(build)
    return ActionResult({"build": build.snapshot()})


def _codebuild_validate_source(source: dict[str, Any]) -> None:
    """CreateProject's source check: NO_SOURCE needs no location (moto required one for every type)."""
    from moto.codebuild.exceptions import InvalidInputException

    kinds = ("BITBUCKET", "CODECOMMIT", "CODEPIPELINE", "GITHUB", "GITHUB_ENTERPRISE", "NO_SOURCE", "S3")
    if not isinstance(source, dict) or source.get("type") not in kinds:
        raise InvalidInputException("Invalid type provided: Project source type")
    if source["type"] == "NO_SOURCE":
        if not source.get("buildspec"):
            raise InvalidInputException("Invalid source: buildspec must be specified for NO_SOURCE source type")
        return
    if not source.get("location"):
        raise InvalidInputException("Project source location is required")


# Fields UpdateProject changes; the others of the request (`name`) name the project.
_PROJECT_FIELDS = ("description", "source", "secondarySources", "sourceVersion", "secondarySourceVersions",
                   "artifacts", "secondaryArtifacts", "cache", "environment", "serviceRole", "timeoutInMinutes",
                   "queuedTimeoutInMinutes", "encryptionKey", "tags", "vpcConfig", "badgeEnabled", "logsConfig",
                   "fileSystemLocations", "buildBatchConfig", "concurrentBuildLimit", "autoRetryLimit")


def _codebuild_update_project(self: Any) -> Any:
    """UpdateProject (moto 5.2.5 has none: HTTP 500, so Terraform could create a project but not change
    it): the given fields replace the project's, checked as CreateProject checks them."""
    from moto.codebuild import responses as cbr
    from moto.codebuild.exceptions import ResourceNotFoundException
    from moto.core.responses import ActionResult

    name = str(self._get_param("name") or "")
    project = self.codebuild_backend.codebuild_projects.get(name.rsplit("/", 1)[-1])
    if project is None:
        raise ResourceNotFoundException(
            f"Project cannot be found: arn:aws:codebuild:{self.region}:{self.current_account}:project/{name}")
    changes = {f: self._get_param(f) for f in _PROJECT_FIELDS if self._get_param(f) is not None}
    if "source" in changes:
        cbr._validate_required_params_source(changes["source"])
    if "artifacts" in changes:
        cbr._validate_required_params_artifacts(changes["artifacts"])
    if "environment" in changes:
        cbr._validate_required_params_environment(changes["environment"])
    if "serviceRole" in changes:
        cbr._validate_required_params_service_role(self.current_account, self.region, changes["serviceRole"])
        project.service_role = changes["serviceRole"]
    if "badgeEnabled" in changes:
        project.project_metadata["badge"] = {"badgeEnabled": bool(changes.pop("badgeEnabled"))}
    project.project_metadata.update(changes)
    project.project_metadata["lastModifiedDate"] = time.time()
    return ActionResult({"project": project.project_metadata})


# ---------------------------------------------------------------------------------------------------
# 26. sfn-codebuild
# ---------------------------------------------------------------------------------------------------


def _make_state_task_service_for(original: Callable) -> Callable:
    def state_task_service_for(service_name: str) -> Any:
        if service_name == "codebuild":
            from .sfn_codebuild import StateTaskServiceCodeBuild

            return StateTaskServiceCodeBuild()
        return original(service_name)

    return state_task_service_for


CODEBUILD_MANAGED_RULE = "StepFunctionsGetEventForCodeBuildStartBuildRule"
MANAGED_RULE_ACTIONS = ("events:PutTargets", "events:PutRule", "events:DescribeRule")


def managed_rule_refusal(definition: Any, role_arn: str, region: str) -> str | None:
    """Why Step Functions would refuse a state machine with a `codebuild:startBuild.sync` task (None: it
    would not): its role must allow events:PutTargets, PutRule and DescribeRule on the managed rule
    (Step Functions Developer Guide, "IAM policies for AWS CodeBuild"); AWS refuses CreateStateMachine
    and UpdateStateMachine with "'<role>' is not authorized to create managed-rule." otherwise."""
    from .sfn_codebuild import uses_codebuild_sync

    if not iam_mod.enforcing() or not uses_codebuild_sync(definition):
        return None
    parts = role_arn.split(":")
    if len(parts) < 6:
        return None
    rule = f"arn:aws:events:{region}:{parts[4]}:rule/{CODEBUILD_MANAGED_RULE}"
    for action in MANAGED_RULE_ACTIONS:
        if not estate().iam.role_allows(role_arn, action, rule, region):
            LOG.info("state machine refused: %s may not %s on %s", role_arn, action, rule)
            return f"'{role_arn}' is not authorized to create managed-rule."
    return None


def _make_create_state_machine(original: Callable) -> Callable:
    def create_state_machine(self: Any, name: str, definition: str, roleArn: str, *args: Any, **kwargs: Any) -> Any:
        from moto.core.exceptions import AWSError

        refusal = managed_rule_refusal(definition, roleArn, self.region_name)
        if refusal:
            raise AWSError(refusal, "AccessDeniedException", 400)
        return original(self, name, definition, roleArn, *args, **kwargs)

    return create_state_machine


def _make_update_state_machine(original: Callable) -> Callable:
    def update_state_machine(self: Any, arn: str, definition: Any = None, role_arn: Any = None,
                             *args: Any, **kwargs: Any) -> Any:
        from moto.core.exceptions import AWSError

        if definition or role_arn:
            current = self.describe_state_machine(arn)
            refusal = managed_rule_refusal(definition or current.definition, role_arn or current.roleArn,
                                           self.region_name)
            if refusal:
                raise AWSError(refusal, "AccessDeniedException", 400)
        return original(self, arn, definition, role_arn, *args, **kwargs)

    return update_state_machine


# ---------------------------------------------------------------------------------------------------
# 27. ecs-service-counts
# ---------------------------------------------------------------------------------------------------


def _ecs_key(backend: Any, cluster: str, service: str) -> tuple[str, str, str, str]:
    return (backend.account_id, backend.region_name, str(cluster or "default").split("/")[-1],
            str(service).split("/")[-1])


def _make_ecs_create_service(original: Callable) -> Callable:
    def create_service(self: Any, cluster_str: str, service_name: str, *args: Any, **kwargs: Any) -> Any:
        service = original(self, cluster_str, service_name, *args, **kwargs)
        estate().ecs.began(_ecs_key(self, service.cluster_name, service.name), 0)
        return service

    return create_service


def _make_ecs_update_service(original: Callable) -> Callable:
    def update_service(self: Any, service_properties: dict[str, Any]) -> Any:
        props = dict(service_properties)
        before = self._get_service(props.get("cluster", "default"), str(props.get("service", "")).split("/")[-1])
        key = _ecs_key(self, before.cluster_name, before.name)
        running, _, _, _ = estate().ecs.counts(key, int(before.desired_count or 0))
        desired, task_definition = before.desired_count, before.task_definition
        service = original(self, service_properties)
        new_definition = service.task_definition != task_definition
        if new_definition and service.deployments:
            # A new task definition is a new deployment (moto keeps the old deployment's id).
            service.deployments[0]["id"] = f"ecs-svc/{uuid.uuid4().int % 32 ** 12}"
            service.deployments[0]["createdAt"] = datetime.now(timezone.utc)
        if service.desired_count != desired or new_definition or props.get("force_new_deployment"):
            # A new deployment replaces the tasks; a changed count keeps those running until more start.
            estate().ecs.began(key, 0 if new_definition else running)
        return service

    return update_service


def _make_ecs_describe_services(original: Callable) -> Callable:
    def describe_services(self: Any, cluster_str: str, service_names_or_arns: list[str]) -> Any:
        result, failures = original(self, cluster_str, service_names_or_arns)
        for service in result:
            ecs_mod.settle(estate().ecs, self.account_id, self.region_name, service)
        return result, failures

    return describe_services


# ---------------------------------------------------------------------------------------------------
# 28. ecs-az-rebalancing: a new service keeps its availabilityZoneRebalancing
# ---------------------------------------------------------------------------------------------------
# moto's CreateService reads a fixed list of parameters and drops availabilityZoneRebalancing; its
# UpdateService sets every parameter on the service, and the response serialiser then returns it. ECS
# returns the value of every service, ENABLED for a new one created without it.


def _make_ecs_az_rebalancing(original: Callable) -> Callable:
    def create_service(self: Any) -> Any:
        result = original(self)
        rebalancing = self._get_param("availabilityZoneRebalancing") or "ENABLED"
        cluster = self._get_param("cluster", "default")
        service = self.ecs_backend._get_service(cluster, self._get_param("serviceName"))
        service.availability_zone_rebalancing = rebalancing
        return result

    return create_service


# ---------------------------------------------------------------------------------------------------
# 30. sfn-parse-once: one parse of a definition, its own evaluation components for each execution
# ---------------------------------------------------------------------------------------------------
# moto parses the definition at every StartExecution (and at CreateStateMachine, to validate it): the ANTLR
# parser in Python is most of the estate's CPU for a short execution. The parse tree is only read after
# parsing (the Preprocessor visits it and builds new components), so the tree is kept per definition and
# each execution gets components of its own (they hold its retry counters and the like). A definition with
# a syntax error raises as before, and is not kept.

PARSE_TREES_KEPT = 64


def _make_parse_once(original: Callable) -> Callable:
    from collections import OrderedDict

    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

    trees: OrderedDict[str, Any] = OrderedDict()
    lock = threading.Lock()

    def parse(definition: str) -> tuple[Any, Any]:
        with lock:
            tree = trees.get(definition)
            if tree is not None:
                trees.move_to_end(definition)
        if tree is None:
            program, tree = original(definition)
            with lock:
                trees[definition] = tree
                while len(trees) > PARSE_TREES_KEPT:
                    trees.popitem(last=False)
            return program, tree
        return Preprocessor().visit(tree), tree

    return parse


# ---------------------------------------------------------------------------------------------------
# 31. moto-modules-once: moto's service modules listed once
# ---------------------------------------------------------------------------------------------------
# The server's dispatcher asks `host in list_of_moto_modules()` for every request: a directory listing of
# the moto package and an isdir per entry. The package does not change while the estate runs.


def _make_modules_once(original: Callable) -> Callable:
    modules = tuple(original())

    def list_of_moto_modules() -> Any:
        return iter(modules)

    return list_of_moto_modules


# ---------------------------------------------------------------------------------------------------
# 32. iam-role-policy-size
# ---------------------------------------------------------------------------------------------------
# IAM quotas: a role's inline policies together may hold 10,240 characters, white space not counted;
# PutRolePolicy refuses more with LimitExceeded (409) "Maximum policy size of 10240 bytes exceeded for
# role <name>". The pipeline's roles name every service function of the catalog, so the catalog's size
# meets this quota first.

ROLE_INLINE_POLICIES_LIMIT = 10_240
_WHITE_SPACE = re.compile(r"\s+")


def policy_characters(document: str) -> int:
    """A policy's size as IAM counts it against its quotas: its characters without white space."""
    return len(_WHITE_SPACE.sub("", document))


def role_policies_problem(role_name: str, policies: dict[str, str], policy_name: str, document: str) -> str | None:
    """AWS's refusal of an inline policy that takes the role's inline policies over 10,240 characters;
    None when they fit."""
    total = policy_characters(document) + sum(policy_characters(d) for n, d in policies.items() if n != policy_name)
    if total <= ROLE_INLINE_POLICIES_LIMIT:
        return None
    return f"Maximum policy size of {ROLE_INLINE_POLICIES_LIMIT} bytes exceeded for role {role_name}"


def _make_put_role_policy(original: Callable) -> Callable:
    def put_role_policy(self: Any, role_name: str, policy_name: str, policy_json: str) -> None:
        role = self.get_role(role_name)
        problem = role_policies_problem(role_name, dict(role.policies), policy_name, policy_json)
        if problem:
            from moto.iam.exceptions import LimitExceededException
            raise LimitExceededException(problem)
        return original(self, role_name, policy_name, policy_json)

    return put_role_policy


# ---------------------------------------------------------------------------------------------------
# 33. moto-backend-lookup: an account's backend found without the global lock
# ---------------------------------------------------------------------------------------------------
# `backends[account]` makes the account's backend when it has none: under moto's global lock, it lists the
# accounts and then asks whether this service is among every service's backends in use (a list searched
# with a comparison in Python each: about 150). Once the account has its backend, both answers are known
# (moto adds the account and registers the service together, and its reset clears both), so a lookup of an
# account that has one returns at once.


def _make_backend_lookup(original: Callable) -> Callable:
    def _create_account_specific_backend(self: Any, account_id: str) -> None:
        if dict.__contains__(self, account_id):
            return
        original(self, account_id)

    return _create_account_specific_backend


# ---------------------------------------------------------------------------------------------------
# 34. sfn-jsonpath-once: each JSONPath parsed once
# ---------------------------------------------------------------------------------------------------
# moto's Step Functions interpreter parses a JSONPath at every use (InputPath, OutputPath, each `.$` of
# Parameters, ResultPath, each Choice variable): jsonpath-ng makes a new PLY parser, tables included, each
# time. A parsed path is only read afterwards (find, update_or_create change the document, not the path),
# so the last JSONPATHS_KEPT paths are kept; a path that does not parse raises each time.

JSONPATHS_KEPT = 1024


def _make_jsonpath_once(original: Callable) -> Callable:
    import functools

    kept = functools.lru_cache(maxsize=JSONPATHS_KEPT)(original)

    def parse(path: str, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs or not isinstance(path, str):
            return original(path, *args, **kwargs)
        return kept(path)

    return parse


# ---------------------------------------------------------------------------------------------------
# 35. moto-untracked-models: model objects freed when nothing holds them
# ---------------------------------------------------------------------------------------------------
# moto appends every object of a model class it makes to the class's `instances_tracked` list, and only a
# reset or its /moto-api/data.json view reads that list (the estate uses neither). Nothing is ever taken
# off it: each PutItem and UpdateItem makes a new Item, each TransactWriteItems deep-copies the tables it
# writes to (tens of thousands of Items per run), each S3 PutObject a key with its body. So a model
# object is made as before and left off the list.


def _untracked_new(cls: type, *args: Any, **kwargs: Any) -> Any:
    from moto.core.common_models import BaseModel

    return super(BaseModel, cls).__new__(cls)  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------------
# 36. sfn-history-pages: GetExecutionHistory in pages
# ---------------------------------------------------------------------------------------------------
# A page is read under the history's lock (the list an execution appends its events to, never changing an
# event once added) and copied for the answer. The token names the execution, the order, whether data is
# included, and the id of the page's last event: the next page starts after it (ids are 1, 2, 3... in the
# order of the list), so events added while a running execution is paged through do not shift the pages.

HISTORY_PAGE = 100
HISTORY_PAGE_MAX = 1000
_HISTORY_DATA = ("input", "inputDetails", "output", "outputDetails")


def _history_event_copy(value: Any) -> Any:
    """A copy of an event for an answer: its dicts and lists new, its values (str, numbers, times) shared."""
    if isinstance(value, dict):
        return {k: _history_event_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_history_event_copy(v) for v in value]
    if value is None or isinstance(value, (str, int, float, datetime)):
        return value
    import copy

    return copy.deepcopy(value)


def history_page(events: list[dict[str, Any]], size: int, reverse: bool,
                 after_id: int | None) -> tuple[list[dict[str, Any]], int | None]:
    """The page of `events` (ids 1..n in list order) after the event `after_id` (None: from the start)
    in the order asked, and the id of its last event when more follow (else None)."""
    if reverse:
        end = len(events) if after_id is None else max(0, min(after_id - 1, len(events)))
        page = events[max(0, end - size):end][::-1]
        more = end - size > 0
    else:
        start = 0 if after_id is None else max(0, after_id)
        page = events[start:start + size]
        more = len(events) > start + size
    return page, (int(page[-1]["id"]) if more and page else None)


def _history_token(arn: str, reverse: bool, include: bool, last_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([arn, reverse, include, last_id]).encode()).decode()


def _history_after(token: str, arn: str, reverse: bool, include: bool) -> int:
    from moto.stepfunctions.exceptions import InvalidToken

    try:
        named_arn, named_reverse, named_include, last_id = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError):
        raise InvalidToken("Invalid Token: 'Invalid token'")
    if [named_arn, named_reverse, named_include] != [arn, reverse, include] or not isinstance(last_id, int) \
            or last_id < 1:
        raise InvalidToken("Invalid Token: 'the token was made for other arguments'")
    return last_id


def _get_execution_history(self: Any) -> Any:
    from moto.core.responses import ActionResult
    from moto.stepfunctions.exceptions import ValidationException

    arn = self._get_param("executionArn")
    max_results = self._get_param("maxResults")
    if max_results is not None and not 0 <= int(max_results) <= HISTORY_PAGE_MAX:
        raise ValidationException(f"1 validation error detected: Value '{max_results}' at 'maxResults' failed "
                                  f"to satisfy constraint: Member must have value "
                                  f"{'less than or equal to 1000' if int(max_results) > 0 else 'greater than or equal to 0'}")
    size = int(max_results or 0) or HISTORY_PAGE
    reverse = bool(self._get_param("reverseOrder", False))
    include = self._get_param("includeExecutionData")
    include = True if include is None else bool(include)
    token = self._get_param("nextToken")
    after = _history_after(token, arn, reverse, include) if token else None
    execution = self.stepfunction_backend.describe_execution(arn)
    env = getattr(execution.exec_worker, "env", None)
    page: list[dict[str, Any]] = []
    last_id = None
    if env is not None:  # None: the execution has not started yet
        manager = env.event_manager
        with manager._mutex:
            page, last_id = history_page(manager._history_event_list, size, reverse, after)
            page = [_history_event_copy(e) for e in page]
    if not include:
        for event in page:
            for key, details in event.items():
                if key.endswith("EventDetails") and isinstance(details, dict):
                    for data in _HISTORY_DATA:
                        details.pop(data, None)
    answer: dict[str, Any] = {"events": page}
    if last_id is not None:
        answer["nextToken"] = _history_token(arn, reverse, include, last_id)
    return ActionResult(answer)


def apply(settings: settings_mod.Settings) -> Estate:
    """Install every patch (once) and return the estate they serve."""
    global ESTATE, _applied
    problems = check_pins()
    if problems:
        raise RuntimeError("moto changed under bbws_local.patches:\n  " + "\n  ".join(problems))
    ESTATE = Estate(settings)
    if _applied:
        return ESTATE
    from moto.awslambda import models as lm
    from moto.awslambda_simple import models as lsm
    from moto.cloudwatch import models as cwm
    from moto.sns import models as snsm
    from moto.stepfunctions import responses as sfr
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service as sts_base,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_sfn as sts_sfn,
    )
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function as wf
    from moto.sts import responses as stsr

    _replace("moto.awslambda_simple.models", "LambdaSimpleBackend.invoke", _lambda_invoke)
    _replace("moto.awslambda.responses", "LambdaResponse.invoke", _lambda_response_invoke)
    _replace("moto.awslambda.models", "LambdaFunction.get_code", _make_get_code(lm.LambdaFunction.get_code))
    _replace("moto.awslambda.models", "LambdaFunction.create_url_config",
             _make_create_url_config(lm.LambdaFunction.create_url_config))
    _replace("moto.awslambda.models", "LambdaFunction.delete_url_config",
             _make_delete_url_config(lm.LambdaFunction.delete_url_config))
    _install_boto_client_for()
    _replace(sts_sfn.__name__, "StateTaskServiceSfn._normalise_parameters",
             _make_sfn_normalise_parameters(sts_sfn.StateTaskServiceSfn._normalise_parameters))
    _replace(sts_base.__name__, "StateTaskService._normalise_response",
             _make_normalise_response(sts_base.StateTaskService._normalise_response))
    _replace("moto.stepfunctions.responses", "StepFunctionResponse.send_task_failure", _send_task_failure)
    _replace("moto.stepfunctions.responses", "StepFunctionResponse.validate_state_machine_definition",
             _validate_state_machine_definition)
    from moto.stepfunctions.parser import models as sfn_models

    _replace("moto.stepfunctions.parser.models", "StepFunctionsParserBackend._validate_definition",
             _make_validate_definition(sfn_models.StepFunctionsParserBackend._validate_definition))
    _replace("moto.stepfunctions.responses", "StepFunctionResponse.list_state_machine_versions",
             _list_state_machine_versions)
    _replace(wf.__name__, "WaitFunction._wait_interval", _make_wait_interval(wf.WaitFunction._wait_interval))
    _replace("moto.sns.models", "Subscription.publish", _make_subscription_publish(snsm.Subscription.publish))
    _replace("moto.cloudwatch.models", "MetricDatumBase.filter", _make_metric_filter(cwm.MetricDatumBase.filter))
    _replace("moto.cloudwatch.models", "CloudWatchBackend.get_metric_statistics",
             _make_get_metric_statistics(cwm.CloudWatchBackend.get_metric_statistics))
    from moto.dynamodb import models as ddbm

    for op in ("put_item", "update_item", "delete_item"):
        _replace("moto.dynamodb.models", f"DynamoDBBackend.{op}", _atomic(getattr(ddbm.DynamoDBBackend, op)))
    _replace("moto.dynamodb.models", "DynamoDBBackend.transact_write_items", _atomic(_transact_write_items))
    _replace("moto.sts.responses", "TokenResponse.assume_role", _make_assume_role(stsr.TokenResponse.assume_role))
    _replace("moto.stepfunctions.responses", "StepFunctionResponse.start_execution", _start_execution)
    _replace("moto.stepfunctions.responses", "StepFunctionResponse.stop_execution", _stop_execution)
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_callback as stscb,
    )

    _replace(stscb.__name__, "StateTaskServiceCallback._evaluate_with_timeout",
             _make_retry_task_token(stscb.StateTaskServiceCallback._evaluate_with_timeout))
    from moto.stepfunctions.parser.asl.eval.callback import callback as sfn_callback

    _replace(sfn_callback.__name__, "CallbackPoolManager.notify",
             _make_notify_once(sfn_callback.CallbackPoolManager.notify))
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_lambda as stl

    _replace(stl.__name__, "StateTaskLambda._from_error", _make_lambda_task_error(stl.StateTaskLambda._from_error))
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_sfn as stss,
    )

    _replace(stss.__name__, "StateTaskServiceSfn._from_error", _make_sfn_task_error(stss.StateTaskServiceSfn._from_error))
    from moto.awslambda import models as lambda_models

    _replace(lambda_models.__name__, "LambdaStorage.publish_version",
             _make_publish_same(lambda_models.LambdaStorage.publish_version))
    _replace(lambda_models.__name__, "LambdaBackend.create_function",
             _make_env_size_create(lambda_models.LambdaBackend.create_function))
    _replace(lambda_models.__name__, "LambdaBackend.update_function_configuration",
             _make_env_size_update(lambda_models.LambdaBackend.update_function_configuration))
    for op in ("send_task_success", "send_task_failure"):
        _replace("moto.stepfunctions.parser.models", f"StepFunctionsParserBackend.{op}",
                 _make_send_task_once(getattr(sfn_models.StepFunctionsParserBackend, op)))
    _replace("moto.s3.models", "FakeBucket.get_permission", _bucket_get_permission)
    from moto.ecs import responses as ecs_responses

    _replace(ecs_responses.__name__, "EC2ContainerServiceResponse.create_service",
             _make_ecs_az_rebalancing(ecs_responses.EC2ContainerServiceResponse.create_service))
    _replace("moto.cloudwatch.models", "CloudWatchBackend.put_metric_alarm",
             _make_put_metric_alarm(cwm.CloudWatchBackend.put_metric_alarm))
    _replace("moto.cloudwatch.models", "Alarm.update_state", _alarm_update_state)
    _replace("moto.cloudwatch.responses", "CloudWatchResponse.describe_alarms", _describe_alarms)
    _replace("moto.cloudwatch.responses", "CloudWatchResponse.describe_alarm_history", _describe_alarm_history)
    for op in ("put_dashboard", "list_dashboards", "get_dashboard", "delete_dashboards"):
        _replace("moto.cloudwatch.models", f"CloudWatchBackend.{op}", _account_wide(getattr(cwm.CloudWatchBackend, op)))
    from moto.stepfunctions.parser.backend import execution as sfn_execution

    _replace(sfn_execution.__name__, "Execution.start", _make_execution_start(sfn_execution.Execution.start))
    _replace(sfn_execution.__name__, "BaseExecutionWorkerCommunication.terminated",
             _make_execution_terminated(sfn_execution.BaseExecutionWorkerCommunication.terminated))
    from moto.codebuild import responses as cbr

    for op in ("start_build", "batch_get_builds", "stop_build"):
        _replace(cbr.__name__, f"CodeBuildResponse.{op}", globals()[f"_codebuild_{op}"])
    _replace(cbr.__name__, "_validate_required_params_source", _codebuild_validate_source)
    _replace(cbr.__name__, "CodeBuildResponse.update_project", _codebuild_update_project)
    _replace(cbr.__name__, "CodeBuildResponse.create_project", _codebuild_create_project)
    _replace(cbr.__name__, "CodeBuildResponse.list_builds_for_project", _codebuild_list_builds_for_project)
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory as stf
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_factory as stsf,
    )

    _replace(stsf.__name__, "state_task_service_for", _make_state_task_service_for(stsf.state_task_service_for))
    stf.state_task_service_for = stsf.state_task_service_for  # imported there by name
    _replace("moto.stepfunctions.parser.models", "StepFunctionsParserBackend.create_state_machine",
             _make_create_state_machine(sfn_models.StepFunctionsParserBackend.create_state_machine))
    _replace("moto.stepfunctions.parser.models", "StepFunctionsParserBackend.update_state_machine",
             _make_update_state_machine(sfn_models.StepFunctionsParserBackend.update_state_machine))
    from moto.ecs import models as ecsm

    for op, make in (("create_service", _make_ecs_create_service), ("update_service", _make_ecs_update_service),
                     ("describe_services", _make_ecs_describe_services)):
        _replace(ecsm.__name__, f"EC2ContainerServiceBackend.{op}", make(getattr(ecsm.EC2ContainerServiceBackend, op)))
    from moto.stepfunctions.parser.asl.parse import asl_parser

    _replace(asl_parser.__name__, "AmazonStateLanguageParser.parse",
             _make_parse_once(asl_parser.AmazonStateLanguageParser.parse))
    from moto import backends as moto_backends

    _replace(moto_backends.__name__, "list_of_moto_modules", _make_modules_once(moto_backends.list_of_moto_modules))
    from moto.iam import models as iam_models

    _replace("moto.iam.models", "IAMBackend.put_role_policy",
             _make_put_role_policy(iam_models.IAMBackend.put_role_policy))
    from moto.core import base_backend
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    _replace(base_backend.__name__, "BackendDict._create_account_specific_backend",
             _make_backend_lookup(base_backend.BackendDict._create_account_specific_backend))
    _replace(json_path.__name__, "parse", _make_jsonpath_once(json_path.parse))
    _replace(result_path.__name__, "parse", _make_jsonpath_once(result_path.parse))
    _replace("moto.core.common_models", "BaseModel.__new__", _untracked_new)
    _replace("moto.stepfunctions.responses", "StepFunctionResponse.get_execution_history", _get_execution_history)
    del lsm, sfr
    _applied = True
    return ESTATE
