"""Read a SAM/CloudFormation template the way CloudFormation would, for the local runtime.

Short tags become long-form intrinsics, parameters take defaults and overrides, Globals.Function
is merged into each serverless function, and intrinsics resolve to the physical names and ARNs the
local stack provisions (`{stack}-{LogicalId}` unless the template names the resource).

Only what template.yaml uses is understood: Ref (a Cognito user pool's or client's to the id AWS gave it
when provisioned), GetAtt (Arn of queues, roles and buckets, a queue's QueueName), Sub, If, Split and the
conditions Equals, Not, Or. Anything else is a TemplateError naming where it appears, so a template that
outgrows the emulator says so instead of running half-resolved.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
DEFAULT_STACK = "push-engine"

FUNCTION_TYPES = ("AWS::Serverless::Function",)
QUEUE_TYPE = "AWS::SQS::Queue"
TABLE_TYPE = "AWS::DynamoDB::Table"
BUCKET_TYPE = "AWS::S3::Bucket"
LOG_GROUP_TYPE = "AWS::Logs::LogGroup"
SCHEDULE_GROUP_TYPE = "AWS::Scheduler::ScheduleGroup"
ROLE_TYPE = "AWS::IAM::Role"
USER_POOL_TYPE = "AWS::Cognito::UserPool"
USER_POOL_CLIENT_TYPE = "AWS::Cognito::UserPoolClient"
USER_POOL_GROUP_TYPE = "AWS::Cognito::UserPoolGroup"
# Resources whose Ref is an id AWS chooses when it creates them (recorded in Template.provisioned).
_PROVISIONED_IDS = (USER_POOL_TYPE, USER_POOL_CLIENT_TYPE)

# The property that carries a resource's own name, when the template chooses it.
_NAME_PROPERTY = {
    BUCKET_TYPE: "BucketName",
    TABLE_TYPE: "TableName",
    QUEUE_TYPE: "QueueName",
    SCHEDULE_GROUP_TYPE: "Name",
    ROLE_TYPE: "RoleName",
    USER_POOL_TYPE: "UserPoolName",
    USER_POOL_CLIENT_TYPE: "ClientName",
    USER_POOL_GROUP_TYPE: "GroupName",
    "AWS::Serverless::Function": "FunctionName",
    "AWS::Serverless::LayerVersion": "LayerName",
}
API_TYPE = "AWS::Serverless::HttpApi"


class TemplateError(ValueError):
    """The template cannot run locally; the message names the resource at fault."""


class _NoValue:
    """AWS::NoValue: the property it stands in for is removed."""


NO_VALUE = _NoValue()


# ---------- YAML with CloudFormation short tags ----------


class _CfnLoader(yaml.SafeLoader):
    pass


def _short_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _short_tag)


def read_yaml(path: str | Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        body = yaml.load(handle, Loader=_CfnLoader)
    if not isinstance(body, dict) or not isinstance(body.get("Resources"), dict):
        raise TemplateError(f"{path}: not a CloudFormation template (no Resources)")
    return body


# ---------- the loaded template ----------


@dataclass
class FunctionSpec:
    """One AWS::Serverless::Function with Globals merged and every intrinsic resolved."""

    logical_id: str
    name: str
    arn: str
    code_dir: Path
    handler: str
    timeout: int
    memory_size: int
    environment: dict[str, str]
    events: dict[str, dict[str, Any]]
    layer_dirs: list[Path] = field(default_factory=list)

    @property
    def handler_file(self) -> Path:
        module, _, _ = self.handler.rpartition(".")
        return self.code_dir / (module.replace(".", "/") + ".py")

    @property
    def handler_attr(self) -> str:
        return self.handler.rpartition(".")[2]


class Template:
    """A template bound to a stack name, parameter values and (optionally) the local AWS endpoint."""

    def __init__(
        self,
        path: str | Path,
        *,
        stack_name: str = DEFAULT_STACK,
        parameters: Mapping[str, Any] | None = None,
        aws_url: str | None = None,
    ) -> None:
        self.path = Path(path).resolve()
        self.root = self.path.parent
        self.body = read_yaml(self.path)
        self.stack_name = stack_name
        self.region = REGION
        self.account_id = ACCOUNT_ID
        self.aws_url = aws_url
        self.provisioned: dict[str, str] = {}  # logical id -> the id AWS chose (a user pool's, a client's)
        self.declared_parameters: dict[str, dict[str, Any]] = dict(self.body.get("Parameters") or {})
        unknown = sorted(set(parameters or {}) - set(self.declared_parameters))
        if unknown:
            raise TemplateError(f"parameter override(s) not declared in the template: {', '.join(unknown)}")
        self.parameters: dict[str, str] = {
            name: _scalar_str(spec["Default"])
            for name, spec in self.declared_parameters.items()
            if isinstance(spec, dict) and "Default" in spec
        }
        self.parameters.update({k: _scalar_str(v) for k, v in (parameters or {}).items()})
        self._all_resources: dict[str, dict[str, Any]] = self.body["Resources"]
        self._conditions: dict[str, bool] = {}

    # ----- resources -----

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        """Declared resources whose Condition (if any) holds."""
        return {
            logical: res
            for logical, res in self._all_resources.items()
            if "Condition" not in res or self.condition(res["Condition"])
        }

    def of_type(self, *types: str) -> dict[str, dict[str, Any]]:
        return {k: v.get("Properties") or {} for k, v in self.resources.items() if v.get("Type") in types}

    def type_of(self, logical_id: str) -> str:
        try:
            return str(self._all_resources[logical_id]["Type"])
        except KeyError:
            raise TemplateError(f"{logical_id}: not declared in {self.path.name}") from None

    def properties(self, logical_id: str) -> dict[str, Any]:
        self.type_of(logical_id)
        return dict(self._all_resources[logical_id].get("Properties") or {})

    def resolved_properties(self, logical_id: str) -> dict[str, Any]:
        props = self.properties(logical_id)
        if self.type_of(logical_id) in FUNCTION_TYPES:
            props = merge_globals((self.body.get("Globals") or {}).get("Function") or {}, props)
        resolved = self.resolve(props, where=f"Resources.{logical_id}")
        assert isinstance(resolved, dict)
        return resolved

    # ----- names -----

    def physical_name(self, logical_id: str) -> str:
        rtype = self.type_of(logical_id)
        prop = _NAME_PROPERTY.get(rtype)
        given = self.properties(logical_id).get(prop) if prop else None
        if given is not None:
            return str(self.resolve(given, where=f"Resources.{logical_id}.Properties.{prop}"))
        name = f"{self.stack_name}-{logical_id}"
        if rtype == BUCKET_TYPE:  # S3 names are lower case, 3-63 characters
            name = name.lower()[:63]
        return name

    def arn(self, service: str, resource: str) -> str:
        sep = "" if service in ("iam", "s3") else self.region
        account = "" if service == "s3" else self.account_id
        return f"arn:aws:{service}:{sep}:{account}:{resource}"

    def queue_url(self, logical_id: str) -> str:
        base = (self.aws_url or f"https://sqs.{self.region}.amazonaws.com").rstrip("/")
        return f"{base}/{self.account_id}/{self.physical_name(logical_id)}"

    def ref(self, target: str, where: str = "") -> Any:
        pseudo = self.pseudo_parameter(target)
        if pseudo is not None:
            return pseudo
        if target in self.declared_parameters:
            if target not in self.parameters:
                raise TemplateError(f"{where}: parameter {target} has no Default and no value was given")
            return self.parameters[target]
        rtype = self.type_of_ref(target, where)
        if rtype in _PROVISIONED_IDS:
            # before provisioning (start-up validation) a stand-in that names what it waits for
            return self.provisioned.get(target, f"unprovisioned-{target}")
        name = self.physical_name(target)
        if rtype == QUEUE_TYPE:
            return self.queue_url(target)
        if rtype == "AWS::Serverless::LayerVersion":
            return self.arn("lambda", f"layer:{name}:1")
        if rtype == API_TYPE:
            return self.api_id(target)
        return name

    def get_att(self, target: str, attr: str, where: str = "") -> Any:
        rtype = self.type_of_ref(target, where)
        name = self.physical_name(target)
        values: dict[str, Any] = {}
        if rtype == QUEUE_TYPE:
            values = {"Arn": self.arn("sqs", name), "QueueName": name}
        elif rtype == ROLE_TYPE:
            path = self.properties(target).get("Path") or "/"
            values = {"Arn": self.arn("iam", f"role{path}{name}")}
        elif rtype == BUCKET_TYPE:
            values = {"Arn": self.arn("s3", name)}
        elif rtype == LOG_GROUP_TYPE:  # the API's access log destination (AWS: the group's ARN with :*)
            values = {"Arn": self.arn("logs", f"log-group:{name}:*")}
        if attr not in values:
            raise TemplateError(f"{where}: !GetAtt {target}.{attr} is not supported by the local runtime")
        return values[attr]

    def function_arn(self, name: str) -> str:
        return self.arn("lambda", f"function:{name}")

    def api_id(self, logical_id: str) -> str:
        return _fake_id(f"{self.stack_name}/{logical_id}", 10).lower()

    def type_of_ref(self, target: str, where: str) -> str:
        if target not in self._all_resources:
            raise TemplateError(f"{where}: {target} is not declared in the template")
        return self.type_of(target)

    def pseudo_parameter(self, name: str) -> Any:
        return {
            "AWS::StackName": self.stack_name,
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NO_VALUE,
        }.get(name)

    # ----- conditions -----

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            conditions = self.body.get("Conditions") or {}
            if name not in conditions:
                raise TemplateError(f"Condition {name} is not declared in the template")
            self._conditions[name] = bool(self._eval_condition(conditions[name], f"Conditions.{name}"))
        return self._conditions[name]

    def _eval_condition(self, expr: Any, where: str) -> bool:
        if isinstance(expr, dict) and len(expr) == 1:
            ((key, arg),) = expr.items()
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::Equals":
                left, right = (self.resolve(a, where) for a in arg)
                return _scalar_str(left) == _scalar_str(right)
            if key == "Fn::Not":
                return not self._eval_condition(arg[0], where)
            if key == "Fn::Or":
                return any(self._eval_condition(a, where) for a in arg)
        raise TemplateError(f"{where}: unsupported condition {expr!r}")

    # ----- intrinsic resolution -----

    def resolve(self, value: Any, where: str = "") -> Any:
        if isinstance(value, list):
            items = [self.resolve(v, f"{where}[{i}]") for i, v in enumerate(value)]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref" or key.startswith("Fn::"):
                return self._intrinsic(key, arg, where)
        resolved = {k: self.resolve(v, f"{where}.{k}") for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def _intrinsic(self, key: str, arg: Any, where: str) -> Any:
        if key == "Ref":
            return self.ref(arg, where)
        if key == "Fn::GetAtt":
            target, attr = arg if isinstance(arg, list) else str(arg).split(".", 1)
            return self.get_att(target, self.resolve(attr, where), where)
        if key == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            return self._sub(text, self.resolve(variables, where), where)
        if key == "Fn::If":
            name, if_true, if_false = arg
            return self.resolve(if_true if self.condition(name) else if_false, where)
        if key == "Fn::Split":
            delimiter, text = self.resolve(arg, where)
            return str(text).split(delimiter)
        raise TemplateError(f"{where}: {key} is not supported by the local runtime")

    def _sub(self, text: str, variables: dict[str, Any], where: str) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return _scalar_str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                target, attr = name.split(".", 1)
                return _scalar_str(self.get_att(target, attr, where))
            return _scalar_str(self.ref(name, where))

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    # ----- references (start-up validation) -----

    def undeclared_references(self) -> list[str]:
        """Every Ref / GetAtt / Sub variable naming something the template does not declare."""
        known = set(self._all_resources) | set(self.declared_parameters)
        known |= {f"{logical}Role" for logical in self.of_type(*FUNCTION_TYPES)}  # SAM's implicit roles
        known |= {"ServerlessHttpApi", "ServerlessRestApi"}
        problems: list[str] = []
        sections = {"Globals": self.body.get("Globals") or {}, "Outputs": self.body.get("Outputs") or {}}
        for logical, res in self._all_resources.items():
            sections[f"Resources.{logical}"] = {k: v for k, v in res.items() if k != "Metadata"}
        for section, body in sections.items():
            for where, target, form in _references(body, section):
                if target.startswith("AWS::"):
                    if self.pseudo_parameter(target) is None:
                        problems.append(f"{where}: {form} {target} is not a pseudo parameter")
                elif target not in known:
                    problems.append(f"{where}: {form} {target} names a resource that is not declared")
        return problems

    # ----- functions -----

    def function(self, logical_id: str) -> FunctionSpec:
        props = self.resolved_properties(logical_id)
        where = f"Resources.{logical_id}"
        if props.get("PackageType", "Zip") != "Zip" or "Handler" not in props:
            raise TemplateError(f"{where}: only zip functions with a Handler run locally")
        code_uri = props.get("CodeUri") or "."
        if not isinstance(code_uri, str):
            raise TemplateError(f"{where}.Properties.CodeUri: only a local directory is supported")
        name = self.physical_name(logical_id)
        env = ((props.get("Environment") or {}).get("Variables")) or {}
        return FunctionSpec(
            logical_id=logical_id,
            name=name,
            arn=self.function_arn(name),
            code_dir=(self.root / code_uri).resolve(),
            handler=str(props["Handler"]),
            timeout=int(props.get("Timeout", 3)),
            memory_size=int(props.get("MemorySize", 128)),
            environment={k: _scalar_str(v) for k, v in env.items()},
            events=dict(props.get("Events") or {}),
            layer_dirs=self._layer_dirs(props.get("Layers") or []),
        )

    def _layer_dirs(self, layer_arns: list[Any]) -> list[Path]:
        by_arn = {
            self.ref(logical): props["ContentUri"]
            for logical, props in self.of_type("AWS::Serverless::LayerVersion").items()
            if isinstance(props.get("ContentUri"), str)
        }
        return [(self.root / by_arn[arn]).resolve() for arn in layer_arns if arn in by_arn]

    def queue_for_arn(self, arn: str) -> str | None:
        for logical in self.of_type(QUEUE_TYPE):
            if self.get_att(logical, "Arn") == arn:
                return logical
        return None


def load_template(
    path: str | Path,
    *,
    stack_name: str = DEFAULT_STACK,
    parameters: Mapping[str, Any] | None = None,
    aws_url: str | None = None,
) -> Template:
    return Template(path, stack_name=stack_name, parameters=parameters, aws_url=aws_url)


def merge_globals(globals_: Any, own: Any) -> Any:
    """SAM's merge: maps merge key by key, lists add up (Globals first), scalars: the function wins."""
    if isinstance(globals_, dict) and isinstance(own, dict):
        if _is_intrinsic(globals_) or _is_intrinsic(own):
            return own
        merged = dict(globals_)
        for key, value in own.items():
            merged[key] = merge_globals(globals_[key], value) if key in globals_ else value
        return merged
    if isinstance(globals_, list) and isinstance(own, list):
        return globals_ + own
    return own


def _is_intrinsic(value: dict[str, Any]) -> bool:
    return len(value) == 1 and next(iter(value)).startswith(("Fn::", "Ref"))


def _references(value: Any, where: str) -> Iterator[tuple[str, str, str]]:
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield from _references(item, f"{where}[{i}]")
        return
    if not isinstance(value, dict):
        return
    if len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref" and isinstance(arg, str):
            yield where, arg, "!Ref"
            return
        if key == "Fn::GetAtt":
            target = arg[0] if isinstance(arg, list) else str(arg).split(".", 1)[0]
            yield where, str(target), "!GetAtt"
            return
        if key == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1] or {})
            yield from _references(variables, where)
            for name in re.findall(r"\$\{([^}!][^}]*)\}", str(text)):
                if name not in variables:
                    yield where, name if name.startswith("AWS::") else name.split(".", 1)[0], "!Sub"
            return
    for key, item in value.items():
        yield from _references(item, f"{where}.{key}")


def _scalar_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _fake_id(seed: str, length: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:length].upper()
