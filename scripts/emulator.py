#!/usr/bin/env python3
"""Cutover's local AWS emulator: moto's server on loopback, plus five additions.

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

* Lambda Runtime API: real function binaries. A function registered as
  *runtime-backed* (`seed runtime`, or `POST /_cutover/runtime`
  {"functionName": NAME}) has its invokes run by whatever binary polls its
  own Runtime API listener (127.0.0.1:PORT, one per function, since
  lambda_runtime takes AWS_LAMBDA_RUNTIME_API as a bare host:port) -
  scripts/emulator_runtime.py implements it; its docstring has the details.
  Invoke (HTTP, any Qualifier, name or ARN) of such a function:
    - RequestResponse waits for the binary: its response is the payload; its
      error ({"errorType", "errorMessage"}) is the payload with
      `X-Amz-Function-Error: Unhandled`; no answer within the invoke timeout
      (max(function Timeout, 60 s), or `--invoke-timeout`) is
      {"errorType": "Sandbox.Timedout", ...}, Unhandled. An error the binary
      posted to /runtime/init/error fails invokes at once until a binary
      polls again.
    - Event returns 202 at once; the event waits in the queue for a binary.
    - DryRun: 204, nothing queued.
  `X-Amz-Executed-Version` and ResourceNotFoundException are as for any
  function (see below); every qualifier goes to the same queue, and
  Lambda-Runtime-Invoked-Function-Arn is the ARN as invoked (qualified).
  The patch is in the Lambda backend's invoke, so moto-internal invokes
  take the same way: Step Functions Task states (which call Invoke over
  HTTP on this server), EventBridge rule targets (added, see patch_events),
  moto's event sources that invoke the function object (SNS
  subscriptions, Kinesis / DynamoDB streams, S3 notifications, log
  subscriptions: queued as Event invokes), and SQS event source mappings
  (moto invokes synchronously from within SendMessage, which then waits
  for the binary). Functions that are not runtime-backed behave exactly as
  before. `GET /_cutover/runtime` lists runtime-backed functions with
  counters (queued, running, pollers, invocations, events, responses,
  errors, timeouts, initErrors).
  Registrations survive `POST /moto-api/reset` (the function itself does
  not: seed it again, the address stays the same).

* Step Functions executions. moto records executions but only runs them
  with `{"stepfunctions": {"execute_state_machine": true}}` (set at serve
  time, as `POST /moto-api/config` would): then its ASL interpreter
  (moto/stepfunctions/parser, from LocalStack) runs each execution in a
  thread - Task, Choice, Wait, Pass, Succeed, Fail, Retry (with
  BackoffRate, MaxDelaySeconds, JitterStrategy), Catch, ResultPath /
  OutputPath / Parameters - and DescribeExecution reports SUCCEEDED /
  FAILED with output or error. `arn:aws:states:::lambda:invoke` Tasks call
  Invoke on this server, so they reach runtime-backed functions; a Task on
  a function that is NOT runtime-backed gets moto's simple-backend answer
  (the echoed payload, or the next queued hook-response result, which it
  consumes). Wait states and Retry intervals really sleep (in the
  execution's thread): keep waitSeconds small in tests. StartExecution with
  an existing name and the same input returns the existing execution.

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
  background thread right after READY, and Step Functions' interpreter (as
  slow to import) is loaded there too; ECS, ELBv2 and Step Functions
  requests arriving before that wait for it.

* EventBridge rules with Lambda targets: moto failed PutEvents (HTTP 500,
  NotImplementedError) when a matching rule targeted a function; now a
  runtime-backed target gets the event as an Event invoke (Input and
  InputTransformer honoured) and other functions are skipped (patch_events).

Everything else goes to moto unchanged (moto-api included: `POST
/moto-api/reset` clears all state; the settings above survive it).

Before announcing READY, one read request per service is served in-process,
so that moto's lazy set-up (about 0.5 s for Lambda) is not paid by the first
SDK call. Startup takes about 3-5 s on a 2-core machine.

moto behaviour worth knowing (moto 5.2.5):
  - UpdateAlias keeps RoutingConfig and GetAlias returns it; an update without
    RoutingConfig keeps the old weights (as AWS does); clearing with
    `AdditionalVersionWeights: {}` reads back as that empty map, not absent.
    The weighted version's existence is not checked. (RevisionId: see
    patch_alias_revisions, which makes it behave as in AWS.)
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

  emulator.py selftest [--url URL] [all|core|runtime]
      Exercises a running emulator and prints one line per check, then
      `selftest: N passed, N failed`. core: DynamoDB, IAM, Lambda versions,
      aliases, invoke and queued results, CloudWatch over genuine RPC v2
      CBOR, and an ECS blue/green on `seed ecs` (replacement task set,
      weighted listener shifts, primary flip, deletion, an unstable
      revision, the errors). runtime: runtime-backed functions driven by a
      fake runtime client in Python (sync round trip, error, Event, a dead
      poller, timeout, init error, EventBridge target) and
      statemachine/driver.asl.json executed to SUCCEEDED (Advance / Wait
      loop) and to FAILED (Retry, Catch, GiveUp). Default: all.

  emulator.py seed [--url URL] lambda --name F --versions N --alias A
                                      [--alias-version V] [--role-name R]
      Creates the IAM role (if missing) and the function (if missing),
      publishes N new versions and points alias A at version V (default: the
      first one published now). Prints JSON
      {"functionArn", "versions", "alias", "aliasName", "aliasVersion"}.
  emulator.py seed [--url URL] runtime --name F [--invoke-timeout SECONDS]
                                       [--role-name R]
      Creates the IAM role and the function F (if missing; provided.al2023,
      dummy code) and registers F as runtime-backed (idempotent: the same F
      keeps its address; --invoke-timeout replaces the previous one). Prints
      JSON {"functionName", "functionArn", "runtimeApi": "127.0.0.1:PORT",
      "invokeTimeoutSeconds", "env"}, where env is the environment to spawn
      F's binary with: AWS_LAMBDA_RUNTIME_API, AWS_LAMBDA_FUNCTION_NAME,
      AWS_LAMBDA_FUNCTION_VERSION ($LATEST), AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      AWS_LAMBDA_LOG_GROUP_NAME, AWS_LAMBDA_LOG_STREAM_NAME, and for its own
      SDK calls AWS_ENDPOINT_URL (this emulator), AWS_REGION,
      AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY.
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
import urllib.parse
import urllib.request
import zipfile
from http import HTTPStatus
from typing import Any, Callable, Iterable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from emulator_runtime import MIN_INVOKE_TIMEOUT_SECONDS, RUNTIMES, FakeRuntime, function_name_of  # noqa: E402

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


def remember_backends(moto_app: Any) -> None:
    """moto's dispatcher finds a request's backend by listing its own package
    directory (an isdir call per service, about 200) and trying its URL patterns,
    on every request: about a tenth of the emulator's CPU under the crash tests.
    The answer depends on the host alone, so it is remembered per host."""
    lookup = moto_app.get_backend_for_host
    known: dict[str, Any] = {}

    def get_backend_for_host(host: str | None) -> Any:
        if host is None:
            return None
        if host not in known:
            known[host] = lookup(host)
        return known[host]

    moto_app.get_backend_for_host = get_backend_for_host


def configure_moto() -> None:
    """Switch moto to Docker-less Lambda and patch its Invoke; route the
    invokes of runtime-backed functions to their Runtime API; let Step
    Functions run executions (see docstring)."""
    from moto.awslambda.models import LambdaFunction
    from moto.awslambda.responses import LambdaResponse
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.moto_api._internal.models import moto_api_backend

    # Same effect as POST /moto-api/config {"lambda": {"use_docker": false},
    # "stepfunctions": {"execute_state_machine": true}}. The latter makes
    # moto's Step Functions run each execution in a thread with its ASL
    # interpreter (moto/stepfunctions/parser) instead of only recording it
    # as RUNNING forever; its Lambda Task states call Invoke over HTTP on
    # this server (localhost:$MOTO_PORT), so they reach runtime-backed
    # functions like any other client.
    moto_api_backend.set_config({"lambda": {"use_docker": False}, "stepfunctions": {"execute_state_machine": True}})

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
        # moto's simple backend runs no code; AWS runs the function's own
        # runtime. A runtime-backed function's invoke goes to the binary
        # polling its Runtime API (emulator_runtime) instead.
        runtime = RUNTIMES.get(fn.function_name)
        if runtime is not None:
            invocation_type = header(headers, "X-Amz-Invocation-Type")
            return invoke_runtime(runtime, fn, function_name, qualifier, body, invocation_type, response_headers)
        with INVOCATIONS_LOCK:
            sent = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
            INVOCATIONS.setdefault(fn.function_name, []).append(sent)
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

    # Some of moto's event sources (SNS subscriptions, Kinesis / DynamoDB
    # stream mappings, S3 notifications, log subscriptions, InvokeAsync) do
    # not go through the backend's invoke but call the function object's,
    # which tries to run the code in Docker even with use_docker false. For a
    # runtime-backed function, queue the event for its binary instead; those
    # sources invoke asynchronously in AWS, so they do not wait for the result.
    function_invoke = LambdaFunction.invoke

    def invoke_function(self: Any, body: Any, request_headers: Any, response_headers: Any) -> Any:
        runtime = RUNTIMES.get(self.function_name)
        if runtime is None:
            return function_invoke(self, body, request_headers, response_headers)
        return invoke_runtime(runtime, self, self.function_arn, None, body, "Event", response_headers)

    LambdaResponse.invoke = invoke_response  # type: ignore[method-assign]
    LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]
    LambdaFunction.invoke = invoke_function  # type: ignore[method-assign]
    patch_alias_revisions()
    patch_alarm_types()
    patch_events()


def patch_alarm_types() -> None:
    """DescribeAlarms' AlarmTypes as AWS reads it. moto 5.2.5 ignores AlarmTypes
    and returns composite alarms with the metric ones whatever the request asks.
    AWS returns only metric alarms when AlarmTypes is omitted ("If you omit this
    parameter, only metric alarms are returned, even if composite alarms exist"),
    so a reader that does not ask for composite alarms must not find them here
    either."""
    from moto.cloudwatch.responses import CloudWatchResponse
    from moto.core.responses import ActionResult

    describe_alarms = CloudWatchResponse.describe_alarms

    def describe_alarms_patched(self: Any) -> Any:
        wanted = self._get_param("AlarmTypes", []) or ["MetricAlarm"]
        result = describe_alarms(self).result
        return ActionResult(
            {
                "MetricAlarms": result["MetricAlarms"] if "MetricAlarm" in wanted else [],
                "CompositeAlarms": result["CompositeAlarms"] if "CompositeAlarm" in wanted else [],
            }
        )

    CloudWatchResponse.describe_alarms = describe_alarms_patched

    # moto 5.2.5 models composite alarms (an alarm with a rule) but has no
    # PutCompositeAlarm handler ("not been implemented"): store one through its
    # backend, as AWS would, starting in INSUFFICIENT_DATA.
    from moto.core.responses import EmptyResult

    def put_composite_alarm(self: Any) -> Any:
        self.cloudwatch_backend.put_metric_alarm(
            name=self._get_param("AlarmName"),
            namespace=None,
            metric_name=None,
            comparison_operator=None,
            evaluation_periods=None,
            period=None,
            threshold=None,
            statistic=None,
            description=self._get_param("AlarmDescription"),
            dimensions=[],
            alarm_actions=self._get_param("AlarmActions", []),
            ok_actions=self._get_param("OKActions", []),
            insufficient_data_actions=self._get_param("InsufficientDataActions", []),
            actions_enabled=self._get_param("ActionsEnabled", True),
            rule=self._get_param("AlarmRule"),
        )
        return EmptyResult()

    CloudWatchResponse.put_composite_alarm = put_composite_alarm


def patch_alias_revisions() -> None:
    """Alias RevisionIds as AWS keeps them. moto 5.2.5 gives an alias one
    RevisionId when it is created and keeps it through every UpdateAlias, and
    ignores the RevisionId an UpdateAlias carries (its backend says "The
    RevisionId parameter is not yet implemented"). AWS gives the alias a new
    RevisionId on every update and refuses an update whose RevisionId is not
    the current one with HTTP 412 PreconditionFailedException. Cutover fences
    its alias updates with that precondition, so the tests must fail when a
    stale update would go through."""
    from moto.awslambda.exceptions import PreconditionFailedException
    from moto.awslambda.models import LambdaAlias
    from moto.awslambda.responses import LambdaResponse
    from moto.moto_api._internal import mock_random as random
    from urllib.parse import unquote

    alias_update = LambdaAlias.update

    def update(self: Any, description: Any, function_version: Any, routing_config: Any) -> None:
        alias_update(self, description, function_version, routing_config)
        self.revision_id = str(random.uuid4())

    response_update_alias = LambdaResponse.update_alias

    def update_alias(self: Any) -> Any:
        params = json.loads(self.body or "{}")
        wanted = params.get("RevisionId")
        if wanted:
            function_name = unquote(self.path.rsplit("/")[-3])
            alias_name = unquote(self.path.rsplit("/", 2)[-1])
            alias = self.backend.get_alias(alias_name, function_name)
            if alias.revision_id != wanted:
                raise PreconditionFailedException(
                    "The Revision Id provided does not match the latest Revision Id. "
                    "Call the GetAlias API to retrieve the latest Revision Id"
                )
        return response_update_alias(self)

    LambdaAlias.update = update  # type: ignore[method-assign]
    LambdaResponse.update_alias = update_alias  # type: ignore[method-assign]


def header(headers: Any, name: str) -> str | None:
    """A request header from werkzeug's headers (HTTP) or the plain dict
    moto's internal callers pass, whatever its case."""
    if not headers:
        return None
    value = headers.get(name)
    if value is None and isinstance(headers, dict):
        value = next((v for k, v in headers.items() if k.lower() == name.lower()), None)
    return value


def invoke_runtime(
    runtime: Any,
    fn: Any,
    function_name: str,
    qualifier: str | None,
    body: Any,
    invocation_type: str | None,
    response_headers: dict[str, str],
) -> bytes:
    """Invoke a runtime-backed function through its Runtime API queue (see
    emulator_runtime): RequestResponse waits for the binary's response or
    error (X-Amz-Function-Error: Unhandled, as AWS marks runtime errors),
    Event queues and returns at once (moto answers 202), DryRun does
    nothing (204)."""
    # The ARN as invoked (Lambda-Runtime-Invoked-Function-Arn): qualified by
    # the alias or version asked for, if any.
    if function_name.startswith("arn:"):
        invoked_arn = function_name
        qualified = invoked_arn.count(":") > 6
    else:
        invoked_arn = f"arn:aws:lambda:{fn.region}:{fn.account_id}:function:{function_name}"
        qualified = ":" in function_name
    if qualifier and not qualified:
        invoked_arn += f":{qualifier}"
    if invocation_type == "DryRun":
        return b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    sync = invocation_type in (None, "", "RequestResponse")
    done = runtime.invoke(body or b"{}", invoked_arn, sync, runtime.timeout_for(fn.timeout))
    if not sync:
        return b""
    if done.error:
        response_headers["x-amz-function-error"] = "Unhandled"
    return done.result


def patch_events() -> None:
    """EventBridge rules with a Lambda target: moto's Rule.send_to_targets
    delivers to logs, SQS, archives, event buses and API destinations only and
    raises NotImplementedError for anything else, so PutEvents matching a rule
    that targets a function failed with HTTP 500. AWS invokes the function
    asynchronously with the event (or the target's Input / InputTransformer
    result). Do that for runtime-backed functions: their binary gets the
    event. Other functions have nothing to run and are skipped (so they do not
    consume results queued with `seed hook-response`). A delivery failure does
    not fail PutEvents, as in AWS. Other target types are left to moto."""
    import copy

    from moto.awslambda.utils import get_backend
    from moto.events.models import Rule
    from moto.events.utils import EventTemplateParser
    from moto.utilities.arns import parse_arn

    send_to_targets = Rule.send_to_targets

    def send_to_targets_patched(self: Any, original_event: Any, transform_input: bool = True) -> None:
        lambdas = [t for t in self.targets if parse_arn(t["Arn"]).service == "lambda"]
        if not lambdas:
            return send_to_targets(self, original_event, transform_input)
        if self.event_pattern.matches_event(original_event):
            for target in lambdas:
                if RUNTIMES.get(function_name_of(target["Arn"])) is None:
                    continue
                if "Input" in target and transform_input:
                    event: Any = json.loads(target["Input"])
                elif transform_input:
                    transformer = target.get("InputTransformer", {})
                    event = EventTemplateParser.parse(
                        input_template=transformer.get("InputTemplate"),
                        input_paths_map=transformer.get("InputPathsMap", {}),
                        event=original_event,
                    )
                else:
                    event = original_event
                arn = parse_arn(target["Arn"])
                try:
                    get_backend(arn.account, arn.region).invoke(
                        target["Arn"], None, json.dumps(event), {"X-Amz-Invocation-Type": "Event"}, {}
                    )
                except Exception as exc:
                    print(f"emulator.py: EventBridge target {target['Arn']}: {exc!r}", file=sys.stderr)
        others = [t for t in self.targets if t not in lambdas]
        if others:
            rest = copy.copy(self)
            rest.targets = others
            send_to_targets(rest, original_event, transform_input)

    Rule.send_to_targets = send_to_targets_patched  # type: ignore[method-assign]


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


# SigV4 credential scope of the services set up in the background after READY
# (see cmd_serve): the ECS and ELBv2 models patch_ecs / patch_elbv2 change
# (ELBv2 signs as elasticloadbalancing), and Step Functions (`states`), whose
# ASL interpreter takes seconds to import.
PATCHED_SCOPE = re.compile(r"/(ecs|elasticloadbalancing|states)/aws4_request")

# The emulator's own admin endpoint (see `seed runtime`).
ADMIN_RUNTIME_PATH = "/_cutover/runtime"
# The payloads simple (not runtime-backed) functions were invoked with, for tests that
# read what a hook received: GET /_cutover/invocations?function=NAME.
ADMIN_INVOCATIONS_PATH = "/_cutover/invocations"
INVOCATIONS: dict[str, list[str]] = {}
INVOCATIONS_LOCK = threading.Lock()


class EmulatorApp:
    """WSGI middleware: CloudWatch RPC v2 CBOR bridge in front of moto; ECS and
    ELBv2 requests wait until their patches are in (see cmd_serve)."""

    def __init__(self, moto_app: Callable) -> None:
        self.moto_app = moto_app
        self.patched = threading.Event()
        self.patched.set()  # cmd_serve clears it while patching in the background

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") in (ADMIN_RUNTIME_PATH, ADMIN_INVOCATIONS_PATH):
            if environ.get("PATH_INFO") == ADMIN_INVOCATIONS_PATH:
                query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
                name = function_name_of(query.get("function", [""])[0])
                with INVOCATIONS_LOCK:
                    status, answer = 200, {"functionName": name, "payloads": list(INVOCATIONS.get(name, []))}
            else:
                status, answer = self.admin_runtime(environ)
            body = json.dumps(answer).encode()
            start_response(
                f"{status} {HTTPStatus(status).phrase}",
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
            )
            return [body]
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
    def admin_runtime(environ: dict) -> tuple[int, Any]:
        """POST {"functionName": NAME[, "invokeTimeoutSeconds": S]} registers
        NAME as runtime-backed (idempotent) and answers {"functionName",
        "runtimeApi": "HOST:PORT", "invokeTimeoutSeconds"}; GET lists every
        runtime-backed function with its counters (see emulator_runtime)."""
        method = environ.get("REQUEST_METHOD")
        if method == "GET":
            return 200, {"functions": RUNTIMES.describe()}
        if method != "POST":
            return 405, {"message": f"{method} not allowed"}
        length = int(environ.get("CONTENT_LENGTH") or 0)
        try:
            request = json.loads(environ["wsgi.input"].read(length) or b"{}")
            name = function_name_of(str(request["functionName"]))
            timeout = request.get("invokeTimeoutSeconds")
            timeout = None if timeout is None else float(timeout)
        except (ValueError, KeyError, TypeError) as exc:
            return 400, {"message": f"want {{\"functionName\": NAME}}: {exc!r}"}
        runtime = RUNTIMES.register(name, timeout)
        return 200, {"functionName": name, "runtimeApi": runtime.address, "invokeTimeoutSeconds": runtime.invoke_timeout}

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

# The same for ECS blue/green and Step Functions, warmed in the background
# after READY (see cmd_serve): importing moto's ECS (which pulls in EC2) alone
# takes 2-5 s, and Step Functions' interpreter (which pulls in Batch, hence
# ECS and EC2, and ANTLR) as much again, which test binaries that never touch
# them should not pay at startup.
PREWARM_ECS_REQUESTS = (
    ("ecs", "POST", "/", "application/x-amz-json-1.1", "AmazonEC2ContainerServiceV20141113.ListClusters", b"{}"),
    ("elasticloadbalancing", "POST", "/", "application/x-www-form-urlencoded", None, b"Action=DescribeLoadBalancers&Version=2015-12-01"),
    ("ec2", "POST", "/", "application/x-www-form-urlencoded", None, b"Action=DescribeVpcs&Version=2016-11-15"),
    ("states", "POST", "/", "application/x-amz-json-1.0", "AWSStepFunctions.ListStateMachines", b"{}"),
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


def warm_stepfunctions() -> None:
    """Import moto's ASL interpreter and parse one definition, so that the
    first CreateStateMachine / StartExecution does not pay for it."""
    import moto.stepfunctions.parser.models  # noqa: F401  (the backend execute_state_machine selects)
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    AmazonStateLanguageParser.parse(
        json.dumps({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 0, "Next": "P"}, "P": {"Type": "Pass", "End": True}}})
    )


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
        # The ASL interpreter logs every failing state at ERROR level with the
        # whole state's repr; a failed execution says why in DescribeExecution
        # and GetExecutionHistory.
        logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)

    # As moto.server.main builds it (moto_server), wrapped in our middleware.
    moto_app = DomainDispatcherApplication(create_backend_app)
    remember_backends(moto_app)
    configure_moto()
    app = EmulatorApp(moto_app)
    prewarm(app)

    # ECS / ELBv2: patch (which imports moto's models) and warm up in the
    # background, and the same for Step Functions' interpreter; until that is
    # done, ECS, ELBv2 and Step Functions requests wait.
    def set_up_ecs() -> None:
        try:
            for step in (patch_ecs, patch_elbv2, warm_stepfunctions):
                try:
                    step()
                except Exception:  # serve unpatched rather than hang those requests
                    import traceback

                    traceback.print_exc()
        finally:
            app.patched.set()
        prewarm(moto_app, PREWARM_ECS_REQUESTS)

    app.patched.clear()

    # make_server is what werkzeug's run_simple uses; calling it directly lets
    # us learn the port (for --port 0) and announce readiness after bind+listen.
    RUNTIMES.host, RUNTIMES.verbose = args.host, args.verbose
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
        try:
            arn = lam.create_function(
                FunctionName=name,
                Runtime="provided.al2023",
                Role=role_arn,
                Handler="bootstrap",
                Code={"ZipFile": dummy_zip()},
                Description="seeded by scripts/emulator.py",
            )["FunctionArn"]
        except lam.exceptions.ResourceConflictException:
            # Another seed created it between our two calls (tests seed in parallel).
            arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
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


def request_json(url: str, path: str, body: Any = None) -> Any:
    """GET (no body) or POST JSON to the emulator; the JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        url + path, data=data, headers={"Content-Type": "application/json"}, method="GET" if body is None else "POST"
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def seed_runtime(url: str, name: str, role_name: str, invoke_timeout: float | None = None) -> dict:
    """Create function `name` (if missing) and make it runtime-backed: its
    invokes go to the binary polling the returned Runtime API address."""
    seed_function(url, name, 0, None, None, role_name)
    config = client(url, "lambda").get_function_configuration(FunctionName=name)
    registered = request_json(url, ADMIN_RUNTIME_PATH, {"functionName": name, "invokeTimeoutSeconds": invoke_timeout})
    timeout = registered["invokeTimeoutSeconds"]
    if timeout is None:
        timeout = max(config.get("Timeout") or 0, MIN_INVOKE_TIMEOUT_SECONDS)
    memory = config.get("MemorySize") or 128
    return {
        "functionName": name,
        "functionArn": config["FunctionArn"],
        "runtimeApi": registered["runtimeApi"],
        "invokeTimeoutSeconds": timeout,
        "env": {
            "AWS_LAMBDA_RUNTIME_API": registered["runtimeApi"],
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"{time.strftime('%Y/%m/%d')}/[$LATEST]{name}",
            "AWS_ENDPOINT_URL": url,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        },
    }


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
    elif args.what == "runtime":
        out = seed_runtime(url, args.name, args.role_name, args.invoke_timeout)
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
    url = resolve_url(args)
    t = Checks()
    run = f"selftest-{time.time_ns() % 10**10}"  # unique names: rerunnable on one emulator
    if args.suite in ("all", "core"):
        selftest_core(url, t, run)
        selftest_ecs(url, t, f"{run}-ecs")
    if args.suite in ("all", "runtime"):
        selftest_runtime(url, t, f"{run}-rt")
        selftest_stepfunctions(url, t, f"{run}-sfn")
    print(f"selftest: {t.passed} passed, {t.failed} failed", flush=True)
    return 0 if t.failed == 0 else 1


def selftest_core(url: str, t: Checks, run: str) -> None:
    import cbor2

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
    # RevisionId as in AWS (patch_alias_revisions): a new one per update, a stale one refused.
    before = alias["RevisionId"]
    after = lam.update_alias(FunctionName=run, Name="live", RevisionId=before, RoutingConfig={"AdditionalVersionWeights": {}})
    t.check("update_alias gives the alias a new RevisionId", after["RevisionId"] != before, after["RevisionId"])
    try:
        lam.update_alias(FunctionName=run, Name="live", RevisionId=before, FunctionVersion="2")
        t.check("update_alias with a stale RevisionId -> PreconditionFailedException", False, "accepted")
    except lam.exceptions.PreconditionFailedException:
        still = lam.get_alias(FunctionName=run, Name="live")
        t.check("update_alias with a stale RevisionId -> PreconditionFailedException", still["FunctionVersion"] == "1", still["FunctionVersion"])

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


def wait_for(predicate: Callable[[], Any], seconds: float) -> Any:
    """Poll `predicate` until it returns something truthy (returned) or time runs out (None)."""
    deadline = time.time() + seconds
    while True:
        value = predicate()
        if value or time.time() > deadline:
            return value or None
        time.sleep(0.1)


def selftest_runtime(url: str, t: Checks, run: str) -> None:
    """Runtime-backed functions, driven by FakeRuntime (a Python stand-in for
    a lambda_runtime binary)."""
    lam = client(url, "lambda")

    def echo(event: Any, headers: dict) -> Any:
        if isinstance(event, dict) and "fail" in event:
            raise ValueError(event["fail"])
        return {"echo": event}

    name = f"{run}-echo"
    seeded = seed_runtime(url, name, f"{run}-role")
    again = seed_runtime(url, name, f"{run}-role")
    t.check(
        "seed runtime: function + Runtime API address, same address twice",
        seeded["runtimeApi"] == again["runtimeApi"]
        and seeded["functionArn"].endswith(f":function:{name}")
        and seeded["invokeTimeoutSeconds"] == MIN_INVOKE_TIMEOUT_SECONDS,
        {k: seeded[k] for k in ("functionArn", "runtimeApi", "invokeTimeoutSeconds")},
    )
    runtime = FakeRuntime(seeded["runtimeApi"], echo)

    # Sync round trip, by name.
    started = time.time()
    resp = lam.invoke(FunctionName=name, Payload=b'{"ping": 1}')
    payload = json.loads(resp["Payload"].read())
    t.check(
        "sync invoke -> binary's response",
        resp["StatusCode"] == 200 and payload == {"echo": {"ping": 1}} and "FunctionError" not in resp
        and resp.get("ExecutedVersion") == "$LATEST",
        {"payload": payload, "ExecutedVersion": resp.get("ExecutedVersion"), "FunctionError": resp.get("FunctionError")},
    )
    headers = runtime.seen[-1][1] if runtime.seen else {}
    deadline_in = int(headers.get("lambda-runtime-deadline-ms", 0)) / 1000 - started
    t.check(
        "next: request id, invoked ARN, trace id, deadline = now + 60 s",
        bool(headers.get("lambda-runtime-aws-request-id"))
        and headers.get("lambda-runtime-invoked-function-arn") == seeded["functionArn"]
        and headers.get("lambda-runtime-trace-id", "").startswith("Root=1-")
        and 55 < deadline_in <= 61,
        {k: v for k, v in headers.items() if k.startswith("lambda-runtime-")},
    )

    # By ARN, through an alias: one queue for every qualifier.
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    resp = lam.invoke(FunctionName=seeded["functionArn"], Qualifier="live", Payload=b'{"ping": 2}')
    payload = json.loads(resp["Payload"].read())
    invoked = runtime.seen[-1][1].get("lambda-runtime-invoked-function-arn") if runtime.seen else None
    t.check(
        "invoke by ARN + alias -> same binary, ExecutedVersion, qualified invoked ARN",
        payload == {"echo": {"ping": 2}} and resp.get("ExecutedVersion") == version
        and invoked == f"{seeded['functionArn']}:live",
        {"payload": payload, "ExecutedVersion": resp.get("ExecutedVersion"), "invokedArn": invoked},
    )

    # Error round trip.
    resp = lam.invoke(FunctionName=name, Payload=b'{"fail": "boom"}')
    payload = json.loads(resp["Payload"].read())
    t.check(
        "binary's error -> FunctionError Unhandled + its error JSON",
        resp["StatusCode"] == 200 and resp.get("FunctionError") == "Unhandled"
        and payload == {"errorType": "ValueError", "errorMessage": "boom"},
        {"FunctionError": resp.get("FunctionError"), "payload": payload},
    )

    # Event: 202 at once, delivered.
    resp = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"async": 1}')
    got = wait_for(lambda: any(e == {"async": 1} for e, _ in runtime.seen), 10)
    t.check("Event invoke -> 202, event delivered", resp["StatusCode"] == 202 and got, resp["StatusCode"])

    # A binary that goes away while it waits in `next` does not swallow the
    # next event: a later binary gets it.
    runtime.stop()
    resp = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"async": 2}')
    time.sleep(0.6)  # longer than the emulator's liveness poll
    runtime = FakeRuntime(seeded["runtimeApi"], echo)
    got = wait_for(lambda: any(e == {"async": 2} for e, _ in runtime.seen), 10)
    t.check("Event queued while no binary polls -> next binary gets it", resp["StatusCode"] == 202 and got, resp["StatusCode"])
    runtime.stop()

    # Timeout (no binary), init error, then a binary: it sees only the new event.
    slow_name = f"{run}-slow"
    slow = seed_runtime(url, slow_name, f"{run}-role", invoke_timeout=2)
    started = time.time()
    resp = lam.invoke(FunctionName=slow_name, Payload=b'{"stale": true}')
    elapsed = time.time() - started
    payload = json.loads(resp["Payload"].read())
    t.check(
        "no answer within the invoke timeout -> Sandbox.Timedout",
        resp.get("FunctionError") == "Unhandled" and payload.get("errorType") == "Sandbox.Timedout" and 1.9 < elapsed < 10,
        {"elapsed": round(elapsed, 1), "payload": payload},
    )
    init_error = {"errorType": "Runtime.InitError", "errorMessage": "no config"}
    req = urllib.request.Request(
        f"http://{slow['runtimeApi']}/2018-06-01/runtime/init/error",
        data=json.dumps(init_error).encode(),
        headers={"Lambda-Runtime-Function-Error-Type": "Runtime.InitError"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        status = r.status
    started = time.time()
    resp = lam.invoke(FunctionName=slow_name, Payload=b"{}")
    payload = json.loads(resp["Payload"].read())
    t.check(
        "init/error -> invokes fail at once with it",
        status == 202 and resp.get("FunctionError") == "Unhandled" and payload == init_error and time.time() - started < 1.5,
        {"payload": payload, "elapsed": round(time.time() - started, 2)},
    )
    slow_runtime = FakeRuntime(slow["runtimeApi"], echo)
    resp = lam.invoke(FunctionName=slow_name, Payload=b'{"fresh": true}')
    payload = json.loads(resp["Payload"].read())
    t.check(
        "binary polling again -> invokes work; timed-out event was withdrawn",
        payload == {"echo": {"fresh": True}} and [e for e, _ in slow_runtime.seen] == [{"fresh": True}],
        {"payload": payload, "seen": [e for e, _ in slow_runtime.seen]},
    )
    slow_runtime.stop()

    # Non-runtime functions keep moto's simple behaviour (echo).
    plain = f"{run}-plain"
    seed_function(url, plain, 0, None, None, f"{run}-role")
    resp = lam.invoke(FunctionName=plain, Payload=b'{"plain": 1}')
    t.check("plain function still echoes", resp["Payload"].read() == b'{"plain": 1}')

    # EventBridge rule -> runtime-backed function target.
    events = client(url, "events")
    runtime = FakeRuntime(seeded["runtimeApi"], echo)
    events.put_rule(Name=run, EventPattern=json.dumps({"source": [f"cutover.{run}"]}))
    events.put_targets(Rule=run, Targets=[{"Id": "fn", "Arn": seeded["functionArn"]}])
    resp = events.put_events(
        Entries=[{"Source": f"cutover.{run}", "DetailType": "selftest", "Detail": json.dumps({"run": run})}]
    )
    got = wait_for(
        lambda: any(isinstance(e, dict) and e.get("detail") == {"run": run} for e, _ in runtime.seen), 10
    )
    t.check("EventBridge rule target -> event delivered", resp["FailedEntryCount"] == 0 and got, resp["FailedEntryCount"])

    listed = {f["functionName"]: f for f in request_json(url, ADMIN_RUNTIME_PATH)["functions"]}
    mine = listed.get(name, {})
    t.check(
        f"GET {ADMIN_RUNTIME_PATH} lists counters",
        mine.get("responses", 0) >= 3 and mine.get("errors") == 1 and mine.get("pollers") == 1,
        {k: mine.get(k) for k in ("invocations", "events", "responses", "errors", "timeouts", "pollers")},
    )
    runtime.stop()


def selftest_stepfunctions(url: str, t: Checks, run: str) -> None:
    """statemachine/driver.asl.json executed by moto's interpreter against two
    runtime-backed functions."""
    sfn = client(url, "stepfunctions")
    path = os.path.join(REPO, "statemachine", "driver.asl.json")
    try:
        with open(path) as f:
            template = f.read()
    except OSError as exc:
        t.check("step functions: read statemachine/driver.asl.json", False, exc)
        return

    def advance(event: Any, headers: dict) -> Any:
        if event.get("fail"):
            raise RuntimeError("tick failed")
        n = event.get("n", 0) + 1
        return {**event, "n": n, "done": n >= 3, "waitSeconds": 1}

    def control(event: Any, headers: dict) -> Any:
        return {"stopped": event.get("deploymentId")}

    adv = seed_runtime(url, f"{run}-advance", f"{run}-role")
    ctl = seed_runtime(url, f"{run}-control", f"{run}-role")
    adv_runtime, ctl_runtime = FakeRuntime(adv["runtimeApi"], advance), FakeRuntime(ctl["runtimeApi"], control)
    definition = template.replace("${AdvanceFunctionArn}", adv["functionArn"]).replace(
        "${ControlFunctionArn}", ctl["functionArn"]
    )
    role = ensure_role(client(url, "iam"), f"{run}-sfn-role")

    def finish(arn: str) -> dict:
        return wait_for(
            lambda: (d := sfn.describe_execution(executionArn=arn))["status"] != "RUNNING" and d, 60
        ) or sfn.describe_execution(executionArn=arn)

    machine = sfn.create_state_machine(name=f"{run}-driver", definition=definition, roleArn=role)["stateMachineArn"]
    started = time.time()
    first = sfn.start_execution(stateMachineArn=machine, name="dep-ok", input=json.dumps({"deploymentId": "dep-ok"}))
    twice = sfn.start_execution(stateMachineArn=machine, name="dep-ok", input=json.dumps({"deploymentId": "dep-ok"}))
    t.check(
        "StartExecution twice (same name + input) -> one execution",
        first["executionArn"] == twice["executionArn"],
        first["executionArn"],
    )
    done = finish(first["executionArn"])
    output = json.loads(done.get("output") or "null")
    t.check(
        "driver: Advance -> IsDone -> Wait(1 s) loop -> SUCCEEDED",
        done["status"] == "SUCCEEDED"
        and output == {"deploymentId": "dep-ok", "n": 3, "done": True, "waitSeconds": 1}
        and [e.get("n", 0) for e, _ in adv_runtime.seen] == [0, 1, 2],
        {"status": done["status"], "output": output, "seconds": round(time.time() - started, 1)},
    )

    # Always failing: Retry (shortened from the driver's, which waits ~1 min
    # with backoff) then Catch -> GiveUp (control stop) -> Abandoned (Fail).
    fast = json.loads(definition)
    for state in fast["States"].values():
        for retrier in state.get("Retry", []):
            retrier.update(IntervalSeconds=1, MaxAttempts=1)
            retrier.pop("MaxDelaySeconds", None)
    machine = sfn.create_state_machine(name=f"{run}-driver-fast", definition=json.dumps(fast), roleArn=role)["stateMachineArn"]
    seen_before = len(adv_runtime.seen)
    failed = sfn.start_execution(
        stateMachineArn=machine, name="dep-fail", input=json.dumps({"deploymentId": "dep-fail", "fail": True})
    )
    done = finish(failed["executionArn"])
    stops = [e for e, _ in ctl_runtime.seen if e.get("deploymentId") == "dep-fail"]
    t.check(
        "driver: task always errors -> Retry, Catch -> GiveUp -> FAILED",
        done["status"] == "FAILED"
        and done.get("error") == "AdvanceFailed"
        and len(adv_runtime.seen) - seen_before == 2
        and stops == [{"action": "stop", "deploymentId": "dep-fail", "rollback": True}],
        {"status": done["status"], "error": done.get("error"), "advanceCalls": len(adv_runtime.seen) - seen_before, "control": stops},
    )
    adv_runtime.stop()
    ctl_runtime.stop()


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
    selftest.add_argument(
        "suite",
        nargs="?",
        default="all",
        choices=["all", "core", "runtime"],
        help="core: moto, CloudWatch CBOR, ECS; runtime: Lambda Runtime API, EventBridge, Step Functions (default: all)",
    )
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

    rt = kinds.add_parser("runtime", parents=[url_opt], help="function whose invokes run a real binary (Lambda Runtime API)")
    rt.add_argument("--name", required=True, help="function name (created if missing)")
    rt.add_argument(
        "--invoke-timeout",
        type=float,
        metavar="SECONDS",
        help=f"how long an invoke waits for the binary (default: max(function Timeout, {MIN_INVOKE_TIMEOUT_SECONDS}))",
    )
    rt.add_argument("--role-name", default="cutover-emulator-lambda-role")

    hook = kinds.add_parser("hook-response", parents=[url_opt], help="queue Lambda invoke results")
    hook.add_argument("--result", action="append", required=True, metavar="JSON", help="payload of one invoke (repeatable)")
    hook.add_argument("--function-error", metavar="TYPE", help="return the results as function errors (e.g. Unhandled)")

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
