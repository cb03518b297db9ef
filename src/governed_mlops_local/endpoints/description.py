"""DescribeEndpoint's answer, shaped from an endpoint's state and its endpoint configs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from governed_mlops_local.endpoints.store import EndpointStore

__all__ = ["describe"]


def describe(state: Mapping[str, Any], endpoints: EndpointStore) -> dict[str, Any]:
    """DescribeEndpoint's answer for an endpoint's state: the serving fleet, and during an update the new fleet
    in ``PendingDeploymentSummary``."""
    status = state["EndpointStatus"]
    config = endpoints.config(state["EndpointConfigName"])
    serving = status not in ("Creating", "Failed")
    answer: dict[str, Any] = {
        "EndpointName": state["EndpointName"],
        "EndpointArn": state["EndpointArn"],
        "EndpointConfigName": state["EndpointConfigName"],
        "ProductionVariants": [
            _variant_summary(v, serving, None if serving else status, endpoints) for v in config["ProductionVariants"]
        ],
    }
    capture = config.get("DataCaptureConfig")
    if capture:
        answer["DataCaptureConfig"] = _capture_summary(capture)
    answer["EndpointStatus"] = status
    if state.get("FailureReason"):
        answer["FailureReason"] = state["FailureReason"]
    answer["CreationTime"] = state["CreationTime"]
    answer["LastModifiedTime"] = state["LastModifiedTime"]
    if state.get("LastDeploymentConfig"):
        answer["LastDeploymentConfig"] = state["LastDeploymentConfig"]
    deployment = state.get("Deployment")
    if deployment:
        answer["PendingDeploymentSummary"] = _pending_deployment(deployment, endpoints)
    return answer


def _variant_summary(
    variant: Mapping[str, Any], provisioned: bool, status: str | None, endpoints: EndpointStore
) -> dict[str, Any]:
    weight = float(variant.get("InitialVariantWeight", 1.0))
    count = int(variant.get("InitialInstanceCount", 1))
    summary: dict[str, Any] = {"VariantName": variant["VariantName"]}
    image = (endpoints.model(variant["ModelName"]).get("PrimaryContainer") or {}).get("Image")
    if image:
        summary["DeployedImages"] = [{"SpecifiedImage": image, "ResolvedImage": image}]
    summary |= {
        "CurrentWeight": weight if provisioned else 0.0,
        "DesiredWeight": weight,
        "CurrentInstanceCount": count if provisioned else 0,
        "DesiredInstanceCount": count,
    }
    if status == "Creating":
        summary["VariantStatus"] = [{"Status": "Creating"}]
    return summary


def _capture_summary(capture: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "EnableCapture": bool(capture.get("EnableCapture", True)),
        "CaptureStatus": "Started" if capture.get("EnableCapture", True) else "Stopped",
        "CurrentSamplingPercentage": capture["InitialSamplingPercentage"],
        "DestinationS3Uri": capture["DestinationS3Uri"],
        "KmsKeyId": capture.get("KmsKeyId", ""),
    }


def _pending_deployment(deployment: Mapping[str, Any], endpoints: EndpointStore) -> dict[str, Any]:
    """The new (green) fleet of an update in flight, with its share of the traffic and its step."""
    green = endpoints.config(deployment["EndpointConfigName"])
    provisioned = deployment["Phase"] != "Provisioning"
    message = f"{deployment['GreenTraffic']:.0%} of endpoint traffic; {deployment['Step']}"
    variant_status = {
        "Status": {"Provisioning": "Creating", "RollingBack": "Deleting"}.get(deployment["Phase"], "Baking"),
        "StatusMessage": message,
        "StartTime": deployment["StepStartTime"],
    }
    return {
        "EndpointConfigName": deployment["EndpointConfigName"],
        "ProductionVariants": [
            {
                **_variant_summary(v, provisioned, None, endpoints),
                **({"InstanceType": v["InstanceType"]} if v.get("InstanceType") else {}),
                "VariantStatus": [variant_status],
            }
            for v in green["ProductionVariants"]
        ],
        "StartTime": deployment["StartTime"],
    }
