"""Small synthetic demonstration files in the robomimic / LIBERO HDF5 layout.

Used by tests, benchmarks and smoke runs: each demo has its own instruction and background
colour, a bright square whose position encodes the timestep, smooth actions in [-0.5, 0.5]
and a gripper that closes half-way (-1 open, +1 closed).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

COLOURS = ["red", "green", "blue", "yellow", "purple", "orange", "white", "black"]
OBJECTS = ["cube", "bowl", "plate", "mug"]


def synthetic_demo(i: int, steps: int, size: int, rng: np.random.Generator) -> dict[str, np.ndarray | str]:
    t = np.arange(steps)
    dims = np.arange(6)
    arm = 0.5 * np.sin(0.6 * t[:, None] + dims[None] + 1.3 * i)
    grip = np.where(t >= steps // 2, 1.0, -1.0)[:, None]
    actions = np.concatenate([arm, grip], axis=1).astype(np.float32)
    bg = (np.array([(37 * i) % 256, (91 * i + 60) % 256, (53 * i + 120) % 256], dtype=np.uint8))
    agent = np.broadcast_to(bg, (steps, size, size, 3)).copy()
    wrist = np.broadcast_to(255 - bg, (steps, size, size, 3)).copy()
    box = max(2, size // 6)
    for k in range(steps):
        y = (k * 7) % (size - box)
        x = (k * 11 + 5 * i) % (size - box)
        agent[k, y:y + box, x:x + box] = 255
        wrist[k, x:x + box, y:y + box] = 0
    agent = np.clip(agent.astype(np.int16) + rng.integers(-3, 4, agent.shape), 0, 255).astype(np.uint8)
    proprio = np.concatenate([np.cumsum(arm[:, :3], 0) * 0.05, arm[:, 3:6] * 0.1,
                              np.repeat((grip + 1) * 0.02, 2, axis=1)], axis=1).astype(np.float32)
    instruction = f"pick up the {COLOURS[i % len(COLOURS)]} {OBJECTS[(i // len(COLOURS)) % len(OBJECTS)]}"
    return {"actions": actions, "agentview_rgb": agent, "eye_in_hand_rgb": wrist, "proprio": proprio,
            "instruction": instruction}


def write_synthetic_demos(path: str | Path, n_demos: int = 4, steps: int = 6, image_size: int = 64,
                          seed: int = 0) -> Path:
    """Write ``n_demos`` demonstrations of ``steps`` steps to an HDF5 file; returns its path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    with h5py.File(out, "w") as f:
        data = f.create_group("data")
        for i in range(n_demos):
            d = synthetic_demo(i, steps, image_size, rng)
            g = data.create_group(f"demo_{i}")
            g.attrs["instruction"] = d["instruction"]
            g.create_dataset("actions", data=d["actions"])
            obs = g.create_group("obs")
            for k in ("agentview_rgb", "eye_in_hand_rgb", "proprio"):
                obs.create_dataset(k, data=d[k])
            g.attrs["num_samples"] = steps
    return out
