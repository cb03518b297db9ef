"""Parity tier: template.yaml deployed into moto as CloudFormation would deploy it."""
