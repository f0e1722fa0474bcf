"""The BBWS service fixtures without the estate: the catalog read from the runbook's configuration, and
the packages built from local/services."""
from __future__ import annotations

import io
import zipfile

import pytest
from bbws_local.settings import runbook_config
from services import build, catalog


def test_the_services_and_their_functions_are_the_runbooks_catalog_in_release_order():
    runbook = sorted(runbook_config()["catalog"], key=lambda entry: entry["release_order"])
    assert catalog.SERVICE_NAMES == tuple(entry["name"] for entry in runbook)
    for entry in runbook:
        assert [fn.template for fn in catalog.service(entry["name"]).functions] == entry["functions"]


def test_each_function_serves_the_component_its_name_says_and_answers_its_smoke_test():
    assert catalog.component_of("bbws-tenant-instance-management-{env}") == "tenant-instance-management"
    assert catalog.component_of("{env}-bbws-sites-service") == "sites-service"
    for entry in runbook_config()["catalog"]:
        for smoke in entry["smoke_tests"]:
            fn = next(f for f in catalog.service(entry["name"]).functions if f.template == smoke["function"])
            assert catalog.http_get(smoke["path"]) in fn.requests, (fn.template, smoke["path"])


def test_packages_are_deterministic_and_each_variant_and_build_has_its_own_code(tmp_path):
    first = build.build_package("site-management", "healthy", "1.4.1")
    again = build.build_package("site-management", "healthy", "1.4.1")
    assert first.data == again.data and first.code_sha256 == again.code_sha256
    with zipfile.ZipFile(io.BytesIO(first.data)) as zf:
        infos = zf.infolist()
        assert [i.filename for i in infos] == ["bbws_service.py", "build_info.py", "handler.py"]
        assert {i.date_time for i in infos} == {build.ZIP_TIMESTAMP}
        assert "BUILD = '1.4.1'" in zf.read("build_info.py").decode()
    shas = {build.build_package("site-management", v, b).code_sha256
            for v in catalog.VARIANTS for b in ("1.4.1", "1.4.2")}
    assert len(shas) == len(catalog.VARIANTS) * 2
    _, path = build.build("site-management", "broken-health", "1.4.3", tmp_path)
    assert path == tmp_path / "services" / "site-management" / "broken-health-1.4.3.zip"
    assert path.read_bytes() == build.build_package("site-management", "broken-health", "1.4.3").data


def test_unknown_names_are_refused_with_what_is_known():
    with pytest.raises(catalog.CatalogError, match=f"known: {', '.join(sorted(catalog.SERVICE_NAMES))}"):
        build.build_package("billing", "healthy", "1.4.1")
    with pytest.raises(catalog.CatalogError, match="MAJOR.MINOR.PATCH"):
        build.build_package("site-management", "healthy", "v1.4")
    with pytest.raises(catalog.CatalogError, match="unknown variant"):
        build.build_package("site-management", "flaky", "1.4.1")
