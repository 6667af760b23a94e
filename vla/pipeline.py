"""A policy as one readable pipeline: input transforms -> model -> output transforms (openpi's shape).

A :class:`PolicyPipeline` holds named step objects, listed once and run in order on a batch
dict (``observations``, ``seed``, ``instruction``, ``info``, then whatever the steps add)::

    pipe = VLAInference.from_pretrained(path).pipeline
    print(pipe)                  # inputs: default_instruction, validate, ...; model; outputs: ..., unnormalize
    out = pipe(obs)              # PipelineOutput(actions [H, D], timing {step: s, "total": s}, info)

Every call returns, beside the actions, the seconds each step took (``timing``) and the model's
statistics (``info``: NFE, ``latency_s`` = the whole call...). The VLA steps are in
:mod:`vla.transforms` (inputs and outputs) and :mod:`vla.predict` (the model); the pipeline
itself is model-agnostic and torch-free.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar, NamedTuple

import numpy as np

Batch = dict[str, Any]


class Step:
    """One named pipeline step: ``batch -> batch``; ``params()`` is what ``repr`` shows."""

    name: ClassVar[str] = "step"

    def __call__(self, batch: Batch) -> Batch:
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


class PipelineOutput(NamedTuple):
    """Actions (``[H, D]`` for one observation, ``[B, H, D]`` for a batch), per-step seconds, model info."""

    actions: np.ndarray
    timing: dict[str, float]
    info: dict[str, Any]


class PolicyPipeline:
    """``inputs`` -> ``model`` -> ``outputs``, each a named :class:`Step`, with per-call timing."""

    def __init__(self, inputs: Sequence[Step], model: Step, outputs: Sequence[Step], seed: int = 0) -> None:
        self.inputs = list(inputs)
        self.model = model
        self.outputs = list(outputs)
        self.seed = int(seed)
        names = [s.name for s in self.steps]
        if len(set(names)) != len(names) or "total" in names:
            raise ValueError(f"pipeline steps: expected unique names other than 'total', got {names}")

    @property
    def steps(self) -> list[Step]:
        """All steps in the order they run."""
        return [*self.inputs, self.model, *self.outputs]

    def describe(self) -> list[str]:
        """One line per step, in order: ``name: Class(params)``."""
        return [f"{s.name}: {s!r}" for s in self.steps]

    def __repr__(self) -> str:
        lines = ["PolicyPipeline(", "  inputs:"]
        lines += [f"    {s.name}: {s!r}" for s in self.inputs]
        lines += ["  model:", f"    {self.model.name}: {self.model!r}", "  outputs:"]
        lines += [f"    {s.name}: {s!r}" for s in self.outputs]
        return "\n".join([*lines, ")"])

    def _start(self, observations: Sequence[Any], seed: int | None, instruction: str | None) -> Batch:
        if not isinstance(observations, list | tuple) or not observations:
            raise ValueError("observations: expected a non-empty list of observation dicts")
        return {"observations": list(observations), "seed": self.seed if seed is None else int(seed),
                "instruction": instruction, "info": {}}

    def _run(self, steps: Sequence[Step], batch: Batch, timing: dict[str, float]) -> Batch:
        for step in steps:
            t0 = time.perf_counter()
            batch = step(batch)
            timing[step.name] = time.perf_counter() - t0
        return batch

    def prepare(self, observations: Sequence[Any], instruction: str | None = None) -> Batch:
        """Run the input transforms only: the batch the model step reads."""
        return self._run(self.inputs, self._start(observations, None, instruction), {})

    def run_batch(self, observations: Sequence[Any], seed: int | None = None,
                  instruction: str | None = None) -> PipelineOutput:
        """Actions ``[B, H, D]`` for a list of observations, timing and info.

        ``seed``: the decoder's seed for every row (None: the pipeline's); ``instruction``: the
        episode's, used for observations without one (None: none is filled in).
        """
        t0 = time.perf_counter()
        timing: dict[str, float] = {}
        batch = self._run(self.steps, self._start(observations, seed, instruction), timing)
        timing["total"] = time.perf_counter() - t0
        info = dict(batch["info"])
        info["latency_s"] = timing["total"]
        return PipelineOutput(batch["actions"], timing, info)

    def __call__(self, obs: dict[str, Any], seed: int | None = None, instruction: str | None = None) -> PipelineOutput:
        """Actions ``[H, D]`` for one observation, timing and info."""
        out = self.run_batch([obs], seed, instruction)
        return out._replace(actions=out.actions[0])
