"""Count the operations in a decode loop that would make the host wait for the device.

On a GPU, ``.item()``, ``.tolist()``, ``.cpu()``, ``bool(tensor)``, ``nonzero`` and indexing with
a boolean mask all block the host until the device has caught up; one such call per refinement
step is what a loop that must decide whether to stop needs, more is overhead that grows with the
number of steps. :class:`HostSyncCounter` records them on any device (CPU included), by the
operation and the line of the decoder that made it, so that tests can hold a decoder to a budget
without a GPU. Calls made inside the model (``paused``) are not the decoder's and are not counted.

    with HostSyncCounter() as c:
        masked_decode(c.wrap(model), prompt, 56, cfg, mask_id=m)
    print(len(c.events), c.by_site())
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

#: tensor methods and functions that copy a result to the host (or size an output by the data)
SYNC_OPS = frozenset({"item", "tolist", "cpu", "numpy", "__bool__", "__int__", "__float__", "__index__",
                      "nonzero", "argwhere", "masked_select", "unique", "unique_consecutive"})


def _is_bool_tensor(x: Any) -> bool:
    if isinstance(x, torch.Tensor):
        return x.dtype == torch.bool and x.dim() > 0
    if isinstance(x, tuple):
        return any(_is_bool_tensor(i) for i in x)
    return False


def _to_host(args: tuple, kwargs: dict) -> bool:
    """``tensor.to(cpu)`` from another device (a no-op on a CPU tensor; counted as ``cpu()`` is)."""
    dev = kwargs.get("device", args[1] if len(args) > 1 else None)
    if not isinstance(dev, (str, torch.device)) or torch.device(dev).type != "cpu":
        return False
    return not (isinstance(args[0], torch.Tensor) and args[0].device.type == "cpu")


class HostSyncCounter(TorchFunctionMode):
    """A torch function mode recording host-synchronising calls as ``(op, "file:line")`` events."""

    def __init__(self, package: str = "decoding") -> None:
        super().__init__()
        self.package = package
        self.events: list[tuple[str, str]] = []
        self.paused = 0

    def _site(self) -> str:
        f = sys._getframe(2)
        first = None
        while f is not None:
            name = f.f_code.co_filename
            if f"/{self.package}/" in name and not name.endswith("host_sync.py"):
                return f"{name.rsplit('/', 1)[-1]}:{f.f_lineno}"
            first = first or f"{name.rsplit('/', 1)[-1]}:{f.f_lineno}"
            f = f.f_back
        return first or "?"

    def __torch_function__(self, func: Callable, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if not self.paused:
            name = getattr(func, "__name__", "")
            sync = (name in SYNC_OPS
                    or (name in ("__getitem__", "__setitem__") and len(args) > 1 and _is_bool_tensor(args[1]))
                    or (name == "where" and len(args) == 1 and not kwargs)
                    or (name == "to" and _to_host(args, kwargs)))
            if sync:
                self.events.append((name, self._site()))
        return func(*args, **kwargs)

    def wrap(self, model: Any) -> Any:
        """``model`` with its calls (and ``prefill`` / ``step``) left out of the count. A
        ``torch.nn.Module`` is returned itself, with forward hooks that pause the count (so
        adapters that recognise `transformers` models still do)."""
        if isinstance(model, torch.nn.Module):
            model.register_forward_pre_hook(lambda *_: self._pause(1))
            model.register_forward_hook(lambda *_: self._pause(-1))
            return model
        return _Paused(model, self)

    def _pause(self, d: int) -> None:
        self.paused += d

    def by_site(self) -> dict[str, int]:
        return dict(Counter(f"{op} @ {site}" for op, site in self.events).most_common())


class _Paused:
    def __init__(self, model: Any, counter: HostSyncCounter) -> None:
        self._model, self._counter = model, counter

    def _call(self, fn: Callable, *a: Any, **k: Any) -> Any:
        self._counter.paused += 1
        try:
            return fn(*a, **k)
        finally:
            self._counter.paused -= 1

    def __call__(self, *a: Any, **k: Any) -> Any:
        return self._call(self._model, *a, **k)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._model, name)
        if name in ("prefill", "step", "forward") and callable(attr):
            return lambda *a, **k: self._call(attr, *a, **k)
        return attr
