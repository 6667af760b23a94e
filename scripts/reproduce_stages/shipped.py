"""``--update-shipped DIR``: hand the diffusion policy on to a shipped checkpoint folder.

The policy's inference files are copied to ``DIR`` (e.g. ``checkpoints/tabletop-tiny-dd``) only
when its SR under its default decoder (its ``decoder.json``, from ``--diffusion-decoder``, else
``MAIN_DECODER``) beats the one recorded in ``DIR/eval.json``, which is rewritten; ``DIR/decoder.json``
becomes the policy's (a default chosen for the previous policy never stays).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from scripts.reproduce_stages.sweep import MAIN_DECODER
from vla.checkpoint import DECODER, load_default_decoder


def update_shipped(dest: Path, ckpt: Path, result: dict[str, Any], report: dict[str, Any]) -> bool:
    """Copy the diffusion policy's inference files to ``dest`` when its SR beats the one recorded there."""
    old = dest / "eval.json"
    old_sr = json.loads(old.read_text()).get("average_sr", 0.0) if old.exists() else 0.0
    if result["average_sr"] <= old_sr:
        print(f"vla reproduce: kept {dest} (its SR {100 * old_sr:.1f}% >= {100 * result['average_sr']:.1f}%)")
        return False
    dest.mkdir(parents=True, exist_ok=True)
    for f in ("config.json", "model.safetensors", "norm_stats.json", "tokenizer.json", "tokenizer_config.json",
              "special_tokens_map.json", "train_log.csv"):
        if (ckpt / f).exists():
            shutil.copy2(ckpt / f, dest / f)
    # the SR was measured under the policy's own default decoder (its decoder.json, else MAIN_DECODER):
    # that file goes along, and no stale one of the previous policy may stay
    decoder = load_default_decoder(ckpt)
    if decoder is None:
        (dest / DECODER).unlink(missing_ok=True)
    else:
        shutil.copy2(ckpt / DECODER, dest / DECODER)
    old.write_text(json.dumps({"average_sr": result["average_sr"], "overall": result["overall"],
                               "per_task": result["per_task"], "decoder": decoder or MAIN_DECODER,
                               "episodes_per_task": report["config"]["episodes_per_task"],
                               "source": "vla reproduce", "git": report["git"]}, indent=2))
    print(f"vla reproduce: updated {dest} with the diffusion policy ({100 * result['average_sr']:.1f}% > {100 * old_sr:.1f}%)")
    return True
