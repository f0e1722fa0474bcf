"""bbws_local.sdk: sessions that share one data loader."""
from __future__ import annotations

import boto3
import pytest
from bbws_local import sdk


def _session(**kwargs: str) -> boto3.Session:
    return boto3.Session(botocore_session=sdk.botocore_session(), **kwargs)


def test_sessions_share_the_loader_and_its_search_paths_do_not_grow():
    first = _session(region_name="af-south-1")
    paths = first._session.get_component("data_loader").search_paths
    for _ in range(3):
        _session(region_name="eu-west-1")
    loader = sdk.botocore_session().get_component("data_loader")
    assert loader is first._session.get_component("data_loader")
    assert loader.search_paths == paths
    assert paths.count(sdk.BOTO3_DATA) == 1


def test_each_session_keeps_its_own_region_and_credentials():
    a = _session(region_name="af-south-1", aws_access_key_id="AKIAA", aws_secret_access_key="a")
    b = _session(region_name="eu-west-1", aws_access_key_id="AKIAB", aws_secret_access_key="b")
    assert (a.region_name, b.region_name) == ("af-south-1", "eu-west-1")
    assert a.get_credentials().access_key == "AKIAA" and b.get_credentials().access_key == "AKIAB"
    assert a.client("sts").meta.region_name == "af-south-1"


def test_boto3_resources_load_from_the_shared_loader():
    # boto3's own data (resource definitions) is found though boto3's per-session append was dropped.
    table = _session(region_name="af-south-1").resource("dynamodb").Table("t")
    assert table.name == "t"


def test_an_unknown_service_is_refused_as_boto3_refuses_it():
    with pytest.raises(boto3.exceptions.botocore.exceptions.UnknownServiceError):
        _session(region_name="af-south-1").client("no-such-service")
