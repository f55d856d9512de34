"""Template reading for the local runtime: short tags, parameters, Globals, intrinsics, names."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from local.serve import configuration
from samlocal import Template, TemplateError, load_template
from samlocal.template import merge_globals

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
REAL_TEMPLATE = ROOT / "template.yaml"

INTRINSICS = """
Parameters:
  Env: {Type: String, Default: dev}
  Count: {Type: Number, Default: 3}
  NoDefault: {Type: String}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  NotProd: !Not [!Condition IsProd]
  DevOrProd: !Or [!Condition IsProd, !Equals [!Ref Env, dev]]
Resources:
  Queue: {Type: AWS::SQS::Queue}
  Bucket: {Type: AWS::S3::Bucket}
  Named: {Type: AWS::DynamoDB::Table, Properties: {TableName: !Sub "${AWS::StackName}-named-${Env}"}}
  Role: {Type: AWS::IAM::Role, Properties: {Path: /service/}}
  ProdOnly: {Type: AWS::SQS::Queue, Condition: IsProd}
  Thing:
    Type: Custom::Thing
    Properties:
      Url: !Ref Queue
      Arn: !GetAtt Queue.Arn
      ArnList: !GetAtt [Queue, Arn]
      Name: !GetAtt Queue.QueueName
      BucketArn: !Sub "${Bucket.Arn}/*"
      Table: !Ref Named
      RoleArn: !GetAtt Role.Arn
      Sub: !Sub "${AWS::Region}/${AWS::AccountId}/${AWS::Partition}/${Queue.QueueName}/${!Literal}"
      Suffix: !Sub "${AWS::URLSuffix}"
      SubVars: !Sub ["${A}-${Env}", {A: !Ref Count}]
      Split: !Split [",", "x,y,z"]
      If: !If [IsProd, big, small]
      Either: !If [DevOrProd, known, other]
      Maybe: !If [NotProd, !Ref AWS::NoValue, kept]
      List: [!Ref AWS::NoValue, one]
"""


@pytest.fixture
def template(tmp_path: Path) -> Template:
    path = tmp_path / "template.yaml"
    path.write_text(INTRINSICS)
    return load_template(path, stack_name="st", aws_url="http://127.0.0.1:5005")


def test_short_tags_resolve_to_local_names_and_arns(template: Template) -> None:
    props = template.resolved_properties("Thing")

    assert props == {
        "Url": "http://127.0.0.1:5005/123456789012/st-Queue",
        "Arn": "arn:aws:sqs:us-east-1:123456789012:st-Queue",
        "ArnList": "arn:aws:sqs:us-east-1:123456789012:st-Queue",
        "Name": "st-Queue",
        "BucketArn": "arn:aws:s3:::st-bucket/*",
        "Table": "st-named-dev",
        "RoleArn": "arn:aws:iam::123456789012:role/service/st-Role",
        "Sub": "us-east-1/123456789012/aws/st-Queue/${Literal}",
        "Suffix": "amazonaws.com",
        "SubVars": "3-dev",
        "Split": ["x", "y", "z"],
        "If": "small",
        "Either": "known",
        "List": ["one"],
    }


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("!Join [':', [a, b]]", "Fn::Join"),
        ("!Select [0, [a]]", "Fn::Select"),
        ("!GetAtt Queue.QueueUrl", "Queue.QueueUrl"),
        ("!Ref AWS::StackId", "AWS::StackId"),
    ],
)
def test_what_the_template_does_not_use_is_refused_naming_where(
    tmp_path: Path, value: str, named: str
) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(f"Resources:\n  Queue: {{Type: AWS::SQS::Queue}}\n  Thing:\n    Type: Custom::Thing\n"
                    f"    Properties: {{Value: {value}}}\n")  # fmt: skip
    with pytest.raises(TemplateError, match=rf"Resources\.Thing.*{re.escape(named)}"):
        load_template(path).resolved_properties("Thing")


def test_parameter_overrides_and_conditions(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(INTRINSICS)
    prod = load_template(path, stack_name="st", parameters={"Env": "prod", "NoDefault": "x"})

    assert prod.resolved_properties("Thing")["If"] == "big"
    assert prod.resolved_properties("Thing")["Maybe"] == "kept"
    assert "ProdOnly" in prod.of_type("AWS::SQS::Queue")
    assert "ProdOnly" not in load_template(path).of_type("AWS::SQS::Queue")
    with pytest.raises(TemplateError, match="Typo"):
        load_template(path, parameters={"Typo": "x"})
    with pytest.raises(TemplateError, match="NoDefault has no Default"):
        load_template(path).resolve({"Ref": "NoDefault"}, "Resources.X")


def test_globals_merge_like_sam() -> None:
    merged = merge_globals(
        {"Timeout": 30, "Layers": ["a"], "Environment": {"Variables": {"A": "1", "B": "2"}}},
        {"Timeout": 90, "Layers": ["b"], "Environment": {"Variables": {"B": "3"}}},
    )
    assert merged == {"Timeout": 90, "Layers": ["a", "b"], "Environment": {"Variables": {"A": "1", "B": "3"}}}


def test_the_real_templates_functions_resolve() -> None:
    template = load_template(REAL_TEMPLATE, parameters={"AdminKeyHash": "h"})
    assert template.undeclared_references() == []

    segment_query = template.function("SegmentQueryFunction")
    sender = template.function("SenderFunction")

    assert segment_query.name == "push-engine-segment-query"
    assert segment_query.timeout == 90 and sender.timeout == 60
    # sizes are parameters: a full vCPU for the CPU-bound sender, 1,024 MB for the audience reads
    assert sender.memory_size == 1769 and segment_query.memory_size == 1024
    assert sender.handler_file == ROOT / "functions" / "sender" / "app.py"
    assert sender.layer_dirs == [ROOT / "layers" / "shared"]
    assert sender.environment["SEGMENT_QUERY_FUNCTION_ARN"] == segment_query.arn
    assert sender.environment["SCHEDULE_GROUP"] == "push-engine-campaigns"
    assert sender.environment["SHARD_COUNT"] == "16"
    assert sender.events["SendBatches"]["Properties"]["Queue"] == template.get_att("SendQueue", "Arn")


def test_the_send_queue_source_takes_exactly_one_of_provisioned_pollers_and_maximum_concurrency() -> None:
    """AWS refuses ProvisionedPollerConfig beside ScalingConfig.MaximumConcurrency (services-sqs-scaling)."""
    standard = load_template(REAL_TEMPLATE, parameters={"AdminKeyHash": "h"}).function("SenderFunction")
    props = standard.events["SendBatches"]["Properties"]
    assert props["ScalingConfig"] == {"MaximumConcurrency": "800"} and "ProvisionedPollerConfig" not in props

    params = {"AdminKeyHash": "h", "ProvisionedPollers": "80", "SenderMemory": "2048", "SegmentMemory": "512"}
    provisioned = load_template(REAL_TEMPLATE, parameters=params)
    sender = provisioned.function("SenderFunction")
    props = sender.events["SendBatches"]["Properties"]
    assert props["ProvisionedPollerConfig"] == {"MinimumPollers": "80", "MaximumPollers": "80"}
    assert "ScalingConfig" not in props
    assert sender.memory_size == 2048 and provisioned.function("SegmentQueryFunction").memory_size == 512


def test_serve_configuration_hashes_the_admin_key_and_overrides_parameters() -> None:
    parameters, env, generated = configuration(
        {
            "PUSH_ADMIN_KEY": "secret-key",
            "FCM_ENDPOINT": "http://127.0.0.1:7001",
            "WEBPUSH_ALLOWED_HOSTS": "h:1",
        },
        REAL_TEMPLATE,
    )
    digest = hashlib.sha256(b"secret-key").hexdigest()

    assert generated is None
    assert parameters == {
        "AdminKeyHash": digest,
        "FcmEndpoint": "http://127.0.0.1:7001",
        "WebPushAllowedHosts": "h:1",
    }
    assert env == {
        "ADMIN_KEY_HASH": digest,
        "FCM_ENDPOINT": "http://127.0.0.1:7001",
        "WEBPUSH_ALLOWED_HOSTS": "h:1",
    }
    assert "secret-key" not in repr((parameters, env))
    _, env, generated = configuration({}, REAL_TEMPLATE)
    assert generated and env["ADMIN_KEY_HASH"] == hashlib.sha256(generated.encode()).hexdigest()
