"""Envs render only observations a policy reads: same episode outcome, far fewer renders."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from policies.chunking import ChunkingConfig
from policies.runner import TIMING_FIELDS, EpisodeSpec, RolloutSetup, RolloutWorker
from policies.suites import get_suite

SHIPPED = str(Path(__file__).resolve().parent.parent / "checkpoints" / "tabletop-tiny-dd")


def _run(record_video: bool, tmp_path: Path, lazy_render: bool = True) -> tuple[dict, int]:
    protocol = replace(get_suite("tabletop").protocol(), episodes_per_task=1, max_steps=40)
    setup = RolloutSetup("policies.factories:make_suite_env", "policies.factories:make_policy", protocol,
                         env_kwargs={"suite": "tabletop"}, policy_kwargs={"spec": SHIPPED}, torch_threads=1,
                         chunking=ChunkingConfig("open_loop", None), video_dir=str(tmp_path / "videos"),
                         lazy_render=lazy_render)
    worker = RolloutWorker(setup)
    try:
        rec = worker.run(EpisodeSpec("PickCube", 0, 0, protocol.episode_seed(0, 0), 0, record_video))
        renders = worker.env("PickCube").unwrapped.render_calls
    finally:
        worker.close()
    return rec, renders


def test_lazy_rendering_keeps_the_episode_and_skips_unread_frames(tmp_path: Path) -> None:
    eager, n_eager = _run(True, tmp_path)  # a video reads every frame: every step renders
    lazy, n_lazy = _run(False, tmp_path)
    assert eager["error"] is None and lazy["error"] is None
    drop = set(TIMING_FIELDS) | {"video", "video_error"}
    assert {k: v for k, v in eager.items() if k not in drop} == {k: v for k, v in lazy.items() if k not in drop}
    steps = lazy["steps"]
    assert n_eager == 2 * (steps + 1)  # two cameras, reset + every step
    # two cameras, only the observations the policy read (+ the one after the last step when a chunk ends there)
    assert 2 * lazy["n_infer"] <= n_lazy <= 2 * (lazy["n_infer"] + 1)
    assert n_lazy < n_eager / 4
    # `vla eval --render-every-step` (the speed comparison's baseline): same episode, every step rendered
    every, n_every = _run(False, tmp_path, lazy_render=False)
    assert {k: v for k, v in every.items() if k not in drop} == {k: v for k, v in lazy.items() if k not in drop}
    assert n_every == n_eager
    assert every["time_split_s"]["render"] > lazy["time_split_s"]["render"] > 0
