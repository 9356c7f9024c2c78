"""What the app knows about the models on disk, without Streamlit: the shipped zoo
(``checkpoints/``), the user's runs and the attack lab, their evaluations, the published reference
points, and the points of the ε-versus-quality chart.

A checkpoint whose header cannot be read becomes an entry with ``error`` set: the page shows that
error and keeps working.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from .attack_lab import best_attack_auc
from .checkpoint import check_weights, read_metadata
from .data import CLASS_NAMES
from .metadata import validate_evaluation
from .paths import checkpoints_root, eval_json_path, references_path
from .runs import list_runs

INF_EPS = math.inf


@dataclass
class ModelEntry:
    """One generator the app can draw from."""

    key: str  # "zoo:<file stem>" or "run:<run id>": stable, used in URLs
    path: Path
    source: str  # "zoo" or "run"
    meta: Optional[dict[str, Any]] = None
    error: Optional[str] = None

    @property
    def mtime(self) -> float:
        """Cache key part: a checkpoint rewritten by a running trainer gets reloaded."""
        try:
            return self.path.stat().st_mtime
        except OSError:
            return 0.0

    @property
    def epsilon(self) -> float:
        """ε of the weights (inf = non-private); nan when unknown."""
        if not self.meta:
            return math.nan
        pr = self.meta.get("privacy", {})
        if not pr.get("private", True):
            return INF_EPS
        try:
            return float(pr.get("epsilon"))
        except (TypeError, ValueError):
            return math.nan

    @property
    def dataset(self) -> str:
        return str((self.meta or {}).get("dataset", "?"))

    @property
    def name(self) -> str:
        return self.key.split(":", 1)[1]

    @property
    def label(self) -> str:
        """Short human label: "ε = 1 · zoo/mnist-eps1" style."""
        return f"{eps_text(self.epsilon)} · {self.source}/{self.name}"

    def code_labels(self) -> list[str]:
        """What each categorical code value draws, in words ("7", "Sneaker", or "code 3")."""
        meta = self.meta or {}
        n = int(meta.get("config", {}).get("latent", {}).get("n_categories", 10))
        names = CLASS_NAMES.get(self.dataset)
        mapping = meta.get("code_to_label") or (self.evaluation() or {}).get("code_to_label")
        out = []
        for c in range(n):
            lab = mapping[c] if mapping and c < len(mapping) else None
            if lab is not None and names and 0 <= int(lab) < len(names):
                out.append(names[int(lab)])
            else:
                out.append(f"code {c}")
        return out

    def evaluation(self) -> Optional[dict[str, Any]]:
        """The evaluation helper's ``<stem>.eval.json`` beside the checkpoint, when present."""
        return self._evaluation()[0]

    def evaluation_problem(self) -> Optional[str]:
        """Why ``<stem>.eval.json`` is ignored, when it exists but is unreadable or odd."""
        return self._evaluation()[1]

    def _evaluation(self) -> tuple[Optional[dict[str, Any]], Optional[str]]:
        p = eval_json_path(self.path)
        try:
            text = p.read_text()
        except OSError:
            return None, None  # not evaluated
        try:
            return validate_evaluation(json.loads(text)), None
        except ValueError as e:
            return None, f"`{p.name}` skipped: {e}"

    def settings_text(self) -> str:
        """One line of training settings for hover texts."""
        m = self.meta or {}
        pr, tr, cfg = m.get("privacy", {}), m.get("training", {}), m.get("config", {})
        parts = [f"{self.dataset}, {m.get('code_mode', '?')} codes", f"{tr.get('steps', '?')} steps",
                 f"batch {cfg.get('batch_size', '?')}"]
        if pr.get("private"):
            sigma = pr.get("noise_multiplier")
            parts.append(f"σ = {sigma:.3g}" if isinstance(sigma, (int, float)) else "σ = ?")
            parts.append(f"C = {pr.get('max_grad_norm')}, δ = {pr.get('delta')}")
        return ", ".join(parts)


def eps_text(eps: float) -> str:
    if math.isnan(eps):
        return "ε = ?"
    if math.isinf(eps):
        return "non-private (ε = ∞)"
    return f"ε = {eps:.3g}"


def _entry(key: str, path: Path, source: str) -> ModelEntry:
    try:
        meta = read_metadata(path)
        check_weights(path, meta)  # a truncated or mismatched file is skipped here, not when drawn
        return ModelEntry(key, path, source, meta=meta)
    except (ValueError, OSError) as e:
        return ModelEntry(key, path, source, error=plain_error(e, path))


def plain_error(err: BaseException | str, path: Path) -> str:
    """An error message for the page: the file's name instead of its server path."""
    text = str(err)
    for full in (str(path.resolve()), str(path)):
        text = text.replace(full, path.name)
    for lead in (f"{path.name}: ", f"{path.name} "):  # the page names the file already
        if text.startswith(lead):
            return text[len(lead):]
    return text


def discover_zoo(root: Optional[Path] = None) -> list[ModelEntry]:
    """Generator checkpoints in the zoo folder (evaluator files skipped), sorted by ε."""
    root = Path(root) if root is not None else checkpoints_root()
    if not root.is_dir():
        return []
    # the evaluator (a measuring instrument) and the public warm start (trained on no private data) are no zoo models
    files = sorted(p for p in root.glob("*.safetensors") if not p.name.startswith(("evaluator", "warmstart")))
    entries = [_entry(f"zoo:{p.stem}", p, "zoo") for p in files]
    return sorted(entries, key=lambda e: (e.error is not None, _eps_sort(e.epsilon), e.key))


def discover_runs(root: Optional[Path] = None) -> list[ModelEntry]:
    """Checkpoints of the user's runs (finished, stopped or still running), newest first."""
    out = []
    for r in list_runs(root):
        if r.checkpoint is not None:
            out.append(_entry(f"run:{r.id}", r.checkpoint, "run"))
    return out


def discover_attack_lab(root: Optional[Path] = None) -> list[ModelEntry]:
    """The attack-lab checkpoints (``checkpoints/attack-lab/``): small-data models with attack results."""
    root = (Path(root) if root is not None else checkpoints_root()) / "attack-lab"
    return [_entry(f"lab:{p.stem}", p, "attack lab") for p in sorted(root.glob("*.safetensors"))]


def discover_all(zoo_root: Optional[Path] = None, runs_root: Optional[Path] = None) -> list[ModelEntry]:
    return discover_zoo(zoo_root) + discover_runs(runs_root)


def _eps_sort(eps: float) -> float:
    return 1e18 if math.isnan(eps) else (1e17 if math.isinf(eps) else eps)


def pick_default(entries: Sequence[ModelEntry]) -> Optional[ModelEntry]:
    """The model a page opens on: the best-looking *private* one — labels mode, the largest finite ε
    (mnist-labels-eps10 in the shipped zoo), zoo before runs; else the first usable entry."""
    usable = [e for e in entries if e.error is None and e.meta is not None]
    private = [e for e in usable if math.isfinite(e.epsilon) and e.epsilon > 0]
    if not private:
        return usable[0] if usable else None
    return max(private, key=lambda e: ((e.meta or {}).get("code_mode") == "labels", e.source == "zoo",
                                       e.dataset in ("mnist", "offline-digits"), e.epsilon))


def pick_comparison(entries: Sequence[ModelEntry], targets: Sequence[float] = (1.0, 10.0, INF_EPS)
                    ) -> list[tuple[float, Optional[ModelEntry]]]:
    """For each target ε, the usable zoo model closest to it (within a factor 3), MNIST-like and
    labels-mode first; None when the zoo has no such model yet."""
    usable = [e for e in entries if e.error is None and e.meta is not None]
    out: list[tuple[float, Optional[ModelEntry]]] = []
    for t in targets:
        if math.isinf(t):
            cands = [e for e in usable if math.isinf(e.epsilon)]
            dist = {e.key: 0.0 for e in cands}
        else:
            cands = [e for e in usable if math.isfinite(e.epsilon) and e.epsilon > 0
                     and abs(math.log(e.epsilon / t)) <= math.log(3.0)]
            dist = {e.key: abs(math.log(e.epsilon / t)) for e in cands}
        cands.sort(key=lambda e: (e.dataset not in ("mnist", "offline-digits"),
                                  (e.meta or {}).get("code_mode") != "labels", dist[e.key], e.key))
        out.append((t, cands[0] if cands else None))
    return out


METRIC_NAMES = {"cas": "CAS (classifier trained on generated, tested on real)", "fid_evaluator": "FID (evaluator features)",
                "code_accuracy": "code accuracy", "inception_score": "IS (evaluator)", "is": "IS (evaluator)"}


def metrics_table(metrics: dict[str, Any]) -> list[dict[str, str]]:
    """An evaluation's metrics as rows {metric, value} for a table (numbers rounded, nested values
    in words), instead of raw JSON on the page."""
    rows = []
    for k, v in metrics.items():
        if isinstance(v, bool) or v is None:
            text = "–" if v is None else str(v)
        elif isinstance(v, (int, float)):
            text = f"{v:.3g}" if isinstance(v, float) else f"{v:,}"
        else:
            text = json.dumps(v)[:80]
        rows.append({"metric": METRIC_NAMES.get(k, k.replace("_", " ")), "value": text})
    return rows


def load_references(path: Optional[Path] = None) -> tuple[list[dict[str, Any]], Optional[str]]:
    """Literature points (method, epsilon, cas, source); ([], reason) when absent or unreadable."""
    path = Path(path) if path is not None else references_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return [], "no literature reference file yet"
    except (OSError, ValueError) as e:
        return [], f"literature reference file {path.name} is unreadable: {e}"
    items = data.get("references", data.get("points", [])) if isinstance(data, dict) else data
    out = []
    for it in items if isinstance(items, list) else []:
        if isinstance(it, dict) and "epsilon" in it and "method" in it:
            out.append(it)
    return out, None


def frontier_points(entries: Sequence[ModelEntry], metric: str, label: str,
                    proxy: Callable[[ModelEntry], Optional[float]]) -> tuple[list[dict], dict[str, ModelEntry], list[str]]:
    """The ε-versus-quality chart's points for ``metric`` (an evaluation metric, ``attack_auc`` or
    ``proxy``, whose value ``proxy(entry)`` computes), the entries by point key, and notes on what
    was skipped. Each point: {group, family, label, epsilon, value, key, hover} (see
    :func:`dpinfogan.ui.charts.frontier_figure`); ``label`` names the metric in hover texts.

    With ``cas`` the published reference points are added as the "literature" group.
    """
    points, by_key, notes = [], {}, []
    missing = 0
    for e in entries:
        if e.error:
            notes.append(f"`{e.path.name}` skipped: {e.error}")
            continue
        by_key[e.key] = e
        if e.evaluation_problem():
            notes.append(e.evaluation_problem())
        try:
            if metric == "proxy":
                value = proxy(e)
            elif metric == "attack_auc":
                value = best_attack_auc(e.path)
                if value is None:
                    continue  # never attacked: not "missing", most models are not
            else:
                value = ((e.evaluation() or {}).get("metrics") or {}).get(metric)
        except ValueError as err:
            notes.append(f"`{e.path.name}`: {err}")
            continue
        if value is None or math.isnan(e.epsilon):
            missing += 1
            continue
        group = {"zoo": "zoo", "attack lab": "attack lab"}.get(e.source, "your runs")
        family = f"zoo · {(e.meta or {}).get('code_mode', '?')} codes" if group == "zoo" else group
        points.append({"group": group, "family": family, "label": e.name, "epsilon": e.epsilon,
                       "value": float(value), "key": e.key,
                       "hover": f"<b>{e.name}</b> ({e.source})<br>{eps_text(e.epsilon)}<br>{label}: "
                                f"{float(value):.3g}<br>{e.settings_text()}"})
    if missing:
        notes.append(f"{missing} model(s) have no {label} yet (evaluate them with "
                     "`python -m dpinfogan evaluate <checkpoint>`, or pick the proxy metric).")
    if metric == "cas":
        refs, why = load_references()
        if why:
            notes.append(f"Literature points: {why}.")
        points += [p for p in map(_reference_point, refs) if p is not None]
    return points, by_key, notes


def _reference_point(r: dict[str, Any]) -> Optional[dict]:
    try:
        eps, cas = float(r["epsilon"]), float(r["cas"])
    except (KeyError, TypeError, ValueError):
        return None
    cas = cas / 100 if cas > 1 else cas  # papers report percent
    return {"group": "literature", "family": str(r["method"]), "label": str(r["method"]), "epsilon": eps,
            "value": cas, "key": f"ref:{r['method']}:{eps}",
            "hover": f"<b>{r['method']}</b> (published)<br>{eps_text(eps)}<br>CAS {cas:.3g}"
                     f"<br>{r.get('source', '')}<br>{r.get('note', '')}"}
