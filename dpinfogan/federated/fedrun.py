"""The server's run folder for a federation (no flwr): the same files as a single-machine run.

``runs/<id>/`` gets config.json (the federation's settings; no client's data statistics), one
metrics.jsonl line per round (per-client ε, σ, q, steps: what the clients send; the server's
generator steps; ``digit_accuracy``: per digit code, the fraction of 100 generated images the
evaluator reads as that digit — generated images only), status.json, ``samples/round_*.png`` +
latest.png (the global generator's fixed grid, one row per categorical code) and
``checkpoint.safetensors`` of the global model after each round, so ``info``, ``sample``,
``evaluate`` and the latent explorer read it unchanged. The model's ε is the largest client ε (each client's data is protected at its own ε_k);
the checkpoint's accountant history is that client's, so ``info`` recomputes the same number.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Mapping, Optional

import torch

from ..checkpoint import read_metadata, save_checkpoint
from ..data import to_uint8
from ..fileio import image_grid
from ..latent import fixed_grid_latent
from ..models import build_models
from ..recipe import warm_start_info
from ..runs import STOP_NAME, RunWriter, new_run_dir, read_json
from ..secret import SOURCE as SECRET_SOURCE
from .coverage import round_digit_accuracy
from .config import FedConfig
from .task import histogram_release, load_model_weights

STOP_FILE = STOP_NAME  # written by dpinfogan.jobs.stop (or a user, or a signal) to stop after the current round


class FedRun:
    """Writes one federation's run folder, round by round."""

    def __init__(self, fed: FedConfig, run_dir: Optional[str | os.PathLike] = None):
        self.fed = fed
        path = Path(run_dir or fed.run_dir) if (run_dir or fed.run_dir) else new_run_dir()
        if path.is_dir() and (path / "metrics.jsonl").exists():
            raise ValueError(f"run folder {path} already holds a run")
        self.writer = RunWriter(path)
        self.path = self.writer.path
        self.cfg = fed.train_config()
        self.g, self.d = build_models(self.cfg.model, self.cfg.latent)
        self.t0 = time.perf_counter()
        self.clients: dict[int, dict[str, float]] = {}  # latest metrics per client
        self.g_steps = 0  # the server's generator steps so far (generator = "server")
        self.warm_start = None
        if self.cfg.warm_start:
            self.warm_start = warm_start_info(read_metadata(self.cfg.warm_start), self.cfg.warm_start)
        # The server holds no data: the run folder records the split's settings, never what a
        # client holds (its class counts are statistics of private data).
        self.config = fed.folder_config()
        self.writer.write_config(self.config)
        self.writer.status("running", round=0, rounds=fed.rounds, step=0, target_steps=fed.total_steps, epsilon=0.0)

    def record_start(self, weights: Mapping[str, Any]) -> None:
        """Note what the starting global generator draws (config.json ``derived.start_digit_accuracy``):
        round 0 of the heat maps, the same for the isolated client, which starts from the same weights."""
        load_model_weights(self.g, self.d, weights)
        acc = round_digit_accuracy(self.g, self.cfg.latent, self.cfg.dataset, self.cfg.code_mode)
        if acc is not None:
            self.config["derived"]["start_digit_accuracy"] = acc
            self.writer.write_config(self.config)

    def stop_requested(self) -> bool:
        return (self.path / STOP_FILE).exists()

    def record_round(self, rnd: int, weights: Mapping[str, Any], client_metrics: list[dict[str, float]],
                     seconds: float, server: Optional[Mapping[str, float]] = None) -> dict:
        """Log round ``rnd``: load the global weights, write metrics, grid, checkpoint and status.

        ``server``: the server's own numbers for the round (its generator steps, statistics of
        generated data, where the time went)."""
        load_model_weights(self.g, self.d, weights)
        server = dict(server or {})
        self.g_steps = int(server.get("g_steps", self.g_steps))
        for m in client_metrics:
            self.clients[int(m["client"])] = dict(m)
        eps = [self.clients[k]["epsilon"] for k in sorted(self.clients)]
        rec: dict[str, Any] = {
            "round": rnd, "step": rnd * self.fed.local_steps,
            "epsilon": max(eps) if eps else 0.0,
            "client_epsilon": eps,
            "clients": [{k: v for k, v in self.clients[c].items()} for c in sorted(self.clients)],
            "seconds": round(seconds, 3), "elapsed": round(time.perf_counter() - self.t0, 3),
            "target_steps": self.fed.total_steps,
            **server,
        }
        t = time.perf_counter()
        acc = round_digit_accuracy(self.g, self.cfg.latent, self.cfg.dataset, self.cfg.code_mode)
        if acc is not None:
            rec["digit_accuracy"] = acc
            rec["eval_seconds"] = round(time.perf_counter() - t, 3)
        self.writer.log(rec)
        self.writer.save_grid(rnd, self.sample_grid())
        self.save()
        self.writer.status("running", round=rnd, rounds=self.fed.rounds, step=rec["step"],
                           target_steps=rec["target_steps"], epsilon=rec["epsilon"], client_epsilon=eps)
        return rec

    @torch.no_grad()
    def sample_grid(self, per_code: int = 8):
        self.g.eval()
        lat = fixed_grid_latent(self.cfg.latent, per_code)
        return image_grid(to_uint8(self.g(lat.vector(self.cfg.latent))), nrow=per_code, scale=2)

    def privacy_meta(self) -> dict:
        """The global model's guarantee: the worst client's (ε, δ), plus every client's numbers."""
        fed, clients = self.fed, [self.clients[k] for k in sorted(self.clients)]
        worst = self._worst()
        return {
            "private": True,
            "epsilon": worst["epsilon"] if worst else 0.0,
            "target_epsilon": self.cfg.privacy.epsilon,
            "delta": self.cfg.privacy.delta,
            "noise_multiplier": worst["sigma"] if worst else None,
            "max_grad_norm": self.cfg.privacy.max_grad_norm,
            "sample_rate": worst["sample_rate"] if worst else None,
            "n_samples": int(worst["num-examples"]) if worst else None,
            "steps": int(worst["steps"]) if worst else 0,
            "accountant": self.cfg.privacy.accountant,
            # the client's whole accountant history: its noisy class counts ("class" aggregation), then its steps
            "history": self._releases(worst) + ([[worst["sigma"], worst["sample_rate"], int(worst["steps"])]]
                                                if worst else []),
            "dp_step": self.cfg.privacy.dp_step,
            "randomness": SECRET_SOURCE,  # every client trains with dpinfogan.train.Trainer's secret source
            "federated": {
                "clients": fed.clients, "split": fed.split, "rounds_done": self._rounds_done(),
                "client_epsilon": [m["epsilon"] for m in clients],
                "client_sigma": [m["sigma"] for m in clients],
                "client_sample_rate": [m["sample_rate"] for m in clients],
                "client_steps": [int(m["steps"]) for m in clients],
                "client_n": [int(m["num-examples"]) for m in clients],
                # "class" aggregation: σ_h of each client's released class counts (Gaussian mechanism, sensitivity 1)
                "label_histogram_sigma": self.fed.histogram_sigma if self.fed.d_aggregation == "class" else None,
                "central_dp": {"noise_multiplier": fed.central_sigma, "clipping_norm": fed.central_clip}
                if fed.central_sigma > 0 else None,
            },
        }

    def _worst(self) -> Optional[dict[str, float]]:
        """The latest metrics of the client with the largest ε (the model's guarantee is its)."""
        return max((self.clients[k] for k in sorted(self.clients)), key=lambda m: m["epsilon"]) if self.clients else None

    @staticmethod
    def _releases(client: Optional[Mapping[str, Any]]) -> list[list]:
        """The history entries a client spent before its steps: its noisy class counts, if it sent any."""
        return [list(histogram_release(client["histogram-sigma"]))] if client and client.get("histogram-sigma") else []

    def _rounds_done(self) -> int:
        st = read_json(self.path / "status.json") or {}
        return int(st.get("round", 0))

    def save(self) -> Path:
        steps = max((int(m["steps"]) for m in self.clients.values()), default=0)
        return save_checkpoint(
            self.writer.checkpoint_path, config=self.cfg, generator=self.g, discriminator=self.d,
            privacy=self.privacy_meta(),
            training={"steps": steps,
                      "g_steps": self.g_steps if self.fed.generator == "server" else steps // max(self.cfg.d_steps_per_g, 1),
                      "warm_start": self.warm_start, "generator_trained_on": self.fed.generator,
                      "prior_releases": len(self._releases(self._worst())),  # its history's entries that are not steps
                      # what the server's G trained against: the averaged D or each client's own ("max")
                      "generator_judged_by": self.fed.d_aggregation if self.fed.generator == "server" else None,
                      "seconds": round(time.perf_counter() - self.t0, 2),
                      "dataset_source": f"{self.cfg.dataset}, split over {self.fed.clients} clients ({self.fed.split})",
                      "federated": True, "threads": torch.get_num_threads()},
            code_to_label=list(range(self.cfg.latent.n_categories)) if self.cfg.code_mode == "labels" else None,
        )

    def finish(self, state: str, message: str = "") -> None:
        eps = [self.clients[k]["epsilon"] for k in sorted(self.clients)]
        extra = {"message": message} if message else {}
        self.writer.status(state, epsilon=max(eps) if eps else 0.0, client_epsilon=eps,
                           seconds=round(time.perf_counter() - self.t0, 2), **extra)
