"""Create the template's tables, queues, schedule groups, roles and Cognito user pools on any boto3 endpoint.

Tests call `create_tables(template, dynamodb_client)` so their schema is the deployed schema.
"""

from __future__ import annotations

import json
import logging
from functools import partial
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from samlocal.template import (
    BUCKET_TYPE,
    QUEUE_TYPE,
    ROLE_TYPE,
    SCHEDULE_GROUP_TYPE,
    TABLE_TYPE,
    USER_POOL_CLIENT_TYPE,
    USER_POOL_GROUP_TYPE,
    USER_POOL_TYPE,
    Template,
    TemplateError,
    load_template,
)

log = logging.getLogger(__name__)

# What template.yaml declares (on-demand tables with global indexes, TTL, PITR and SSE; standard queues with
# a redrive policy); other properties are not passed on.
_GSI_KEYS = ("IndexName", "KeySchema", "Projection")
_QUEUE_ATTRIBUTES = (
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "VisibilityTimeout",
    "RedrivePolicy",
    "SqsManagedSseEnabled",
)


def _template(template: Template | str | Path) -> Template:
    return template if isinstance(template, Template) else load_template(template)


def table_definition(template: Template, logical_id: str) -> dict[str, Any]:
    """CreateTable arguments for one AWS::DynamoDB::Table, exactly as the template declares it."""
    props = template.resolved_properties(logical_id)
    spec: dict[str, Any] = {
        "TableName": template.physical_name(logical_id),
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    if props.get("GlobalSecondaryIndexes"):
        spec["GlobalSecondaryIndexes"] = [
            {k: v for k, v in index.items() if k in _GSI_KEYS} for index in props["GlobalSecondaryIndexes"]
        ]
    sse = props.get("SSESpecification")
    if sse:
        # CloudFormation says SSEEnabled where the DynamoDB API says Enabled.
        spec["SSESpecification"] = {("Enabled" if k == "SSEEnabled" else k): v for k, v in sse.items()}
    return spec


def create_tables(
    template: Template | str | Path, dynamodb: Any, *, exist_ok: bool = False
) -> dict[str, str]:
    """Create every AWS::DynamoDB::Table of the template; returns {logical id: table name}.

    exist_ok: a table of that name already there is kept (and its TTL/PITR settings applied again).
    """
    template = _template(template)
    names: dict[str, str] = {}
    for logical_id in template.of_type(TABLE_TYPE):
        spec = table_definition(template, logical_id)
        names[logical_id] = spec["TableName"]
        if not _created(partial(dynamodb.create_table, **spec), exist_ok, "ResourceInUseException"):
            log.info("table %s already there: kept", spec["TableName"])
            continue
        props = template.resolved_properties(logical_id)
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            dynamodb.update_time_to_live(TableName=spec["TableName"], TimeToLiveSpecification=ttl)
        pitr = props.get("PointInTimeRecoverySpecification")
        if pitr:
            dynamodb.update_continuous_backups(
                TableName=spec["TableName"],
                PointInTimeRecoverySpecification={
                    "PointInTimeRecoveryEnabled": bool(pitr.get("PointInTimeRecoveryEnabled"))
                },
            )
        log.info("table %s created", spec["TableName"])
    return names


def create_buckets(template: Template | str | Path, s3: Any, *, exist_ok: bool = False) -> dict[str, str]:
    """Create every AWS::S3::Bucket of the template; returns {logical id: bucket name}."""
    template = _template(template)
    names: dict[str, str] = {}
    for logical_id in template.of_type(BUCKET_TYPE):
        names[logical_id] = template.physical_name(logical_id)
        try:
            s3.create_bucket(Bucket=names[logical_id])
        except ClientError as exc:
            if not exist_ok or exc.response["Error"]["Code"] not in (
                "BucketAlreadyOwnedByYou",
                "BucketAlreadyExists",
            ):
                raise
        log.info("bucket %s created", names[logical_id])
    return names


def queue_attributes(
    template: Template, logical_id: str, visibility_timeout: int | None = None
) -> dict[str, str]:
    props = template.resolved_properties(logical_id)
    attributes: dict[str, str] = {}
    for key in _QUEUE_ATTRIBUTES:
        if key not in props:
            continue
        value = props[key]
        if isinstance(value, dict):
            value = json.dumps(value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        attributes[key] = str(value)
    if visibility_timeout is not None:
        attributes["VisibilityTimeout"] = str(visibility_timeout)
    return attributes


def create_queues(
    template: Template | str | Path, sqs: Any, *, visibility_timeout: int | None = None
) -> dict[str, str]:
    """Create every AWS::SQS::Queue, dead-letter targets before the queues that redrive into them.

    visibility_timeout (seconds) replaces every queue's VisibilityTimeout: local runs use it so a
    failed message comes back in a second instead of minutes.
    Returns {logical id: queue URL}.
    """
    template = _template(template)
    urls: dict[str, str] = {}
    for logical_id in _queues_dlq_first(template):
        name = template.physical_name(logical_id)
        attributes = queue_attributes(template, logical_id, visibility_timeout)
        urls[logical_id] = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        log.info("queue %s created", name)
    return urls


def _created(create: Any, exist_ok: bool, exists_code: str) -> bool:
    """Run `create`; False when exist_ok and AWS answered that it already exists."""
    try:
        create()
    except ClientError as exc:
        if exist_ok and exc.response.get("Error", {}).get("Code") == exists_code:
            return False
        raise
    return True


def _queues_dlq_first(template: Template) -> list[str]:
    queues = template.of_type(QUEUE_TYPE)
    arns = {template.get_att(q, "Arn"): q for q in queues}
    ordered: list[str] = []

    def visit(logical_id: str, chain: tuple[str, ...]) -> None:
        if logical_id in ordered:
            return
        if logical_id in chain:
            raise TemplateError(f"Resources.{logical_id}: RedrivePolicy forms a cycle ({' -> '.join(chain)})")
        redrive = template.resolved_properties(logical_id).get("RedrivePolicy") or {}
        target_arn = redrive.get("deadLetterTargetArn")
        if target_arn:
            if target_arn not in arns:
                raise TemplateError(
                    f"Resources.{logical_id}.Properties.RedrivePolicy: queue {target_arn} is not declared"
                )
            visit(arns[target_arn], (*chain, logical_id))
        ordered.append(logical_id)

    for logical_id in queues:
        visit(logical_id, ())
    return ordered


def create_schedule_groups(
    template: Template | str | Path, scheduler: Any, *, exist_ok: bool = False
) -> dict[str, str]:
    template = _template(template)
    names: dict[str, str] = {}
    for logical_id in template.of_type(SCHEDULE_GROUP_TYPE):
        names[logical_id] = name = template.physical_name(logical_id)
        _created(partial(scheduler.create_schedule_group, Name=name), exist_ok, "ConflictException")
    return names


def create_roles(template: Template | str | Path, iam: Any, *, exist_ok: bool = False) -> dict[str, str]:
    """Create every AWS::IAM::Role with its inline policies, so ARNs resolve; returns {logical id: ARN}."""
    template = _template(template)
    arns: dict[str, str] = {}
    for logical_id in template.of_type(ROLE_TYPE):
        props = template.resolved_properties(logical_id)
        name = template.physical_name(logical_id)
        document = json.dumps(props.get("AssumeRolePolicyDocument") or {})
        create = partial(
            iam.create_role, RoleName=name, Path=props.get("Path", "/"), AssumeRolePolicyDocument=document
        )
        _created(create, exist_ok, "EntityAlreadyExists")
        for policy in props.get("Policies") or []:
            iam.put_role_policy(
                RoleName=name,
                PolicyName=policy["PolicyName"],
                PolicyDocument=json.dumps(policy["PolicyDocument"]),
            )
        arns[logical_id] = template.get_att(logical_id, "Arn")
    return arns


# What template.yaml declares of a user pool and its app clients (other properties are not passed on).
_POOL_KEYS = ("Policies", "Schema", "AdminCreateUserConfig", "UserPoolAddOns", "DeletionProtection")
_CLIENT_KEYS = ("ClientName", "GenerateSecret", "ExplicitAuthFlows", "PreventUserExistenceErrors",
                "IdTokenValidity", "AccessTokenValidity", "RefreshTokenValidity", "TokenValidityUnits",
                "ReadAttributes", "WriteAttributes")  # fmt: skip


def create_user_pools(template: Template | str | Path, cognito: Any) -> dict[str, str]:
    """Create every AWS::Cognito::UserPool, its clients and groups; returns {logical id: the id AWS gave}
    (also recorded in template.provisioned, so a Ref to them resolves)."""
    template = _template(template)
    ids: dict[str, str] = {}
    for logical_id in template.of_type(USER_POOL_TYPE):
        props = template.resolved_properties(logical_id)
        spec = {k: v for k, v in props.items() if k in _POOL_KEYS}
        made = cognito.create_user_pool(PoolName=template.physical_name(logical_id), **spec)
        ids[logical_id] = template.provisioned[logical_id] = made["UserPool"]["Id"]
        log.info("user pool %s created", ids[logical_id])
    for logical_id in template.of_type(USER_POOL_CLIENT_TYPE):
        props = template.resolved_properties(logical_id)
        spec = {k: v for k, v in props.items() if k in _CLIENT_KEYS}
        made = cognito.create_user_pool_client(UserPoolId=props["UserPoolId"], **spec)
        ids[logical_id] = template.provisioned[logical_id] = made["UserPoolClient"]["ClientId"]
    for logical_id in template.of_type(USER_POOL_GROUP_TYPE):
        props = template.resolved_properties(logical_id)
        cognito.create_group(
            GroupName=props["GroupName"], UserPoolId=props["UserPoolId"],
            Description=props.get("Description", ""), Precedence=int(props.get("Precedence", 0)),
        )  # fmt: skip
    return ids
