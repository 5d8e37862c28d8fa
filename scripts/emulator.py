#!/usr/bin/env python3
"""Cutover's local AWS emulator: moto's server on loopback, plus three additions.

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

* ECS blue/green through ALB weighted target groups (CreateTaskSet,
  DescribeTaskSets, UpdateServicePrimaryTaskSet, DeleteTaskSet, ModifyListener
  with a weighted ForwardConfig, DescribeTargetGroups' LoadBalancerArns...).
  patch_ecs and patch_elbv2 fix moto where it is wrong (their docstrings list
  each fix and why). In short: CreateTaskSet no longer crashes trying to run
  tasks; task sets report computedDesiredCount = ceil(service desiredCount *
  scale% / 100) and are STEADY_STATE with runningCount = computedDesiredCount
  - unless their task definition is tagged `cutover-emulator:stability` =
  `STABILIZING`, which keeps them STABILIZING with runningCount 0 forever
  (tag at RegisterTaskDefinition, or TagResource / UntagResource on the task
  definition at any time: it is read live); a target group's LoadBalancerArns
  are the load balancers whose listeners forward to it (weight 0 included).
  These patches import moto's ECS (2-5 s), so they are applied in a
  background thread right after READY; ECS and ELBv2 requests arriving before
  that wait for it.

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
  - ECS: a new task set is ACTIVE (make it PRIMARY with
    UpdateServicePrimaryTaskSet); UpdateServicePrimaryTaskSet also sets the
    service's taskDefinition and loadBalancers to the task set's. An EXTERNAL
    service keeps runningCount 0 / pendingCount desiredCount and `deployments`
    empty whatever its task sets do (read the task sets). No tasks exist
    (ListTasks is empty). DescribeTaskSets of an unknown task set ARN returns
    it nowhere and reports no failure.
  - ELBv2: any weights are accepted (all 0, sums other than 100); a
    ForwardConfig with one target group reads back without a top-level
    TargetGroupArn. Target health is not modelled.

Usage (the venv comes from scripts/install-emulator; scripts/emulator wraps
start/stop):

  emulator.py serve [--port N] [--port-file PATH] [--verbose]
      Serve on 127.0.0.1:N (0 = any free port). Prints exactly one line
      `READY http://127.0.0.1:PORT` on stdout once the socket accepts
      connections; writes PORT to --port-file at that moment too. Runs until
      SIGTERM / SIGINT. Request logging goes to stderr with --verbose.

  emulator.py selftest [--url URL]
      Exercises a running emulator (DynamoDB, IAM, Lambda versions, aliases,
      invoke and queued results, CloudWatch over genuine RPC v2 CBOR, and an
      ECS blue/green on `seed ecs`: replacement task set, weighted listener
      shifts, primary flip, deletion, an unstable revision, the errors) and
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
  emulator.py seed [--url URL] ecs --name N [--unstable-revision K ...]
                                   [--revisions R] [--desired-count D]
                                   [--listener-style weighted|plain]
      An ECS blue/green fixture, every name derived from N (so parallel seeds
      with distinct N share one emulator; the same N twice fails):
        - VPC 10.0.0.0/16 with subnets 10.0.1.0/24 (us-east-1a), 10.0.2.0/24
          (us-east-1b), security group N;
        - internet-facing ALB N; target groups N-blue, N-green (ip, HTTP:80);
          production listener HTTP:80: by default (weighted) a ForwardConfig
          blue 100 / green 0, which associates both target groups with the
          ALB (ECS refuses to attach a service to a target group that has no
          load balancer) and is the shape Cutover shifts with; `plain` is a
          forward to blue alone (the CodeDeploy tutorial's shape; green then
          has no LoadBalancerArns until a listener forwards to it).
          Test listener HTTP:8080: forward to blue;
        - ALB N-other with target group N-other and a listener HTTP:80
          forwarding to it (a load balancer unrelated to blue/green);
        - ECS cluster N; task definition family N, revisions 1..R (default 3;
          FARGATE, awsvpc, 256 CPU / 512 MiB, container `web` on port 80);
          each --unstable-revision K is registered with the tag
          cutover-emulator:stability=STABILIZING (its task sets never
          stabilise);
        - service N: deploymentController EXTERNAL, desiredCount D (default
          2), launchType FARGATE, with one task set (externalId N-original)
          on revision 1, FARGATE, awsvpc, behind N-blue (web:80), scale 100 %,
          made PRIMARY;
        - service N-ecs on the same cluster: default (ECS) deployment
          controller, revision 1, desiredCount 1.
      ELB names longer than 32 characters are shortened (N cut, plus 8 hex
      digits of a hash of N). Prints JSON {"cluster", "clusterArn", "service",
      "serviceArn", "desiredCount", "taskDefinitionFamily", "taskDefinitions"
      (ARNs of revisions 1..R), "unstableRevisions", "containerName",
      "containerPort", "originalTaskSetArn", "originalTaskSetId",
      "originalExternalId", "loadBalancerArn", "loadBalancerName",
      "blueTargetGroupArn", "blueTargetGroupName", "greenTargetGroupArn",
      "greenTargetGroupName", "listenerStyle", "productionListenerArn",
      "testListenerArn", "otherLoadBalancerArn", "otherLoadBalancerName",
      "otherTargetGroupArn", "otherTargetGroupName", "otherListenerArn", "vpc",
      "subnets", "securityGroups", "ecsControllerService",
      "ecsControllerServiceArn"}.

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
# ECS task sets and ELBv2 weighted listeners (ECS blue/green)
# --------------------------------------------------------------------------

# Tag of a task definition whose task sets never stabilise (see patch_ecs).
STABILITY_TAG = "cutover-emulator:stability"


def patch_ecs() -> None:
    """Make moto's ECS task sets usable for an EXTERNAL-controller blue/green:

    - CreateTaskSet no longer runs tasks. moto's run_task crashed (HTTP 500)
      on any Fargate task definition whose containers have no memory of their
      own (cpu/memory set only at task level) - after the task set had
      already been added, so the SDK's retries piled up extra task sets - and
      with a capacityProviderStrategy it was refused outright, as moto forced
      launchType EC2 next to it. Tasks are not needed: the task set's counts
      are computed (below).
    - A task set's computedDesiredCount (absent in moto) is
      ceil(service desiredCount * scale% / 100), read live, so UpdateService
      desiredCount and UpdateTaskSet scale move it. stabilityStatus is
      STEADY_STATE with runningCount = computedDesiredCount, pendingCount 0;
      but if its task definition carries the tag
      `cutover-emulator:stability` = `STABILIZING` (also read live, so
      TagResource / UntagResource on the task definition flip it), it is
      STABILIZING with runningCount 0 and pendingCount = computedDesiredCount,
      forever.
    - CreateTaskSet is idempotent on clientToken (as AWS is), omits launchType
      when a capacityProviderStrategy is given, and refuses both at once.
    - Task set operations on a service whose deployment controller is not
      EXTERNAL fail with AWS's InvalidParameterException (moto accepted them).
    - UpdateServicePrimaryTaskSet accepts the task set's id as well as its ARN
      (moto matched only the ARN and, given an id, made every task set ACTIVE).
      An unknown task set is ClientException "The specified task set does not
      exist." (moto: HTTP 500), as for DeleteTaskSet / UpdateTaskSet.
    - DeleteTaskSet answers the task set with status DRAINING (as AWS does); it
      is gone from DescribeTaskSets at once (AWS keeps it DRAINING for a while).
    """
    import math

    from moto.ecs import models
    from moto.ecs.exceptions import InvalidParameterException, TaskSetNotFoundException

    task_set_cls = models.TaskSet
    backend_cls = models.EC2ContainerServiceBackend

    def stabilizing(ts: Any) -> bool:
        td = getattr(ts, "_cutover_task_definition", None)
        tags = (td.tags or []) if td is not None else []
        return any(t.get("key") == STABILITY_TAG and t.get("value") == "STABILIZING" for t in tags)

    def computed_desired_count(ts: Any) -> int:
        service = getattr(ts, "_cutover_service", None)
        scale = ts.scale or {}
        if service is None or scale.get("unit", "PERCENT") != "PERCENT":
            return 0
        return math.ceil(round((service.desired_count or 0) * float(scale.get("value", 100)) / 100, 9))

    def stability_status(ts: Any) -> str:
        return "STABILIZING" if stabilizing(ts) else "STEADY_STATE"

    # moto's serializer looks attributes up as `computedDesiredCount`, then
    # `computed_desired_count`; TaskSet.__init__ assigns stabilityStatus,
    # which the property's setter ignores.
    task_set_cls.stabilityStatus = property(stability_status, lambda ts, value: None)
    task_set_cls.computed_desired_count = property(computed_desired_count)
    task_set_cls.running_count = property(lambda ts: 0 if stabilizing(ts) else computed_desired_count(ts))
    task_set_cls.pending_count = property(lambda ts: computed_desired_count(ts) if stabilizing(ts) else 0)

    def external_service(backend: Any, cluster: str, service: str) -> Any:
        svc = backend._get_service(cluster or "default", service.split("/")[-1])
        if (svc.deployment_controller or {}).get("type") != "EXTERNAL":
            raise InvalidParameterException(
                "Amazon ECS only supports task set management on services configured to use external deployment controllers."
            )
        return svc

    def find_task_set(backend: Any, cluster: str, service: str, task_set: str) -> Any:
        found = backend.describe_task_sets(cluster or "default", service, [task_set])
        if not found:
            raise TaskSetNotFoundException
        return found[0]

    create_task_set = backend_cls.create_task_set

    def create_task_set_patched(
        self: Any,
        service: str,
        cluster_str: str,
        task_definition: str,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        svc = external_service(self, cluster_str, service)
        launch_type = kwargs.get("launch_type")
        strategy = kwargs.get("capacity_provider_strategy")
        if launch_type and strategy:
            raise InvalidParameterException("Specify either a launchType or a capacityProviderStrategy, but not both.")
        token = kwargs.get("client_token")
        if token:
            for ts in svc.task_sets:
                if ts.client_token == token:
                    return ts
        scale = kwargs.pop("scale", None)
        # scale=None skips moto's run_task; the real scale is set right after.
        ts = create_task_set(self, service, cluster_str, task_definition, *args, scale=None, **kwargs)
        if scale:
            ts.scale = scale
        if strategy and not launch_type:
            ts.launch_type = None
        ts._cutover_service = svc
        ts._cutover_task_definition = self.describe_task_definition(task_definition)
        return ts

    update_primary = backend_cls.update_service_primary_task_set

    def update_primary_patched(self: Any, cluster: str, service: str, primary_task_set: str) -> Any:
        external_service(self, cluster, service)
        ts = find_task_set(self, cluster, service, primary_task_set)
        return update_primary(self, cluster or "default", service, ts.task_set_arn)

    delete_task_set = backend_cls.delete_task_set

    def delete_task_set_patched(self: Any, cluster: str, service: str, task_set: str, *args: Any, **kwargs: Any) -> Any:
        external_service(self, cluster, service)
        ts = find_task_set(self, cluster, service, task_set)
        deleted = delete_task_set(self, cluster or "default", service, ts.task_set_arn, *args, **kwargs)
        deleted.status = "DRAINING"
        return deleted

    update_task_set = backend_cls.update_task_set

    def update_task_set_patched(self: Any, cluster: str, service: str, task_set: str, scale: Any) -> Any:
        external_service(self, cluster, service)
        find_task_set(self, cluster, service, task_set)
        return update_task_set(self, cluster or "default", service, task_set, scale)

    backend_cls.create_task_set = create_task_set_patched  # type: ignore[method-assign]
    backend_cls.update_service_primary_task_set = update_primary_patched  # type: ignore[method-assign]
    backend_cls.delete_task_set = delete_task_set_patched  # type: ignore[method-assign]
    backend_cls.update_task_set = update_task_set_patched  # type: ignore[method-assign]


def patch_elbv2() -> None:
    """Fix what moto's ELBv2 gets wrong around weighted forwards:

    - A target group's LoadBalancerArns is computed from the listeners and
      rules that forward to it (plain TargetGroupArn or ForwardConfig, any
      weight, 0 included), each load balancer once. moto appended the ALB on
      CreateListener / CreateRule only (twice for two listeners of one ALB),
      never on ModifyListener, and never removed it.
    - ModifyListener validates its forward actions like CreateListener does
      (unknown target group -> TargetGroupNotFound; moto stored anything), and
      both refuse a target group already used by another load balancer with
      TargetGroupAssociationLimit (an ALB target group serves one load
      balancer).
    - A plain forward (`TargetGroupArn` only) reads back, as on AWS, with a
      ForwardConfig too: that one target group at weight 1, stickiness off
      (moto returned the TargetGroupArn alone). A weighted ForwardConfig reads
      back as sent (moto gets that right, weight 0 included).
    """
    from moto.elbv2 import models
    from moto.elbv2.exceptions import ELBClientError

    backend_cls = models.ELBv2Backend

    def forwarded_target_groups(backend: Any, action: Any) -> list[str]:
        if getattr(action, "type", None) != "forward":
            return []
        return list(backend._get_target_group_arns_from(action_data=action.data))

    def load_balancer_arns(tg: Any) -> list[str]:
        backend = models.elbv2_backends[tg.account_id][tg.region_name]
        found: list[str] = []
        for lb_arn, lb in list(backend.load_balancers.items()):
            for listener in list(lb.listeners.values()):
                for rule in list(listener.rules.values()):
                    if any(tg.arn in forwarded_target_groups(backend, a) for a in rule.actions) and lb_arn not in found:
                        found.append(lb_arn)
        return found

    # FakeTargetGroup.__init__ assigns [] and moto appends to the (computed,
    # throw-away) list; both are harmless against the property.
    models.FakeTargetGroup.load_balancer_arns = property(load_balancer_arns, lambda tg, value: None)

    action_init = models.FakeAction.__init__

    def action_init_patched(self: Any, data: dict[str, Any]) -> None:
        action_init(self, data)
        # Only the serialised view changes: `data` (what moto reads to find
        # target groups) keeps the plain form.
        if self.type == "forward" and "TargetGroupArn" in data and "ForwardConfig" not in data:
            self.ForwardConfig = {
                "TargetGroups": [{"TargetGroupArn": data["TargetGroupArn"], "Weight": 1}],
                "TargetGroupStickinessConfig": {"Enabled": False},
            }

    models.FakeAction.__init__ = action_init_patched  # type: ignore[method-assign]

    def check_association(backend: Any, lb_arn: str, actions: list[dict[str, Any]]) -> None:
        fake = [models.FakeAction(dict(a)) for a in actions]
        backend._validate_actions(fake)
        for action in fake:
            for arn in forwarded_target_groups(backend, action):
                others = [a for a in backend.target_groups[arn].load_balancer_arns if a != lb_arn]
                if others:
                    raise ELBClientError(
                        "TargetGroupAssociationLimit",
                        f"The following target groups cannot be associated with more than one load balancer: {arn}",
                    )

    modify_listener = backend_cls.modify_listener

    def modify_listener_patched(self: Any, arn: str, *args: Any, **kwargs: Any) -> Any:
        actions = kwargs.get("actions", args[4] if len(args) > 4 else None)
        if actions:
            listener = self.describe_listeners(load_balancer_arn=None, listener_arns=[arn])[0]
            check_association(self, listener.load_balancer_arn, actions)
        return modify_listener(self, arn, *args, **kwargs)

    create_listener = backend_cls.create_listener

    def create_listener_patched(self: Any, load_balancer_arn: str, *args: Any, **kwargs: Any) -> Any:
        actions = kwargs.get("actions", args[4] if len(args) > 4 else None)
        if actions and load_balancer_arn in self.load_balancers:
            check_association(self, load_balancer_arn, actions)
        return create_listener(self, load_balancer_arn, *args, **kwargs)

    backend_cls.modify_listener = modify_listener_patched  # type: ignore[method-assign]
    backend_cls.create_listener = create_listener_patched  # type: ignore[method-assign]


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


# SigV4 credential scope of the services whose moto models patch_ecs /
# patch_elbv2 change (ELBv2 signs as elasticloadbalancing).
PATCHED_SCOPE = re.compile(r"/(ecs|elasticloadbalancing)/aws4_request")


class EmulatorApp:
    """WSGI middleware: CloudWatch RPC v2 CBOR bridge in front of moto; ECS and
    ELBv2 requests wait until their patches are in (see cmd_serve)."""

    def __init__(self, moto_app: Callable) -> None:
        self.moto_app = moto_app
        self.patched = threading.Event()
        self.patched.set()  # cmd_serve clears it while patching in the background

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if not self.patched.is_set() and PATCHED_SCOPE.search(environ.get("HTTP_AUTHORIZATION", "")):
            self.patched.wait(timeout=120)
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

# The same for ECS blue/green, warmed in the background after READY (see
# cmd_serve): importing moto's ECS (which pulls in EC2) alone takes 2-5 s,
# which test binaries that never touch ECS should not pay at startup.
PREWARM_ECS_REQUESTS = (
    ("ecs", "POST", "/", "application/x-amz-json-1.1", "AmazonEC2ContainerServiceV20141113.ListClusters", b"{}"),
    ("elasticloadbalancing", "POST", "/", "application/x-www-form-urlencoded", None, b"Action=DescribeLoadBalancers&Version=2015-12-01"),
    ("ec2", "POST", "/", "application/x-www-form-urlencoded", None, b"Action=DescribeVpcs&Version=2016-11-15"),
)


def prewarm(app: Any, requests: Iterable[tuple] = PREWARM_REQUESTS) -> None:
    """Serve one read request per service in-process before announcing READY.
    moto builds each service's app, routing map and backend on first use
    (about 0.5 s for Lambda alone); this moves that cost into startup, so
    the first SDK call of a test is as fast as the others."""
    from werkzeug.test import EnvironBuilder

    for signing_name, method, path, content_type, target, body in requests:
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

    # ECS / ELBv2: patch (which imports moto's models) and warm up in the
    # background; until the patches are in, ECS and ELBv2 requests wait.
    def set_up_ecs() -> None:
        try:
            patch_ecs()
            patch_elbv2()
        except Exception:  # serve unpatched rather than hang those requests
            import traceback

            traceback.print_exc()
        finally:
            app.patched.set()
        prewarm(moto_app, PREWARM_ECS_REQUESTS)

    app.patched.clear()

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
    threading.Thread(target=set_up_ecs, name="ecs-setup", daemon=True).start()
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


def elb_name(base: str, suffix: str = "") -> str:
    """An ELB / target group name (<= 32 characters, letters, digits and
    hyphens, no hyphen at either end) for `base` + `suffix`: that string when
    it fits, else `base` cut short plus 8 hex digits of its hash, so distinct
    long bases stay distinct."""
    import hashlib

    clean = re.sub(r"[^A-Za-z0-9-]", "-", base).strip("-") or "x"
    name = f"{clean}{suffix}"
    if len(name) <= 32 and clean == base:
        return name
    digest = hashlib.sha1(base.encode()).hexdigest()[:8]
    return f"{clean[: 32 - len(suffix) - 9].rstrip('-')}-{digest}{suffix}"


def seed_ecs(
    url: str,
    name: str,
    revisions: int,
    unstable: list[int],
    desired_count: int,
    listener_style: str,
) -> dict:
    """ECS blue/green fixture (see the module docstring, `seed ecs`)."""
    ec2, elb, ecs = client(url, "ec2"), client(url, "elbv2"), client(url, "ecs")
    tags = [{"Key": "Name", "Value": name}]

    # Network: one VPC per seed, so seeds never collide on CIDRs or names.
    vpc = ec2.create_vpc(
        CidrBlock="10.0.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": tags}]
    )["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(
            VpcId=vpc,
            CidrBlock=f"10.0.{i}.0/24",
            AvailabilityZone=f"{REGION}{zone}",
            TagSpecifications=[{"ResourceType": "subnet", "Tags": tags}],
        )["Subnet"]["SubnetId"]
        for i, zone in ((1, "a"), (2, "b"))
    ]
    sg = ec2.create_security_group(GroupName=name, Description=f"seeded by scripts/emulator.py for {name}", VpcId=vpc)[
        "GroupId"
    ]

    def load_balancer(lb_name: str) -> str:
        return elb.create_load_balancer(
            Name=lb_name, Subnets=subnets, SecurityGroups=[sg], Scheme="internet-facing", Type="application", IpAddressType="ipv4"
        )["LoadBalancers"][0]["LoadBalancerArn"]

    def target_group(tg_name: str) -> str:
        return elb.create_target_group(
            Name=tg_name, Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip", HealthCheckPath="/"
        )["TargetGroups"][0]["TargetGroupArn"]

    def listener(lb: str, port: int, actions: list[dict]) -> str:
        return elb.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=port, DefaultActions=actions)["Listeners"][0][
            "ListenerArn"
        ]

    lb_name, other_lb_name = elb_name(name), elb_name(name, "-other")
    blue_name, green_name, other_tg_name = elb_name(name, "-blue"), elb_name(name, "-green"), elb_name(name, "-other")
    lb = load_balancer(lb_name)
    blue, green = target_group(blue_name), target_group(green_name)
    if listener_style == "weighted":
        production_actions = [
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [{"TargetGroupArn": blue, "Weight": 100}, {"TargetGroupArn": green, "Weight": 0}],
                    "TargetGroupStickinessConfig": {"Enabled": False},
                },
            }
        ]
    else:
        production_actions = [{"Type": "forward", "TargetGroupArn": blue}]
    production = listener(lb, 80, production_actions)
    test = listener(lb, 8080, [{"Type": "forward", "TargetGroupArn": blue}])
    other_lb = load_balancer(other_lb_name)
    other_tg = target_group(other_tg_name)
    other_listener = listener(other_lb, 80, [{"Type": "forward", "TargetGroupArn": other_tg}])

    # ECS: cluster, task definition revisions, EXTERNAL service + original task set.
    cluster_arn = ecs.create_cluster(clusterName=name)["cluster"]["clusterArn"]
    task_definitions = []
    for rev in range(1, revisions + 1):
        td = ecs.register_task_definition(
            family=name,
            requiresCompatibilities=["FARGATE"],
            networkMode="awsvpc",
            cpu="256",
            memory="512",
            containerDefinitions=[
                {
                    "name": "web",
                    "image": "public.ecr.aws/nginx/nginx:latest",
                    "essential": True,
                    "portMappings": [{"containerPort": 80, "protocol": "tcp"}],
                    "environment": [{"name": "CUTOVER_SEED_REVISION", "value": str(rev)}],
                }
            ],
            # Only tag when there is one: an empty tags list is refused by AWS.
            **({"tags": [{"key": STABILITY_TAG, "value": "STABILIZING"}]} if rev in unstable else {}),
        )["taskDefinition"]
        task_definitions.append(td["taskDefinitionArn"])

    network = {"awsvpcConfiguration": {"subnets": subnets, "securityGroups": [sg], "assignPublicIp": "DISABLED"}}
    service_arn = ecs.create_service(
        cluster=name,
        serviceName=name,
        desiredCount=desired_count,
        launchType="FARGATE",
        deploymentController={"type": "EXTERNAL"},
        schedulingStrategy="REPLICA",
    )["service"]["serviceArn"]
    original = ecs.create_task_set(
        cluster=name,
        service=name,
        taskDefinition=task_definitions[0],
        externalId=f"{name}-original",
        networkConfiguration=network,
        loadBalancers=[{"targetGroupArn": blue, "containerName": "web", "containerPort": 80}],
        launchType="FARGATE",
        platformVersion="LATEST",
        scale={"value": 100.0, "unit": "PERCENT"},
        clientToken=f"{name}-original",
    )["taskSet"]
    ecs.update_service_primary_task_set(cluster=name, service=name, primaryTaskSet=original["taskSetArn"])

    # A service on the default (ECS) deployment controller.
    ecs_controller = f"{name}-ecs"
    ecs_controller_arn = ecs.create_service(
        cluster=name,
        serviceName=ecs_controller,
        taskDefinition=task_definitions[0],
        desiredCount=1,
        launchType="FARGATE",
        networkConfiguration=network,
    )["service"]["serviceArn"]

    return {
        "cluster": name,
        "clusterArn": cluster_arn,
        "service": name,
        "serviceArn": service_arn,
        "desiredCount": desired_count,
        "taskDefinitionFamily": name,
        "taskDefinitions": task_definitions,
        "unstableRevisions": sorted(set(unstable)),
        "containerName": "web",
        "containerPort": 80,
        "originalTaskSetArn": original["taskSetArn"],
        "originalTaskSetId": original["id"],
        "originalExternalId": original.get("externalId"),
        "loadBalancerArn": lb,
        "loadBalancerName": lb_name,
        "blueTargetGroupArn": blue,
        "blueTargetGroupName": blue_name,
        "greenTargetGroupArn": green,
        "greenTargetGroupName": green_name,
        "listenerStyle": listener_style,
        "productionListenerArn": production,
        "testListenerArn": test,
        "otherLoadBalancerArn": other_lb,
        "otherLoadBalancerName": other_lb_name,
        "otherTargetGroupArn": other_tg,
        "otherTargetGroupName": other_tg_name,
        "otherListenerArn": other_listener,
        "vpc": vpc,
        "subnets": subnets,
        "securityGroups": [sg],
        "ecsControllerService": ecs_controller,
        "ecsControllerServiceArn": ecs_controller_arn,
    }


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
    elif args.what == "ecs":
        unstable = args.unstable_revision or []
        bad = [k for k in unstable if not 1 <= k <= args.revisions]
        if bad:
            sys.exit(f"emulator.py: --unstable-revision {bad[0]} is not one of the revisions 1..{args.revisions}")
        out = seed_ecs(url, args.name, args.revisions, unstable, args.desired_count, args.listener_style)
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

    selftest_ecs(url, t, f"{run}-ecs")

    print(f"selftest: {t.passed} passed, {t.failed} failed", flush=True)
    return 0 if t.failed == 0 else 1


def selftest_ecs(url: str, t: Checks, name: str) -> None:
    """ECS blue/green through ALB weighted target groups, as Cutover drives it."""
    from botocore.exceptions import ClientError

    def error_code(call: Callable[[], Any]) -> str | None:
        try:
            call()
        except ClientError as err:
            return err.response["Error"]["Code"]
        return None

    s = seed_ecs(url, name, 3, [3], 2, "weighted")
    ecs, elb = client(url, "ecs"), client(url, "elbv2")
    cluster, service = s["cluster"], s["service"]
    blue, green, lb = s["blueTargetGroupArn"], s["greenTargetGroupArn"], s["loadBalancerArn"]

    def task_sets(*arns: str) -> dict[str, dict]:
        found = ecs.describe_task_sets(cluster=cluster, service=service, taskSets=list(arns))["taskSets"]
        return {ts["taskSetArn"]: ts for ts in found}

    def weights(listener: str) -> dict[str, int] | None:
        action = elb.describe_listeners(ListenerArns=[listener])["Listeners"][0]["DefaultActions"][0]
        groups = action.get("ForwardConfig", {}).get("TargetGroups")
        return {g["TargetGroupArn"]: g.get("Weight") for g in groups} if groups else None

    def shift(listener: str, to_blue: int, to_green: int) -> None:
        elb.modify_listener(
            ListenerArn=listener,
            DefaultActions=[
                {
                    "Type": "forward",
                    "ForwardConfig": {
                        "TargetGroups": [
                            {"TargetGroupArn": blue, "Weight": to_blue},
                            {"TargetGroupArn": green, "Weight": to_green},
                        ]
                    },
                }
            ],
        )

    # The seeded fixture.
    services = ecs.describe_services(cluster=cluster, services=[service, s["ecsControllerService"]])["services"]
    controllers = {x["serviceName"]: x.get("deploymentController", {}).get("type") for x in services}
    t.check(
        "ecs seed: service EXTERNAL, N-ecs on ECS controller",
        controllers == {service: "EXTERNAL", s["ecsControllerService"]: "ECS"},
        controllers,
    )
    original = task_sets(s["originalTaskSetArn"]).get(s["originalTaskSetArn"], {})
    t.check(
        "ecs seed: original task set PRIMARY, steady 2/2 on rev 1 + blue",
        original.get("status") == "PRIMARY"
        and original.get("stabilityStatus") == "STEADY_STATE"
        and original.get("computedDesiredCount") == 2
        and original.get("runningCount") == 2
        and original.get("taskDefinition") == s["taskDefinitions"][0]
        and [x["targetGroupArn"] for x in original.get("loadBalancers", [])] == [blue],
        {k: original.get(k) for k in ("status", "stabilityStatus", "computedDesiredCount", "runningCount")},
    )
    tgs = {
        tg["TargetGroupArn"]: tg["LoadBalancerArns"]
        for tg in elb.describe_target_groups(TargetGroupArns=[blue, green, s["otherTargetGroupArn"]])["TargetGroups"]
    }
    t.check(
        "ecs seed: LoadBalancerArns of blue, green = [ALB] (once), other = [other ALB]",
        tgs == {blue: [lb], green: [lb], s["otherTargetGroupArn"]: [s["otherLoadBalancerArn"]]},
        tgs,
    )
    t.check("ecs seed: production listener weights blue 100 / green 0", weights(s["productionListenerArn"]) == {blue: 100, green: 0}, weights(s["productionListenerArn"]))
    test_action = elb.describe_listeners(ListenerArns=[s["testListenerArn"]])["Listeners"][0]["DefaultActions"][0]
    t.check(
        "ecs seed: plain forward reads back with TargetGroupArn and ForwardConfig (weight 1)",
        test_action.get("TargetGroupArn") == blue and weights(s["testListenerArn"]) == {blue: 1},
        test_action,
    )
    td3 = ecs.describe_task_definition(taskDefinition=s["taskDefinitions"][2], include=["TAGS"])
    t.check(
        "ecs seed: unstable revision 3 carries the stability tag",
        {"key": STABILITY_TAG, "value": "STABILIZING"} in td3.get("tags", []),
        td3.get("tags"),
    )
    described = elb.describe_load_balancers(LoadBalancerArns=[lb])["LoadBalancers"]
    clusters = ecs.describe_clusters(clusters=[cluster])["clusters"]
    t.check(
        "ecs seed: DescribeLoadBalancers, DescribeClusters",
        len(described) == 1 and described[0]["Type"] == "application" and len(clusters) == 1 and clusters[0]["status"] == "ACTIVE",
    )

    # Replacement task set on rev 2 behind green.
    def create(revision: int, token: str, **extra: Any) -> dict:
        return ecs.create_task_set(
            cluster=cluster,
            service=service,
            taskDefinition=s["taskDefinitions"][revision - 1],
            externalId=f"{name}-deploy-{revision}",
            networkConfiguration={"awsvpcConfiguration": {"subnets": s["subnets"], "securityGroups": s["securityGroups"]}},
            loadBalancers=[{"targetGroupArn": green, "containerName": "web", "containerPort": 80}],
            scale={"value": 100, "unit": "PERCENT"},
            clientToken=token,
            **extra,
        )["taskSet"]

    created = create(2, f"{name}-t2", launchType="FARGATE", platformVersion="LATEST")
    again = create(2, f"{name}-t2", launchType="FARGATE", platformVersion="LATEST")
    replacement = created["taskSetArn"]
    t.check("create_task_set is idempotent on clientToken", again["taskSetArn"] == replacement, again["taskSetArn"])
    ts = task_sets(replacement).get(replacement, {})
    t.check(
        "replacement task set: ACTIVE, STEADY_STATE, running == computed == 2, externalId, rev 2, green",
        ts.get("status") == "ACTIVE"
        and ts.get("stabilityStatus") == "STEADY_STATE"
        and ts.get("computedDesiredCount") == 2
        and ts.get("runningCount") == 2
        and ts.get("externalId") == f"{name}-deploy-2"
        and ts.get("taskDefinition") == s["taskDefinitions"][1]
        and ts.get("loadBalancers") == [{"targetGroupArn": green, "containerName": "web", "containerPort": 80}],
        {k: ts.get(k) for k in ("status", "stabilityStatus", "computedDesiredCount", "runningCount", "externalId", "taskDefinition")},
    )
    ecs.update_task_set(cluster=cluster, service=service, taskSet=replacement, scale={"value": 10, "unit": "PERCENT"})
    scaled = task_sets(replacement).get(replacement, {})
    t.check("update_task_set 10% -> computedDesiredCount ceil(0.2) = 1", scaled.get("computedDesiredCount") == 1, scaled.get("computedDesiredCount"))
    ecs.update_task_set(cluster=cluster, service=service, taskSet=replacement, scale={"value": 100, "unit": "PERCENT"})

    shift(s["productionListenerArn"], 90, 10)
    t.check("modify_listener 90/10 reads back", weights(s["productionListenerArn"]) == {blue: 90, green: 10}, weights(s["productionListenerArn"]))

    ecs.update_service_primary_task_set(cluster=cluster, service=service, primaryTaskSet=replacement)
    statuses = {arn: x["status"] for arn, x in task_sets().items()}
    t.check(
        "update_service_primary_task_set flips PRIMARY / ACTIVE",
        statuses == {replacement: "PRIMARY", s["originalTaskSetArn"]: "ACTIVE"},
        statuses,
    )
    shift(s["productionListenerArn"], 0, 100)
    t.check("modify_listener 0/100 keeps weight 0", weights(s["productionListenerArn"]) == {blue: 0, green: 100}, weights(s["productionListenerArn"]))

    deleted = ecs.delete_task_set(cluster=cluster, service=service, taskSet=s["originalTaskSetArn"])["taskSet"]
    left = list(task_sets())
    t.check(
        "delete_task_set -> DRAINING, then gone",
        deleted.get("status") == "DRAINING" and left == [replacement],
        {"status": deleted.get("status"), "left": left},
    )

    # An unstable revision never stabilises (capacity provider strategy this time).
    unstable = create(3, f"{name}-t3", capacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}])
    time.sleep(0.5)
    ts = task_sets(unstable["taskSetArn"]).get(unstable["taskSetArn"], {})
    t.check(
        "unstable revision: STABILIZING, runningCount 0, computedDesiredCount 2, no launchType",
        ts.get("stabilityStatus") == "STABILIZING"
        and ts.get("runningCount") == 0
        and ts.get("computedDesiredCount") == 2
        and "launchType" not in ts,
        {k: ts.get(k) for k in ("stabilityStatus", "runningCount", "computedDesiredCount", "launchType")},
    )
    ecs.delete_task_set(cluster=cluster, service=service, taskSet=unstable["taskSetArn"])

    # Errors Cutover relies on.
    code = error_code(lambda: ecs.create_task_set(cluster=cluster, service=s["ecsControllerService"], taskDefinition=s["taskDefinitions"][1]))
    t.check("create_task_set on an ECS-controller service -> InvalidParameterException", code == "InvalidParameterException", code)
    code = error_code(lambda: ecs.update_service_primary_task_set(cluster=cluster, service=service, primaryTaskSet="ecs-svc/0"))
    t.check("update_service_primary_task_set of an unknown task set -> ClientException", code == "ClientException", code)
    code = error_code(
        lambda: elb.modify_listener(
            ListenerArn=s["otherListenerArn"], DefaultActions=[{"Type": "forward", "TargetGroupArn": blue}]
        )
    )
    t.check("forwarding another ALB's listener to blue -> TargetGroupAssociationLimit", code == "TargetGroupAssociationLimit", code)
    code = error_code(
        lambda: elb.modify_listener(
            ListenerArn=s["productionListenerArn"],
            DefaultActions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": blue + "0", "Weight": 1}]}}],
        )
    )
    t.check("modify_listener to an unknown target group -> TargetGroupNotFound", code == "TargetGroupNotFound", code)
    t.check("failed modify_listener changed nothing", weights(s["productionListenerArn"]) == {blue: 0, green: 100}, weights(s["productionListenerArn"]))


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

    ecs = kinds.add_parser("ecs", parents=[url_opt], help="ECS blue/green fixture: VPC, ALBs, target groups, cluster, services")
    ecs.add_argument("--name", required=True, help="base of every resource name (unique per seed)")
    ecs.add_argument("--revisions", type=int, default=3, help="task definition revisions to register (default 3)")
    ecs.add_argument(
        "--unstable-revision",
        type=int,
        action="append",
        metavar="K",
        help=f"tag revision K {STABILITY_TAG}=STABILIZING: its task sets never reach steady state (repeatable)",
    )
    ecs.add_argument("--desired-count", type=int, default=2, help="desired count of the EXTERNAL service (default 2)")
    ecs.add_argument(
        "--listener-style",
        choices=["weighted", "plain"],
        default="weighted",
        help="production listener: ForwardConfig blue 100 / green 0 (default), or a plain forward to blue",
    )

    hook = kinds.add_parser("hook-response", parents=[url_opt], help="queue Lambda invoke results")
    hook.add_argument("--result", action="append", required=True, metavar="JSON", help="payload of one invoke (repeatable)")
    hook.add_argument("--function-error", metavar="TYPE", help="return the results as function errors (e.g. Unhandled)")

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
