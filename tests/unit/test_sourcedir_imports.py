"""The sourcedir packer finds every import statement at any depth, in the order a full AST walk finds them."""

from __future__ import annotations

import ast

from governed_mlops.domain import sourcedir

NESTED = """
import top
class Holder:
    import in_class
    def method(self):
        import in_method
try:
    import in_try
except ImportError:
    import in_handler
else:
    import in_else
finally:
    import in_finally
for _ in ():
    import in_for
else:
    import in_for_else
with open("x") as f:
    from . import in_with
match top:
    case 1:
        import in_case
if top:
    def f():
        from pkg.sub import name
else:
    import in_if_else
handler = lambda: top
"""


def walked_imports(source: str, module: str) -> list[tuple[str, bool]]:
    """The oracle: what the packer found when it walked every node of the tree (``ast.walk``)."""
    package = module.rpartition(".")[0]
    found: list[tuple[str, bool]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(alias.name, True) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            prefix = parts[: len(parts) - node.level + 1] if node.level else []
            base = ".".join([*prefix, *([node.module] if node.module else [])])
            found.append((base, True))
            found += [(f"{base}.{alias.name}", False) for alias in node.names if alias.name != "*"]
    return found


def test_imports_at_every_depth_are_found_in_ast_walk_order() -> None:
    found = sourcedir._imports(NESTED.encode(), "jobs/probe.py", "jobs.probe")

    assert found == walked_imports(NESTED, "jobs.probe")
    assert len([name for name, required in found if required]) == 13  # every import statement in NESTED
    assert ("pkg.sub.name", False) in found
