#!/usr/bin/env python3
"""Run moto's HTTP server for the integration tests, with requests serialised.

Why this exists: the stock ``moto_server`` entry point (moto/server.py, ``main``)
calls werkzeug's ``run_simple(..., threaded=True)``, i.e. one OS thread per
connection, and moto's backends hold no lock across a read-check-write.  In
moto 5.2.5 ``DynamoDBBackend.update_item`` (moto/dynamodb/models/__init__.py)
reads the item, evaluates the ConditionExpression, then creates/mutates the
item as separate Python steps; the GIL may switch threads between any of them
(every 5 ms by default, and at every I/O call).  The only locks on the request
path are ``DomainDispatcherApplication.lock`` around the choice of the backend
app (moto/moto_server/werkzeug_app.py, ``get_application``) and
``backend_lock`` around the lazy creation of a region's backend
(moto/core/base_backend.py).  So "exactly one winner among N concurrent
conditional updates" is not guaranteed by the stock server.

Modes (``--mode``):

* ``serialised`` (default): threaded werkzeug server (every connection is
  accepted at once; werkzeug closes each after one response anyway) with one
  process-wide lock held for the whole of each request, response body
  included.  SQS requests are exempt: SQS
  ReceiveMessage long-polling blocks inside the handler until a message
  arrives (``Queue.wait_for_messages``), and a message can only arrive through
  another request (SNS Publish), so holding the lock there would stall the
  server for the whole wait.  SQS is not part of any atomicity requirement.
* ``single``: werkzeug with ``threaded=False`` - one request at a time, HTTP/1.0
  (connection closed after each response).  Long polls stall everything.
* ``threaded``: the stock ``moto_server`` concurrency (racy); kept for
  comparison.

Every mode except the stock entry point also translates Smithy RPC v2 CBOR,
which moto 5.2.5 does not speak (its request parsers are ec2/json/query/
rest-json/rest-xml only, moto/core/parse.py ``PROTOCOL_PARSERS``), to the JSON
protocol moto does support for the same service: aws-sdk-cloudwatch (Rust,
1.140) sends every CloudWatch call as ``POST /service/
GraniteServiceVersion20100801/operation/<Op>`` with a CBOR body, which the
stock server answers 404. See ``CborToJson``.

They also make RDS PromoteReadReplica and Lambda Invoke (without Docker) answer
as AWS does for the runbook's steps. See ``_patch_runbook_services``.

The process prints ``moto listening on HOST:PORT mode=MODE`` once the socket is
bound, then serves until SIGTERM/SIGINT, or until the process given by
``--parent-pid`` is gone (so a killed test run leaves no server behind).
"""

import argparse
import base64
import io
import json
import math
import os
import re
import signal
import sys
import threading
import time
from datetime import datetime
from decimal import Decimal
from typing import Any, Callable, Iterable

import cbor2
from werkzeug.serving import make_server

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

WsgiApp = Callable[[dict, Callable[..., Any]], Iterable[bytes]]


def _signing_service(environ: dict) -> str:
    """Service name from the SigV4 credential scope (…/date/region/SERVICE/aws4_request)."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    try:
        scope = auth.split(",")[0].split()[1]
        return scope.split("/")[3].lower()
    except (IndexError, ValueError):
        pass
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target.startswith("AmazonSQS"):
        return "sqs"
    return ""


class SerialisedApp:
    """WSGI middleware: one request at a time (except SQS, see module doc)."""

    def __init__(self, app: WsgiApp, exempt: frozenset[str]):
        self.app = app
        self.exempt = exempt
        self.lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Callable[..., Any]) -> Iterable[bytes]:
        if _signing_service(environ) in self.exempt:
            return self.app(environ, start_response)
        with self.lock:
            body = self.app(environ, start_response)
            try:
                # Materialise the body under the lock: some responses are
                # generators that still read backend state while iterating.
                return [b"".join(body)]
            finally:
                close = getattr(body, "close", None)
                if close is not None:
                    close()


# --------------------------------------------------------------------------
# Smithy RPC v2 CBOR -> awsJson1_0 translation. cbor2 (pinned in the Makefile's
# PINS) does the codec; these functions map its values to and from what moto's
# JSON protocol expects.


def _from_cbor(raw: bytes) -> Any:
    """Decodes a CBOR request body into JSON-protocol values: timestamps (tag 1)
    stay epoch-second numbers, byte strings become base64 text, null members
    are dropped."""
    # Tag 1's content as sent (cbor2 would make it a datetime).
    value = cbor2.loads(raw, semantic_decoders={1: lambda epoch, _immutable: epoch})
    return _json_value(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, cbor2.CBORTag):  # other tags: their content as-is
        return _json_value(value.value)
    if isinstance(value, Decimal):
        return float(value)
    if value is cbor2.undefined:
        return None
    return value


def _double(value: Any) -> float:
    if isinstance(value, str):  # JSON spells non-finite doubles as strings
        return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[value]
    return float(value)


def _epoch(value: Any) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def _cbor_value(value: Any, shape: Any) -> Any:
    """A JSON-protocol value as the Python value cbor2 encodes as Smithy RPC v2
    CBOR, directed by a botocore shape: timestamps get tag 1 over a double,
    doubles stay doubles (cbor2 writes finite floats as 64-bit), blobs become
    bytes, structures keep their modelled, non-null members."""
    if value is None:
        return None
    kind = shape.type_name if shape is not None else None
    if kind == "structure":
        return {
            k: _cbor_value(v, shape.members[k])
            for k, v in value.items()
            if k in shape.members and v is not None
        }
    if kind == "list":
        return [_cbor_value(v, shape.member) for v in value]
    if kind == "map":
        return {str(k): _cbor_value(v, shape.value) for k, v in value.items()}
    if kind == "timestamp":
        return cbor2.CBORTag(1, _epoch(value))
    if kind == "blob":
        return base64.b64decode(value) if isinstance(value, str) else bytes(value)
    if kind == "boolean" or isinstance(value, bool):
        return bool(value)
    if kind in ("double", "float"):
        return _double(value)
    if kind in ("integer", "long", "short", "byte") or isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value
    if isinstance(value, dict):
        return {str(k): _cbor_value(v, None) for k, v in value.items()}
    if isinstance(value, list):
        return [_cbor_value(v, None) for v in value]
    return str(value)


def _to_cbor(value: Any, shape: Any) -> bytes:
    return cbor2.dumps(_cbor_value(value, shape))


class CborToJson:
    """WSGI middleware: serves Smithy RPC v2 CBOR requests for services whose
    botocore model also lists the ``json`` protocol, by re-encoding the request
    as awsJson1_0 for moto and its response back to CBOR."""

    PATH = re.compile(r"^/service/([^/]+)/operation/([^/]+)$")
    # Smithy service name in the URL -> botocore service name.
    SERVICES = {"GraniteServiceVersion20100801": "cloudwatch"}

    def __init__(self, app: "WsgiApp"):
        self.app = app
        self.models: dict[str, Any] = {}

    def model(self, service: str) -> Any:
        if service not in self.models:
            import botocore.session

            self.models[service] = botocore.session.get_session().get_service_model(
                service
            )
        return self.models[service]

    def __call__(self, environ: dict, start_response: Callable[..., Any]) -> Iterable[bytes]:
        match = self.PATH.match(environ.get("PATH_INFO", ""))
        if (
            environ.get("HTTP_SMITHY_PROTOCOL", "").lower() != "rpc-v2-cbor"
            or match is None
            or match.group(1) not in self.SERVICES
        ):
            return self.app(environ, start_response)
        target, operation = match.groups()
        model = self.model(self.SERVICES[target])
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        # The SDK gzips PutMetricData bodies of 10 KB and more (CloudWatch accepts
        # Content-Encoding: gzip); moto's JSON path does not, so inflate here.
        if raw and "gzip" in environ.get("HTTP_CONTENT_ENCODING", "").lower():
            import gzip

            raw = gzip.decompress(raw)
        params = _from_cbor(raw) if raw else {}
        body = json.dumps(params).encode()
        inner = dict(environ)
        inner.update(
            {
                "PATH_INFO": "/",
                "CONTENT_TYPE": "application/x-amz-json-1.0",
                "CONTENT_LENGTH": str(len(body)),
                "HTTP_X_AMZ_TARGET": f"{target}.{operation}",
                "wsgi.input": io.BytesIO(body),
            }
        )
        inner.pop("HTTP_SMITHY_PROTOCOL", None)
        inner.pop("HTTP_CONTENT_ENCODING", None)
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list, exc_info: Any = None) -> Callable:
            captured["status"], captured["headers"] = status, headers
            return lambda _data: None

        result = self.app(inner, capture)
        try:
            payload = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        status = captured["status"]
        document = json.loads(payload) if payload.strip() else {}
        if status.startswith("2"):
            shape = model.operation_model(operation).output_shape
            out = _to_cbor(document, shape) if shape is not None else cbor2.dumps({})
        else:
            error = {
                "__type": str(document.get("__type", "InternalFailure")).split("#")[-1],
                "message": document.get("message") or document.get("Message") or "",
            }
            out = _to_cbor(error, None)
        keep = {"x-amzn-requestid", "x-amzn-query-error", "date", "server"}
        headers = [(k, v) for k, v in captured["headers"] if k.lower() in keep]
        headers += [
            ("Content-Type", "application/cbor"),
            ("Content-Length", str(len(out))),
            ("smithy-protocol", "rpc-v2-cbor"),
        ]
        start_response(status, headers)
        return [out]


# --------------------------------------------------------------------------
# The runbook's resources (issue 16): where moto 5.2.5 answers differently from AWS.


def _patch_runbook_services() -> None:
    """Make moto answer the workflow's calls as AWS does.

    * RDS PromoteReadReplica (moto/rds/models.py ``RDSBackend.promote_read_replica``)
      keeps ``ReadReplicaSourceDBInstanceIdentifier`` and the source's
      ``ReadReplicaDBInstanceIdentifiers``, so a promoted instance still reads as a
      replica; it answers an unknown identifier with a KeyError (HTTP 500) and promotes
      a standalone instance silently. AWS detaches the replica, answers
      ``DBInstanceNotFound`` and ``InvalidDBInstanceState`` ("not a read replica").
    * Lambda Invoke runs the function in Docker unless moto's config says
      ``lambda: use_docker: false`` (its ``/moto-api/config``); there is no Docker here,
      so the Docker-less backend is the default. That backend (moto/awslambda_simple)
      answers for functions that do not exist; AWS answers ResourceNotFoundException.
      It answers the request payload back, or the results queued with
      ``/moto-api/static/lambda-simple/response``, and never a FunctionError.
    """
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.core.models import default_user_config
    from moto.rds.exceptions import DBInstanceNotFoundError, RDSClientError
    from moto.rds.models import RDSBackend

    def promote_read_replica(self: Any, db_kwargs: dict[str, Any]) -> Any:
        identifier = db_kwargs["db_instance_identifier"]
        database = self.databases.get(identifier)
        if database is None:
            raise DBInstanceNotFoundError(identifier)
        if not database.is_replica:
            raise RDSClientError(
                "InvalidDBInstanceState", f"DB Instance {identifier} is not a read replica."
            )
        try:
            source = self.find_db_from_id(database.source_db_instance_identifier)
            for name in (database.db_instance_identifier, database.db_instance_arn):
                if name in source.replicas:
                    source.replicas.remove(name)
        except Exception:  # the source is gone: nothing to detach from
            pass
        database.is_replica = False
        database.source_db_instance_identifier = None
        database.update(**db_kwargs)
        return database

    RDSBackend.promote_read_replica = promote_read_replica

    simple_invoke = LambdaSimpleBackend.invoke

    def invoke(self: Any, function_name: str, qualifier: Any, *args: Any, **kwargs: Any) -> Any:
        self.get_function(function_name, qualifier)  # ResourceNotFoundException
        return simple_invoke(self, function_name, qualifier, *args, **kwargs)

    LambdaSimpleBackend.invoke = invoke
    default_user_config["lambda"] = {"use_docker": False}


def _exit_when_orphaned(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(0.5)
    os._exit(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    parser.add_argument(
        "--mode", choices=("serialised", "single", "threaded"), default="serialised"
    )
    parser.add_argument(
        "--parent-pid",
        type=int,
        default=0,
        help="exit when this process is no longer our parent (0: never)",
    )
    args = parser.parse_args(argv)

    # moto builds some self-referencing URLs from MOTO_PORT (as moto_server does).
    os.environ.setdefault("MOTO_PORT", str(args.port))

    def stop(_signum: int, _frame: Any) -> None:
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    _patch_runbook_services()
    moto_app = DomainDispatcherApplication(create_backend_app)
    app: WsgiApp = CborToJson(moto_app)
    if args.mode == "serialised":
        app = SerialisedApp(app, exempt=frozenset({"sqs"}))

    server = make_server(
        args.host,
        args.port,
        app,
        threaded=args.mode != "single",
        request_handler=MotoRequestHandler,
    )
    if args.mode != "single":
        server.daemon_threads = True
    if args.parent_pid:
        threading.Thread(
            target=_exit_when_orphaned, args=(args.parent_pid,), daemon=True
        ).start()
    host, port = server.server_address[:2]
    print(f"moto listening on {host}:{port} mode={args.mode}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
