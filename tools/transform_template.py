"""Transform the SAM template into the CloudFormation that CloudFormation itself would deploy.

Used by ``make static`` (checkov scans the output: on the SAM form it cannot see what policy
templates, event sources and ``Globals`` expand to) and by tests/unit/test_template_security.py.
Offline: needs only a region; managed policy names resolve from the translator's bundled map.

    python tools/transform_template.py template.yaml -o .cache/static/template.cfn.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

DEFAULT_REGION = "us-east-1"


class _OfflinePolicyLoader:
    """The translator asks IAM for managed policy ARNs only when its bundled map lacks a name."""

    def load(self) -> dict[str, str]:
        return {}


_CODE_PROPERTIES = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
}


def _stand_in_for_packaging(document: dict[str, Any], root: Path) -> None:
    """Do what ``sam package`` does before CloudFormation sees the template.

    Local code folders become (placeholder) S3 URIs; a local state machine definition is inlined, so
    the transformed template carries the real ASL (what ``DefinitionS3Location`` would point at).
    """
    for resource in document.get("Resources", {}).values():
        properties = resource.get("Properties", {})
        code_property = _CODE_PROPERTIES.get(resource.get("Type", ""))
        if code_property and isinstance(properties.get(code_property), str):
            properties[code_property] = f"s3://sam-package-placeholder/{properties[code_property].strip('/')}"
        uri = properties.get("DefinitionUri")
        if resource.get("Type") == "AWS::Serverless::StateMachine" and isinstance(uri, str):
            properties["Definition"] = json.loads((root / uri).read_text(encoding="utf-8"))
            del properties["DefinitionUri"]


def transform_template(path: Path, region: str = DEFAULT_REGION) -> dict[str, Any]:
    """The CloudFormation template ``sam deploy`` would create from ``path`` in ``region``."""
    from samtranslator.translator.transform import transform  # noqa: PLC0415 - samtranslator is a tool dependency, loaded only to transform
    from samtranslator.yaml_helper import yaml_parse  # noqa: PLC0415 - samtranslator is a tool dependency, loaded only to transform

    document = yaml_parse(path.read_text(encoding="utf-8"))
    _stand_in_for_packaging(document, path.parent)
    # The translator reads the region from the environment; set it only for the call.
    previous = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = region
    try:
        # passthrough_metadata keeps resource Metadata (checkov skips with their reasons) on the
        # resources SAM generates from a SAM resource.
        return transform(  # type: ignore[no-any-return]
            document, {"AWS::Region": region}, _OfflinePolicyLoader(), passthrough_metadata=True
        )
    finally:
        if previous is None:
            os.environ.pop("AWS_DEFAULT_REGION", None)
        else:
            os.environ["AWS_DEFAULT_REGION"] = previous


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("template", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION", DEFAULT_REGION))
    args = parser.parse_args(argv)
    transformed = transform_template(args.template, args.region)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(transformed, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    resources = transformed.get("Resources", {})
    sys.stdout.write(f"{args.output}: {len(resources)} CloudFormation resources\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
