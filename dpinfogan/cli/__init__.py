"""Command line: ``python -m dpinfogan {train,sample,info,...}``.

``options`` (option groups shared by several commands, and the options -> config translation),
``train`` (train, sweep), ``evaluate`` (evaluate, train-evaluator, attack), ``checkpoints`` (info,
sample, export, zoo-card), ``federated`` (the federation on Flower). Each command
parses its options and calls one library function with typed arguments.

Bad input prints one ``error: ...`` line and exits with code 2; nothing is half-written.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from typing import Optional

from .checkpoints import add_export_parser, add_info_parser, add_sample_parser, add_zoo_card_parser
from .evaluate import add_attack_parser, add_evaluate_parser, add_train_evaluator_parser
from .federated import add_federated_parser
from .options import UsageError, add_network_options, config_from_args
from .train import add_sweep_parser, add_train_parser

__all__ = ["UsageError", "add_network_options", "build_parser", "config_from_args", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dpinfogan",
        description="DP-InfoGAN: InfoGAN trained with differentially private SGD (Opacus, RDP accountant).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (add_train_parser, add_sample_parser, add_info_parser, add_export_parser, add_zoo_card_parser,
                add_train_evaluator_parser, add_evaluate_parser, add_sweep_parser, add_attack_parser,
                add_federated_parser):
        add(sub)
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torch/opacus chatter; our notes are printed explicitly
            return args.handler(args)
    except (ValueError, OSError) as e:  # UsageError, library ValueErrors, unwritable paths
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
