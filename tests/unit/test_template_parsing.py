"""``parse_template`` reads template.yaml exactly as samtranslator's ``yaml_parse`` does, on libyaml's scanner."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from samtranslator.yaml_helper import yaml_parse

from governed_mlops_local.template import parse_template

REPO_ROOT = Path(__file__).resolve().parents[2]

SHORT_FORMS = """
Resources:
  Fn:
    Properties:
      Arn: !GetAtt Table.Arn
      Name: !Sub "${AWS::StackName}-x"
      Pick: !Select [0, !Ref Subnets]
      Both: !If [IsProd, !Ref A, !Ref AWS::NoValue]
      Joined: !Join ["", [a, !Ref B]]
"""


def test_the_project_template_reads_as_samtranslator_reads_it() -> None:
    text = (REPO_ROOT / "template.yaml").read_text(encoding="utf-8")

    assert parse_template(text) == yaml_parse(text)


def test_short_form_intrinsics_read_as_samtranslator_reads_them() -> None:
    document = parse_template(SHORT_FORMS)

    assert document == yaml_parse(SHORT_FORMS)
    assert document["Resources"]["Fn"]["Properties"]["Arn"] == {"Fn::GetAtt": ["Table", "Arn"]}


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML built without libyaml")
def test_libyaml_scans_the_template() -> None:
    from governed_mlops_local import template

    assert issubclass(template._TemplateLoader, yaml.CSafeLoader)


def test_python_object_tags_are_refused() -> None:
    with pytest.raises(yaml.constructor.ConstructorError):
        parse_template("x: !!python/object/apply:os.system ['true']\n")
