"""Wire format of the policy server: msgpack with numpy arrays, compatible with openpi.

numpy arrays travel as maps ``{b"__ndarray__": True, b"data": raw bytes, b"dtype": dtype.str,
b"shape": shape}`` and numpy scalars as ``{b"__npgeneric__": True, b"data": item, b"dtype":
dtype.str}`` -- exactly what the PyPI ``openpi-client`` (``openpi_client.msgpack_numpy``) packs
and unpacks. Object, void and complex dtypes are refused in both directions (no pickle, ever),
and decoding validates every array (dtype, shape, byte count), so a hostile or truncated
message raises :class:`WireError` with a clear reason instead of crashing or allocating freely.

Runs under the robot's Python (3.8+): numpy and msgpack only.
"""

from __future__ import annotations

from typing import Any

import msgpack
import numpy as np

#: dtype kinds that never travel: object (pickle), void (structured), complex
REFUSED_KINDS = ("O", "V", "c")
#: default bound on one message (bytes); the server and client both enforce it
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
#: most dimensions an array on the wire may have
MAX_NDIM = 16


class WireError(ValueError):
    """A message that does not decode to a valid observation / response."""


def _pack_default(obj: Any) -> Any:
    if isinstance(obj, (np.ndarray, np.generic)) and obj.dtype.kind in REFUSED_KINDS:
        raise WireError(f"unsupported dtype {obj.dtype} (object/void/complex arrays are refused)")
    if isinstance(obj, np.ndarray):
        return {
            b"__ndarray__": True,
            b"data": np.ascontiguousarray(obj).tobytes(),
            b"dtype": obj.dtype.str,
            b"shape": list(obj.shape),
        }
    if isinstance(obj, np.generic):
        return {b"__npgeneric__": True, b"data": obj.item(), b"dtype": obj.dtype.str}
    raise TypeError(f"cannot serialize object of type {type(obj).__name__}")


def _dtype(value: Any) -> np.dtype:
    if not isinstance(value, (str, bytes)):
        raise WireError(f"array dtype must be a string like '<f4', got {type(value).__name__}")
    try:
        dt = np.dtype(value.decode() if isinstance(value, bytes) else value)
    except TypeError as e:
        raise WireError(f"unknown array dtype {value!r}") from e
    if dt.kind in REFUSED_KINDS or dt.hasobject:
        raise WireError(f"unsupported dtype {dt} (object/void/complex arrays are refused)")
    return dt


def _unpack_hook(obj: dict) -> Any:
    if b"__ndarray__" in obj:
        dt = _dtype(obj.get(b"dtype"))
        shape = obj.get(b"shape")
        data = obj.get(b"data")
        if not isinstance(shape, (list, tuple)) or len(shape) > MAX_NDIM:
            raise WireError(f"array shape must be a list of at most {MAX_NDIM} ints, got {shape!r}")
        if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape):
            raise WireError(f"array shape must hold non-negative ints, got {shape!r}")
        if not isinstance(data, (bytes, bytearray)):
            raise WireError(f"array data must be bytes, got {type(data).__name__}")
        expected = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
        if len(data) != expected:
            raise WireError(
                f"array data has {len(data)} bytes, expected {expected} for shape {list(shape)} dtype {dt.str}"
            )
        return np.frombuffer(data, dtype=dt).reshape(shape)
    if b"__npgeneric__" in obj:
        dt = _dtype(obj.get(b"dtype"))
        try:
            return dt.type(obj.get(b"data"))
        except (TypeError, ValueError, OverflowError) as e:
            raise WireError(f"bad numpy scalar of dtype {dt.str}: {e}") from e
    return obj


def packb(obj: Any) -> bytes:
    """Serialize ``obj`` (dicts, lists, str, numbers, numpy arrays and scalars) to msgpack bytes."""
    return msgpack.packb(obj, default=_pack_default, use_bin_type=True)


def unpackb(data: bytes, max_bytes: int | None = DEFAULT_MAX_MESSAGE_BYTES) -> Any:
    """Decode msgpack bytes produced by :func:`packb` or openpi-client; raise :class:`WireError`."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise WireError(f"expected a binary msgpack frame, got {type(data).__name__}")
    if max_bytes is not None and len(data) > max_bytes:
        raise WireError(f"message of {len(data)} bytes exceeds the limit of {max_bytes} bytes")
    try:
        return msgpack.unpackb(bytes(data), object_hook=_unpack_hook, raw=False, strict_map_key=False)
    except WireError:
        raise
    except (msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as e:
        raise WireError(f"malformed msgpack: {e}") from e
    except ValueError as e:  # truncated input, bad utf-8, ...
        raise WireError(f"malformed msgpack: {e}") from e
    except Exception as e:  # noqa: BLE001 - any decoder failure is a bad message, never a crash
        raise WireError(f"malformed msgpack: {type(e).__name__}: {e}") from e


def decode_observation(data: bytes, max_bytes: int | None = DEFAULT_MAX_MESSAGE_BYTES) -> dict[str, Any]:
    """Decode one observation frame: a msgpack map with string keys."""
    obs = unpackb(data, max_bytes=max_bytes)
    if not isinstance(obs, dict):
        raise WireError(f"observation must be a msgpack map, got {type(obs).__name__}")
    bad = [k for k in obs if not isinstance(k, str)]
    if bad:
        raise WireError(f"observation keys must be strings, got {bad[:3]!r}")
    return obs
