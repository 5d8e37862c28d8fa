#!/usr/bin/env python3
"""Cutover's local AWS emulator: moto's server on loopback, plus two additions.

Cutover's tests and demo talk to this emulator with the real Rust AWS SDK
(`AWS_ENDPOINT_URL=http://127.0.0.1:PORT`). It serves moto's own WSGI app, the
same one `moto_server` runs, behind a small middleware:

* CloudWatch CBOR bridge. aws-sdk-cloudwatch >= 1.100 speaks only Smithy RPC v2
  CBOR (`POST /service/GraniteServiceVersion20100801/operation/<Op>`, body
  `application/cbor`, header `smithy-protocol: rpc-v2-cbor`), which moto does
  not understand. The bridge decodes the CBOR request, hands it to moto as an
  AWS JSON 1.0 request (`X-Amz-Target: GraniteServiceVersion20100801.<Op>`),
  and encodes moto's JSON answer back to CBOR, using botocore's CloudWatch
  model to emit timestamps as CBOR tag 1 (epoch seconds) and numbers with the
  CBOR type the SDK expects. Errors keep their HTTP status and become
  `{"__type", "message"}` CBOR maps; moto's `x-amzn-query-error` header is
  kept, which is where the SDK takes the error code from.

* Lambda without Docker. moto is switched to its "simple" Lambda backend
  (`{"lambda": {"use_docker": false}}`, as `POST /moto-api/config` would do),
  where Invoke does not run code: it echoes the request payload, or returns the
  next result queued with `POST /moto-api/static/lambda-simple/response`
  (body `{"results": ["<payload>", ...], "region": "us-east-1"}`, each string
  is one invoke's payload, consumed in order, shared by all functions of the
  region). This script patches that Invoke so that it also
    - honours `?Qualifier=` (moto reads it under the wrong name and always
      invokes $LATEST),
    - answers ResourceNotFoundException for an unknown function, version or
      alias (moto's simple backend answers for anything),
    - returns the `X-Amz-Executed-Version` header (the version the qualifier
      resolves to; an alias's RoutingConfig weights are NOT applied),
    - can fail: a queued result of the form
      `{"cutoverFunctionError": "Unhandled", "payload": <any JSON>}` is
      returned as `payload` with `X-Amz-Function-Error: Unhandled`
      (the SDK's `function_error`). `seed hook-response --function-error`
      writes that envelope for you.

Everything else goes to moto unchanged (moto-api included: `POST
/moto-api/reset` clears all state; the settings above survive it).

Before announcing READY, one read request per service is served in-process,
so that moto's lazy set-up (about 0.5 s for Lambda) is not paid by the first
SDK call. Startup takes about 3-5 s on a 2-core machine.

moto behaviour worth knowing (moto 5.2.5):
  - UpdateAlias keeps RoutingConfig and GetAlias returns it; an update without
    RoutingConfig keeps the old weights (as AWS does); clearing with
    `AdditionalVersionWeights: {}` reads back as that empty map, not absent.
    Neither RevisionId nor the weighted version's existence is checked.
  - Invoke with no payload answers the text `Simple Lambda happy path OK`.
  - A new metric alarm starts in state OK (AWS: INSUFFICIENT_DATA);
    SetAlarmState updates StateUpdatedTimestamp but StateTransitionedTimestamp
    is never set.
  - boto3 (1.44 in the venv) talks JSON 1.0 to CloudWatch, straight to moto; only
    RPC v2 CBOR clients (the Rust SDK) go through the bridge.

Usage (the venv comes from scripts/install-emulator; scripts/emulator wraps
start/stop):

  emulator.py serve [--port N] [--port-file PATH] [--verbose]
      Serve on 127.0.0.1:N (0 = any free port). Prints exactly one line
      `READY http://127.0.0.1:PORT` on stdout once the socket accepts
      connections; writes PORT to --port-file at that moment too. Runs until
      SIGTERM / SIGINT. Request logging goes to stderr with --verbose.

  emulator.py selftest [--url URL]
      Exercises a running emulator (DynamoDB, IAM, Lambda versions, aliases,
      invoke and queued results, and CloudWatch over genuine RPC v2 CBOR) and
      prints one line per check, then `selftest: N passed, N failed`.

  emulator.py seed [--url URL] lambda --name F --versions N --alias A
                                      [--alias-version V] [--role-name R]
      Creates the IAM role (if missing) and the function (if missing),
      publishes N new versions and points alias A at version V (default: the
      first one published now). Prints JSON
      {"functionArn", "versions", "alias", "aliasName", "aliasVersion"}.
  emulator.py seed [--url URL] alarm --name A [--state OK|ALARM|INSUFFICIENT_DATA]
                                     [--dimension Name=Value ...]
      PutMetricAlarm on AWS/Lambda Errors (Sum >= 1 over one 60 s period),
      then SetAlarmState (default OK). Prints JSON {"alarmName", "alarmArn",
      "state"}.
  emulator.py seed [--url URL] hook-response --result JSON [--result JSON ...]
                                             [--function-error Unhandled]
      Queues payloads for the next Lambda invokes, in order.

URL: --url, else $CUTOVER_EMULATOR_URL, else $AWS_ENDPOINT_URL, else the URL
that `scripts/emulator start` left in .emulator/url. Clients use region
us-east-1 and the dummy credentials testing/testing.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import gzip
import io
import json
import os
import re
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
import zipfile
from http import HTTPStatus
from typing import Any, Callable, Iterable

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
UTC = dt.timezone.utc

# Marker key of a queued Lambda result that should come back as a function
# error (see the module docstring).
FUNCTION_ERROR_KEY = "cutoverFunctionError"


# --------------------------------------------------------------------------
# moto setup
# --------------------------------------------------------------------------


def configure_moto() -> None:
    """Switch moto to Docker-less Lambda and patch its Invoke (see docstring)."""
    from moto.awslambda.responses import LambdaResponse
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.moto_api._internal.models import moto_api_backend

    # Same effect as POST /moto-api/config {"lambda": {"use_docker": false}}.
    moto_api_backend.set_config({"lambda": {"use_docker": False}})

    # moto's Invoke handler looks for the `qualifier` parameter in lower case
    # and so never sees the `?Qualifier=` the SDKs send: pass it on ourselves.
    request_qualifier = threading.local()
    response_invoke = LambdaResponse.invoke

    def invoke_response(self: Any) -> Any:
        request_qualifier.value = self.querystring.get("Qualifier", [None])[0]
        try:
            return response_invoke(self)
        finally:
            request_qualifier.value = None

    def invoke(
        self: Any,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: dict[str, str],
    ) -> bytes:
        qualifier = qualifier or getattr(request_qualifier, "value", None)
        # Raises UnknownFunctionException (HTTP 404 ResourceNotFoundException)
        # for a missing function, version or alias, as AWS does.
        fn = self.get_function(function_name, qualifier)
        response_headers["x-amz-executed-version"] = str(fn.version)
        try:
            result: Any = self.lambda_simple_results_queue.pop(0)
        except IndexError:
            result = body or "Simple Lambda happy path OK"  # moto's default: echo
        if isinstance(result, bytes):
            result = result.decode("utf-8")
        if FUNCTION_ERROR_KEY in result:
            try:
                envelope = json.loads(result)
            except ValueError:
                envelope = None
            if isinstance(envelope, dict) and FUNCTION_ERROR_KEY in envelope:
                response_headers["x-amz-function-error"] = str(envelope[FUNCTION_ERROR_KEY])
                result = json.dumps(envelope.get("payload", {}))
        return result.encode("utf-8")

    LambdaResponse.invoke = invoke_response  # type: ignore[method-assign]
    LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]


# --------------------------------------------------------------------------
# CloudWatch: Smithy RPC v2 CBOR <-> moto's AWS JSON 1.0
# --------------------------------------------------------------------------

RPC_PATH = re.compile(r"/service/([^/]+)/operation/([^/]+)")

# RPC v2 service name (= the JSON target prefix) -> botocore service name and
# SigV4 signing name. Only CloudWatch needs the bridge today.
RPC_SERVICES = {"GraniteServiceVersion20100801": ("cloudwatch", "monitoring")}

_models: dict[str, Any] = {}
_models_lock = threading.Lock()


def service_model(name: str) -> Any:
    with _models_lock:
        if name not in _models:
            import botocore.session

            _models[name] = botocore.session.get_session().get_service_model(name)
        return _models[name]


def cbor_to_json(value: Any) -> Any:
    """A decoded CBOR request as the JSON protocol has it (tag-1 datetimes ->
    epoch seconds, byte strings -> base64)."""
    if isinstance(value, dict):
        return {k: cbor_to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [cbor_to_json(v) for v in value]
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    return value


def to_datetime(value: Any) -> dt.datetime:
    """A JSON timestamp (epoch number, numeric string or ISO 8601) as an aware datetime."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)):
        return dt.datetime.fromtimestamp(value, tz=UTC)
    text = str(value).strip()
    try:
        return dt.datetime.fromtimestamp(float(text), tz=UTC)
    except ValueError:
        pass
    parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def json_to_cbor(shape: Any, value: Any) -> Any:
    """moto's JSON output as the CBOR values the SDK's decoder expects, driven
    by the botocore shape: timestamps -> datetime (encoded as tag 1), doubles
    -> float, integers -> int, blobs -> bytes; nulls are dropped."""
    if value is None or shape is None:
        return value
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if item is not None:
                out[key] = json_to_cbor(shape.members.get(key), item)
        return out
    if kind == "list" and isinstance(value, list):
        return [json_to_cbor(shape.member, item) for item in value]
    if kind == "map" and isinstance(value, dict):
        return {k: json_to_cbor(shape.value, v) for k, v in value.items() if v is not None}
    if kind == "timestamp":
        return to_datetime(value)
    if kind in ("double", "float"):
        return float(value)
    if kind in ("integer", "long", "short", "byte"):
        return int(value)
    if kind == "boolean" and isinstance(value, str):
        return value.lower() == "true"
    if kind == "blob" and isinstance(value, str):
        return base64.b64decode(value)
    return value


def call_wsgi(app: Callable, environ: dict) -> tuple[int, list[tuple[str, str]], bytes]:
    """Run a WSGI app to completion; return (status code, headers, body)."""
    captured: dict[str, Any] = {}
    chunks: list[bytes] = []

    def start_response(status: str, headers: list, exc_info: Any = None) -> Callable:
        captured["status"], captured["headers"] = status, headers
        return chunks.append

    result = app(environ, start_response)
    try:
        chunks.extend(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return int(captured["status"].split()[0]), list(captured["headers"]), b"".join(chunks)


class EmulatorApp:
    """WSGI middleware: CloudWatch RPC v2 CBOR bridge in front of moto."""

    def __init__(self, moto_app: Callable) -> None:
        self.moto_app = moto_app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        match = RPC_PATH.fullmatch(environ.get("PATH_INFO", ""))
        if environ.get("REQUEST_METHOD") == "POST" and match and match[1] in RPC_SERVICES:
            try:
                status, headers, body = self.bridge(environ, match[1], match[2])
            except Exception as exc:  # a bug here must still answer in CBOR
                status, headers, body = self.cbor_error(500, "InternalFailure", f"emulator bridge: {exc!r}")
            start_response(f"{status} {HTTPStatus(status).phrase}", headers)
            return [body]
        return self.moto_app(environ, start_response)

    @staticmethod
    def cbor_error(status: int, code: str, message: str, extra: list | None = None) -> tuple[int, list, bytes]:
        import cbor2

        body = cbor2.dumps({"__type": code, "message": message})
        headers = (extra or []) + [
            ("Content-Type", "application/cbor"),
            ("smithy-protocol", "rpc-v2-cbor"),
            ("Content-Length", str(len(body))),
        ]
        return status, headers, body

    def bridge(self, environ: dict, target_prefix: str, operation: str) -> tuple[int, list, bytes]:
        import cbor2

        service_name, signing_name = RPC_SERVICES[target_prefix]
        model = service_model(service_name)
        if operation not in model.operation_names:
            return self.cbor_error(400, "UnknownOperationException", f"unknown operation {operation}")

        # 1. CBOR request -> JSON 1.0 request.
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        if environ.get("HTTP_CONTENT_ENCODING", "").lower() == "gzip":  # PutMetricData may be compressed
            raw = gzip.decompress(raw)
        try:
            params = cbor2.loads(raw) if raw else {}
        except (cbor2.CBORDecodeError, ValueError) as exc:
            return self.cbor_error(400, "SerializationException", f"malformed CBOR request: {exc}")
        data = json.dumps(cbor_to_json(params)).encode("utf-8")

        inner = dict(environ)
        for key in ("HTTP_SMITHY_PROTOCOL", "HTTP_CONTENT_ENCODING", "HTTP_X_AMZN_QUERY_MODE"):
            inner.pop(key, None)
        inner.update(
            {
                "PATH_INFO": "/",
                "REQUEST_URI": "/",
                "RAW_URI": "/",
                "QUERY_STRING": "",
                "CONTENT_TYPE": "application/x-amz-json-1.0",
                "CONTENT_LENGTH": str(len(data)),
                "HTTP_ACCEPT": "application/json",
                "HTTP_X_AMZ_TARGET": f"{target_prefix}.{operation}",
                "wsgi.input": io.BytesIO(data),
            }
        )
        # moto picks the backend from the SigV4 credential scope's service
        # ("monitoring"); make sure an unsigned request still lands there.
        if f"/{signing_name}/" not in inner.get("HTTP_AUTHORIZATION", ""):
            inner["HTTP_AUTHORIZATION"] = (
                f"AWS4-HMAC-SHA256 Credential=testing/20000101/{REGION}/{signing_name}/aws4_request, "
                "SignedHeaders=host, Signature=0"
            )

        status, headers, body = call_wsgi(self.moto_app, inner)

        # 2. JSON answer -> CBOR answer.
        kept = [
            (k, v)
            for k, v in headers
            if k.lower() not in ("content-type", "content-length", "x-amz-crc32", "content-encoding")
        ]
        try:
            answer = json.loads(body) if body.strip() else {}
        except ValueError:
            answer = None
        if status >= 300:
            if not isinstance(answer, dict):
                return self.cbor_error(status, "InternalFailure", body.decode("utf-8", "replace")[:2000], kept)
            code = answer.get("__type") or answer.get("code") or answer.get("Code") or "InternalFailure"
            message = answer.get("message") or answer.get("Message") or ""
            return self.cbor_error(status, code, message, kept)
        if not isinstance(answer, dict):
            return self.cbor_error(500, "InternalFailure", "moto answered with non-JSON: " + body.decode("utf-8", "replace")[:2000], kept)

        output_shape = model.operation_model(operation).output_shape
        kept.append(("smithy-protocol", "rpc-v2-cbor"))
        if output_shape is None:
            # RPC v2 CBOR: an operation without output has no body and no Content-Type.
            return status, kept + [("Content-Length", "0")], b""
        out = cbor2.dumps(json_to_cbor(output_shape, answer), datetime_as_timestamp=True)
        kept += [("Content-Type", "application/cbor"), ("Content-Length", str(len(out)))]
        return status, kept, out


# --------------------------------------------------------------------------
# serve
# --------------------------------------------------------------------------


# One cheap read per service Cutover uses: (SigV4 signing name, method, path,
# content type, X-Amz-Target, body).
PREWARM_REQUESTS = (
    ("lambda", "GET", "/2015-03-31/functions/", None, None, b""),
    ("dynamodb", "POST", "/", "application/x-amz-json-1.0", "DynamoDB_20120810.ListTables", b"{}"),
    ("sns", "POST", "/", "application/x-www-form-urlencoded", None, b"Action=ListTopics&Version=2010-03-31"),
    ("iam", "POST", "/", "application/x-www-form-urlencoded", None, b"Action=ListRoles&Version=2010-05-08"),
    ("monitoring", "POST", "/service/GraniteServiceVersion20100801/operation/DescribeAlarms", "application/cbor", None, b"\xa0"),
)


def prewarm(app: Any) -> None:
    """Serve one read request per service in-process before announcing READY.
    moto builds each service's app, routing map and backend on first use
    (about 0.5 s for Lambda alone); this moves that cost into startup, so
    the first SDK call of a test is as fast as the others."""
    from werkzeug.test import EnvironBuilder

    for signing_name, method, path, content_type, target, body in PREWARM_REQUESTS:
        headers = {
            "Authorization": f"AWS4-HMAC-SHA256 Credential=testing/20000101/{REGION}/{signing_name}/aws4_request, "
            "SignedHeaders=host, Signature=0"
        }
        if target:
            headers["X-Amz-Target"] = target
        environ = EnvironBuilder(
            path=path, method=method, headers=headers, data=body, content_type=content_type, base_url="http://127.0.0.1/"
        ).get_environ()
        try:
            status, _, _ = call_wsgi(app, environ)
        except Exception as exc:  # only a speed-up: never fatal
            status = repr(exc)
        if status != 200:
            print(f"emulator.py: prewarm {signing_name}: {status}", file=sys.stderr)


def watch_parent(pid: int) -> None:
    """Exit when process `pid` is gone: a test binary that started the emulator cannot
    always stop it (statics are never dropped), so the emulator follows it out."""
    import threading

    def watch() -> None:
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:
                pass
            time.sleep(1)

    threading.Thread(target=watch, daemon=True).start()


def cmd_serve(args: argparse.Namespace) -> int:
    import logging

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    if not args.verbose:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

    # As moto.server.main builds it (moto_server), wrapped in our middleware.
    moto_app = DomainDispatcherApplication(create_backend_app)
    configure_moto()
    app = EmulatorApp(moto_app)
    prewarm(app)

    # make_server is what werkzeug's run_simple uses; calling it directly lets
    # us learn the port (for --port 0) and announce readiness after bind+listen.
    server = make_server(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)
    port = server.socket.getsockname()[1]
    os.environ["MOTO_PORT"] = str(port)  # moto's calls to itself

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    if args.port_file:
        tmp = f"{args.port_file}.tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.replace(tmp, args.port_file)
    if args.exit_with_parent:
        watch_parent(args.exit_with_parent)
    print(f"READY http://{args.host}:{port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


# --------------------------------------------------------------------------
# clients shared by seed and selftest
# --------------------------------------------------------------------------


def resolve_url(args: argparse.Namespace) -> str:
    url = getattr(args, "url", None) or os.environ.get("CUTOVER_EMULATOR_URL") or os.environ.get("AWS_ENDPOINT_URL")
    if not url:
        try:
            with open(os.path.join(REPO, ".emulator", "url")) as f:
                url = f.read().strip()
        except OSError:
            pass
    if not url:
        sys.exit("emulator.py: no emulator URL (pass --url, or run `scripts/emulator start`)")
    return url.rstrip("/")


def client(url: str, service: str) -> Any:
    import boto3

    return boto3.client(
        service,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def post_json(url: str, path: str, body: Any) -> int:
    req = urllib.request.Request(
        url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status


def queue_lambda_results(url: str, results: list[str]) -> None:
    """Queue payloads for the next invokes (moto's lambda-simple results API)."""
    post_json(url, "/moto-api/static/lambda-simple/response", {"results": results, "region": REGION})


def function_error_envelope(payload: str, error_type: str) -> str:
    return json.dumps({FUNCTION_ERROR_KEY: error_type, "payload": json.loads(payload)})


def dummy_zip() -> bytes:
    """A tiny deployment package: moto stores it, nothing runs it."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("bootstrap", "#!/bin/sh\necho cutover-emulator\n")
    return buf.getvalue()


def ensure_role(iam: Any, name: str) -> str:
    try:
        return iam.get_role(RoleName=name)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
        try:
            return iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        except iam.exceptions.EntityAlreadyExistsException:
            # Another seed created it between our two calls (tests seed in parallel).
            return iam.get_role(RoleName=name)["Role"]["Arn"]


def seed_function(url: str, name: str, versions: int, alias: str | None, alias_version: str | None, role_name: str) -> dict:
    lam = client(url, "lambda")
    role_arn = ensure_role(client(url, "iam"), role_name)
    try:
        arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    except lam.exceptions.ResourceNotFoundException:
        arn = lam.create_function(
            FunctionName=name,
            Runtime="provided.al2023",
            Role=role_arn,
            Handler="bootstrap",
            Code={"ZipFile": dummy_zip()},
            Description="seeded by scripts/emulator.py",
        )["FunctionArn"]
    published = []
    for _ in range(versions):
        # Change the configuration first so each publish is a distinct version.
        stamp = f"{time.time_ns()}"
        lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"CUTOVER_SEED": stamp}})
        published.append(lam.publish_version(FunctionName=name, Description=f"seed {stamp}")["Version"])
    result: dict[str, Any] = {"functionArn": arn, "versions": published, "alias": None}
    if alias:
        target = alias_version or (published[0] if published else "$LATEST")
        try:
            lam.get_alias(FunctionName=name, Name=alias)
            alias_arn = lam.update_alias(
                FunctionName=name,
                Name=alias,
                FunctionVersion=target,
                RoutingConfig={"AdditionalVersionWeights": {}},  # drop any weights left from before
            )["AliasArn"]
        except lam.exceptions.ResourceNotFoundException:
            alias_arn = lam.create_alias(FunctionName=name, Name=alias, FunctionVersion=target)["AliasArn"]
        result.update(alias=alias_arn, aliasName=alias, aliasVersion=target)
    return result


def seed_alarm(url: str, name: str, state: str, dimensions: list[dict]) -> dict:
    cw = client(url, "cloudwatch")
    cw.put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Dimensions=dimensions,
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
    )
    cw.set_alarm_state(AlarmName=name, StateValue=state, StateReason="seeded by scripts/emulator.py")
    alarm = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    updated = alarm.get("StateUpdatedTimestamp")
    updated_ms = int(updated.timestamp() * 1000) if updated else None
    return {"alarmName": name, "alarmArn": alarm["AlarmArn"], "state": alarm["StateValue"], "stateUpdatedMs": updated_ms}


def cmd_seed(args: argparse.Namespace) -> int:
    url = resolve_url(args)
    if args.what == "lambda":
        out = seed_function(url, args.name, args.versions, args.alias, args.alias_version, args.role_name)
    elif args.what == "alarm":
        dims = []
        for d in args.dimension or []:
            key, sep, value = d.partition("=")
            if not sep:
                sys.exit(f"emulator.py: --dimension wants Name=Value, got {d!r}")
            dims.append({"Name": key, "Value": value})
        out = seed_alarm(url, args.name, args.state, dims)
    else:  # hook-response
        results = []
        for r in args.result:
            try:
                json.loads(r)
            except ValueError as exc:
                sys.exit(f"emulator.py: --result is not JSON ({exc}): {r!r}")
            results.append(function_error_envelope(r, args.function_error) if args.function_error else r)
        queue_lambda_results(url, results)
        out = {"queued": len(results)}
    print(json.dumps(out))
    return 0


# --------------------------------------------------------------------------
# selftest
# --------------------------------------------------------------------------


def cbor_rpc(url: str, operation: str, params: dict) -> tuple[int, dict, Any]:
    """One CloudWatch call exactly as aws-sdk-cloudwatch sends it (RPC v2 CBOR,
    SigV4 for `monitoring`). Returns (status, headers, decoded body) with tag-1
    timestamps left as CBORTag(1, epoch) so they can be seen as such."""
    import cbor2
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    body = cbor2.dumps(params, datetime_as_timestamp=True)
    request = AWSRequest(
        method="POST",
        url=f"{url}/service/GraniteServiceVersion20100801/operation/{operation}",
        data=body,
        headers={
            "Content-Type": "application/cbor",
            "Accept": "application/cbor",
            "smithy-protocol": "rpc-v2-cbor",
            "x-amzn-query-mode": "true",
        },
    )
    SigV4Auth(Credentials("testing", "testing"), "monitoring", REGION).add_auth(request)
    prepared = request.prepare()
    req = urllib.request.Request(prepared.url, data=body, headers=dict(prepared.headers), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, headers, raw = resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        status, headers, raw = err.code, dict(err.headers), err.read()
    decoded = cbor2.loads(raw, semantic_decoders={1: lambda value, immutable: cbor2.CBORTag(1, value)}) if raw else None
    return status, {k.lower(): v for k, v in headers.items()}, decoded


class Checks:
    def __init__(self) -> None:
        self.passed = self.failed = 0

    def check(self, name: str, ok: bool, detail: Any = "") -> bool:
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' if detail != '' else ''}{detail}", flush=True)
        return ok


def cmd_selftest(args: argparse.Namespace) -> int:
    import cbor2

    url = resolve_url(args)
    t = Checks()
    run = f"selftest-{time.time_ns() % 10**10}"  # unique names: rerunnable on one emulator

    # DynamoDB
    ddb = client(url, "dynamodb")
    ddb.create_table(
        TableName=run,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.put_item(TableName=run, Item={"pk": {"S": "k"}, "v": {"N": "1"}})
    item = ddb.get_item(TableName=run, Key={"pk": {"S": "k"}}).get("Item")
    t.check("dynamodb create_table/put/get", item == {"pk": {"S": "k"}, "v": {"N": "1"}}, item)

    # Lambda: role, function, two versions, alias live -> 1, then weighted.
    lam = client(url, "lambda")
    seeded = seed_function(url, run, 2, "live", "1", f"{run}-role")
    t.check("lambda create + publish 2 versions", seeded["versions"] == ["1", "2"], seeded["versions"])
    lam.update_alias(FunctionName=run, Name="live", RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}})
    alias = lam.get_alias(FunctionName=run, Name="live")
    t.check(
        "get_alias keeps RoutingConfig after update_alias",
        alias.get("RoutingConfig") == {"AdditionalVersionWeights": {"2": 0.1}} and alias["FunctionVersion"] == "1",
        {"FunctionVersion": alias["FunctionVersion"], "RoutingConfig": alias.get("RoutingConfig")},
    )

    # Invoke: echo, queued result, function error, unknown function.
    resp = lam.invoke(FunctionName=run, Qualifier="live", InvocationType="RequestResponse", Payload=b'{"ping": 1}')
    payload = resp["Payload"].read()
    t.check(
        "invoke echoes the payload (no queued result)",
        payload == b'{"ping": 1}' and resp["StatusCode"] == 200 and "FunctionError" not in resp,
        {"payload": payload, "ExecutedVersion": resp.get("ExecutedVersion")},
    )
    t.check("invoke of alias live -> ExecutedVersion 1", resp.get("ExecutedVersion") == "1", resp.get("ExecutedVersion"))
    resp = lam.invoke(FunctionName=run, Qualifier="2", Payload=b"{}")
    t.check("invoke of version 2 -> ExecutedVersion 2", resp.get("ExecutedVersion") == "2", resp.get("ExecutedVersion"))
    try:
        lam.invoke(FunctionName=run, Qualifier="nope", Payload=b"{}")
        t.check("invoke of an unknown alias -> ResourceNotFoundException", False, "no error")
    except lam.exceptions.ResourceNotFoundException:
        t.check("invoke of an unknown alias -> ResourceNotFoundException", True)
    queue_lambda_results(url, ['{"status": "Succeeded"}', function_error_envelope('{"errorMessage": "boom"}', "Unhandled")])
    first = lam.invoke(FunctionName=run, Payload=b"{}")
    first_payload = first["Payload"].read()
    t.check("invoke returns the queued result", first_payload == b'{"status": "Succeeded"}', first_payload)
    second = lam.invoke(FunctionName=run, Payload=b"{}")
    second_payload = second["Payload"].read()
    t.check(
        "queued function error -> FunctionError",
        second.get("FunctionError") == "Unhandled" and second_payload == b'{"errorMessage": "boom"}',
        {"FunctionError": second.get("FunctionError"), "payload": second_payload},
    )
    try:
        lam.invoke(FunctionName=f"{run}-missing", Payload=b"{}")
        t.check("invoke of an unknown function -> ResourceNotFoundException", False, "no error")
    except lam.exceptions.ResourceNotFoundException:
        t.check("invoke of an unknown function -> ResourceNotFoundException", True)

    # CloudWatch over RPC v2 CBOR, through the bridge.
    alarm = f"{run}-alarm"
    status, headers, body = cbor_rpc(
        url,
        "PutMetricAlarm",
        {
            "AlarmName": alarm,
            "Namespace": "AWS/Lambda",
            "MetricName": "Errors",
            "Dimensions": [{"Name": "FunctionName", "Value": run}],
            "Statistic": "Sum",
            "Period": 60,
            "EvaluationPeriods": 1,
            "Threshold": 1.0,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        },
    )
    t.check(
        "cbor PutMetricAlarm",
        status == 200 and headers.get("smithy-protocol") == "rpc-v2-cbor" and body is None,
        {"status": status, "smithy-protocol": headers.get("smithy-protocol")},
    )

    def describe() -> dict | None:
        status, headers, body = cbor_rpc(url, "DescribeAlarms", {"AlarmNames": [alarm]})
        ok = status == 200 and headers.get("content-type") == "application/cbor"
        alarms = (body or {}).get("MetricAlarms", [])
        return alarms[0] if ok and len(alarms) == 1 else None

    before = describe()
    t.check("cbor DescribeAlarms (AlarmNames filter)", before is not None, before and before.get("StateValue"))
    time.sleep(1.1)
    status, _, body = cbor_rpc(
        url, "SetAlarmState", {"AlarmName": alarm, "StateValue": "ALARM", "StateReason": "selftest"}
    )
    t.check("cbor SetAlarmState ALARM", status == 200, status)
    after = describe() or {}
    stamp = after.get("StateUpdatedTimestamp")
    t.check(
        "StateValue ALARM, timestamps are CBOR tag 1",
        after.get("StateValue") == "ALARM"
        and all(
            isinstance(after.get(k), cbor2.CBORTag) and after[k].tag == 1
            for k in ("StateUpdatedTimestamp", "AlarmConfigurationUpdatedTimestamp")
        )
        and isinstance(after.get("Threshold"), float),
        {"StateValue": after.get("StateValue"), "StateUpdatedTimestamp": stamp, "Threshold": after.get("Threshold")},
    )
    old = (before or {}).get("StateUpdatedTimestamp")
    t.check(
        "StateUpdatedTimestamp moves on SetAlarmState",
        isinstance(old, cbor2.CBORTag) and isinstance(stamp, cbor2.CBORTag) and stamp.value > old.value,
        {"before": getattr(old, "value", old), "after": getattr(stamp, "value", stamp)},
    )
    status, headers, body = cbor_rpc(url, "SetAlarmState", {"AlarmName": f"{alarm}-missing", "StateValue": "OK", "StateReason": "x"})
    t.check(
        "cbor error keeps status, __type and x-amzn-query-error",
        status == 404 and isinstance(body, dict) and "ResourceNotFound" in str(body.get("__type")),
        {"status": status, "body": body, "x-amzn-query-error": headers.get("x-amzn-query-error")},
    )
    status, _, _ = cbor_rpc(url, "DeleteAlarms", {"AlarmNames": [alarm]})
    t.check("cbor DeleteAlarms", status == 200 and describe() is None, status)

    print(f"selftest: {t.passed} passed, {t.failed} failed", flush=True)
    return 0 if t.failed == 0 else 1


# --------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Cutover's local AWS emulator (moto + CloudWatch CBOR bridge).")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the emulator in the foreground")
    serve.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = any free port)")
    serve.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    serve.add_argument("--port-file", help="write the port here once ready")
    serve.add_argument("--exit-with-parent", type=int, metavar="PID", help="exit when process PID ends")
    serve.add_argument("--verbose", action="store_true", help="log every request to stderr")
    serve.set_defaults(func=cmd_serve)

    # --url is accepted before or after the seed kind.
    url_opt = argparse.ArgumentParser(add_help=False)
    url_opt.add_argument("--url", default=argparse.SUPPRESS, help="emulator URL")

    selftest = sub.add_parser("selftest", parents=[url_opt], help="check a running emulator")
    selftest.set_defaults(func=cmd_selftest)

    seed = sub.add_parser("seed", parents=[url_opt], help="create resources in a running emulator")
    seed.set_defaults(func=cmd_seed)
    kinds = seed.add_subparsers(dest="what", required=True)

    fn = kinds.add_parser("lambda", parents=[url_opt], help="IAM role + function + versions + alias")
    fn.add_argument("--name", required=True)
    fn.add_argument("--versions", type=int, default=1, help="versions to publish (default 1)")
    fn.add_argument("--alias", help="alias to create or move")
    fn.add_argument("--alias-version", help="version the alias points at (default: first published)")
    fn.add_argument("--role-name", default="cutover-emulator-lambda-role")

    alarm = kinds.add_parser("alarm", parents=[url_opt], help="metric alarm on AWS/Lambda Errors")
    alarm.add_argument("--name", required=True)
    alarm.add_argument("--state", default="OK", choices=["OK", "ALARM", "INSUFFICIENT_DATA"])
    alarm.add_argument("--dimension", action="append", metavar="NAME=VALUE")

    hook = kinds.add_parser("hook-response", parents=[url_opt], help="queue Lambda invoke results")
    hook.add_argument("--result", action="append", required=True, metavar="JSON", help="payload of one invoke (repeatable)")
    hook.add_argument("--function-error", metavar="TYPE", help="return the results as function errors (e.g. Unhandled)")

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
