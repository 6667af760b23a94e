"""Configuration of the ROS bridge: topics, rates, limits, policy source; from YAML or JSON.

Every field has a default, so a config file names only what differs. Unknown keys and wrong
types are refused with the field's dotted name and what was expected. Example (YAML)::

    control_rate_hz: 20
    action_mode: eef_delta          # or "joint" (JointTrajectory)
    cameras:
      - {key: agentview_rgb, topic: /camera/image_raw}
      - {key: eye_in_hand_rgb, topic: /wrist/image/compressed, compressed: true}
    eef_pose_topic: /robot/eef_pose
    joint_state_topic: /joint_states
    policy: {server: "ws://gpu-box:8000", api_key_env: VLA_API_KEY}
    safety: {low: -1, high: 1, max_delta: 0.5}

Runs under the robot's Python (3.8+): stdlib, plus PyYAML for ``.yaml`` files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from hardware.safety import SafetyLimits


@dataclass
class CameraConfig:
    """One camera stream: observation key, topic, message type."""

    key: str
    topic: str
    #: ``sensor_msgs/CompressedImage`` instead of ``sensor_msgs/Image``
    compressed: bool = False
    #: stale after this many seconds without a frame (default: the bridge's ``obs_timeout_s``)
    timeout_s: float | None = None
    #: rotate 180 degrees (``img[::-1, ::-1]``) before the policy sees it (LIBERO convention)
    rotate_180: bool = False


@dataclass
class PolicySourceConfig:
    """Where actions come from: a policy server (``server``) or an in-process policy (``local``)."""

    server: str | None = None
    local: str | None = None
    api_key_env: str | None = None
    #: one ``infer`` round trip longer than this is abandoned (the robot holds meanwhile)
    timeout_s: float = 2.0


@dataclass
class BridgeConfig:
    """All settings of one bridge node."""

    node_name: str = "vla_bridge"
    control_rate_hz: float = 20.0
    #: "eef_delta": TwistStamped + gripper Float64; "joint": trajectory_msgs/JointTrajectory
    action_mode: str = "eef_delta"
    action_dim: int = 7
    cameras: list[CameraConfig] = field(default_factory=list)
    joint_state_topic: str | None = None
    #: joints (in this order) that form ``joint_positions`` and the JointTrajectory
    joint_names: list[str] = field(default_factory=list)
    #: gripper joints whose positions are appended to ``proprio``
    gripper_joint_names: list[str] = field(default_factory=list)
    eef_pose_topic: str | None = None
    instruction_topic: str = "/vla/instruction"
    default_instruction: str = ""
    estop_topic: str = "/vla/estop"
    twist_topic: str = "/vla/cmd_twist"
    twist_frame_id: str = "base_link"
    #: twist = action[0:3] * linear_scale, action[3:6] * angular_scale
    linear_scale: float = 1.0
    angular_scale: float = 1.0
    gripper_topic: str = "/vla/cmd_gripper"
    trajectory_topic: str = "/vla/cmd_joint_trajectory"
    #: joint mode: actions are "absolute" joint targets or "delta" from the current positions
    joint_action: str = "absolute"
    status_topic: str = "/vla/status"
    status_rate_hz: float = 2.0
    service_prefix: str = "/vla"
    #: observation streams older than this are stale -> hold
    obs_timeout_s: float = 0.5
    #: actions computed from observations older than this are discarded
    max_chunk_age_s: float = 1.0
    #: execute at most this many actions of each chunk (0: all of them)
    actions_per_chunk: int = 0
    #: request the next chunk when this many actions (or fewer) are left
    prefetch: int = 1
    #: start sending commands without waiting for the start service
    autostart: bool = False
    policy: PolicySourceConfig = field(default_factory=PolicySourceConfig)
    safety: dict[str, Any] = field(default_factory=dict)

    # -- derived --------------------------------------------------------------------------
    @property
    def period_s(self) -> float:
        return 1.0 / self.control_rate_hz

    def limits(self) -> SafetyLimits:
        return SafetyLimits.from_dict(self.safety, self.action_dim)

    def service(self, name: str) -> str:
        return self.service_prefix.rstrip("/") + "/" + name

    def watched_streams(self) -> dict[str, float]:
        """Observation streams the watchdog guards, with their timeouts."""
        out = {c.key: (c.timeout_s or self.obs_timeout_s) for c in self.cameras}
        if self.joint_state_topic:
            out["joint_state"] = self.obs_timeout_s
        if self.eef_pose_topic:
            out["eef_pose"] = self.obs_timeout_s
        return out

    # -- loading --------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BridgeConfig:
        if not isinstance(d, dict):
            raise ValueError(f"bridge config must be a map, got {type(d).__name__}")
        cfg = _build(cls, d, "")
        cfg.validate()
        return cfg

    @classmethod
    def load(cls, path: str | Path) -> BridgeConfig:
        """Read a ``.yaml`` / ``.yml`` or ``.json`` file."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"bridge config not found: {path}")
        text = path.read_text()
        if path.suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError as e:
                raise ValueError(f"{path}: reading YAML needs PyYAML (or use a .json config)") from e
            data = yaml.safe_load(text) or {}
        else:
            data = json.loads(text)
        try:
            return cls.from_dict(data)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from e

    def validate(self) -> None:
        def need(ok: bool, what: str) -> None:
            if not ok:
                raise ValueError(what)

        need(self.control_rate_hz > 0, f"control_rate_hz must be > 0, got {self.control_rate_hz}")
        need(self.action_mode in ("eef_delta", "joint"), f"action_mode must be 'eef_delta' or 'joint', got {self.action_mode!r}")
        need(self.action_dim >= 1, f"action_dim must be >= 1, got {self.action_dim}")
        if self.action_mode == "eef_delta":
            need(self.action_dim in (6, 7), f"action_mode eef_delta needs action_dim 6 or 7, got {self.action_dim}")
        else:
            need(len(self.joint_names) == self.action_dim, f"action_mode joint needs joint_names with action_dim={self.action_dim} names, got {self.joint_names}")
            need(bool(self.joint_state_topic), "action_mode joint needs joint_state_topic")
        need(self.joint_action in ("absolute", "delta"), f"joint_action must be 'absolute' or 'delta', got {self.joint_action!r}")
        need(self.obs_timeout_s > 0, f"obs_timeout_s must be > 0, got {self.obs_timeout_s}")
        need(self.max_chunk_age_s > 0, f"max_chunk_age_s must be > 0, got {self.max_chunk_age_s}")
        need(self.actions_per_chunk >= 0, f"actions_per_chunk must be >= 0, got {self.actions_per_chunk}")
        need(self.prefetch >= 0, f"prefetch must be >= 0, got {self.prefetch}")
        need(self.status_rate_hz >= 0, f"status_rate_hz must be >= 0, got {self.status_rate_hz}")
        keys = [c.key for c in self.cameras]
        need(len(set(keys)) == len(keys), f"cameras: duplicate key in {keys}")
        need(bool(self.cameras or self.joint_state_topic or self.eef_pose_topic), "config needs at least one of cameras, joint_state_topic, eef_pose_topic")
        p = self.policy
        need((p.server is None) != (p.local is None), "policy: set exactly one of policy.server (ws://host:port) or policy.local (a policy spec)")
        need(p.timeout_s > 0, f"policy.timeout_s must be > 0, got {p.timeout_s}")
        self.limits()  # validates safety.*


_TYPES: dict[str, tuple] = {
    "str": (str,),
    "str | None": (str, type(None)),
    "bool": (bool,),
    "int": (int,),
    "float": (int, float),
    "float | None": (int, float, type(None)),
    "list[str]": (list,),
    "dict[str, Any]": (dict,),
}


def _build(cls: type, d: dict[str, Any], prefix: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(d) - set(known))
    if unknown:
        raise ValueError(f"unknown config key(s) {[prefix + k for k in unknown]}; known: {sorted(known)}")
    kwargs: dict[str, Any] = {}
    for key, value in d.items():
        name = prefix + key
        if key == "cameras":
            if not isinstance(value, list):
                raise ValueError(f"{name} must be a list of camera maps, got {type(value).__name__}")
            kwargs[key] = [_camera(v, f"{name}[{i}].") for i, v in enumerate(value)]
            continue
        if key == "policy" and cls is BridgeConfig:
            if not isinstance(value, dict):
                raise ValueError(f"{name} must be a map with 'server' or 'local', got {type(value).__name__}")
            kwargs[key] = _build(PolicySourceConfig, value, name + ".")
            continue
        expected = _TYPES.get(str(known[key].type))
        bad_bool = isinstance(value, bool) and str(known[key].type) in ("int", "float", "float | None")
        if expected is not None and (not isinstance(value, expected) or bad_bool):
            raise ValueError(f"{name} must be {known[key].type}, got {value!r}")
        if str(known[key].type) == "list[str]" and not all(isinstance(v, str) for v in value):
            raise ValueError(f"{name} must be a list of strings, got {value!r}")
        kwargs[key] = value
    return cls(**kwargs)


def _camera(value: Any, prefix: str) -> CameraConfig:
    if not isinstance(value, dict):
        raise ValueError(f"{prefix[:-1]} must be a map with key and topic, got {value!r}")
    for req in ("key", "topic"):
        if req not in value:
            raise ValueError(f"{prefix}{req} is required")
    return _build(CameraConfig, value, prefix)
