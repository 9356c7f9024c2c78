"""Plotly figures (dpinfogan/ui/charts.py): what the projector shows."""
import math

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
