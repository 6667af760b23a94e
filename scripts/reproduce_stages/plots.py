"""The report's plots: ``sr_by_head.png``, ``sr_vs_nfe.png`` and ``sr_per_task.png``.

SR per head with Wilson 95% bars, SR against mean NFE per chunk (every swept decoder by family,
the AR and L1 heads as reference points) and SR per task per head. matplotlib is imported here
only, with the Agg backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_plots(out: Path, report: dict[str, Any]) -> None:
    """The three PNG plots of ``report`` (``build_report``'s fields) in ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    heads = report["heads"]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    names = list(heads)
    srs = [100 * heads[h]["average_sr"] for h in names]
    err = [[s - 100 * heads[h]["overall"]["ci95"][0] for s, h in zip(srs, names)],
           [100 * heads[h]["overall"]["ci95"][1] - s for s, h in zip(srs, names)]]
    ax.bar(names, srs, yerr=err, capsize=4, color=["tab:blue", "tab:orange", "tab:green"][: len(names)])
    ax.set_ylabel("success rate (%)")
    ax.set_ylim(0, 100)
    ax.set_title("tabletop-10: SR by action head (Wilson 95%)")
    fig.tight_layout()
    fig.savefig(out / "sr_by_head.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    markers = {"cosine top-k": "o", "threshold": "s", "deadline": "d", "factor": "D", "remasking": "^",
               "localleap": "P", "ccd": "X", "semi-ar": "v", "expected-bin readout": "<"}
    for fam, mk in markers.items():
        pts = [(r["mean_nfe"], 100 * r["average_sr"], n) for n, r in report["sweep"].items()
               if r["family"] == fam and r["mean_nfe"] is not None]
        if pts:
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], marker=mk, label=f"diffusion: {fam}", s=40)
            for x, y, n in pts:
                ax.annotate(n, (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points")
    for h, mk, c in (("ar", "*", "black"), ("l1", "h", "gray")):
        if h in heads and heads[h]["mean_nfe"] is not None:
            ax.scatter([heads[h]["mean_nfe"]], [100 * heads[h]["average_sr"]], marker=mk, c=c, s=120, label=f"{h} head")
    ax.set_xscale("log")
    ax.set_xlabel("mean NFE per action chunk (log)")
    ax.set_ylabel("success rate (%)")
    ax.set_title("success vs function evaluations")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "sr_vs_nfe.png", dpi=120)
    plt.close(fig)

    tasks = list(next(iter(heads.values()))["per_task"])
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(tasks)), 3.8))
    w = 0.8 / max(1, len(names))
    for i, h in enumerate(names):
        ax.bar([k + i * w for k in range(len(tasks))], [100 * heads[h]["per_task"].get(t, {}).get("sr", 0) for t in tasks],
               width=w, label=h)
    ax.set_xticks([k + w * (len(names) - 1) / 2 for k in range(len(tasks))], tasks, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("success rate (%)")
    ax.set_ylim(0, 100)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "sr_per_task.png", dpi=120)
    plt.close(fig)
