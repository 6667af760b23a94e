"""Closed-loop rollouts: one episode of one task under a suite's :class:`EvalProtocol`.

:class:`RolloutSetup` is a picklable description of *what* to run (env and policy factories,
protocol, chunk execution, video folder); :class:`RolloutWorker` builds the envs and policies
from it once per process and turns an :class:`EpisodeSpec` into an episode record (a JSON
dict). Everything that decides an episode's outcome comes from the spec (task, init state,
seed), never from the worker or the order, so results do not depend on how many workers run.

Per episode: reseed (Python, numpy, torch and the env with the episode seed), reset the env to
the episode's init state, ``policy.reset(instruction)``, ``wait_steps`` steps with the dummy
action, then up to ``max_steps`` control steps (policy chunks executed by the scheduler,
actions clipped to the action space), stopping at the first ``info["success"]``. Any exception
raised by the policy (e.g. an :class:`~policies.observation.ObservationError`) or the env ends
the episode as *errored* with the message recorded; the run continues.
"""

from __future__ import annotations

import importlib
import os
import random
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from envs.protocol import EvalProtocol
from policies.base import Policy
from policies.chunking import ActionClipper, ChunkingConfig
from policies.grasp_outcome import GraspTracker
from policies.observation import apply_image_flip

#: record fields that are measurements of time, excluded when comparing runs for equality
TIMING_FIELDS = ("wall_time_s", "mean_latency_s", "mean_latency_steps", "worker_pid", "worker_node", "video",
                 "time_split_s")


@dataclass(frozen=True)
class EpisodeSpec:
    """One episode to run: task, its index in the suite, episode index, seed, init state."""

    task: str
    task_index: int
    episode: int
    seed: int
    init_state_index: int
    record_video: bool = False

    @property
    def key(self) -> tuple[str, int]:
        return (self.task, self.episode)


def plan_episodes(
    protocol: EvalProtocol, tasks: list[str] | None = None, videos_per_task: int = 0
) -> list[EpisodeSpec]:
    """All episodes of ``protocol`` (optionally a subset of its tasks), episode ``i`` from init state ``i``."""
    chosen = list(protocol.tasks) if not tasks else list(tasks)
    specs = []
    for task in chosen:
        if task not in protocol.tasks:
            raise ValueError(f"task {task!r} is not in suite {protocol.suite!r}; expected one of {list(protocol.tasks)}")
        ti = protocol.tasks.index(task)
        for ep in range(protocol.episodes_per_task):
            specs.append(EpisodeSpec(task, ti, ep, protocol.episode_seed(ti, ep), ep, ep < videos_per_task))
    return specs


def resolve(obj: str | Callable[..., Any]) -> Callable[..., Any]:
    """``"package.module:attr"`` -> the attribute; callables pass through."""
    if callable(obj):
        return obj
    if not isinstance(obj, str) or ":" not in obj:
        raise ValueError(f"factory {obj!r}: expected 'module:function' or a callable")
    mod, attr = obj.split(":", 1)
    return getattr(importlib.import_module(mod), attr)


@dataclass(frozen=True)
class RolloutSetup:
    """Everything a worker needs to run episodes; picklable (factories as 'module:function').

    ``env_factory(task, protocol, **env_kwargs) -> gymnasium.Env`` and
    ``policy_factory(env, task, **policy_kwargs) -> Policy``.
    """

    env_factory: str | Callable[..., Any]
    policy_factory: str | Callable[..., Any]
    protocol: EvalProtocol
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    policy_kwargs: dict[str, Any] = field(default_factory=dict)
    chunking: ChunkingConfig = field(default_factory=ChunkingConfig)
    video_dir: str | None = None
    video_fps: int = 20
    torch_threads: int | None = None
    clip_actions: bool = True
    #: envs that support it render only observations the policy will read (False: every step)
    lazy_render: bool = True


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and (if loaded) torch with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def video_name(spec: EpisodeSpec, outcome: str) -> str:
    """File name of an episode video: ``<task>__ep<NNN>__<success|failure|error>.mp4``."""
    return f"{spec.task}__ep{spec.episode:03d}__{outcome}.mp4"


def write_video(frames: list[np.ndarray], path: Path, fps: int = 20) -> None:
    """Write frames to an MP4 atomically (temporary file then rename)."""
    import imageio.v2 as imageio

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.mp4")
    with imageio.get_writer(str(tmp), fps=fps, codec="libx264", quality=7, macro_block_size=1) as w:
        for f in frames:
            w.append_data(f)
    os.replace(tmp, path)


def _frame(obs: Any, env: Any) -> np.ndarray | None:
    if isinstance(obs, dict):
        for key in ("agentview_rgb", *sorted(k for k in obs if k.endswith("_rgb"))):
            img = obs.get(key)
            if isinstance(img, np.ndarray) and img.ndim == 3:
                return img
    try:
        img = env.render()
    except Exception:  # noqa: BLE001 - envs without rendering simply give no video
        return None
    return img if isinstance(img, np.ndarray) else None


def _time_split(t_policy: float, t_env: float, render0: float | None, env: Any) -> dict[str, float | None]:
    """Seconds of the episode in policy inference, env stepping and (envs that count it) rendering."""
    render1 = getattr(getattr(env, "unwrapped", None), "render_seconds", None)
    render = render1 - render0 if render0 is not None and render1 is not None else None
    return {"policy": t_policy, "env_step": t_env - (render or 0.0), "render": render}


class RolloutWorker:
    """Runs episodes for one :class:`RolloutSetup`; envs and policies are built once per task."""

    def __init__(self, setup: RolloutSetup, max_envs: int = 1) -> None:
        self.setup = setup
        self.max_envs = max(1, int(max_envs))
        if setup.torch_threads:
            import torch

            torch.set_num_threads(int(setup.torch_threads))
        self._envs: dict[str, Any] = {}
        self._policies: dict[str, Policy] = {}

    def env(self, task: str) -> Any:
        """The env of ``task``; only ``max_envs`` envs stay open (episodes arrive grouped by task)."""
        if task not in self._envs:
            while len(self._envs) >= self.max_envs:
                old, env = next(iter(self._envs.items()))
                self._policies.pop(old, None)
                del self._envs[old]
                try:
                    env.close()
                except Exception:  # noqa: BLE001
                    pass
            self._envs[task] = resolve(self.setup.env_factory)(task, self.setup.protocol, **self.setup.env_kwargs)
        return self._envs[task]

    def policy(self, task: str) -> Policy:
        if task not in self._policies:
            self._policies[task] = resolve(self.setup.policy_factory)(self.env(task), task, **self.setup.policy_kwargs)
        return self._policies[task]

    def close(self) -> None:
        for env in self._envs.values():
            try:
                env.close()
            except Exception:  # noqa: BLE001
                pass
        self._envs.clear()

    def run(self, spec: EpisodeSpec) -> dict[str, Any]:
        """Run one episode and return its record (never raises for policy or env errors)."""
        p = self.setup.protocol
        t0 = time.perf_counter()
        rec: dict[str, Any] = {
            "task": spec.task,
            "task_index": spec.task_index,
            "episode": spec.episode,
            "seed": spec.seed,
            "init_state_index": spec.init_state_index,
            "success": False,
            "steps": 0,
            "error": None,
        }
        frames: list[np.ndarray] = []
        scheduler = None
        clipper = None
        tracker = None
        t_policy = t_env = 0.0
        render0 = None
        try:
            env = self.env(spec.task)
            policy = self.policy(spec.task)
            render0 = getattr(env.unwrapped, "render_seconds", None)
            seed_everything(spec.seed)
            if callable(getattr(policy, "reseed", None)):
                policy.reseed(spec.seed)
            t = time.perf_counter()
            obs, info = env.reset(seed=spec.seed, options={"init_state_index": spec.init_state_index})
            instruction = obs.get("instruction", "") if isinstance(obs, dict) else ""
            rec["instruction"] = instruction
            tracker = GraspTracker(env)
            policy.reset(instruction)
            scheduler = self.setup.chunking.build(policy)
            scheduler.reset()
            clipper = ActionClipper.from_space(env.action_space) if self.setup.clip_actions else None
            dummy = np.asarray(p.dummy_action, dtype=np.float64)
            for _ in range(p.wait_steps):
                obs, _, _, _, info = env.step(dummy)
            t_env += time.perf_counter() - t
            if spec.record_video:
                f = _frame(obs, env)
                if f is not None:
                    frames.append(f)
            # the protocol's image convention is applied once: by the env when it says so, else here
            flip = "none" if getattr(env.unwrapped, "image_flip_applied", False) else p.image_flip
            lazy = self.setup.lazy_render and hasattr(env.unwrapped, "render_next") and not spec.record_video
            for _ in range(p.max_steps):
                t = time.perf_counter()
                action = scheduler.act(apply_image_flip(obs, flip) if isinstance(obs, dict) else obs)
                t_policy += time.perf_counter() - t
                if clipper is not None:
                    action = clipper(action)
                if lazy:  # render only observations the policy will read
                    env.unwrapped.render_next = scheduler.needs_next_observation()
                t = time.perf_counter()
                obs, _, terminated, truncated, info = env.step(action)
                t_env += time.perf_counter() - t
                tracker.step(action, obs)
                rec["steps"] += 1
                if spec.record_video:
                    f = _frame(obs, env)
                    if f is not None:
                        frames.append(f)
                if info.get("success"):
                    rec["success"] = True
                    break
                if terminated or truncated:
                    break
        except Exception as e:  # noqa: BLE001 - recorded, the run continues
            rec["success"] = False
            rec["error"] = f"{type(e).__name__}: {e}"
            rec["traceback"] = traceback.format_exc(limit=6)
        if tracker is not None and not rec["error"]:
            rec.update(tracker.record(rec["success"]))
        stats = scheduler.stats if scheduler is not None else None
        rec.update(
            n_infer=stats.n_infer if stats else 0,
            mean_nfe=stats.mean_nfe() if stats else None,
            max_nfe=stats.max_nfe() if stats else None,
            nfe_per_chunk=stats.nfe_per_call() if stats else [],
            mean_latency_s=stats.mean_latency_s() if stats else None,
            mean_latency_steps=stats.mean_latency_steps() if stats else None,
            clipped_steps=clipper.clipped_steps if clipper else 0,
            wall_time_s=time.perf_counter() - t0,
            time_split_s=_time_split(t_policy, t_env, render0, self._envs.get(spec.task)),
            worker_pid=os.getpid(),
            video=None,
        )
        if spec.record_video and frames and self.setup.video_dir:
            outcome = "error" if rec["error"] else ("success" if rec["success"] else "failure")
            path = Path(self.setup.video_dir) / video_name(spec, outcome)
            try:
                write_video(frames, path, self.setup.video_fps)
                rec["video"] = str(path)
            except Exception as e:  # noqa: BLE001 - a failed video never loses the episode
                rec["video_error"] = f"{type(e).__name__}: {e}"
        return rec
