"""What CloudWatch Logs and CloudWatch do with the stack's behaviour metrics, which moto does not do.

moto stores metric filters (PutMetricFilter, DescribeMetricFilters) but never applies them to log events,
and stores alarms but never evaluates them (its GetMetricData knows no metric math). The parity harness
uses this module for both, in the subset the stack relies on, and refuses anything outside it by name
(:class:`UnsupportedPattern`, :class:`UnsupportedExpression`) rather than silently never matching:

* **Metric filters** (:func:`compile_pattern`, :func:`metric_data`): JSON patterns ``{ SELECTOR OP VALUE }``
  with ``$.field`` / ``$.a.b`` selectors, ``=``/``!=`` on quoted strings or numbers, ``<``, ``<=``, ``>``,
  ``>=`` on numbers, joined by ``&&``. A transformation's ``metricValue`` is a selector (the event is
  skipped when the field is not a number) or a number; every dimension is a selector, and an event lacking
  one of them publishes nothing. CloudWatch Logs' documented rules for these cases.
* **Metric math** (:func:`evaluate_expression`): numbers, metric ids, ``+ - * /``, comparisons,
  ``AND``/``&&``, ``OR``/``||``, ``NOT``/``!``, parentheses and ``IF(condition, a, b)`` on single values
  (one period). A missing input makes the result missing, as a metric math expression over an empty
  series has no datapoint.

Pure: no AWS calls (the harness passes in what moto stored).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "UnsupportedExpression",
    "UnsupportedPattern",
    "breaches",
    "compile_pattern",
    "evaluate_expression",
    "metric_data",
]


class UnsupportedPattern(ValueError):
    """A metric filter pattern outside the subset the harness applies: extend the emulation, do not skip it."""


class UnsupportedExpression(ValueError):
    """A metric math expression outside the subset the harness evaluates."""


# --------------------------------------------------------------------------------------------------
# Metric filters

_SELECTOR = r"\$(?:\.[A-Za-z_][A-Za-z0-9_]*)+"
_TERM = re.compile(
    rf"^\s*(?P<selector>{_SELECTOR})\s*(?P<op>=|!=|<=|>=|<|>)\s*"
    r'(?:"(?P<string>[^"*]*)"|(?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?))\s*$'
)
_MISSING = object()


def _select(document: Any, selector: str) -> Any:
    value = document
    for name in selector[2:].split("."):
        if not isinstance(value, dict) or name not in value:
            return _MISSING
        value = value[name]
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _term(text: str, pattern: str) -> Callable[[Any], bool]:
    match = _TERM.match(text)
    if match is None:
        raise UnsupportedPattern(
            f"metric filter pattern {pattern!r}: term {text.strip()!r} is not SELECTOR OP VALUE with a $.field "
            "selector and a quoted string (no wildcards) or a number"
        )
    selector, op, string, number = match["selector"], match["op"], match["string"], match["number"]
    if string is not None and op not in ("=", "!="):
        raise UnsupportedPattern(f"metric filter pattern {pattern!r}: {op} compares numbers, not strings")

    def matches(document: Any) -> bool:
        value = _select(document, selector)
        if value is _MISSING:
            return False
        if string is not None:
            equal = isinstance(value, str) and value == string
        elif not _is_number(value):
            return False
        else:
            target = float(number)
            if op in ("<", "<=", ">", ">="):
                return {"<": value < target, "<=": value <= target, ">": value > target, ">=": value >= target}[op]
            equal = float(value) == target
        return equal if op == "=" else not equal

    return matches


def compile_pattern(pattern: str) -> Callable[[str], bool]:
    """A predicate on a log event's message for a JSON metric filter pattern (see the module docstring)."""
    text = pattern.strip()
    if not (text.startswith("{") and text.endswith("}")):
        raise UnsupportedPattern(f"metric filter pattern {pattern!r}: only JSON patterns {{ ... }} are emulated")
    body = text[1:-1]
    if "||" in body or "(" in body:
        raise UnsupportedPattern(f"metric filter pattern {pattern!r}: only terms joined by && are emulated")
    terms = [_term(part, pattern) for part in body.split("&&")]

    def matches(message: str) -> bool:
        try:
            document = json.loads(message)
        except json.JSONDecodeError:
            return False  # a JSON pattern never matches a line that is not a JSON object
        return isinstance(document, dict) and all(term(document) for term in terms)

    return matches


def metric_data(metric_filter: Mapping[str, Any], message: str) -> list[dict[str, Any]]:
    """The datapoints (PutMetricData ``MetricData`` items, by namespace) one log event yields under a filter.

    Returns ``[{"Namespace": ..., "MetricName": ..., "Value": ..., "Dimensions": [...], "Unit": ...}]``,
    empty when the pattern does not match or a value or dimension field is missing.
    """
    if not compile_pattern(str(metric_filter["filterPattern"]))(message):
        return []
    document = json.loads(message)
    data = []
    for transformation in metric_filter["metricTransformations"]:
        source = str(transformation["metricValue"])
        if source.startswith("$."):
            value = _select(document, source)
            if not _is_number(value):
                continue
        else:
            value = float(source)
        dimensions = []
        for name, selector in (transformation.get("dimensions") or {}).items():
            found = _select(document, str(selector))
            if found is _MISSING or isinstance(found, (dict, list)):
                break
            dimensions.append({"Name": name, "Value": str(found)})
        else:
            datum = {
                "Namespace": transformation["metricNamespace"],
                "MetricName": transformation["metricName"],
                "Value": float(value),
                "Dimensions": dimensions,
            }
            if transformation.get("unit"):
                datum["Unit"] = transformation["unit"]
            data.append(datum)
    return data


# --------------------------------------------------------------------------------------------------
# Metric math (one value per id: one period)

_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>&&|\|\||<=|>=|==|!=|[-+*/(),<>!]))"
)


@dataclass
class _Parser:
    tokens: list[str]
    values: Mapping[str, float | None]
    expression: str
    position: int = 0

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token.upper() != expected):
            raise UnsupportedExpression(f"metric math {self.expression!r}: expected {expected or 'more'} at {token!r}")
        self.position += 1
        return token

    def parse(self) -> float | None:
        value = self.disjunction()
        if self.peek() is not None:
            raise UnsupportedExpression(f"metric math {self.expression!r}: unexpected {self.peek()!r}")
        return value

    def disjunction(self) -> float | None:
        value = self.conjunction()
        while (self.peek() or "").upper() in ("OR", "||"):
            self.take()
            right = self.conjunction()
            value = None if value is None or right is None else float(bool(value) or bool(right))
        return value

    def conjunction(self) -> float | None:
        value = self.negation()
        while (self.peek() or "").upper() in ("AND", "&&"):
            self.take()
            right = self.negation()
            value = None if value is None or right is None else float(bool(value) and bool(right))
        return value

    def negation(self) -> float | None:
        if (self.peek() or "").upper() in ("NOT", "!"):
            self.take()
            value = self.negation()
            return None if value is None else float(not value)
        return self.comparison()

    def comparison(self) -> float | None:
        left = self.sum()
        operator = self.peek()
        if operator in ("<", "<=", ">", ">=", "==", "!="):
            self.take()
            right = self.sum()
            if left is None or right is None:
                return None
            return float(
                {
                    "<": left < right,
                    "<=": left <= right,
                    ">": left > right,
                    ">=": left >= right,
                    "==": left == right,
                    "!=": left != right,
                }[operator]
            )
        return left

    def sum(self) -> float | None:
        value = self.product()
        while self.peek() in ("+", "-"):
            operator = self.take()
            right = self.product()
            value = None if value is None or right is None else value + right if operator == "+" else value - right
        return value

    def product(self) -> float | None:
        value = self.unary()
        while self.peek() in ("*", "/"):
            operator = self.take()
            right = self.unary()
            if value is None or right is None or (operator == "/" and right == 0):
                value = None  # CloudWatch drops a datapoint divided by zero
            else:
                value = value * right if operator == "*" else value / right
        return value

    def unary(self) -> float | None:
        if self.peek() == "-":
            self.take()
            value = self.unary()
            return None if value is None else -value
        return self.atom()

    def atom(self) -> float | None:
        token = self.take()
        if token == "(":
            value = self.disjunction()
            self.take(")")
            return value
        if token.upper() == "IF":
            self.take("(")
            condition = self.disjunction()
            self.take(",")
            then = self.disjunction()
            self.take(",")
            otherwise = self.disjunction()
            self.take(")")
            if condition is None:
                return None
            return then if condition else otherwise
        if re.fullmatch(r"\d+(?:\.\d+)?(?:[eE][+-]?\d+)?", token):
            return float(token)
        if re.fullmatch(r"[a-z][A-Za-z0-9_]*", token):
            if token not in self.values:
                raise UnsupportedExpression(f"metric math {self.expression!r}: no metric with id {token!r}")
            return self.values[token]
        raise UnsupportedExpression(f"metric math {self.expression!r}: {token!r} is not in the emulated subset")


def _tokens(expression: str) -> list[str]:
    tokens, position = [], 0
    text = expression.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise UnsupportedExpression(f"metric math {expression!r}: cannot read from {text[position:]!r}")
        tokens.append(match.group(match.lastgroup or "op"))
        position = match.end()
    return tokens


def evaluate_expression(expression: str, values: Mapping[str, float | None]) -> float | None:
    """The value of a metric math ``expression`` for one period, given each metric id's value (None: no data)."""
    return _Parser(_tokens(expression), values, expression).parse()


def breaches(value: float, operator: str, threshold: float) -> bool:
    """Whether ``value`` crosses ``threshold`` under an alarm's ComparisonOperator."""
    comparisons = {
        "GreaterThanThreshold": value > threshold,
        "GreaterThanOrEqualToThreshold": value >= threshold,
        "LessThanThreshold": value < threshold,
        "LessThanOrEqualToThreshold": value <= threshold,
    }
    if operator not in comparisons:
        raise UnsupportedExpression(f"ComparisonOperator {operator!r} is not emulated (anomaly detection bands)")
    return comparisons[operator]
