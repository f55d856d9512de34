"""Strict mode: the embedded AWS answers as real AWS does, and fails as real AWS fails.

moto accepts what AWS refuses and never conflicts or throttles, so code that passes on moto can lose
work on a real account. `AwsFrontDoor` is a WSGI middleware around moto's app (or any AWS-compatible
app) that reads each request before moto does and

- always: serialises DynamoDB and Scheduler calls (moto's tables and schedule groups are plain
  dicts: concurrent transactions raise `dictionary changed size during iteration`) and rewrites
  exponent-form numbers that moto cannot add (`ADD :v` with `1E+2` is a 500 in moto, a plain number
  on AWS, which also answers numbers in this normalised form);
- with `limits=True`: refuses what AWS refuses, with AWS's error code and status — SQS batches over
  10 entries or 1 MiB, messages over the queue's `MaximumMessageSize` (body and attributes, in UTF-8
  bytes), DynamoDB transactions over 100 items or 4 MB, BatchWriteItem over 25 requests, numbers
  outside DynamoDB's range or precision, a Query whose ExclusiveStartKey lies outside its key condition
  (moto answers it as if it were in; moto already refuses 400 KB items, DelaySeconds > 900, BatchGetItem
  over 100 keys and TransactWriteItems over 100 items the way AWS does); Cognito's
  AdminCreateUser with a TemporaryPassword that breaks the pool's password policy, and a ListUsers,
  ListUsersInGroup or AdminListGroupsForUser page over 60 (moto takes both; it already refuses a
  ListUsers filter on a custom attribute, as AWS does);
- injects faults at the rates held by a `Faults` (seeded, changeable while running): a fault is
  answered *instead of* forwarding, so a faulted request has never run.

Requests whose User-Agent carries `RUNTIME_AGENT` (the runtime's own pollers, scheduler and
inspection clients) see the limits but never a fault: on AWS those are Lambda's and EventBridge's
own calls, which retry internally.
"""

from __future__ import annotations

import base64
import io
import json
import random
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import MAX_EMAX, MIN_EMIN, Context, Decimal, InvalidOperation
from typing import Any

from samlocal import fast_dynamodb

BODY_READ = "samlocal.body_read"  # environ key: the door read the request body to its end

# Marks the runtime's own boto3 clients (Config(user_agent_extra=RUNTIME_AGENT)).
RUNTIME_AGENT = "samlocal-runtime"

# What each fault rate injects (the rate is per eligible request, 0..1).
FAULT_KINDS: dict[str, str] = {
    "transaction_conflict": "TransactWriteItems/TransactGetItems: TransactionCanceledException, "
    "CancellationReasons TransactionConflict on one item and None on the others",
    "write_conflict": "PutItem/UpdateItem/DeleteItem: TransactionConflictException (the item is in a transaction)",
    "throttle": "any DynamoDB item or query call: ThrottlingException or ProvisionedThroughputExceededException (400)",
    "sqs_5xx": "any SQS call: InternalError (500) or ServiceUnavailable (503)",
    "scheduler_5xx": "any EventBridge Scheduler call: InternalServerException (500)",
    "cognito_throttle": "any Cognito user-pool call: TooManyRequestsException (400), as past a quota category's RPS",
}

# The rates `make serve` uses with STRICT_AWS=1 when STRICT_AWS_FAULTS is not set.
DEFAULT_SERVE_FAULTS = {
    "transaction_conflict": 0.05,
    "throttle": 0.02,
    "sqs_5xx": 0.01,
    "scheduler_5xx": 0.01,
}

# AWS's documented limits.
SQS_BATCH_ENTRIES = 10
SQS_BATCH_BYTES = 1_048_576  # 1 MiB, the sum of the entries' sizes
SQS_MAX_VISIBILITY_SECONDS = 43_200  # 12 hours, for ReceiveMessage and ChangeMessageVisibility(Batch)
DYNAMODB_TRANSACTION_ITEMS = 100
DYNAMODB_TRANSACTION_BYTES = 4 * 1024 * 1024
DYNAMODB_BATCH_WRITE_REQUESTS = 25
DYNAMODB_NUMBER_DIGITS = 38
DYNAMODB_NUMBER_MAX_EXPONENT = 125  # 9.9999999999999999999999999999999999999E+125
DYNAMODB_NUMBER_MIN_EXPONENT = -130  # 1E-130
COGNITO_PAGE_LIMIT = 60  # ListUsers, ListUsersInGroup, AdminListGroupsForUser: Limit 0..60
_COGNITO_PAGED = ("ListUsers", "ListUsersInGroup", "AdminListGroupsForUser")
_COGNITO_TARGET = "AWSCognitoIdentityProviderService."

_DYNAMODB_ITEM_CALLS = {
    "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem", "BatchWriteItem",
    "TransactWriteItems", "TransactGetItems", "ExecuteStatement", "BatchExecuteStatement",
    "ExecuteTransaction",
}  # fmt: skip
_CREDENTIAL_SERVICE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")


def parse_faults(text: str | None) -> dict[str, float]:
    """`"transaction_conflict=0.2,throttle=0.05"` -> rates; raises ValueError naming a bad entry."""
    rates: dict[str, float] = {}
    for part in (text or "").replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"fault rate {part!r}: expected name=rate")
        rates[name.strip()] = float(value)
    return _checked(rates)


def _checked(rates: Mapping[str, float]) -> dict[str, float]:
    for name, rate in rates.items():
        if name not in FAULT_KINDS:
            raise ValueError(f"unknown fault {name!r}: one of {', '.join(FAULT_KINDS)}")
        if not 0.0 <= float(rate) <= 1.0:
            raise ValueError(f"fault {name}: rate {rate} is not between 0 and 1")
    return {name: float(rate) for name, rate in rates.items()}


@dataclass(frozen=True)
class Injection:
    kind: str
    service: str
    operation: str
    code: str


class Faults:
    """Fault rates for a running stack, with a seeded RNG and a record of every injected fault.

    stack.faults.update(transaction_conflict=0.2, throttle=0.05)
    with stack.faults.raised(sqs_5xx=1.0): ...   # back to the previous rates afterwards
    stack.faults.injected()  # {"transaction_conflict": 3, ...}; stack.faults.history: [Injection]
    """

    def __init__(self, rates: Mapping[str, float] | None = None, *, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rates = dict.fromkeys(FAULT_KINDS, 0.0)
        self._rates.update(_checked(rates or {}))
        self._random = random.Random(seed)
        self._only: dict[str, frozenset[str]] = {}  # kind -> the only operations it is drawn for
        self.history: list[Injection] = []

    @property
    def rates(self) -> dict[str, float]:
        with self._lock:
            return dict(self._rates)

    def update(self, rates: Mapping[str, float] | None = None, /, **more: float) -> None:
        """Change the named rates (others keep theirs)."""
        changes = _checked({**(rates or {}), **more})
        with self._lock:
            self._rates.update(changes)

    def set(self, rates: Mapping[str, float] | None = None, /, **more: float) -> None:
        """Replace every rate: the named ones as given, the others 0."""
        changes = _checked({**(rates or {}), **more})
        with self._lock:
            self._rates = dict.fromkeys(FAULT_KINDS, 0.0) | changes

    def clear(self) -> None:
        self.set()

    @contextmanager
    def raised(
        self, rates: Mapping[str, float] | None = None, /, *, operations: Iterable[str] | None = None, **more: float
    ) -> Iterator[Faults]:
        """These rates for the block; with `operations`, the kinds named here hit only those operations
        (a test that means to throttle UpdateItem does, whatever else the code calls meanwhile)."""
        before = self.rates
        named = {**(rates or {}), **more}
        self.update(named)
        if operations is not None:
            with self._lock:
                self._only.update(dict.fromkeys(named, frozenset(operations)))
        try:
            yield self
        finally:
            self.set(before)
            with self._lock:
                for kind in named:
                    self._only.pop(kind, None)

    def injected(self) -> dict[str, int]:
        """How many faults of each kind were injected so far (kinds never injected are absent)."""
        with self._lock:
            return dict(Counter(i.kind for i in self.history))

    def reset_counts(self) -> None:
        with self._lock:
            self.history.clear()

    def seed(self, seed: int) -> None:
        with self._lock:
            self._random.seed(seed)

    def draw(self, kind: str, operation: str | None = None) -> bool:
        with self._lock:
            rate = self._rates[kind]
            only = self._only.get(kind)
            if only is not None and operation not in only:
                return False
            return rate > 0 and self._random.random() < rate

    def pick(self, options: list[Any]) -> Any:
        with self._lock:
            return self._random.choice(options)

    def record(self, injection: Injection) -> None:
        with self._lock:
            self.history.append(injection)


@dataclass
class _Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class AwsError(Exception):
    """An answer in AWS's own error shape, given instead of forwarding the request."""

    def __init__(self, reply: _Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


_STATUS_TEXT = {400: "Bad Request", 500: "Internal Server Error", 503: "Service Unavailable"}


def _json_error(status: int, type_: str, message: str, *, json_version: str = "1.0",
                query_error: str | None = None, message_key: str = "message",
                **extra: Any) -> AwsError:  # fmt: skip
    body = json.dumps({"__type": type_, message_key: message, **extra}).encode()
    headers = [("Content-Type", f"application/x-amz-json-{json_version}"), ("Content-Length", str(len(body)))]
    headers.append(("x-amzn-RequestId", f"strict-{random.getrandbits(64):016x}"))
    if query_error:
        headers.append(("x-amzn-query-error", query_error))
    return AwsError(_Reply(status, headers, body))


def dynamodb_error(
    code: str, message: str, *, namespace: str = "com.amazonaws.dynamodb.v20120810", **extra: Any
) -> AwsError:
    return _json_error(400, f"{namespace}#{code}", message, **extra)


def dynamodb_validation(message: str) -> AwsError:
    return _json_error(400, "com.amazon.coral.validate#ValidationException", message)


def cognito_error(code: str, message: str) -> AwsError:
    return _json_error(400, code, message, json_version="1.1")


# Cognito's symbols for RequireSymbols (its documented set)
COGNITO_SYMBOLS = frozenset("^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+- ")


def password_problem(password: str, policy: Mapping[str, Any]) -> str | None:
    """What a password lacks against a user pool's PasswordPolicy, in Cognito's words; None when it passes."""
    if len(password) < int(policy.get("MinimumLength") or 8):
        return "Password not long enough"
    checks = (("RequireLowercase", str.islower, "Password must have lowercase characters"),
              ("RequireUppercase", str.isupper, "Password must have uppercase characters"),
              ("RequireNumbers", str.isdigit, "Password must have numeric characters"),
              ("RequireSymbols", lambda c: c in COGNITO_SYMBOLS, "Password must have symbol characters"))  # fmt: skip
    for setting, kind, problem in checks:
        if policy.get(setting) and not any(kind(c) for c in password):
            return problem
    return None


def sqs_error(status: int, code: str, query_code: str, message: str) -> AwsError:
    fault = "Sender" if status < 500 else "Receiver"
    return _json_error(status, f"com.amazonaws.sqs#{code}", message, query_error=f"{query_code};{fault}")


# ----- sizes -----


# Enough precision that normalize() never rounds (the default context keeps 28 digits).
_EXACT = Context(prec=1000, Emax=MAX_EMAX, Emin=MIN_EMIN)


def _number_size(text: str) -> int:
    digits = Decimal(text).normalize(_EXACT).as_tuple().digits
    return (len(digits) + 1) // 2 + 1


def attribute_size(value: Mapping[str, Any]) -> int:
    """DynamoDB's size of one AttributeValue (names count where they appear, in maps and items)."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return _number_size(inner)
    if kind == "B":
        return len(base64.b64decode(inner))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in inner)
    if kind == "NS":
        return sum(_number_size(n) for n in inner)
    if kind == "BS":
        return sum(len(base64.b64decode(b)) for b in inner)
    if kind == "L":
        return 3 + sum(1 + attribute_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + attribute_size(v) for k, v in inner.items())
    return 0


def item_size(item: Mapping[str, Any]) -> int:
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())


def sqs_message_size(entry: Mapping[str, Any]) -> int:
    """Body plus message attributes (name, type and value), in bytes, as SQS counts them."""
    size = len(str(entry.get("MessageBody", "")).encode())
    for name, attribute in (entry.get("MessageAttributes") or {}).items():
        size += len(name.encode()) + len(str(attribute.get("DataType", "")).encode())
        if "StringValue" in attribute:
            size += len(str(attribute["StringValue"]).encode())
        if "BinaryValue" in attribute:
            size += len(base64.b64decode(attribute["BinaryValue"]))
    return size


# ----- numbers -----


def check_number(text: str) -> str | None:
    """Why DynamoDB refuses the number `text`, or None."""
    try:
        number = Decimal(text)
    except InvalidOperation:
        return "A value provided cannot be converted into a number"
    if not number.is_finite():
        return "A value provided cannot be converted into a number"
    if number.is_zero():
        return None
    normal = number.normalize(_EXACT)
    if len(normal.as_tuple().digits) > DYNAMODB_NUMBER_DIGITS:
        return "Attempting to store more than 38 significant digits in a Number"
    if normal.adjusted() > DYNAMODB_NUMBER_MAX_EXPONENT:
        return "Number overflow. Attempting to store a number with magnitude larger than supported range"
    if normal.adjusted() < DYNAMODB_NUMBER_MIN_EXPONENT:
        return "Number underflow. Attempting to store a number with magnitude smaller than supported range"
    return None


def _plain(text: str) -> str:
    """Exponent form -> plain digits (what AWS answers anyway); moto's ADD cannot parse `1E+2`."""
    if "e" not in text and "E" not in text:
        return text
    return format(Decimal(text).normalize(_EXACT), "f")


class NumberForms:
    """`json.loads` object hook for a DynamoDB request: each N/NS value in plain form as the body is parsed
    (no second walk over the request); the first number DynamoDB would refuse is kept in `problem`."""

    def __init__(self) -> None:
        self.rewritten = False
        self.problem: str | None = None

    def __call__(self, node: dict[str, Any]) -> dict[str, Any]:
        if len(node) != 1:
            return node
        ((kind, inner),) = node.items()
        if kind == "N" and isinstance(inner, str):
            number = self._plain(inner)
            return node if number == inner else {"N": number}
        if kind == "NS" and isinstance(inner, list) and all(isinstance(n, str) for n in inner):
            numbers = [self._plain(n) for n in inner]
            return node if numbers == inner else {"NS": numbers}
        return node

    def _plain(self, text: str) -> str:
        problem = check_number(text)
        if problem:
            self.problem = self.problem or problem
            return text  # refused in strict mode; otherwise moto answers what it answers
        plain = _plain(text)
        self.rewritten = self.rewritten or plain != text
        return plain


# ----- the middleware -----

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class AwsFrontDoor:
    """WSGI middleware: AWS limits (limits=True), injected faults (`faults`), fences around moto."""

    def __init__(self, app: WsgiApp, *, limits: bool = False, faults: Faults | None = None) -> None:
        self.app = app
        self.limits = limits
        self.faults = faults or Faults()
        self._dynamodb_lock = threading.RLock()
        self._scheduler_lock = threading.RLock()
        self._max_sizes: dict[str, int] = {}
        self._password_policies: dict[str, dict[str, Any]] = {}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        service = _service(environ)
        if service not in ("dynamodb", "sqs", "scheduler", "cognito-idp"):
            return self.app(environ, start_response)
        body = _read_body(environ)
        environ[BODY_READ] = True  # to its end: the connection can be kept (embedded_aws)
        exempt = RUNTIME_AGENT in environ.get("HTTP_USER_AGENT", "")
        try:
            if service == "dynamodb":
                return self._dynamodb(environ, start_response, body, exempt)
            if service == "sqs":
                return self._sqs(environ, start_response, body, exempt)
            if service == "cognito-idp":
                return self._cognito(environ, start_response, body, exempt)
            return self._scheduler(environ, start_response, body, exempt)
        except AwsError as answer:
            reply = answer.reply
            start_response(f"{reply.status} {_STATUS_TEXT.get(reply.status, '')}".strip(), reply.headers)
            return [reply.body]

    # ----- DynamoDB -----

    def _dynamodb(
        self, environ: dict[str, Any], start_response: Any, body: bytes, exempt: bool
    ) -> Iterable[bytes]:
        operation = _operation(environ)
        numbers = NumberForms()
        request = _json(body, numbers)
        if request is not None:
            if numbers.problem and self.limits:
                raise dynamodb_validation(numbers.problem)
            if numbers.rewritten:
                body = json.dumps(request).encode()
            if self.limits:
                self._dynamodb_limits(operation, request)
        if not exempt:
            self._dynamodb_fault(operation, request or {})
        _set_body(environ, body)
        if request is not None:
            environ[fast_dynamodb.PARSED] = request  # moto's parser starts from it (fast_dynamodb)
        with self._dynamodb_lock:  # moto iterates its tables' dicts; concurrent writers break that
            return _buffered(self.app, environ, start_response)

    def _dynamodb_limits(self, operation: str, request: dict[str, Any]) -> None:
        if operation in ("TransactWriteItems", "TransactGetItems"):
            items = request.get("TransactItems") or []
            if len(items) > DYNAMODB_TRANSACTION_ITEMS:
                raise dynamodb_validation(
                    "1 validation error detected: Value at 'transactItems' failed to satisfy constraint: "
                    f"Member must have length less than or equal to {DYNAMODB_TRANSACTION_ITEMS}"
                )
            if operation == "TransactWriteItems" and _transaction_size(items) > DYNAMODB_TRANSACTION_BYTES:
                raise dynamodb_validation(
                    "Transaction request size has exceeded the maximum allowed size of 4 MB"
                )
        elif operation == "Query" and request.get("ExclusiveStartKey") and not start_in_condition(request):
            raise dynamodb_validation(
                "The provided starting key is outside query boundaries based on provided conditions"
            )
        elif operation == "BatchWriteItem":
            requests = sum(len(r) for r in (request.get("RequestItems") or {}).values())
            if requests > DYNAMODB_BATCH_WRITE_REQUESTS:
                raise dynamodb_validation("Too many items requested for the BatchWriteItem call")

    def _dynamodb_fault(self, operation: str, request: dict[str, Any]) -> None:
        faults = self.faults
        if operation in ("TransactWriteItems", "TransactGetItems") and faults.draw("transaction_conflict", operation):
            count = max(1, len(request.get("TransactItems") or []))
            conflicted = faults.pick(list(range(count)))
            reasons = [
                {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
                if i == conflicted
                else {"Code": "None"}
                for i in range(count)
            ]
            codes = ", ".join(r["Code"] for r in reasons)
            self._inject("transaction_conflict", "dynamodb", operation, "TransactionCanceledException")
            raise dynamodb_error(
                "TransactionCanceledException",
                f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
                message_key="Message",
                CancellationReasons=reasons,
            )
        if operation in ("PutItem", "UpdateItem", "DeleteItem") and faults.draw("write_conflict", operation):
            self._inject("write_conflict", "dynamodb", operation, "TransactionConflictException")
            raise dynamodb_error("TransactionConflictException", "Transaction is ongoing for the item")
        if operation in _DYNAMODB_ITEM_CALLS and faults.draw("throttle", operation):
            code = faults.pick(["ThrottlingException", "ProvisionedThroughputExceededException"])
            self._inject("throttle", "dynamodb", operation, code)
            if code == "ThrottlingException":
                raise dynamodb_error(code, "Rate of requests exceeds the allowed throughput.",
                                     namespace="com.amazon.coral.availability")  # fmt: skip
            raise dynamodb_error(
                code,
                "The level of configured provisioned throughput for the table was exceeded. "
                "Consider increasing your provisioning level with the UpdateTable API.",
            )

    # ----- SQS -----

    def _sqs(
        self, environ: dict[str, Any], start_response: Any, body: bytes, exempt: bool
    ) -> Iterable[bytes]:
        operation = _operation(environ)
        request = _json(body)
        if operation in ("SetQueueAttributes", "DeleteQueue", "CreateQueue"):
            self._max_sizes.clear()
        if self.limits and request is not None:
            self._sqs_limits(environ, operation, request)
        if not exempt and self.faults.draw("sqs_5xx"):
            status, code = self.faults.pick([(500, "InternalError"), (503, "ServiceUnavailable")])
            self._inject("sqs_5xx", "sqs", operation, code)
            raise sqs_error(status, code, code, "We encountered an internal error. Please try again.")
        _set_body(environ, body)
        return self.app(environ, start_response)

    def _sqs_limits(self, environ: dict[str, Any], operation: str, request: dict[str, Any]) -> None:
        if operation in ("SendMessageBatch", "DeleteMessageBatch", "ChangeMessageVisibilityBatch"):
            entries = request.get("Entries") or []
            if len(entries) > SQS_BATCH_ENTRIES:
                raise sqs_error(400, "TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
                                f"Maximum number of entries per request are 10. You have sent {len(entries)}.")  # fmt: skip
        if operation in ("ReceiveMessage", "ChangeMessageVisibility", "ChangeMessageVisibilityBatch"):
            for where in [request, *(request.get("Entries") or [])]:
                seconds = where.get("VisibilityTimeout")
                if seconds is not None and not 0 <= int(seconds) <= SQS_MAX_VISIBILITY_SECONDS:
                    raise sqs_error(400, "InvalidParameterValue", "InvalidParameterValue",
                                    f"Value {seconds} for parameter VisibilityTimeout is invalid. Reason: must be "
                                    f"between 0 and {SQS_MAX_VISIBILITY_SECONDS}.")  # fmt: skip
            wanted = request.get("MaxNumberOfMessages")
            if wanted is not None and not 1 <= int(wanted) <= SQS_BATCH_ENTRIES:
                raise sqs_error(400, "InvalidParameterValue", "InvalidParameterValue",
                                f"Value {wanted} for parameter MaxNumberOfMessages is invalid. Reason: Must be "
                                f"between 1 and 10, if provided.")  # fmt: skip
            return
        if operation == "SendMessageBatch":
            entries = request.get("Entries") or []
            total = sum(sqs_message_size(e) for e in entries)
            if total > SQS_BATCH_BYTES:
                raise sqs_error(400, "BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong",
                                f"Batch requests cannot be longer than {SQS_BATCH_BYTES} bytes. "
                                f"You have sent {total} bytes.")  # fmt: skip
        elif operation == "SendMessage":
            entries = [request]
        else:
            return
        limit = self._max_size(environ, str(request.get("QueueUrl", "")))
        if limit is not None and any(sqs_message_size(e) > limit for e in entries):
            reason = f"Message must be shorter than {limit} bytes."
            raise sqs_error(400, "InvalidParameterValue", "InvalidParameterValue",
                            f"One or more parameters are invalid. Reason: {reason}")  # fmt: skip

    def _max_size(self, environ: dict[str, Any], queue_url: str) -> int | None:
        """The queue's MaximumMessageSize, asked of the app behind (cached until attributes change)."""
        if queue_url in self._max_sizes:
            return self._max_sizes[queue_url]
        ask = json.dumps({"QueueUrl": queue_url, "AttributeNames": ["MaximumMessageSize"]}).encode()
        sub = dict(environ)
        sub["HTTP_X_AMZ_TARGET"] = "AmazonSQS.GetQueueAttributes"
        _set_body(sub, ask)
        status: list[str] = []
        reply = b"".join(self.app(sub, lambda s, h, *exc: status.append(s)))
        if not status or not status[0].startswith("200"):
            return None  # no such queue: the request itself will say so
        size = int((json.loads(reply).get("Attributes") or {}).get("MaximumMessageSize", 0)) or None
        if size:
            self._max_sizes[queue_url] = size
        return size

    # ----- Scheduler -----

    def _scheduler(
        self, environ: dict[str, Any], start_response: Any, body: bytes, exempt: bool
    ) -> Iterable[bytes]:
        if not exempt and self.faults.draw("scheduler_5xx"):
            operation = f"{environ.get('REQUEST_METHOD', '')} {environ.get('PATH_INFO', '')}"
            self._inject("scheduler_5xx", "scheduler", operation, "InternalServerException")
            payload = json.dumps(
                {"Message": "Unexpected error occurred while processing the request"}
            ).encode()
            raise AwsError(_Reply(500, [
                ("Content-Type", "application/json"), ("Content-Length", str(len(payload))),
                ("x-amzn-ErrorType", "InternalServerException"),
            ], payload))  # fmt: skip
        _set_body(environ, body)
        with self._scheduler_lock:  # moto lists a group's schedules from a dict a create may grow
            return _buffered(self.app, environ, start_response)

    # ----- Cognito user pools -----

    def _cognito(
        self, environ: dict[str, Any], start_response: Any, body: bytes, exempt: bool
    ) -> Iterable[bytes]:
        operation = _operation(environ)
        request = _json(body) or {}
        if operation in ("UpdateUserPool", "DeleteUserPool"):
            self._password_policies.clear()
        if self.limits:
            self._cognito_limits(environ, operation, request)
        if not exempt and self.faults.draw("cognito_throttle"):
            self._inject("cognito_throttle", "cognito-idp", operation, "TooManyRequestsException")
            raise cognito_error("TooManyRequestsException", "Too many requests")
        _set_body(environ, body)
        return self.app(environ, start_response)

    def _cognito_limits(self, environ: dict[str, Any], operation: str, request: dict[str, Any]) -> None:
        if operation in _COGNITO_PAGED and request.get("Limit") is not None:
            limit = int(request["Limit"])
            if not 0 <= limit <= COGNITO_PAGE_LIMIT:
                raise cognito_error("InvalidParameterException", f"1 validation error detected: Value '{limit}' "
                                    f"at 'limit' failed to satisfy constraint: Member must have value less than or "
                                    f"equal to {COGNITO_PAGE_LIMIT}")  # fmt: skip
        if operation == "AdminCreateUser" and request.get("TemporaryPassword") is not None:
            policy = self._password_policy(environ, str(request.get("UserPoolId", "")))
            broken = password_problem(str(request["TemporaryPassword"]), policy)
            if broken:
                raise cognito_error("InvalidPasswordException", f"Password did not conform with policy: {broken}")

    def _password_policy(self, environ: dict[str, Any], pool_id: str) -> dict[str, Any]:
        """The pool's PasswordPolicy, asked of the app behind (cached until the pool changes)."""
        if pool_id in self._password_policies:
            return self._password_policies[pool_id]
        sub = dict(environ)
        sub["HTTP_X_AMZ_TARGET"] = f"{_COGNITO_TARGET}DescribeUserPool"
        _set_body(sub, json.dumps({"UserPoolId": pool_id}).encode())
        status: list[str] = []
        reply = b"".join(self.app(sub, lambda s, h, *exc: status.append(s)))
        if not status or not status[0].startswith("200"):
            return {}  # no such pool: the request itself will say so
        policy = dict(((json.loads(reply).get("UserPool") or {}).get("Policies") or {}).get("PasswordPolicy") or {})
        self._password_policies[pool_id] = policy
        return policy

    def _inject(self, kind: str, service: str, operation: str, code: str) -> None:
        self.faults.record(Injection(kind, service, operation, code))


_BETWEEN = re.compile(r"([#\w.]+)\s+BETWEEN\s+(:\w+)\s+AND\s+(:\w+)", re.IGNORECASE)
_EQUALS = re.compile(r"([#\w.]+)\s*=\s*(:\w+)")


def start_in_condition(request: Mapping[str, Any]) -> bool:
    """Whether a Query's ExclusiveStartKey satisfies its KeyConditionExpression's `=` and BETWEEN terms on
    string and number keys (the forms this engine sends; others are let through)."""
    condition = str(request.get("KeyConditionExpression") or "")
    names = request.get("ExpressionAttributeNames") or {}
    values = request.get("ExpressionAttributeValues") or {}
    start = request["ExclusiveStartKey"]

    def key(value: Mapping[str, Any] | None) -> Any:
        if not value:
            return None
        if "S" in value:
            return ("S", value["S"])
        return ("N", Decimal(str(value["N"]))) if "N" in value else None

    for name, lo, hi in _BETWEEN.findall(condition):
        at = key(start.get(names.get(name, name)))
        low, high = key(values.get(lo)), key(values.get(hi))
        if None not in (at, low, high) and not low <= at <= high:
            return False
    for name, value in _EQUALS.findall(_BETWEEN.sub("", condition)):
        at, wanted = key(start.get(names.get(name, name))), key(values.get(value))
        if None not in (at, wanted) and at != wanted:
            return False
    return True


def _transaction_size(items: list[dict[str, Any]]) -> int:
    size = 0
    for entry in items:
        for action in entry.values():
            if not isinstance(action, dict):
                continue
            size += item_size(action.get("Item") or {}) + item_size(action.get("Key") or {})
            size += sum(attribute_size(v) for v in (action.get("ExpressionAttributeValues") or {}).values())
    return size


def _service(environ: dict[str, Any]) -> str:
    match = _CREDENTIAL_SERVICE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if match:
        return match.group(1)
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target.startswith(_COGNITO_TARGET):  # InitiateAuth and RespondToAuthChallenge are not signed
        return "cognito-idp"
    if target.startswith("DynamoDB_"):
        return "dynamodb"
    if target.startswith("AmazonSQS."):
        return "sqs"
    return ""


def _operation(environ: dict[str, Any]) -> str:
    return str(environ.get("HTTP_X_AMZ_TARGET", "")).rpartition(".")[2]


def _read_body(environ: dict[str, Any]) -> bytes:
    stream = environ["wsgi.input"]
    if environ.get("wsgi.input_terminated"):  # chunked: the server ends the stream
        return bytes(stream.read())
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return bytes(stream.read(length)) if length else b""  # a kept-alive socket never ends by itself


def _set_body(environ: dict[str, Any], body: bytes) -> None:
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))


def _json(body: bytes, object_hook: Callable[[dict[str, Any]], Any] | None = None) -> dict[str, Any] | None:
    try:
        parsed = json.loads(body or b"{}", object_hook=object_hook)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _buffered(app: WsgiApp, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """Run the app to its last byte (so a lock held around it covers the whole request)."""
    result = app(environ, start_response)
    try:
        return [b"".join(result)]
    finally:
        close = getattr(result, "close", None)
        if close:
            close()
