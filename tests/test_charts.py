"""Plotly figures (dpinfogan/ui/charts.py): what the projector shows."""
import math

import pytest

from dpinfogan.ui import charts


def test_attack_auc_chart_uses_the_roc_colours_and_never_joins_two_points_at_one_eps():
    eps = [1.0, 10.0, math.inf, math.inf]  # two non-private models share ε = ∞
    colors = ["#d62728", "#ff7f0e", "#1f77b4", "#2ca02c"]
    fig = charts.attack_auc_figure(eps, {"loss": [0.51, 0.55, 0.9, 0.8], "shadow": [0.5, 0.52, 0.7, 0.75]},
                                   [(1.0, 0.62), (10.0, 0.99)], colors)
    lines = [t for t in fig.data if t.mode == "lines"]
    markers = [t for t in fig.data if t.mode == "markers" and t.showlegend is False]
    assert len(lines) == 2 and len({t.line.dash for t in lines}) == 2
    for t in markers:
        assert list(t.marker.color) == colors
    for t in lines:
        xs = list(t.x)
        # a break (None) separates the two ∞ points, so no vertical segment joins them
        pairs = [(a, b) for a, b in zip(xs, xs[1:]) if a is not None and b is not None]
        assert all(a != b for a, b in pairs) and None in xs


def test_federated_figures_show_every_client_and_digit():
    infos = [{"client": 0, "counts": [5, 3] + [0] * 8}, {"client": 1, "counts": [0, 0, 7] + [0] * 7}]
    split = charts.client_split_figure(infos, [str(d) for d in range(10)])
    assert len(split.data) == 10 and list(split.data[2].y) == [0, 7] and split.layout.barmode == "stack"
    metrics = [{"round": 1, "client_epsilon": [1.0]}, {"round": 2, "client_epsilon": [3.0, 2.0]}]
    eps = charts.client_epsilon_figure(metrics, budget=5.0)
    assert [list(t.y) for t in eps.data] == [[1.0, 3.0], [None, 2.0]]  # a missing reading is a gap
    assert eps.layout.shapes[0].y0 == 5.0
    rows = [{"round": r, "digit_accuracy": [r / 10 + d / 100 for d in range(10)]} for r in (0, 1, 2)]
    heat = charts.digit_heatmap_figure(rows, held=[3]).data[0]
    assert len(heat.z) == 10 and list(heat.x) == [0, 1, 2] and heat.z[4][2] == pytest.approx(0.24)  # (digit, round)
    assert heat.y[3] == "3 (held)" and heat.y[4] == "4"
