"""Block YAML written line by line, with comments wrapped beside or above their keys."""

from __future__ import annotations

import json
import textwrap
from typing import Any, Final

import yaml


class YamlWriter:
    """Builds block YAML line by line: scalars quoted by yaml.safe_dump, comments wrapped."""

    _WIDTH: Final = 118
    _COMMENT_COLUMN: Final = 40

    def __init__(self) -> None:
        self._lines: list[str] = []

    def text(self) -> str:
        while self._lines and not self._lines[-1]:
            self._lines.pop()
        return "\n".join(self._lines) + "\n"

    def blank(self) -> None:
        self._lines.append("")

    def comments(self, level: int, *paragraphs: str, hanging: str = "") -> None:
        indent = "  " * level + "# "
        for paragraph in paragraphs:
            self._lines.extend(
                textwrap.wrap(
                    _one_line(paragraph),
                    self._WIDTH,
                    initial_indent=indent,
                    subsequent_indent=indent + hanging,
                    break_on_hyphens=False,
                )
            )

    def key(self, level: int, key: str, value: Any, comment: str = "") -> None:
        head = f"{'  ' * level}{_scalar(key)}:"
        line = head if value is None else f"{head} {_scalar(value)}"
        self._with_comment(line, comment, level)

    def flow(self, level: int, key: str, value: dict[str, Any] | list[Any], comment: str = "") -> None:
        if isinstance(value, dict):
            body = ", ".join(f"{_scalar(k)}: {_scalar(v)}" for k, v in value.items())
            rendered = f"{{{body}}}"
        else:
            rendered = f"[{', '.join(_scalar(v) for v in value)}]"
        self._with_comment(f"{'  ' * level}{_scalar(key)}: {rendered}", comment, level)

    def item(self, level: int, value: Any, comment: str = "") -> None:
        self._with_comment(f"{'  ' * level}- {_scalar(value)}", comment, level)

    def item_key(self, level: int, key: str, value: Any) -> None:
        self._lines.append(f"{'  ' * level}- {_scalar(key)}: {_scalar(value)}")

    def _with_comment(self, line: str, comment: str, level: int) -> None:
        if not comment:
            self._lines.append(line)
            return
        text = _one_line(comment)
        padded = line.ljust(self._COMMENT_COLUMN - 1)
        if len(padded) + 3 + len(text) <= self._WIDTH:
            self._lines.append(f"{padded} # {text}")
            return
        # Too long for the line: the comment goes above the key, wrapped.
        self.comments(level, text)
        self._lines.append(line)


def _scalar(value: Any) -> str:
    """One YAML flow scalar that reads back as ``value`` (strings quoted when YAML would misread them)."""
    if isinstance(value, str) and ("\n" in value or "\r" in value or not value.isprintable()):
        return json.dumps(value)  # a JSON string is a valid YAML double-quoted scalar
    if isinstance(value, list) and not value:
        return "[]"
    dumped = yaml.safe_dump(value, default_flow_style=True, width=10**9, allow_unicode=True)
    return dumped.removesuffix("\n").removesuffix("\n...").strip()


def _one_line(text: str) -> str:
    return " ".join(text.replace("\r", " ").replace("\n", " ").split())
