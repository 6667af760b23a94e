"""Held-out diagnostics: demos record target / goal positions, training logs diagnostics on a
held-out split, and `vla diagnose` prints the same table (real tabletop demos)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from envs.collect import collect
from vla.checkpoint import load_checkpoint
from vla.diagnose import _derangement, diagnose, split_holdout
from vla.diagnose import main as diagnose_main
from vla.factory import build_tiny
from vla.hdf5_demos import load_demos
from vla.train_cli import main as train_main

SMALL = ["--image-size", "32", "--horizon", "2", "--n-bins", "16", "--hidden-size", "32", "--layers", "1",
         "--heads", "2", "--vision-arch", "resnet", "--vision-hidden-size", "16", "--vision-layers", "1",
         "--image-pool", "1", "--image-coords", "16", "--prefix-order", "text_first", "--action-slot-embed",
         "--no-progress", "--batch-size", "4", "--lr", "3e-3", "--warmup-steps", "1", "--crop-area", "1.0"]


@pytest.fixture(scope="module")
def demos_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demos")
    collect("tabletop-10", 3, out, tasks=["PickCube", "StackCubes"], image_size=32, progress=False)
    return out


def test_demos_record_target_and_goal_positions(demos_dir: Path) -> None:
    with h5py.File(demos_dir / "StackCubes_demo.hdf5") as f:
        g = f["data/demo_0"]
        tgt, goal = np.asarray(g["obs/target_pos"]), np.asarray(g["obs/goal_pos"])
        assert tgt.shape == goal.shape == (len(g["actions"]), 3)
        assert np.linalg.norm(tgt[0, :2] - goal[0, :2]) > 0.03  # two different cubes on the table
        assert tgt[-1, 2] > tgt[0, 2] + 0.02  # the target ends up stacked, higher than it started
    with h5py.File(demos_dir / "PickCube_demo.hdf5") as f:  # no goal object: goal = target
        g = f["data/demo_0"]
        np.testing.assert_array_equal(g["obs/target_pos"], g["obs/goal_pos"])
    demos = load_demos(demos_dir)
    assert all(d.points is not None and d.points.shape == (len(d.actions), 2, 3) for d in demos)
    train, held = split_holdout(demos, 1)
    assert len(train) == 4 and len(held) == 2 and {d.source for d in held}.isdisjoint(d.source for d in train)
    with pytest.raises(ValueError, match="holdout"):
        split_holdout(demos, 3)


def test_derangement_moves_every_frame() -> None:
    for n in (2, 5, 64):
        perm = _derangement(n, 0)
        assert sorted(perm.tolist()) == list(range(n)) and bool((perm != torch.arange(n)).all())


def test_training_logs_diagnostics_and_the_command_prints_them(demos_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "ckpt"
    assert train_main(["--data", str(demos_dir), "--out", str(out), "--steps", "2", "--ground-points", "2",
                       "--ground-relative", "--holdout", "1", "--diagnose-every", "2", "--diagnose-frames", "16",
                       *SMALL]) == 0
    rows = [json.loads(x) for x in (out / "diagnostics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2]
    d = rows[0]
    assert set(d["sensitivity_xyz"]) == {"images", "agentview", "wrist", "instruction", "proprio"}
    assert len(d["ground_err_cm"]) == 4 and all(np.isfinite(d["ground_err_cm"]))
    assert "diagnose: step 2" in capsys.readouterr().out
    js = tmp_path / "diag.json"
    assert diagnose_main([str(out), "--data", str(demos_dir), "--holdout", "1", "--frames", "16",
                          "--json", str(js)]) == 0
    table = capsys.readouterr().out
    assert "input swapped" in table and "grounding head error" in table and "proprio" in table
    assert json.loads(js.read_text())["frames"] == 16 and json.loads(js.read_text())["decoder"] is None
    # the checkpoint's decoder.json is the default; --decoder overrides it; a bad one is refused by name
    (out / "decoder.json").write_text('{"steps": 1}')
    assert diagnose_main([str(out), "--data", str(demos_dir), "--holdout", "1", "--frames", "16",
                          "--json", str(js)]) == 0
    assert json.loads(js.read_text())["decoder"] == {"steps": 1} and 'decoder {"steps": 1}' in capsys.readouterr().out
    assert diagnose_main([str(out), "--data", str(demos_dir), "--holdout", "1", "--frames", "16", "--decoder",
                          '{"steps": 2}', "--json", str(js)]) == 0
    assert json.loads(js.read_text())["decoder"] == {"steps": 2}
    capsys.readouterr()
    assert diagnose_main([str(out), "--data", str(demos_dir), "--decoder", '{"stepz": 2}']) == 2
    assert "--decoder" in capsys.readouterr().err
    (out / "decoder.json").unlink()
    # a continuous (l1) head moves with every input it reads: each swap must register
    model, tok, act = load_checkpoint(out)
    cfg = dataclasses.replace(model.config, head="l1")
    l1 = build_tiny(cfg, tok, {"hidden_size": 16, "num_hidden_layers": 1},
                    {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 2},
                    seed=0)
    _, held = split_holdout(load_demos(demos_dir), 1)
    d2 = diagnose(l1, tok, act, held, max_frames=16)
    for group in ("images", "agentview", "wrist", "instruction", "proprio"):
        assert sum(d2["sensitivity_xyz"][group]) > 0, group
    assert d2["corr"]["x"] == d2["corr"]["x"]  # finite: the l1 head's outputs vary


def test_diagnose_rejects_bad_input(tmp_path: Path, capsys) -> None:
    assert diagnose_main([str(tmp_path / "nope"), "--data", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert train_main(["--data", str(tmp_path), "--out", str(tmp_path / "o"), "--diagnose-every", "5"]) == 2
    assert "--holdout" in capsys.readouterr().err


def test_fine_tune_from_a_checkpoint_weights_far_frames_and_reports_start_error(
        demos_dir: Path, tmp_path: Path, capsys) -> None:
    src, out = tmp_path / "src", tmp_path / "ft"
    args = ["--data", str(demos_dir), "--ground-points", "2", "--ground-relative", *SMALL]
    assert train_main([*args, "--out", str(src), "--steps", "2"]) == 0
    assert train_main([*args, "--out", str(out), "--steps", "1", "--init-from", str(src), "--lr", "1e-12",
                       "--ground-far-weight", "4", "--holdout", "1", "--diagnose-every", "1",
                       "--diagnose-frames", "8"]) == 0
    a, _, _ = load_checkpoint(src)
    b, _, _ = load_checkpoint(out)
    assert b.config.ground_far_weight == 4.0 and b.config.ground_mean == a.config.ground_mean
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(pa, pb, atol=1e-6, rtol=0, msg=name)  # started from src's weights
    d = json.loads((out / "diagnostics.jsonl").read_text().splitlines()[0])
    assert len(d["ground_err_start_cm"]) == 4 and all(np.isfinite(d["ground_err_start_cm"]))
    # the far-frame weight: 5 where the gripper is > 10 cm from the object (every demo starts there), else 1
    from vla.data import ChunkDataset

    demos = load_demos(demos_dir)
    ds = ChunkDataset(demos, b.config, *load_checkpoint(out)[1:])
    assert set(ds.point_weight.unique().tolist()) == {1.0, 5.0}
    assert ds.point_weight[0] == 5.0 and ds.point_weight[len(demos[0].actions) - 1] == 1.0
    b.config.ground_near_weight = 0.0  # --ground-near-weight 0: far frames only
    assert set(ChunkDataset(demos, b.config, *load_checkpoint(out)[1:]).point_weight.unique().tolist()) == {0.0, 5.0}
    capsys.readouterr()
    assert train_main([*args, "--out", str(tmp_path / "x"), "--init-from", str(tmp_path / "nope")]) == 2
    assert "--init-from" in capsys.readouterr().err


def test_new_spatial_head_trains_on_a_frozen_checkpoint(demos_dir: Path, tmp_path: Path) -> None:
    """--init-from + --ground-head spatial + --train-only: a fresh head learns, nothing else moves
    (BatchNorm statistics included), and the result loads as a checkpoint with the new head."""
    src, out = tmp_path / "src", tmp_path / "spatial"
    args = ["--data", str(demos_dir), "--ground-points", "2", "--ground-relative", *SMALL]
    assert train_main([*args, "--out", str(src), "--steps", "2"]) == 0
    assert train_main([*args, "--out", str(out), "--steps", "3", "--init-from", str(src), "--ground-head", "spatial",
                       "--train-only", "grounding.", "ground_cells.", "--holdout", "1", "--diagnose-every", "3",
                       "--diagnose-frames", "8"]) == 0
    a, _, _ = load_checkpoint(src)
    b, _, _ = load_checkpoint(out)
    assert b.config.ground_head == "spatial" and type(b.grounding).__name__ == "SpatialGroundingHead"
    sa, sb = a.state_dict(), b.state_dict()
    frozen = [k for k in sb if not k.startswith(("grounding.", "ground_cells."))]
    assert frozen and all(torch.equal(sa[k], sb[k]) for k in frozen), "a frozen weight or buffer moved"
    assert sb["ground_cells.weight"].shape != sa["ground_cells.weight"].shape  # content-only cells
    d = json.loads((out / "diagnostics.jsonl").read_text().splitlines()[-1])
    assert all(np.isfinite(d["ground_err_start_cm"]))
    assert train_main([*args, "--out", str(tmp_path / "x"), "--steps", "1", "--train-only", "nothing."]) == 2


def test_closed_loop_grounding_diagnosis(demos_dir: Path, tmp_path: Path) -> None:
    """scripts/diagnose_closed_loop.py runs real tabletop episodes and measures the head against privileged state."""
    from scripts.diagnose_closed_loop import main as closed_loop

    ckpt = tmp_path / "ckpt"
    assert train_main(["--data", str(demos_dir), "--out", str(ckpt), "--steps", "1", "--ground-points", "2",
                       "--ground-relative", *SMALL]) == 0
    out = tmp_path / "cl.json"
    assert closed_loop([str(ckpt), "--episodes-per-task", "1", "--tasks", "PickCube", "--oracle",
                        "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["episodes"] == 1 and r["oracle_points"] and set(r["ground_err_first_query_cm"]) == {
        "target", "goal", "target - eef", "goal - eef"}
    assert all(np.isfinite(v) and v >= 0 for v in r["ground_err_all_queries_cm"].values())
    assert closed_loop([str(tmp_path / "nope")]) == 2


def test_early_frame_sampling_and_constant_lr(demos_dir: Path, tmp_path: Path, capsys) -> None:
    """--early-frames N --early-fraction F: that share of every batch comes from the demos' first N
    timesteps (the rest from anywhere); --lr-schedule constant holds the rate after the warm-up."""
    from vla.data import ChunkDataset, sample_batch
    from vla.train import TrainConfig, lr_lambda

    src = tmp_path / "src"
    args = ["--data", str(demos_dir), "--ground-points", "2", "--ground-relative", *SMALL]
    assert train_main([*args, "--out", str(src), "--steps", "2", "--early-frames", "3", "--early-fraction", "1",
                       "--lr-schedule", "constant"]) == 0
    model, tok, act = load_checkpoint(src)
    demos = load_demos(demos_dir)
    ds = ChunkDataset(demos, model.config, tok, act)
    assert ds.frame[0] == 0 and ds.frame[len(demos[0].actions)] == 0 and int(ds.frame.max()) > 20
    seen = []
    for s in range(20):
        g = torch.Generator().manual_seed(s)
        b = sample_batch(ds, g, 8, torch.arange(8), early_frames=3, early_fraction=0.5)
        g = torch.Generator().manual_seed(s)
        index = torch.randint(len(ds), (8,), generator=g)  # the draw sample_batch makes first
        early = torch.nonzero(ds.frame < 3).squeeze(1)
        index[:4] = early[torch.randint(len(early), (4,), generator=g)]
        assert torch.equal(b["proprio"], ds.proprio[index])
        assert (ds.frame[index[:4]] < 3).all()
        seen.append(ds.frame[index[4:]])
    assert int(torch.cat(seen).max()) >= 3  # the other half is drawn from every timestep
    plain = sample_batch(ds, torch.Generator().manual_seed(0), 8, torch.arange(8))
    again = sample_batch(ds, torch.Generator().manual_seed(0), 8, torch.arange(8), early_frames=0, early_fraction=1)
    assert torch.equal(plain["proprio"], again["proprio"])  # off: the same numbers as before the option
    f = lr_lambda(TrainConfig(steps=100, warmup_steps=10, lr_schedule="constant"))
    assert f(4) == 0.5 and f(10) == f(50) == f(99) == 1.0
    assert lr_lambda(TrainConfig(steps=100, warmup_steps=10))(99) < 0.2
    capsys.readouterr()
    assert train_main([*args, "--out", str(tmp_path / "x"), "--early-fraction", "1.5", "--early-frames", "3"]) == 2
    assert "--early-fraction" in capsys.readouterr().err


def test_far_head_joins_a_spatial_head_trained_on_the_frozen_model(demos_dir: Path, tmp_path: Path, capsys) -> None:
    """scripts/attach_far_head.py: the joined model takes the far head's points where it puts the
    object farther than the switch distance from the gripper and the main head's elsewhere; it
    saves, loads and runs as a policy; mismatched inputs are refused."""
    from scripts.attach_far_head import main as attach_main
    from vla.data import ChunkDataset
    from vla.grounding import denormalize_points

    src, far, out = tmp_path / "src", tmp_path / "far", tmp_path / "joined"
    args = ["--data", str(demos_dir), "--ground-points", "2", "--ground-relative", *SMALL]
    assert train_main([*args, "--out", str(src), "--steps", "2"]) == 0
    assert train_main([*args, "--out", str(far), "--steps", "2", "--init-from", str(src), "--ground-head", "spatial",
                       "--train-only", "grounding.", "ground_cells.", "--early-frames", "3", "--early-fraction", "1"]) == 0
    assert attach_main([str(src), str(far), "--switch-m", "0.1", "--out", str(out)]) == 0
    joined, tok, act = load_checkpoint(out)
    main_model, _, _ = load_checkpoint(src)
    far_model, _, _ = load_checkpoint(far)
    assert joined.config.ground_switch_m == 0.1 and type(joined.grounding_far).__name__ == "SpatialGroundingHead"
    ds = ChunkDataset(load_demos(demos_dir), joined.config, tok, act)
    batch = ds.batch(torch.arange(0, len(ds), max(1, len(ds) // 24)))
    with torch.no_grad():
        enc = [m.encode_prefix(batch["pixels"], batch["proprio"], batch["text_ids"], batch["text_valid"]).points
               for m in (joined, main_model, far_model)]
    got, near_pts, far_pts = enc
    rel = denormalize_points(far_pts, joined.config.ground_mean, joined.config.ground_std)[:, 2].norm(dim=-1)
    use_far = rel > 0.1
    for i in range(len(got)):
        torch.testing.assert_close(got[i], far_pts[i] if use_far[i] else near_pts[i])
    for m in (0.0, 1e3):  # both branches are reachable: every row switches at the extremes
        joined.config.ground_switch_m = m if m else 1e-9
        with torch.no_grad():
            p = joined.encode_prefix(batch["pixels"], batch["proprio"], batch["text_ids"], batch["text_valid"]).points
        torch.testing.assert_close(p, far_pts if not m else near_pts)
    capsys.readouterr()
    assert attach_main([str(far), str(src), "--out", str(tmp_path / "x")]) == 2  # swapped
    assert "main_dir" in capsys.readouterr().err
    assert attach_main([str(src), str(src), "--out", str(tmp_path / "x")]) == 2
    other = tmp_path / "other"
    assert train_main([*args, "--out", str(other), "--steps", "3", "--init-from", str(src), "--ground-head", "spatial"]) == 0
    assert attach_main([str(src), str(other), "--out", str(tmp_path / "x")]) == 2  # trained more than the head
    assert "outside the grounding head" in capsys.readouterr().err


def test_full_mask_fraction_and_head_swap(demos_dir: Path, tmp_path: Path, capsys) -> None:
    """--full-mask-fraction F masks every action token in a share F of the batch (the rest as before);
    --init-from with another --head swaps the action head and keeps the trained backbone."""
    from vla.data import ChunkDataset, sample_batch
    from vla.model import masked_count

    src = tmp_path / "src"
    args = ["--data", str(demos_dir), "--ground-points", "2", "--ground-relative", *SMALL]
    assert train_main([*args, "--out", str(src), "--steps", "2", "--full-mask-fraction", "0.5"]) == 0
    model, tok, act = load_checkpoint(src)
    ds = ChunkDataset(load_demos(demos_dir), model.config, tok, act)
    n = model.config.action_tokens
    plain = sample_batch(ds, torch.Generator().manual_seed(3), 64, torch.arange(64))
    full = sample_batch(ds, torch.Generator().manual_seed(3), 64, torch.arange(64), full_mask_fraction=1.0)
    half = sample_batch(ds, torch.Generator().manual_seed(3), 64, torch.arange(32, 64), full_mask_fraction=0.5)
    for k in plain:
        if k != "noise":
            torch.testing.assert_close(plain[k], full[k], msg=k)  # only the noise level changes
    assert (masked_count(full["noise"][:, 0], n) == n).all()
    assert torch.equal(full["noise"][:, 1:], plain["noise"][:, 1:])  # the masking order is kept
    assert (masked_count(plain["noise"][:, 0], n) < n).float().mean() > 0.5  # the schedule masks fewer mostly
    whole = (half["noise"][:, 0] == 0)
    assert 0 < int(whole.sum()) < 32  # about half of these rows
    assert torch.equal(half["noise"][~whole], plain["noise"][32:][~whole])
    for head in ("ar", "l1"):
        out = tmp_path / head
        assert train_main([*args, "--out", str(out), "--steps", "1", "--init-from", str(src), "--head", head,
                           "--lr", "1e-12"]) == 0
        b, _, _ = load_checkpoint(out)
        assert b.config.head == head
        sa, sb = model.state_dict(), b.state_dict()
        shared = [k for k in sb if k in sa]
        assert len(shared) == len(sa) and all(torch.allclose(sa[k], sb[k], atol=1e-6) for k in shared)
        assert any(k.startswith("l1_head.") for k in sb) == (head == "l1")
    # no --head: the checkpoint's head stays
    assert train_main([*args, "--out", str(tmp_path / "ar2"), "--steps", "1", "--init-from", str(tmp_path / "ar")]) == 0
    assert load_checkpoint(tmp_path / "ar2")[0].config.head == "ar"
    capsys.readouterr()
    assert train_main([*args, "--out", str(tmp_path / "x"), "--full-mask-fraction", "1.5"]) == 2
    assert "--full-mask-fraction" in capsys.readouterr().err
    assert train_main([*args, "--out", str(tmp_path / "x"), "--head", "ar", "--full-mask-fraction", "0.5"]) == 2
    assert "only the diffusion head" in capsys.readouterr().err


def test_bin_label_sigma_soft_labels(demos_dir: Path, tmp_path: Path, capsys) -> None:
    """--bin-label-sigma S: the token CE targets a binned Gaussian around the true value (HL-Gauss),
    minimal where the head predicts that distribution; the binary gripper keeps one-hot labels."""
    from vla.data import ChunkDataset, sample_batch
    from vla.soft_labels import gaussian_bin_targets

    out = tmp_path / "soft"
    args = ["--data", str(demos_dir), "--ground-points", "2", "--ground-relative", "--binary-gripper", *SMALL]
    assert train_main([*args, "--out", str(out), "--steps", "2", "--bin-label-sigma", "0.75"]) == 0
    model, tok, act = load_checkpoint(out)
    cfg = model.config
    assert cfg.bin_label_sigma == 0.75
    batch = sample_batch(ChunkDataset(load_demos(demos_dir), cfg, tok, act), torch.Generator().manual_seed(0), 4,
                         torch.arange(4))
    tokens = batch["action_bins"] + cfg.action_token_offset
    target = gaussian_bin_targets(batch["action_norm"], cfg.n_bins, 0.75)  # [B, L, n_bins]
    idx = torch.arange(cfg.n_bins, dtype=torch.float32)
    centre = -1 + ((target * idx).sum(-1) + 0.5) * 2 / cfg.n_bins  # the target's mean is the value
    inner = batch["action_norm"].abs() < 0.5  # > 4 sigma from the ends of [-1, 1]
    torch.testing.assert_close(centre[inner], batch["action_norm"][inner].float(), atol=1e-4, rtol=0)
    logits = torch.full((*tokens.shape, cfg.vocab_size), -30.0)
    logits[..., cfg.action_token_offset:cfg.action_token_offset + cfg.n_bins] = target.clamp_min(1e-12).log()
    best = model.token_ce(logits, tokens, batch)
    worse = model.token_ce(logits + torch.randn(logits.shape, generator=torch.Generator().manual_seed(1)), tokens, batch)
    grip = torch.arange(cfg.action_dim - 1, cfg.action_tokens, cfg.action_dim)
    other = torch.ones(cfg.action_tokens, dtype=torch.bool)
    other[grip] = False
    assert (best[:, other] < worse[:, other]).all()
    hard = torch.nn.functional.cross_entropy(logits[:, grip].transpose(1, 2), tokens[:, grip], reduction="none")
    torch.testing.assert_close(best[:, grip], hard)  # binary gripper: one-hot
    # --init-from takes the flag from the command line (a training-only field)
    assert train_main([*args, "--out", str(tmp_path / "hard"), "--steps", "1", "--init-from", str(out)]) == 0
    assert load_checkpoint(tmp_path / "hard")[0].config.bin_label_sigma == 0.0
    capsys.readouterr()
    assert train_main([*args, "--out", str(tmp_path / "x"), "--bin-label-sigma", "-1"]) == 2
    assert "--bin-label-sigma" in capsys.readouterr().err
    assert train_main([*args, "--out", str(tmp_path / "x"), "--head", "l1", "--bin-label-sigma", "0.5"]) == 2
    assert "no bins" in capsys.readouterr().err
