"""LIBERO results as the papers print them: Spatial | Object | Goal | Long | Avg (percent).

``Avg`` is the mean of the four suites (as in OpenVLA, openpi, Discrete Diffusion VLA) and is
only printed when all four are present; LIBERO-90 gets its own column when given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from envs.libero.tasks import PAPER_COLUMNS

#: published numbers (percent) for reference rows: Spatial, Object, Goal, Long, Avg
PUBLISHED: dict[str, tuple[float | None, ...]] = {
    "Discrete Diffusion VLA (paper)": (97.2, 98.6, 97.4, 92.0, 96.3),
}

_SUITE_ALIASES = {
    "spatial": "libero_spatial",
    "object": "libero_object",
    "goal": "libero_goal",
    "long": "libero_10",
    "10": "libero_10",
    "90": "libero_90",
}


def _suite_key(name: str) -> str:
    key = name.lower().strip()
    key = _SUITE_ALIASES.get(key.removeprefix("libero_"), key) if key not in PAPER_COLUMNS else key
    if key not in (*PAPER_COLUMNS, "libero_90"):
        raise ValueError(f"unknown LIBERO suite {name!r}; expected one of {(*PAPER_COLUMNS, 'libero_90')}")
    return key


def success_percent(value: Any) -> float:
    """Success rate in percent from a fraction in [0, 1] or a ``(successes, episodes)`` pair."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != 2:
            raise ValueError(f"expected (successes, episodes), got {value!r}")
        k, n = value
        if n <= 0 or not 0 <= k <= n:
            raise ValueError(f"expected 0 <= successes <= episodes and episodes > 0, got {value!r}")
        return 100.0 * k / n
    v = float(value)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"success rate must be a fraction in [0, 1] (or a (successes, episodes) pair), got {value!r}")
    return 100.0 * v


def paper_row(results: Mapping[str, Any]) -> dict[str, float | None]:
    """``{"Spatial": pct, "Object": ..., "Goal": ..., "Long": ..., "Avg": ..., ["90": ...]}``."""
    by_suite = {_suite_key(k): success_percent(v) for k, v in results.items()}
    row: dict[str, float | None] = {col: by_suite.get(s) for s, col in PAPER_COLUMNS.items()}
    four = [row[c] for c in PAPER_COLUMNS.values()]
    row["Avg"] = sum(four) / 4.0 if all(v is not None for v in four) else None  # type: ignore[misc]
    if "libero_90" in by_suite:
        row["90"] = by_suite["libero_90"]
    return row


def format_paper_table(
    results: Mapping[str, Any] | Mapping[str, Mapping[str, Any]],
    *,
    name: str = "this run",
    reference: bool = True,
) -> str:
    """Markdown table of success rates (percent, one decimal) in the papers' column order.

    ``results`` maps suite (``libero_spatial`` / ``spatial`` ...) to a fraction or a
    ``(successes, episodes)`` pair, or maps row names to such mappings for several rows.
    Missing suites print ``-``. ``reference`` adds the published Discrete Diffusion VLA row.
    """
    if not results:
        raise ValueError("results is empty: expected {suite: success rate}")
    first = next(iter(results.values()))
    rows = {str(k): v for k, v in results.items()} if isinstance(first, Mapping) else {name: results}
    table = {row_name: paper_row(r) for row_name, r in rows.items()}  # type: ignore[arg-type]
    with_90 = any("90" in r for r in table.values())
    cols = [*PAPER_COLUMNS.values(), "Avg"] + (["90"] if with_90 else [])
    if reference:
        for ref_name, values in PUBLISHED.items():
            table[ref_name] = dict(zip([*PAPER_COLUMNS.values(), "Avg"], values))
    width = max(len("Method"), *(len(k) for k in table))
    lines = [
        "| " + "Method".ljust(width) + " | " + " | ".join(c.rjust(7) for c in cols) + " |",
        "|" + "-" * (width + 2) + "|" + "|".join("-" * 8 + ":" for _ in cols) + "|",
    ]
    for row_name, row in table.items():
        cells = [("-" if row.get(c) is None else f"{row[c]:.1f}").rjust(7) for c in cols]
        lines.append("| " + row_name.ljust(width) + " | " + " | ".join(cells) + " |")
    return "\n".join(lines)
