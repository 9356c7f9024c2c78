"""Every Plotly figure of the app: training curves, ε spent, ε versus quality, the frontier, the
privacy attacks' ROC curves, AUC against ε and canary gaps, and the federation's client split,
per-client ε and per-digit heat map."""
from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import numpy as np
import plotly.graph_objects as go

from ..attacks import FPR_LOW, dp_tpr_bound

INF_X = 1000.0  # where the non-private (ε = ∞) points sit on a log ε axis, labelled "∞"
_LAYOUT = dict(margin=dict(l=10, r=10, t=40, b=10), height=320, legend=dict(orientation="h", y=-0.35))


def _finite(v: Any) -> Optional[float]:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def losses_figure(metrics: Sequence[dict]) -> go.Figure:
    """Discriminator (real, fake) and generator losses against the step."""
    fig = go.Figure()
    for key, name in (("loss_d_real", "D loss (real)"), ("loss_d_fake", "D loss (fake)"), ("loss_g", "G loss")):
        pts = [(m["step"], _finite(m.get(key))) for m in metrics if _finite(m.get(key)) is not None]
        if pts:
            fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines", name=name))
    fig.update_layout(title="Losses", xaxis_title="discriminator step", yaxis_title="loss", **_LAYOUT)
    return fig


def epsilon_figure(metrics: Sequence[dict], target: Optional[float] = None) -> go.Figure:
    """Privacy spent: ε after each step (it only grows), with the target as a dashed line."""
    pts = [(m["step"], _finite(m.get("epsilon"))) for m in metrics if _finite(m.get("epsilon")) is not None]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines+markers",
                             name="ε spent", line=dict(color="#d62728")))
    if target is not None and math.isfinite(target):
        fig.add_hline(y=target, line_dash="dash", annotation_text=f"target ε = {target:g}")
    fig.update_layout(title="Privacy spent: ε (lower = more private)", xaxis_title="discriminator step",
                      yaxis_title="ε", **_LAYOUT)
    return fig


def run_quality_figure(points: Sequence[dict], metric: str) -> go.Figure:
    """This run's own curve: quality of the progress grid against the ε spent when it was drawn."""
    fig = go.Figure()
    xs = [p["epsilon"] if math.isfinite(p["epsilon"]) else None for p in points]
    fig.add_trace(go.Scatter(
        x=xs if any(x is not None for x in xs) else [p["step"] for p in points],
        y=[p["quality"] for p in points], mode="lines+markers", name=metric,
        text=[f"step {p['step']}" for p in points], hovertemplate="ε %{x:.3g}: %{y:.2f} (%{text})<extra></extra>"))
    private = any(x is not None for x in xs)
    fig.update_layout(title=f"What each unit of privacy buys: {metric}",
                      xaxis_title="ε spent so far" if private else "step (non-private run)",
                      yaxis_title=metric, yaxis_range=[0, 1.02], **_LAYOUT)
    return fig


def frontier_figure(points: Sequence[dict], metric_label: str, lower_is_better: bool = False) -> go.Figure:
    """ε (log x) against a quality metric, one line per family over ε, named in the legend.

    Each point: {group, family, label, epsilon, value, hover, key}. ``group`` (zoo, your runs, attack
    lab, literature) sets the style, ``family`` (e.g. "zoo · labels", or a published method) the line;
    ``key`` comes back in selections. No text labels on the points: they overlapped at ε = 1 and 10.
    """
    fig = go.Figure()
    symbols = {"zoo": "circle", "your runs": "diamond", "attack lab": "square", "literature": "star"}
    finite = [p["epsilon"] for p in points if math.isfinite(p["epsilon"])]
    families: dict[str, list[dict]] = {}
    for group in symbols:  # ours first, so they get the strong colours and sit on top of the legend
        for p in points:
            if p["group"] == group:
                families.setdefault(p.get("family", group), []).append(p)
    for family, pts in families.items():
        pts = sorted(pts, key=lambda p: p["epsilon"])
        group = pts[0]["group"]
        ours = group != "literature"
        fig.add_trace(go.Scatter(
            x=[p["epsilon"] if math.isfinite(p["epsilon"]) else INF_X for p in pts],
            y=[p["value"] for p in pts], mode="lines+markers", name=family,
            customdata=[p.get("key", "") for p in pts], hovertext=[p["hover"] for p in pts],
            hovertemplate="%{hovertext}<extra></extra>", opacity=1.0 if ours else 0.75,
            line=dict(width=4 if ours else 1.5, dash="solid" if ours else "dash"),
            marker=dict(size=13 if ours else 10, symbol=symbols[group])))
    ticks = [0.1, 0.3, 1, 3, 10, 30, 100]
    lo = min(finite + [1.0]) / 2
    fig.update_xaxes(type="log", tickvals=ticks + [INF_X], ticktext=[f"{t:g}" for t in ticks] + ["∞ (no privacy)"],
                     range=[math.log10(max(lo, 0.05)), math.log10(INF_X * 2)])
    fig.update_layout(title=f"Privacy (ε, log scale; left = more private) vs {metric_label}"
                      + (" (lower is better)" if lower_is_better else " (higher is better)"),
                      xaxis_title="ε", yaxis_title=metric_label, clickmode="event+select",
                      **{**_LAYOUT, "height": 520, "legend": dict(orientation="v", x=1.02, y=1, font=dict(size=13))})
    return fig


# ----------------------------------------------------------------------------- privacy attacks
ATTACK_COLORS = ["#d62728", "#ff7f0e", "#1f77b4", "#2ca02c", "#9467bd", "#8c564b"]
_ATTACK_LAYOUT = dict(margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.2))


def roc_figure(curves: Sequence[dict], title: str, log_axes: bool = False) -> go.Figure:
    """ROC curves against guessing, each with its (ε, δ)-DP bound when private.

    Each curve: {name, fpr, tpr, color, and for a private model bound_name, epsilon, delta}.
    """
    fig = go.Figure()
    lo = 1e-3 if log_axes else 0.0
    grid = np.geomspace(1e-3, 1, 300) if log_axes else np.linspace(0, 1, 301)
    fig.add_trace(go.Scatter(x=grid, y=grid, mode="lines", name="guessing", line=dict(color="#999", dash="dot")))
    for c in curves:
        fig.add_trace(go.Scatter(x=np.maximum(c["fpr"], lo), y=np.maximum(c["tpr"], lo), mode="lines",
                                 name=c["name"], line=dict(color=c["color"])))
        if c.get("epsilon") is not None:
            fig.add_trace(go.Scatter(x=grid, y=np.maximum(dp_tpr_bound(grid, c["epsilon"], c["delta"]), lo),
                                     mode="lines", name=c["bound_name"], line=dict(color=c["color"], dash="dash")))
    fig.add_vline(x=FPR_LOW, line_dash="dot", line_color="#bbb", annotation_text="1% FPR")
    axis = dict(type="log", range=[-3, 0]) if log_axes else dict(range=[0, 1])
    fig.update_layout(title=title, xaxis_title="false-positive rate (non-members accused)",
                      yaxis_title="true-positive rate (members caught)", xaxis=axis, yaxis=dict(axis),
                      height=460, **_ATTACK_LAYOUT)
    return fig


def attack_auc_figure(epsilons: Sequence[float], aucs: dict[str, Sequence[Optional[float]]],
                      bounds: Sequence[tuple[float, float]], colors: Sequence[str]) -> go.Figure:
    """Each attack's AUC against the models' ε (∞ at :data:`INF_X`), with the DP bound on AUC
    (``bounds``: (ε, AUC bound) of the private models). Each model's marker has its ROC colour
    (``colors``, one per model); each attack is one dark line with its own dash, broken where two
    models share an ε so it never draws a vertical jump between them."""
    xs = [e if math.isfinite(e) else INF_X for e in epsilons]
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    fig = go.Figure()
    for (name, ys), dash in zip(aucs.items(), ["solid", "dash", "dot", "dashdot"] * 4):
        line_x: list[Optional[float]] = []
        line_y: list[Optional[float]] = []
        for i in order:
            if line_x and line_x[-1] == xs[i]:
                line_x.append(None)
                line_y.append(None)
            line_x.append(xs[i])
            line_y.append(ys[i])
        fig.add_trace(go.Scatter(x=line_x, y=line_y, mode="lines", name=name, connectgaps=False,
                                 line=dict(color="#333", width=2.5, dash=dash)))
        fig.add_trace(go.Scatter(x=xs, y=list(ys), mode="markers", showlegend=False, name=name,
                                 marker=dict(size=13, color=list(colors), line=dict(color="#333", width=1))))
    if bounds:
        fig.add_trace(go.Scatter(x=[e for e, _ in bounds], y=[b for _, b in bounds], mode="markers",
                                 name="(ε, δ)-DP bound on AUC", marker=dict(symbol="line-ew-open", size=18, color="#444")))
    fig.add_hline(y=0.5, line_dash="dot", line_color="#999", annotation_text="guessing")
    ticks = sorted(set(xs))
    fig.update_layout(title="Attack AUC against ε", xaxis=dict(type="log", tickvals=ticks,
                      ticktext=["∞" if t == INF_X else f"{t:.3g}" for t in ticks], title="ε (privacy budget)"),
                      yaxis=dict(title="AUC", range=[0.4, 1.0]), height=460, **_ATTACK_LAYOUT)
    return fig


def canary_gap_figure(labels: Sequence[str], gaps: Sequence[float], errors: Sequence[float],
                      colors: Sequence[str]) -> go.Figure:
    """How much higher D scores its inserted canaries than held-out ones, ± the given error bars."""
    fig = go.Figure()
    fig.add_trace(go.Bar(x=list(labels), y=list(gaps), error_y=dict(type="data", array=list(errors)),
                         marker_color=list(colors)))
    fig.add_hline(y=0, line_color="#999")
    fig.update_layout(title="How much higher D scores inserted canaries than held-out ones (± 2 SE)",
                      yaxis_title="mean D logit: inserted − held out", height=360, margin=dict(l=10, r=10, t=40, b=10))
    return fig


# -- federated -----------------------------------------------------------------------------------
_TIGHT = dict(margin=dict(l=10, r=10, t=10, b=10))


def client_split_figure(infos: Sequence[dict], names: Sequence[str]) -> go.Figure:
    """Each client's images by digit, stacked (``infos``: :meth:`dpinfogan.partition.PartInfo.to_dict`)."""
    fig = go.Figure([go.Bar(name=names[c], x=[f"client {i['client']}" for i in infos],
                            y=[i["counts"][c] for i in infos]) for c in range(len(names))])
    fig.update_layout(barmode="stack", height=260, legend_title_text="digit", **_TIGHT)
    return fig


def client_epsilon_figure(metrics: Sequence[dict], budget: Optional[float] = None) -> go.Figure:
    """Every client's cumulative ε after each round, with the budget as a dashed line."""
    fig = go.Figure()
    n_clients = len(metrics[-1].get("client_epsilon", [])) if metrics else 0
    for c in range(n_clients):
        fig.add_scatter(x=[m["round"] for m in metrics],
                        y=[m["client_epsilon"][c] if c < len(m.get("client_epsilon", [])) else None for m in metrics],
                        mode="lines+markers", name=f"client {c}")
    if budget:
        fig.add_hline(y=float(budget), line_dash="dash", annotation_text="budget")
    fig.update_layout(height=260, xaxis_title="round", yaxis_title="ε spent (cumulative)", **_TIGHT)
    return fig


def digit_heatmap_figure(rows: Sequence[dict], held: Sequence[int]) -> go.Figure:
    """Per-digit accuracy (rows: digit codes 0–9) over rounds, from metrics' ``digit_accuracy``;
    the digits in ``held`` are marked "(held)"."""
    z = [[m["digit_accuracy"][d] for m in rows] for d in range(10)]  # (10 digits, rounds)
    labels = [f"{d} (held)" if d in held else str(d) for d in range(10)]
    fig = go.Figure(go.Heatmap(z=z, x=[m["round"] for m in rows], y=labels, zmin=0, zmax=1, colorscale="Viridis",
                               colorbar=dict(title="read as<br>its digit", tickformat=".0%"),
                               hovertemplate="round %{x}, digit %{y}: %{z:.0%}<extra></extra>"))
    fig.update_layout(height=300, xaxis_title="round", yaxis_title="digit code", yaxis_type="category", **_TIGHT)
    return fig
