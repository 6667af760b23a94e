"""Join a trained VLA checkpoint and a spatial far head trained on it into one checkpoint.

    python scripts/attach_far_head.py runs/dd runs/far-head --switch-m 0.10 --out checkpoints/joined

See :mod:`vla.far_head`: the far head's points are used where it puts the instructed object
farther than ``--switch-m`` from the end-effector (the episode's start), the main head's elsewhere.
"""

from __future__ import annotations

import argparse
import sys

from vla.cli_help import HelpFormatter


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("main", help="checkpoint with the decoder grounding head")
    p.add_argument("far", help="checkpoint whose spatial head was trained on the frozen main model")
    p.add_argument("--switch-m", type=float, default=0.10, help="distance (m) beyond which the far head's points are used")
    p.add_argument("--out", required=True, help="output checkpoint folder")
    args = p.parse_args(argv)
    from vla.checkpoint import save_checkpoint
    from vla.far_head import attach_far_head

    try:
        model, tok, act = attach_far_head(args.main, args.far, args.switch_m)
    except (FileNotFoundError, ValueError) as e:
        print(f"attach_far_head: {e}", file=sys.stderr)
        return 2
    print(f"wrote {save_checkpoint(args.out, model, tok, act)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
