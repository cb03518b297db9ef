"""Powertools Logger, Tracer and Metrics shared by every handler.

Service name, namespace and log level come from the ``POWERTOOLS_*`` variables that the
template's Globals set, so one definition serves every function.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()

#: Correlation id path: the Step Functions payloads carry the execution name here.
EXECUTION_NAME_PATH = "execution_name"
