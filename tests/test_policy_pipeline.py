"""The policy pipeline (vla/pipeline.py): named steps in order, per-step timing, the same actions as
VLAInference, the one observation validator, and the runner / server / ROS in-process mode on it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from vla.action_tokenizer import ActionTokenizer
from vla.checkpoint import save_checkpoint
from vla.config import VLAConfig
from vla.factory import build_tiny
from vla.inference import VLAInference
from vla.pipeline import PolicyPipeline
from vla.text_tokenizer import build_word_tokenizer
from vla.validation import ObservationError

VISION = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
LANG = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, intermediate_size=128)
TEXTS = ["pick up the red cube", "open the top drawer of the cabinet", "push"]
STEPS = ["default_instruction", "validate", "image_convention", "resize", "normalize_images", "normalize_proprio",
         "tokenize", "model", "detokenize", "clip", "unnormalize"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    tok = build_word_tokenizer(TEXTS)
    cfg = VLAConfig(horizon=4, n_bins=32, image_size=32, binary_gripper=True)
    model = build_tiny(cfg, tok, VISION, LANG, seed=0).eval()
    rng = np.random.default_rng(0)
    stats = ActionTokenizer.fit(rng.normal(size=(50, 7)) * 0.3, proprio=rng.normal(size=(50, 8)), n_bins=32,
                                binary_gripper=True)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt"), model, tok, stats)


def observation(seed: int, size: tuple[int, int] = (48, 40), instruction: str = "push") -> dict:
    rng = np.random.default_rng(seed)
    return {"agentview_rgb": rng.integers(0, 256, (*size, 3), dtype=np.uint8),
            "eye_in_hand_rgb": rng.integers(0, 256, (*size, 3), dtype=np.uint8),
            "proprio": rng.normal(size=8).astype(np.float32), "instruction": instruction}


def test_steps_are_named_and_listed_in_order(checkpoint) -> None:
    pipe = VLAInference.from_pretrained(checkpoint).pipeline
    assert isinstance(pipe, PolicyPipeline)
    assert [s.name for s in pipe.steps] == STEPS
    assert [s.name for s in pipe.inputs] == STEPS[:7] and pipe.model.name == "model" and len(pipe.outputs) == 3
    lines = pipe.describe()
    assert [line.split(":")[0] for line in lines] == STEPS
    assert "ResizeImages(cameras=('agentview_rgb', 'eye_in_hand_rgb'), size=32)" in lines[3]
    assert "binary_gripper=True" in lines[-1]
    text = repr(pipe)
    assert text.index("inputs:") < text.index("validate:") < text.index("model:") < text.index("outputs:") < text.index("unnormalize:")


def test_timing_per_step_and_actions_equal_vla_inference(checkpoint) -> None:
    inference = VLAInference.from_pretrained(checkpoint, decoder={"steps": 3})
    obs = observation(1)
    actions, timing, info = inference.pipeline(obs)
    assert actions.dtype == np.float32 and actions.shape == (4, 7)
    assert list(timing) == [*STEPS, "total"]
    assert all(v >= 0 for v in timing.values())
    assert timing["total"] >= sum(timing[s] for s in STEPS) * 0.999
    assert info["nfe"] == 3 and info["latency_s"] == timing["total"] and info["head"] == "diffusion"
    expected, pinfo = inference.predict(obs)
    np.testing.assert_array_equal(actions, expected)
    assert set(pinfo["timing_s"]) == {*STEPS, "total"}
    assert set(np.unique(actions[:, -1])) <= {-1.0, 1.0}  # unnormalize: binary gripper
    batch = inference.pipeline.run_batch([obs, observation(2, (64, 64), "pick up the red cube")], seed=0)
    assert batch.actions.shape == (2, 4, 7)
    np.testing.assert_array_equal(batch.actions[0], actions)


def test_default_instruction_and_image_convention_steps(checkpoint) -> None:
    inference = VLAInference.from_pretrained(checkpoint)
    obs = observation(3, instruction="open the top drawer of the cabinet")
    bare = {k: v for k, v in obs.items() if k != "instruction"}
    with pytest.raises(ObservationError, match="instruction: expected a non-empty string"):
        inference.pipeline(bare)
    np.testing.assert_array_equal(inference.pipeline(bare, instruction=obs["instruction"]).actions,
                                  inference.pipeline(obs).actions)
    rotated = {**obs, **{k: np.ascontiguousarray(obs[k][::-1, ::-1]) for k in ("agentview_rgb", "eye_in_hand_rgb")}}
    rot_pipe = inference.build_pipeline(image_flip="rot180")
    np.testing.assert_array_equal(rot_pipe(rotated).actions, inference.pipeline(obs).actions)
    with pytest.raises(ValueError, match="image_flip 'upside'"):
        inference.build_pipeline(image_flip="upside")


@pytest.mark.parametrize("change, field, message", [
    ({"proprio": np.zeros(6)}, "proprio", r"'proprio' must have shape \[8\] \(proprio: expected shape \(8,\), got \(6,\)\)"),
    ({"agentview_rgb": np.zeros((32, 32, 3), np.float32)}, "agentview_rgb", "'agentview_rgb' must have dtype uint8"),
    ({"eye_in_hand_rgb": np.zeros((4, 32, 3), np.uint8)}, "eye_in_hand_rgb", r"H, W >= 8, got \(4, 32, 3\)"),
    ({"proprio": [0.0] * 7 + [float("inf")]}, "proprio", "'proprio' contains NaN or inf"),
    ({"proprio": ["a"] * 8}, "proprio", "'proprio' must be numeric"),
    ({"instruction": ""}, "instruction", "'instruction' must be a non-empty string"),
], ids=["proprio-shape", "float-image", "small-image", "proprio-inf", "proprio-str", "empty-instruction"])
def test_bad_observation_raises_the_one_validators_error(checkpoint, change, field, message) -> None:
    pipe = VLAInference.from_pretrained(checkpoint).pipeline
    with pytest.raises(ObservationError, match=message) as err:
        pipe({**observation(4), **change})
    assert err.value.field == field
    with pytest.raises(ObservationError, match="observation: expected a dict with keys"):
        pipe([1, 2])


def test_policies_observation_reexports_the_one_validator() -> None:
    import policies.observation as po
    import vla.validation as vv

    assert po.validate_observation is vv.validate_observation and po.ObservationError is vv.ObservationError
    obs = observation(5)
    po.validate_observation(obs)  # the expert's check: no instruction needed, small images fine
    po.validate_observation({**obs, "agentview_rgb": np.zeros((2, 2, 3), np.uint8), "instruction": None})
    with pytest.raises(po.ObservationError, match="'eye_in_hand_rgb' is missing"):
        po.validate_observation({k: v for k, v in obs.items() if k != "eye_in_hand_rgb"})


def test_vla_policy_from_make_policy_runs_its_pipeline(checkpoint) -> None:
    from policies.factories import make_policy

    policy = make_policy(None, "PickCube", spec=f"checkpoint:path={checkpoint}")
    assert [s.name for s in policy.pipeline.steps] == STEPS
    assert policy.metadata()["pipeline"] == STEPS
    obs = observation(6, instruction="push")
    policy.reset("push")
    actions = policy.infer({k: v for k, v in obs.items() if k != "instruction"})
    np.testing.assert_array_equal(actions, policy.inference.predict(obs)[0])
    stats = policy.last_infer_stats()
    assert set(stats["timing_s"]) == {*STEPS, "total"} and stats["nfe"] >= 1


def test_server_replies_with_the_pipelines_actions_and_step_timing(checkpoint) -> None:
    from hardware.client import PolicyClient
    from policies.load import load_policy
    from policies.server import PolicyServer

    policy = load_policy(f"checkpoint:path={checkpoint}")
    obs = observation(7, instruction="pick up the red cube")
    expected = policy.inference.pipeline(obs).actions
    with PolicyServer(policy, port=0) as server, PolicyClient(server.url, timeout_s=60) as client:
        assert client.get_server_metadata()["pipeline"] == STEPS
        reply = client.infer(obs)
    np.testing.assert_array_equal(reply["actions"], expected)
    timing = reply["policy_timing"]["timing_s"]
    assert set(timing) == {*STEPS, "total"} and all(v >= 0 for v in timing.values())
    assert reply["server_timing"]["infer_ms"] >= timing["total"] * 1000 * 0.999


def test_ros_bridge_in_process_source_runs_the_pipeline(checkpoint) -> None:
    from hardware.action_source import LocalSource, make_source
    from hardware.bridge_config import PolicySourceConfig
    from policies.ros_bridge_cli import load_policy

    source = make_source(PolicySourceConfig(local=f"checkpoint:path={checkpoint}"), load_policy=load_policy)
    assert isinstance(source, LocalSource) and [s.name for s in source.policy.pipeline.steps] == STEPS
    obs = observation(8, instruction="push")
    source.reset("push")
    np.testing.assert_array_equal(source.infer(obs), source.policy.inference.pipeline(obs).actions)
    assert set(source.policy.last_infer_stats()["timing_s"]) == {*STEPS, "total"}


def test_runner_episode_runs_the_checkpoints_pipeline(checkpoint) -> None:
    from policies.runner import EpisodeSpec, RolloutSetup, RolloutWorker
    from policies.suites import get_suite

    protocol = get_suite("tabletop").protocol()
    protocol = replace(protocol, tasks=protocol.tasks[:1], max_steps=5)
    setup = RolloutSetup("policies.factories:make_suite_env", "policies.factories:make_policy", protocol,
                         policy_kwargs={"spec": f"checkpoint:path={checkpoint}"})
    worker = RolloutWorker(setup)
    try:
        task = protocol.tasks[0]
        rec = worker.run(EpisodeSpec(task=task, task_index=0, episode=0, seed=0, init_state_index=0))
        policy = worker.policy(task)
    finally:
        worker.close()
    assert rec["error"] is None and rec["steps"] == 5 and rec["n_infer"] == 2  # chunks of 4 steps
    assert [s.name for s in policy.pipeline.steps] == STEPS
    assert set(policy.last_infer_stats()["timing_s"]) == {*STEPS, "total"}


def test_checkpoint_decoder_json_sets_the_default_decoder_and_an_explicit_one_overrides_it(checkpoint, tmp_path) -> None:
    import json
    import shutil

    ckpt = Path(shutil.copytree(checkpoint, tmp_path / "ckpt"))
    obs = observation(4)
    assert VLAInference.from_pretrained(ckpt).predict(obs)[1]["nfe"] == 12  # the head's default: cosine T=12
    (ckpt / "decoder.json").write_text(json.dumps({"steps": 2}))
    inference = VLAInference.from_pretrained(ckpt)
    assert inference.decoder_dict == {"steps": 2} and inference.predict(obs)[1]["nfe"] == 2
    assert VLAInference.from_pretrained(ckpt, decoder={"steps": 5}).predict(obs)[1]["nfe"] == 5
    (ckpt / "decoder.json").write_text("[2]")
    with pytest.raises(ValueError, match="decoder.json: expected a JSON object of decoder options"):
        VLAInference.from_pretrained(ckpt)
    (ckpt / "decoder.json").write_text(json.dumps({"stepz": 2}))
    with pytest.raises(ValueError, match="stepz"):
        VLAInference.from_pretrained(ckpt)
