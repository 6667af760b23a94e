"""Stage 4, sweep: the trained diffusion policy under many decoders -> ``<out>/sweep/<name>``.

Cosine top-k T = 1..12, confidence threshold, the threshold with a deadline of T steps, factor
rule, remasking rules, LocalLeap, CCD, semi-AR blocks and the expected-bin readout, each evaluated alike (``evaluate``): SR with Wilson 95% interval, mean / max NFE
per chunk, latency. The paper's decoder (``MAIN_DECODER``) is the diffusion head's main
evaluation and the reference point of the sweep.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from scripts.reproduce_stages.evaluate import evaluate
from scripts.reproduce_stages.ledger import StageClock

#: the decoder the paper uses and the diffusion head's main evaluation: 12 steps, cosine, max-prob
MAIN_DECODER = "cosine-T12"
#: decoders that choose how many tokens to commit from the model's confidence
ADAPTIVE = ("threshold", "deadline", "factor", "localleap", "ccd", "semi-ar")


def sweep_decoders(quick: bool = False) -> dict[str, tuple[str, dict[str, Any]]]:
    """Name -> (family, decoder options) of the diffusion decoder sweep."""
    if quick:
        return {
            "cosine-T1": ("cosine top-k", {"steps": 1}),
            "cosine-T4": ("cosine top-k", {"steps": 4}),
            "threshold-0.9": ("threshold", {"commit": "threshold", "threshold": 0.9}),
            "deadline-T4-0.9": ("deadline", {"commit": "deadline", "threshold": 0.9, "steps": 4}),
            "ccd": ("ccd", {"commit": "ccd", "steps": 12}),
        }
    sweep: dict[str, tuple[str, dict[str, Any]]] = {
        f"cosine-T{t}": ("cosine top-k", {"steps": t}) for t in (1, 2, 4, 8, 12)
    }
    sweep |= {f"threshold-{x}": ("threshold", {"commit": "threshold", "threshold": x}) for x in (0.5, 0.7, 0.9)}
    sweep |= {f"deadline-T{t}-0.9": ("deadline", {"commit": "deadline", "threshold": 0.9, "steps": t}) for t in (2, 4)}
    sweep["factor-1.0"] = ("factor", {"commit": "factor", "factor": 1.0})
    sweep["T12+remask-code"] = ("remasking", {"steps": 12, "remask": "ddvla_code"})
    sweep["T12+remask-paper"] = ("remasking", {"steps": 12, "remask": "ddvla_paper"})
    sweep["T12+remdm-cap"] = ("remasking", {"steps": 12, "remask": "remdm", "remdm_schedule": "cap"})
    sweep["localleap"] = ("localleap", {"commit": "localleap"})
    sweep["ccd"] = ("ccd", {"commit": "ccd", "steps": 12})
    # AdaBlock ends blocks at predicted delimiter tokens; action chunks have none, so the block
    # rule that applies is fixed semi-autoregressive blocks of one timestep (7 tokens)
    sweep["semi-ar-step+threshold-0.9"] = ("semi-ar", {"commit": "threshold", "threshold": 0.9, "block": "fixed",
                                                       "block_size": 7})
    sweep["cosine-T1+mean"] = ("expected-bin readout", {"steps": 1, "readout": "mean"})
    return sweep


def stage_sweep(args: argparse.Namespace, ckpt: Path, out: Path, main_result: dict[str, Any],
                clock: StageClock) -> dict[str, Any]:
    """Evaluate the diffusion checkpoint ``ckpt`` under each chosen decoder into ``out/<name>``.

    ``main_result`` is the diffusion head's main evaluation: it stands for ``MAIN_DECODER`` when the
    sweep runs as many episodes, and is added as the reference row when ``MAIN_DECODER`` is not swept.
    Returns name -> {family, decoder, aggregated result}.
    """
    chosen = sweep_decoders(args.quick)
    if args.sweep_decoders:
        chosen = {n: v for n, v in chosen.items() if n in args.sweep_decoders}
    # the main evaluation stands for MAIN_DECODER only when it ran under it (no --diffusion-decoder)
    main_is_ref = getattr(args, "diffusion_decoder", None) in (None, {"steps": 12})
    sweep: dict[str, Any] = {}
    for name, (family, dec) in chosen.items():
        if name == MAIN_DECODER and main_is_ref and args.sweep_episodes_per_task == args.episodes_per_task:
            r = main_result
        else:
            r = clock("sweep", evaluate, args, ckpt, dec, out / name, args.sweep_episodes_per_task, 0)
        sweep[name] = {"family": family, "decoder": dec, **r}
    if MAIN_DECODER not in sweep:  # the reference point: the main evaluation, or T=12 run here
        r = main_result if main_is_ref else clock("sweep", evaluate, args, ckpt, {"steps": 12}, out / MAIN_DECODER,
                                                  args.sweep_episodes_per_task, 0)
        sweep[MAIN_DECODER] = {"family": "cosine top-k", "decoder": {"steps": 12}, **r}
    return sweep
