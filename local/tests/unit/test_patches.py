"""Guards on the moto changes: each fails if the pinned moto changes under the patch it names."""
from __future__ import annotations

import threading
import time

import moto
import pytest
from bbws_local import patches
from bbws_local.settings import Settings


def test_moto_is_the_pinned_version():
    assert moto.__version__ == patches.MOTO_VERSION == "5.2.5"


@pytest.mark.parametrize("patch", patches.PATCHES, ids=lambda p: p.name)
def test_patched_moto_function_is_the_one_the_patch_was_written_for(patch):
    actual = patches.source_sha256(patch.module, patch.qualname)
    if patch.source_sha256 == patches.ABSENT:
        assert actual is None, f"moto now has {patch.qualname}: read it before keeping our version"
    else:
        assert actual == patch.source_sha256, f"moto's {patch.module}.{patch.qualname} changed"


def test_every_pin_holds():
    assert patches.check_pins() == []


@pytest.fixture(scope="module")
def applied(tmp_path_factory):
    """The patches installed in this test process (no server): for behaviours testable without HTTP."""
    settings = Settings(state_dir=tmp_path_factory.mktemp("estate"), time_scale=0.01, port=1)
    return patches.apply(settings)


def test_apply_installs_every_patch(applied):
    for p in patches.PATCHES:
        owner, attr, fn = patches._resolve(p.module, p.qualname)
        assert getattr(fn, "__bbws_patch__", False), f"{p.name} is not installed"
    assert patches.check_pins() == [], "the pins still read moto's originals once patched"


class _Env:
    def __init__(self) -> None:
        self.program_state_event = threading.Event()


def test_wait_scale_shortens_waits_when_set(applied):
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

    t0 = time.monotonic()
    WaitFunction._wait_interval(object(), _Env(), 100)  # 100 s at scale 0.01
    assert time.monotonic() - t0 < 3.0


def test_wait_scale_off_waits_in_real_time(applied):
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

    applied.settings.time_scale = 1.0
    try:
        t0 = time.monotonic()
        WaitFunction._wait_interval(object(), _Env(), 1)
        assert time.monotonic() - t0 >= 0.95
    finally:
        applied.settings.time_scale = 0.01


def test_code_links_are_signed_and_expire(applied):
    link = patches.sign_code_link("536580886816", "af-south-1", "fn", "3")
    token = link.rsplit("/", 1)[-1]
    assert patches.verify_code_link(token)["f"] == "fn"
    raw, sig = token.split(".")
    assert patches.verify_code_link(raw + "." + "0" * len(sig)) is None
    old = patches.sign_code_link("536580886816", "af-south-1", "fn", "3", now=time.time() - 3600)
    assert patches.verify_code_link(old.rsplit("/", 1)[-1]) is None


def test_a_refused_start_execution_is_named_as_aws_names_it():
    """Patch 19: the error of a Step Functions task whose StartExecution is refused, as a Retry sees it."""
    from bbws_local.patches import _sfn_error_shapes, sfn_task_error_name

    modeled = _sfn_error_shapes()
    assert "ExecutionAlreadyExists" in modeled and "ThrottlingException" not in modeled
    assert sfn_task_error_name("ExecutionAlreadyExists", modeled) == "StepFunctions.ExecutionAlreadyExistsException"
    assert sfn_task_error_name("ExecutionLimitExceeded", modeled) == "StepFunctions.ExecutionLimitExceededException"
    assert sfn_task_error_name("ValidationException", modeled) == "StepFunctions.ValidationException"
    for code in ("ThrottlingException", "InternalFailure", "ServiceUnavailable"):
        assert sfn_task_error_name(code, modeled) == "StepFunctions.AWSStepFunctionsException", code


def _env_of(measured_bytes: int) -> dict:
    """Variables whose compact JSON is exactly `measured_bytes` long: {"A":"xx…"} is 8 bytes + the value."""
    return {"Environment": {"Variables": {"A": "x" * (measured_bytes - 8)}}}


def test_an_environment_of_exactly_4_kb_fits_and_one_byte_more_is_refused_as_aws_words_it():
    assert patches.environment_problem(_env_of(4096)) is None
    problem = patches.environment_problem(_env_of(4097))
    assert problem is not None and problem.startswith(
        "Lambda was unable to configure your environment variables because the environment variables you have "
        "provided exceeded the 4KB limit. String measured: {\"A\":\"xxx")


def test_the_environment_is_measured_as_json_so_a_json_value_counts_its_escapes():
    # 1,400 quotes in a value are 2,800 bytes once escaped: with the rest, over 4 KB, though the raw
    # characters (about 2.8 KB) would fit.
    value = '"' * 1400 + "x" * 1300
    assert len("A" + value) < 4096
    assert patches.environment_problem({"Environment": {"Variables": {"A": value}}}) is not None
    assert patches.environment_problem({"Environment": {"Variables": {}}}) is None
    assert patches.environment_problem({}) is None


_DEFINITION = """{"StartAt": "Try", "States": {"Try": {"Type": "Pass", "Result": {"n": 1},
  "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}], "Next": "Done"}, "Done": {"Type": "Succeed"}}}"""


def test_a_definition_is_parsed_once_and_each_execution_gets_components_of_its_own(applied):
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser, ASLParserException

    definition = _DEFINITION.replace('"n": 1', f'"n": {time.monotonic_ns()}')  # a definition not yet seen
    first, tree = AmazonStateLanguageParser.parse(definition)
    second, again = AmazonStateLanguageParser.parse(definition)
    assert again is tree, "the second parse of the same definition reads the kept tree"
    assert second is not first, "each execution evaluates components of its own"
    assert type(second) is type(first)
    assert list(second.states.states) == list(first.states.states) == ["Try", "Done"]
    assert second.states.states["Try"] is not first.states.states["Try"]
    broken = definition.replace('"Type": "Succeed"', '"Type": "Nope"')
    for _ in range(2):  # a definition that does not parse raises each time: nothing was kept for it
        with pytest.raises(ASLParserException):
            AmazonStateLanguageParser.parse(broken)


def test_only_the_last_definitions_are_kept(applied):
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    first = _DEFINITION.replace('"n": 1', f'"n": {time.monotonic_ns()}')
    _, tree = AmazonStateLanguageParser.parse(first)
    for i in range(patches.PARSE_TREES_KEPT):
        AmazonStateLanguageParser.parse(_DEFINITION.replace('"n": 1', f'"n": -{i}'))
    _, again = AmazonStateLanguageParser.parse(first)
    assert again is not tree, "the oldest definition was dropped and parsed again"


def test_moto_modules_are_the_ones_on_disk_and_read_once(applied, monkeypatch):
    import os

    from moto import backends

    path = os.path.dirname(moto.__file__)
    on_disk = [m for m in sorted(os.listdir(path)) if os.path.isdir(os.path.join(path, m)) and not m.startswith("__")]

    def no_disk(*_args: object) -> None:
        raise AssertionError("moto's package directory was read again")

    monkeypatch.setattr(os, "listdir", no_disk)
    assert list(backends.list_of_moto_modules()) == on_disk
    assert list(backends.list_of_moto_modules()) == on_disk, "listed again, the same"


def test_step_functions_tasks_share_one_client_per_role_and_region(applied):
    role = type("Credentials", (), {"role_arn": "arn:aws:iam::815856636111:role/bbws-promotion-states-sit"})()
    other = type("Credentials", (), {"role_arn": "arn:aws:iam::815856636111:role/bbws-release-states-sit"})()
    first = patches._boto_client_for("af-south-1", "lambda", role)
    assert patches._boto_client_for("af-south-1", "lambda", role) is first
    assert patches._boto_client_for("eu-west-1", "lambda", role) is not first
    assert patches._boto_client_for("af-south-1", "lambda", other) is not first
    assert first.meta.region_name == "af-south-1"
    with pytest.raises(ValueError, match="is not an IAM role ARN"):
        patches._boto_client_for("af-south-1", "lambda", type("Credentials", (), {"role_arn": "nope"})())


def _policy_of(characters: int) -> str:
    """A policy document of exactly `characters` characters without white space (and some white space)."""
    head, tail = '{ "Version": "2012-10-17", "Statement": [ { "Sid": "', '" } ] }'
    bare = len(head.replace(" ", "")) + len(tail.replace(" ", ""))
    return head + "x" * (characters - bare) + tail


def test_a_role_s_inline_policies_fit_in_10240_characters_without_white_space_and_not_one_more():
    assert patches.policy_characters(_policy_of(4000)) == 4000
    kept = {"least-privilege": _policy_of(6000), "other": _policy_of(100)}
    # The policy being replaced does not count twice; white space does not count at all.
    assert patches.role_policies_problem("r", kept, "least-privilege", _policy_of(10240 - 100)) is None
    assert patches.role_policies_problem("r", kept, "least-privilege", _policy_of(10241 - 100)) == \
        "Maximum policy size of 10240 bytes exceeded for role r"
    assert patches.role_policies_problem("r", kept, "third", _policy_of(10240 - 6100)) is None
    assert patches.role_policies_problem("r", kept, "third", _policy_of(10241 - 6100)) is not None


def test_get_metric_statistics_reads_the_exact_dimension_set_from_an_index_that_follows_new_data(applied):
    import datetime as dt

    from moto.cloudwatch.models import CloudWatchBackend

    backend = CloudWatchBackend("af-south-1", "111122223333")
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)

    def put(value: float, **dims: str) -> None:
        backend.put_metric_data("AWS/Lambda", [{"MetricName": "Errors", "Value": value, "Unit": "Count",
                                                "Timestamp": now - dt.timedelta(seconds=30),
                                                "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()]}])

    def total(**dims: str) -> float:
        found = backend.get_metric_statistics("AWS/Lambda", "Errors", now - dt.timedelta(minutes=5), now, 300,
                                              ["Sum"], [{"Name": k, "Value": v} for k, v in dims.items()])
        return sum(s.sum for s in found)

    put(1, FunctionName="a")
    put(10, FunctionName="a", Resource="a:live")
    put(100)
    assert (total(FunctionName="a"), total(FunctionName="a", Resource="a:live"), total()) == (1, 10, 100)
    put(2, FunctionName="a")  # after the index was built
    put(20, Resource="a:live", FunctionName="a")  # the same set in another order
    assert (total(FunctionName="a"), total(FunctionName="a", Resource="a:live"), total()) == (3, 30, 100)
    assert total(FunctionName="b") == 0


def test_a_backend_of_an_account_that_has_one_is_found_without_moto_s_search(applied, monkeypatch):
    from moto.core.base_backend import BackendDict
    from moto.sns.models import sns_backends

    account = "111122223333"
    made = sns_backends[account]  # made and registered as moto makes it
    assert account in sns_backends and sns_backends in BackendDict._instances

    class NotSearched(list):
        def __contains__(self, item: object) -> bool:
            raise AssertionError("every service's backends were searched again")

    monkeypatch.setattr(BackendDict, "_instances", NotSearched(BackendDict._instances))
    assert sns_backends[account] is made
    assert sns_backends[account]["af-south-1"] is made["af-south-1"]
    monkeypatch.undo()
    other = "444455556666"
    assert other not in sns_backends
    assert sns_backends[other] is not made and other in sns_backends, "a new account still gets its backend"


def test_a_step_functions_jsonpath_is_parsed_once_and_read_as_before(applied):
    import jsonpath_ng
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    first = json_path.parse("$.detail.services[0].name")
    assert json_path.parse("$.detail.services[0].name") is first, "parsed once"
    assert json_path.parse("$.detail.services[1].name") is not first
    document = {"detail": {"env": "sit", "services": [{"name": "a"}, {"name": "b"}]}}
    for _ in range(2):
        assert json_path.extract_json("$.detail.env", document) == "sit"
        assert json_path.extract_json("$.detail.services[*].name", document) == ["a", "b"]
    for _ in range(2):  # a path that does not parse raises each time
        with pytest.raises(Exception):
            json_path.parse("$.[[[")
    assert result_path.parse("$.result") is result_path.parse("$.result")
    assert result_path.parse("$.result").update_or_create({"a": 1}, {"x": 2}) == {"a": 1, "result": {"x": 2}}
    assert isinstance(result_path.parse("$.result"), jsonpath_ng.JSONPath)


def test_moto_keeps_no_model_object_that_nothing_else_holds(applied):
    import gc

    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.exceptions import TransactionCanceledException

    backend = dynamodb_backends["111122223333"]["af-south-1"]
    backend.create_table("untracked", schema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         attr=[{"AttributeName": "pk", "AttributeType": "S"}], throughput=None,
                         billing_mode="PAY_PER_REQUEST", indexes=None, global_indexes=None, streams=None,
                         sse_specification=None, tags=None, deletion_protection_enabled=False,
                         warm_throughput=None)
    for i in range(50):
        backend.put_item("untracked", {"pk": {"S": f"k{i}"}, "v": {"S": "x"}})
    lock = {"Put": {"TableName": "untracked", "Item": {"pk": {"S": "lock"}},
                    "ConditionExpression": "attribute_not_exists(pk)"}}
    backend.transact_write_items([lock])
    for _ in range(20):  # each refused transaction copied the table and put the copy back
        with pytest.raises(TransactionCanceledException):
            backend.transact_write_items([lock])
        backend.put_item("untracked", {"pk": {"S": "k0"}, "v": {"S": "again"}})
    gc.collect()
    held = {id(item) for item in backend.get_table("untracked").items.values()}
    alive = [o for o in gc.get_objects() if isinstance(o, Item)
             and getattr(o, "hash_key", None) is not None and str(o.hash_key.value) in {"lock", "k0", "k1"}]
    assert len(held) == 51
    assert {id(o) for o in alive} <= held, f"{len(alive)} items alive, of which the table holds 3"
    assert Item.instances_tracked == []


def test_a_history_is_read_in_pages_of_ids_in_either_order():
    events = [{"id": i, "type": "Pass"} for i in range(1, 8)]
    ids = lambda page: [e["id"] for e in page]  # noqa: E731
    page, last = patches.history_page(events, 3, False, None)
    assert (ids(page), last) == ([1, 2, 3], 3)
    page, last = patches.history_page(events, 3, False, last)
    assert (ids(page), last) == ([4, 5, 6], 6)
    page, last = patches.history_page(events, 3, False, last)
    assert (ids(page), last) == ([7], None)
    page, last = patches.history_page(events, 7, False, None)
    assert (ids(page), last) == ([1, 2, 3, 4, 5, 6, 7], None), "a last full page says no more"
    page, last = patches.history_page(events, 3, True, None)
    assert (ids(page), last) == ([7, 6, 5], 5)
    events.append({"id": 8, "type": "Pass"})  # a running execution goes on: the reverse pages do not shift
    page, last = patches.history_page(events, 3, True, last)
    assert (ids(page), last) == ([4, 3, 2], 2)
    page, last = patches.history_page(events, 3, True, last)
    assert (ids(page), last) == ([1], None)
    assert patches.history_page([], 100, False, None) == ([], None)


def test_a_history_answer_copies_the_events_dicts_and_shares_their_values():
    from datetime import datetime, timezone

    event = {"id": 1, "timestamp": datetime.now(timezone.utc),
             "taskSucceededEventDetails": {"output": "{}", "outputDetails": {"truncated": False}}}
    copied = patches._history_event_copy(event)
    assert copied == event and copied is not event
    assert copied["taskSucceededEventDetails"] is not event["taskSucceededEventDetails"]
    copied["taskSucceededEventDetails"].pop("output")
    assert event["taskSucceededEventDetails"]["output"] == "{}", "the history keeps its data"


def _table(backend, name: str, range_key: bool = False):
    schema = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attr = [{"AttributeName": "pk", "AttributeType": "S"}]
    if range_key:
        schema.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attr.append({"AttributeName": "sk", "AttributeType": "S"})
    return backend.create_table(name, schema=schema, attr=attr, throughput=None, billing_mode="PAY_PER_REQUEST",
                                indexes=None, global_indexes=None, streams=None, sse_specification=None,
                                tags=None, deletion_protection_enabled=False, warm_throughput=None)


def test_a_cancelled_transaction_puts_back_each_item_it_wrote_and_keeps_the_tables(applied):
    from moto.dynamodb.exceptions import TransactionCanceledException
    from moto.dynamodb.models import dynamodb_backends

    backend = dynamodb_backends["111122223333"]["eu-west-1"]
    plain, ranged = _table(backend, "tx-plain"), _table(backend, "tx-ranged", range_key=True)
    backend.put_item("tx-plain", {"pk": {"S": "kept"}, "v": {"S": "before"}})
    backend.put_item("tx-plain", {"pk": {"S": "deleted"}, "v": {"S": "before"}})
    backend.put_item("tx-ranged", {"pk": {"S": "a"}, "sk": {"S": "1"}, "v": {"S": "before"}})
    before = {t: sorted(str(i.to_json()) for i in backend.get_table(t).all_items()) for t in ("tx-plain", "tx-ranged")}
    writes = [
        {"Put": {"TableName": "tx-plain", "Item": {"pk": {"S": "new"}}}},
        {"Update": {"TableName": "tx-plain", "Key": {"pk": {"S": "kept"}}, "UpdateExpression": "SET v = :v",
                    "ExpressionAttributeValues": {":v": {"S": "after"}}}},
        {"Delete": {"TableName": "tx-plain", "Key": {"pk": {"S": "deleted"}}}},
        {"Put": {"TableName": "tx-ranged", "Item": {"pk": {"S": "a"}, "sk": {"S": "2"}}}},
        {"Update": {"TableName": "tx-ranged", "Key": {"pk": {"S": "a"}, "sk": {"S": "1"}},
                    "UpdateExpression": "SET v = :v", "ExpressionAttributeValues": {":v": {"S": "after"}}}},
    ]
    refused = {"ConditionCheck": {"TableName": "tx-plain", "Key": {"pk": {"S": "absent"}},
                                  "ConditionExpression": "attribute_exists(pk)"}}
    with pytest.raises(TransactionCanceledException) as e:
        backend.transact_write_items([*writes, refused])
    assert "[None, None, None, None, None, ConditionalCheckFailed]" in str(e.value.message)
    after = {t: sorted(str(i.to_json()) for i in backend.get_table(t).all_items()) for t in ("tx-plain", "tx-ranged")}
    assert after == before, "every item written was put back"
    assert backend.get_table("tx-plain") is plain and backend.get_table("tx-ranged") is ranged, "no table replaced"

    backend.transact_write_items(writes)
    assert backend.get_item("tx-plain", {"pk": {"S": "kept"}}).attrs["v"].value == "after"
    assert backend.get_item("tx-plain", {"pk": {"S": "deleted"}}) is None
    assert backend.get_item("tx-ranged", {"pk": {"S": "a"}, "sk": {"S": "2"}}) is not None
