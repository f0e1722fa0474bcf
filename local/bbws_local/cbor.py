"""Smithy RPC v2 CBOR, the protocol current AWS SDKs use for CloudWatch, spoken in front of moto.

moto 5.2.5 answers CloudWatch in its JSON protocol (and query), not in CBOR. A CBOR request
(`POST /service/<Service>/operation/<Operation>`, `smithy-protocol: rpc-v2-cbor`) is turned into the
same operation in the JSON protocol, passed to moto, and the answer turned back into CBOR, with
timestamps as CBOR epoch timestamps (tag 1) where the service model says the member is a timestamp.
"""
from __future__ import annotations

import datetime as dt
import io
import json
import re
from functools import lru_cache
from typing import Any, Callable, Iterable

import cbor2

PATH = re.compile(r"^/service/([A-Za-z0-9_]+)/operation/([A-Za-z0-9_]+)$")
# Smithy service names of the services that moto reaches through this translation.
SERVICES = {"GraniteServiceVersion20100801": "cloudwatch"}


def is_cbor_request(environ: dict[str, Any]) -> bool:
    return (environ.get("HTTP_SMITHY_PROTOCOL", "").lower() == "rpc-v2-cbor"
            and PATH.match(environ.get("PATH_INFO", "")) is not None)


def _to_json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.timestamp()
    if isinstance(value, dict):
        return {k: _to_json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_json_value(v) for v in value]
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode()
    return value


@lru_cache(maxsize=None)
def _operation(service: str, operation: str) -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model(service).operation_model(operation)


def _to_cbor_value(value: Any, shape: Any) -> Any:
    if shape is None:
        return value
    if shape.type_name == "timestamp" and isinstance(value, (int, float)):
        return dt.datetime.fromtimestamp(value, tz=dt.timezone.utc)
    if shape.type_name == "structure" and isinstance(value, dict):
        return {k: _to_cbor_value(v, shape.members.get(k)) for k, v in value.items()}
    if shape.type_name == "list" and isinstance(value, list):
        return [_to_cbor_value(v, shape.member) for v in value]
    if shape.type_name == "map" and isinstance(value, dict):
        return {k: _to_cbor_value(v, shape.value) for k, v in value.items()}
    return value


def handle(app: Callable, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
    m = PATH.match(environ["PATH_INFO"])
    assert m is not None
    smithy_service, operation = m.group(1), m.group(2)
    service = SERVICES.get(smithy_service)
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    if service is None:
        return _reply(start_response, "404 Not Found",
                      {"__type": "UnknownOperationException", "message": f"{smithy_service} is not served"})
    try:
        request = cbor2.loads(raw) if raw else {}
    except Exception as e:  # noqa: BLE001 - any decoding failure is the client's
        return _reply(start_response, "400 Bad Request", {"__type": "SerializationException", "message": str(e)})
    body = json.dumps(_to_json_value(request)).encode()
    inner = dict(environ)
    inner.update({
        "PATH_INFO": "/", "QUERY_STRING": "", "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": "application/x-amz-json-1.0", "CONTENT_LENGTH": str(len(body)),
        "HTTP_X_AMZ_TARGET": f"{smithy_service}.{operation}", "wsgi.input": io.BytesIO(body),
    })
    inner.pop("HTTP_SMITHY_PROTOCOL", None)
    captured: dict[str, Any] = {}

    def capture(status: str, headers: list, exc_info: Any = None) -> Callable:
        captured["status"], captured["headers"] = status, headers
        return lambda _data: None

    out = b"".join(app(inner, capture))
    status = captured.get("status", "500 Internal Server Error")
    try:
        doc = json.loads(out) if out else {}
    except ValueError:
        doc = {"__type": "InternalFailure", "message": out.decode("utf-8", "replace")[:500]}
    if status.startswith("2"):
        doc = _to_cbor_value(doc, _operation(service, operation).output_shape)
    elif isinstance(doc, dict) and "__type" in doc:
        doc["__type"] = str(doc["__type"]).split("#")[-1]
    return _reply(start_response, status, doc)


def _reply(start_response: Callable, status: str, doc: Any) -> list[bytes]:
    payload = cbor2.dumps(doc, datetime_as_timestamp=True, timezone=dt.timezone.utc)
    start_response(status, [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor"),
                            ("Content-Length", str(len(payload)))])
    return [payload]
