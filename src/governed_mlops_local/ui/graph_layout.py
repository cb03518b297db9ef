"""Where the state graph's boxes and lines go (pure: definition in, grid and pixel geometry out, no HTML).

:func:`layout_states` places every top-level state on a grid of columns and layers;
:func:`graph_geometry` turns that grid into box corners and the SVG path of every edge. Edges between
adjacent layers are elbows through the gap between them. Every other edge (Catch, skips, loops) leaves
its source's bottom, runs right through the gap to a lane of its target beside the graph, and comes back
through the gap above the target: lines never cross a box.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

#: Box size, gaps between boxes and the margin around the graph, in SVG pixels.
BOX_W, BOX_H, GAP_X, GAP_Y, PAD = 264, 54, 64, 44, 16


def state_edges(definition: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(source, target, kind) for every transition the definition declares, kind in next/choice/default/catch.

    Targets that name no top-level state are left out (the linter reports them; the page must still render).
    """
    states: Mapping[str, Any] = definition.get("States") or {}
    edges: list[tuple[str, str, str]] = []
    for name, state in states.items():
        targets: list[tuple[str, str]] = []
        if "Next" in state:
            targets.append((state["Next"], "next"))
        targets += [(rule["Next"], "choice") for rule in state.get("Choices", []) if "Next" in rule]
        if "Default" in state:
            targets.append((state["Default"], "default"))
        targets += [(catcher["Next"], "catch") for catcher in state.get("Catch", []) if "Next" in catcher]
        for target, kind in targets:
            if target in states and (name, target, kind) not in edges:
                edges.append((name, target, kind))
    return edges


# -- the grid -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Search:
    """A depth-first search over every root: discovery order, the edges back onto the path, post-order."""

    discovered: dict[str, int]
    back_edges: set[tuple[str, str]]
    postorder: list[str]


def layout_states(definition: Mapping[str, Any]) -> dict[str, tuple[int, int]]:
    """Grid position ``(column, layer)`` of every top-level state; deterministic for a definition.

    Layers follow the longest path from ``StartAt`` over Next/Choices/Default/Catch edges (edges
    back to a state on the current path, i.e. loops, are ignored for layering), so a catch-all
    ``Fail`` state lands below the last state that can reach it. Within a layer, states are ordered
    by the mean column of their Next/Choice/Default predecessors, then by depth-first discovery with
    ``Next`` first, which keeps the main path in column 0; states reached only through ``Catch``
    come last in their layer. States unreachable from ``StartAt`` are layered from their own
    roots, in definition order. Parallel and Map states are single boxes: their branches are not
    laid out.
    """
    states = list((definition.get("States") or {}).keys())
    if not states:
        return {}
    edges = state_edges(definition)
    successors: dict[str, list[str]] = {name: [] for name in states}
    for source, target, _ in edges:
        if target not in successors[source]:
            successors[source].append(target)
    start = definition.get("StartAt")
    roots = ([start] if start in successors else []) + [name for name in states if name != start]
    search = _depth_first(roots, successors)
    layer = _longest_path_layers(states, successors, search)
    # Order each layer by the mean column of its Next/Choice/Default predecessors (fewer crossings);
    # states reached only through Catch go last, so an error sink never pushes the main path aside.
    forward_preds: dict[str, list[str]] = {name: [] for name in states}
    for source, target, kind in edges:
        if kind != "catch" and (source, target) not in search.back_edges:
            forward_preds[target].append(source)
    return _order_layers(states, layer, forward_preds, search.discovered)


def _depth_first(roots: list[str], successors: Mapping[str, list[str]]) -> _Search:
    """Iterative depth-first search from each undiscovered root in turn, children in edge order."""
    search = _Search(discovered={}, back_edges=set(), postorder=[])
    for root in roots:
        if root in search.discovered:
            continue
        search.discovered[root] = len(search.discovered)
        on_path = {root}
        stack: list[tuple[str, Iterator[str]]] = [(root, iter(successors[root]))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                on_path.discard(node)
                search.postorder.append(node)
            elif child in on_path:
                search.back_edges.add((node, child))
            elif child not in search.discovered:
                search.discovered[child] = len(search.discovered)
                on_path.add(child)
                stack.append((child, iter(successors[child])))
    return search


def _longest_path_layers(states: list[str], successors: Mapping[str, list[str]], search: _Search) -> dict[str, int]:
    """Each state's layer: the longest path to it once back edges are dropped."""
    layer = dict.fromkeys(states, 0)
    for node in reversed(search.postorder):  # a topological order once back edges are dropped
        for child in successors[node]:
            if (node, child) not in search.back_edges:
                layer[child] = max(layer[child], layer[node] + 1)
    return layer


def _order_layers(
    states: list[str],
    layer: Mapping[str, int],
    forward_preds: Mapping[str, list[str]],
    discovered: Mapping[str, int],
) -> dict[str, tuple[int, int]]:
    """Columns within each layer, top layer first, so a layer is ordered by its placed predecessors."""
    positions: dict[str, tuple[int, int]] = {}

    def rank(name: str) -> tuple[int, float, int]:
        columns = [positions[p][0] for p in forward_preds[name] if p in positions]
        if not columns:
            return (1, 0.0, discovered[name])
        return (0, sum(columns) / len(columns), discovered[name])

    for depth in sorted(set(layer.values())):
        row = sorted((name for name in states if layer[name] == depth), key=rank)
        for column, name in enumerate(row):
            positions[name] = (column, depth)
    return positions


# -- pixels ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EdgePath:
    """One drawn edge: its ends, whether it is an error path (Catch), and its SVG path data."""

    source: str
    target: str
    catch: bool
    d: str


@dataclass(frozen=True)
class GraphGeometry:
    """The graph in SVG pixels: each state's box corner ``(left, top)``, each edge's path, the canvas size."""

    boxes: dict[str, tuple[int, int]]
    edges: list[EdgePath]
    width: int
    height: int


def graph_geometry(definition: Mapping[str, Any]) -> GraphGeometry | None:
    """Boxes and edge paths for the top-level states of ``definition``; None when it has no states."""
    positions = layout_states(definition)
    if not positions:
        return None
    boxes = {
        name: (PAD + column * (BOX_W + GAP_X), PAD + depth * (BOX_H + GAP_Y))
        for name, (column, depth) in positions.items()
    }
    right_edge = max(left + BOX_W for left, _ in boxes.values())
    bottom = max(top + BOX_H for _, top in boxes.values())
    edges = _drawn_edges(definition)
    lanes = _lanes(edges, positions, right_edge)
    turn_y = _turn_heights(edges, positions, boxes)
    paths = [
        EdgePath(
            source,
            target,
            catch,
            _path(source, target, catch, positions=positions, boxes=boxes, lanes=lanes, turn_y=turn_y),
        )
        for source, target, catch in edges
    ]
    width = (max(lanes.values()) if lanes else right_edge) + PAD
    return GraphGeometry(boxes=boxes, edges=paths, width=width, height=bottom + PAD)


def _drawn_edges(definition: Mapping[str, Any]) -> list[tuple[str, str, bool]]:
    """(source, target, catch) once per pair: a Catch to a state also reached by Next/Choice is not drawn."""
    edges: list[tuple[str, str, bool]] = []
    for source, target, kind in state_edges(definition):
        key = (source, target, kind == "catch")
        if key not in edges and (source, target, False) not in edges:
            edges.append(key)
    return edges


def _is_elbow(source: str, target: str, catch: bool, positions: Mapping[str, tuple[int, int]]) -> bool:
    return not catch and positions[target][1] == positions[source][1] + 1


def _lanes(
    edges: list[tuple[str, str, bool]], positions: Mapping[str, tuple[int, int]], right_edge: int
) -> dict[str, int]:
    """The x of the vertical lane beside the graph for each target of a non-elbow edge, top target first."""
    lane_targets = sorted(
        {t for s, t, catch in edges if not _is_elbow(s, t, catch, positions)},
        key=lambda name: (positions[name][1], positions[name][0]),
    )
    return {name: right_edge + 24 + 14 * index for index, name in enumerate(lane_targets)}


def _turn_heights(
    edges: list[tuple[str, str, bool]],
    positions: Mapping[str, tuple[int, int]],
    boxes: Mapping[str, tuple[int, int]],
) -> dict[str, int]:
    """The y at which each source's bent elbows turn: sources turning in the same gap get their own height
    in it, so two elbows never merge into one line that seems to join unrelated states."""
    turning: dict[int, list[str]] = {}
    for source, target, catch in edges:
        if _is_elbow(source, target, catch, positions) and positions[source][0] != positions[target][0]:
            row = turning.setdefault(positions[source][1], [])
            if source not in row:
                row.append(source)
    turn_y: dict[str, int] = {}
    for row in turning.values():
        row.sort(key=lambda name: positions[name][0])
        for index, name in enumerate(row):
            step = 12 * index // max(len(row) - 1, 1) if len(row) > 1 else 6
            turn_y[name] = boxes[name][1] + BOX_H + 16 + step
    return turn_y


def _path(
    source: str,
    target: str,
    catch: bool,
    *,
    positions: Mapping[str, tuple[int, int]],
    boxes: Mapping[str, tuple[int, int]],
    lanes: Mapping[str, int],
    turn_y: Mapping[str, int],
) -> str:
    """SVG path data from the source box's bottom to just above the target box's top."""
    sx, sy = boxes[source]
    tx, ty = boxes[target]
    if _is_elbow(source, target, catch, positions):
        x1, x2 = sx + BOX_W // 2, tx + BOX_W // 2
        if x1 == x2:
            return f"M{x1},{sy + BOX_H} V{ty - 2}"
        return f"M{x1},{sy + BOX_H} V{turn_y[source]} H{x2} V{ty - 2}"
    below, above = sy + BOX_H + 9, ty - 9
    exit_x, entry_x = sx + BOX_W - 24, tx + BOX_W - 24
    return f"M{exit_x},{sy + BOX_H} V{below} H{lanes[target]} V{above} H{entry_x} V{ty - 2}"
