"""The state graph's geometry (``ui.graph_layout.graph_geometry``): boxes on the grid, elbows between adjacent
layers, lanes beside the graph for every other edge, and no line through a box."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest

from governed_mlops_local.ui.graph_layout import BOX_H, BOX_W, GAP_X, GAP_Y, PAD, GraphGeometry, graph_geometry

ASL_DIR = Path(__file__).resolve().parents[2] / "statemachines"


def task(next_state: str | None = None, *, catch_to: str | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:0:function:f"}
    state |= {"Next": next_state} if next_state else {"End": True}
    if catch_to:
        state["Catch"] = [{"ErrorEquals": ["States.ALL"], "Next": catch_to}]
    return state


def choice(*targets: str) -> dict[str, Any]:
    return {"Type": "Choice", "Choices": [{"Variable": "$.x", "StringEquals": t, "Next": t} for t in targets]}


def points(d: str) -> list[tuple[int, int]]:
    """The corners of an SVG path made of one M and then H and V commands only."""
    assert re.fullmatch(r"M\d+,\d+( [HV]-?\d+)+", d), d
    first, *moves = d.split(" ")
    x, y = (int(n) for n in first[1:].split(","))
    corners = [(x, y)]
    for move in moves:
        x, y = (int(move[1:]), y) if move[0] == "H" else (x, int(move[1:]))
        corners.append((x, y))
    return corners


def _overlaps_inside(a: int, b: int, start: int, size: int) -> bool:
    """Whether [a, b] reaches inside the open interval (start, start + size); a point must lie strictly inside."""
    low, high = min(a, b), max(a, b)
    if low == high:
        return start < low < start + size
    return max(low, start) < min(high, start + size)


def crosses_box(start: tuple[int, int], end: tuple[int, int], box: tuple[int, int]) -> bool:
    """Whether an axis-parallel segment runs through the inside of a box (running along its border is not)."""
    left, top = box
    return _overlaps_inside(start[0], end[0], left, BOX_W) and _overlaps_inside(start[1], end[1], top, BOX_H)


def geometry(definition: dict[str, Any]) -> GraphGeometry:
    drawn = graph_geometry(definition)
    assert drawn is not None
    return drawn


def edge(drawn: GraphGeometry, source: str, target: str) -> list[tuple[int, int]]:
    (found,) = [e for e in drawn.edges if (e.source, e.target) == (source, target)]
    return points(found.d)


@pytest.mark.parametrize("asl", sorted(ASL_DIR.glob("*.asl.json")), ids=lambda path: path.name)
def test_no_line_of_a_real_state_machine_runs_through_a_box(asl: Path):
    # Given a state machine of this project, with its catches, skips and loops
    drawn = geometry(json.loads(asl.read_text()))
    assert drawn.edges
    for line in drawn.edges:
        corners = points(line.d)
        # Then each line leaves its source's bottom and ends just above its target's top...
        left, top = drawn.boxes[line.source]
        assert corners[0][1] == top + BOX_H, line
        assert left <= corners[0][0] <= left + BOX_W, line
        left, top = drawn.boxes[line.target]
        assert corners[-1][1] == top - 2, line
        assert left <= corners[-1][0] <= left + BOX_W, line
        # ...and none of its segments runs through any box, its own ends included
        for start, end in itertools.pairwise(corners):
            for name, box in drawn.boxes.items():
                assert not crosses_box(start, end, box), f"{line.source} → {line.target} crosses {name}"


def test_boxes_sit_on_the_grid_of_the_layout():
    drawn = geometry(
        {"StartAt": "Decide", "States": {"Decide": choice("Approve", "Reject"), **_ends("Approve", "Reject")}}
    )
    assert drawn.boxes == {
        "Decide": (PAD, PAD),
        "Approve": (PAD, PAD + BOX_H + GAP_Y),
        "Reject": (PAD + BOX_W + GAP_X, PAD + BOX_H + GAP_Y),
    }
    assert drawn.width == PAD + 2 * BOX_W + GAP_X + PAD
    assert drawn.height == PAD + 2 * BOX_H + GAP_Y + PAD


def test_next_to_the_state_below_is_a_straight_line_and_to_a_neighbour_column_an_elbow():
    drawn = geometry(
        {"StartAt": "Decide", "States": {"Decide": choice("Approve", "Reject"), **_ends("Approve", "Reject")}}
    )
    centre = PAD + BOX_W // 2
    assert edge(drawn, "Decide", "Approve") == [(centre, PAD + BOX_H), (centre, PAD + BOX_H + GAP_Y - 2)]
    elbow = edge(drawn, "Decide", "Reject")
    assert len(elbow) == 4
    assert elbow[0] == (centre, PAD + BOX_H)
    assert elbow[-1] == (centre + BOX_W + GAP_X, PAD + BOX_H + GAP_Y - 2)
    assert PAD + BOX_H < elbow[1][1] < PAD + BOX_H + GAP_Y, "the elbow turns inside the gap between the layers"


def test_catch_and_skip_edges_run_in_lanes_right_of_the_graph_one_lane_per_target():
    # Given A -> B -> C with A catching into Fail and a choice in B that skips to End
    definition = {
        "StartAt": "A",
        "States": {
            "A": task("B", catch_to="Fail"),
            "B": {**choice("C", "End"), "Default": "C"},
            "C": task("End", catch_to="Fail"),
            "End": {"Type": "Succeed"},
            "Fail": {"Type": "Fail"},
        },
    }
    drawn = geometry(definition)
    right_of_boxes = max(left + BOX_W for left, _ in drawn.boxes.values())
    lanes: dict[str, set[int]] = {}
    for line in drawn.edges:
        corners = points(line.d)
        if line.catch or (line.source, line.target) == ("B", "End"):
            # Then it runs down a lane beside every box, shared only with lines to the same target
            lane_x = max(x for x, _ in corners)
            assert lane_x > right_of_boxes, line
            lanes.setdefault(line.target, set()).add(lane_x)
    assert set(lanes) == {"Fail", "End"}
    assert all(len(xs) == 1 for xs in lanes.values())
    assert len({x for xs in lanes.values() for x in xs}) == 2, "two targets, two lanes"
    assert drawn.width == max(x for xs in lanes.values() for x in xs) + PAD


def test_a_catch_to_a_state_also_reached_by_next_is_drawn_once_as_the_normal_path():
    drawn = geometry({"StartAt": "A", "States": {"A": task("B", catch_to="B"), "B": task()}})
    assert [(e.source, e.target, e.catch) for e in drawn.edges] == [("A", "B", False)]


def test_elbows_from_different_states_turning_in_the_same_gap_turn_at_different_heights():
    # Given two states in one layer whose lines bend towards the next layer
    definition = {
        "StartAt": "Decide",
        "States": {
            "Decide": choice("X", "Y"),
            "X": choice("P", "Q", "R"),
            "Y": task("P"),
            **_ends("P", "Q", "R"),
        },
    }
    drawn = geometry(definition)
    turns: dict[str, set[int]] = {}
    for line in drawn.edges:
        corners = points(line.d)
        if line.source in {"X", "Y"} and len(corners) == 4:
            turns.setdefault(line.source, set()).add(corners[1][1])
    # Then each source turns at one height of its own
    assert set(turns) == {"X", "Y"}
    assert all(len(heights) == 1 for heights in turns.values())
    assert turns["X"] != turns["Y"]


def test_no_states_no_geometry():
    assert graph_geometry({}) is None
    assert graph_geometry({"StartAt": "X", "States": {}}) is None


def _ends(*names: str) -> dict[str, Any]:
    return {name: {"Type": "Succeed"} for name in names}
