"""``vla reproduce --quick`` end to end: collect -> train 3 heads -> evaluate -> decoder sweep -> report.

Checks the report files and their fields, that every NFE figure of the report is the decoder
statistics the policy returned for each chunk (fixed-step decoders exactly their step count, AR
one call per token, L1 one pass, adaptive rules what they reported), and that a rerun resumes:
nothing is collected, trained or evaluated twice.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_e2e_cli import vla

from scripts.reproduce_stages.evaluate import aggregate
from scripts.reproduce_stages.report import targets
from scripts.reproduce_stages.sweep import ADAPTIVE, MAIN_DECODER, sweep_decoders
from scripts.reproduce_stages.train import HEADS


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reproduce")
    vla("reproduce", "--quick", "--out", str(out), "--no-progress", timeout=900)
    return out


def _records(folder: Path) -> list[dict]:
    return [json.loads(x) for x in (folder / "episodes.jsonl").read_text().splitlines() if x.strip()]


def test_quick_report_has_every_field(quick_run: Path) -> None:
    out = quick_run
    for f in ("report.md", "report.json", "sr_by_head.png", "sr_vs_nfe.png", "sr_per_task.png"):
        assert (out / f).exists() and (out / f).stat().st_size > 0, f
    rep = json.loads((out / "report.json").read_text())
    assert rep["quick"] is True and set(rep["heads"]) == set(HEADS)
    for h, r in rep["heads"].items():
        assert set(r["per_task"]) == {"PickCube", "PushLeft"}, h
        lo, hi = r["overall"]["ci95"]
        assert 0.0 <= lo <= r["overall"]["sr"] <= hi <= 1.0
        assert r["chunks"] >= 2 and r["mean_latency_ms"] > 0 and r["errored"] == 0
        # the three heads were trained with one command up to --head
        assert rep["train_commands"][h][rep["train_commands"][h].index("--head") + 1] == h
    strip = [[a for a in c if a not in HEADS and "/train/" not in a] for c in rep["train_commands"].values()]
    assert all(c == strip[0] for c in strip)
    assert set(rep["sweep"]) == set(sweep_decoders(quick=True)) | {MAIN_DECODER}
    for r in rep["sweep"].values():
        assert {"family", "decoder", "average_sr", "overall", "mean_nfe", "max_nfe", "mean_latency_ms"} <= set(r)
    assert [t["target"] for t in rep["targets"]][:3] == [
        "diffusion head >= 80% average SR", "diffusion SR >= AR SR at <= 1/4 of AR's NFE", "diffusion SR >= L1 SR"]
    assert len(rep["targets"]) == 4 and all("met" in t for t in rep["targets"])
    md = (out / "report.md").read_text()
    for word in ("## Heads", "## Decoder sweep", "## Targets", "diffusion", "ar", "l1", "cosine-T4"):
        assert word in md


def test_sweep_nfe_equals_decoder_statistics(quick_run: Path) -> None:
    out = quick_run
    rep = json.loads((out / "report.json").read_text())
    folders = {**{n: out / "sweep" / n for n in sweep_decoders(quick=True)}, MAIN_DECODER: out / "eval" / "diffusion"}
    for name, folder in folders.items():
        recs = _records(folder)
        per_chunk = [v for r in recs for v in r["nfe_per_chunk"]]
        assert len(per_chunk) == sum(r["n_infer"] for r in recs) > 0, name
        r = rep["sweep"][name]
        assert r["mean_nfe"] == pytest.approx(np.mean(per_chunk)) and r["max_nfe"] == max(per_chunk), name
        for rec in recs:  # each episode's own figures come from the same per-chunk statistics
            assert rec["mean_nfe"] == pytest.approx(np.mean(rec["nfe_per_chunk"]))
            assert rec["max_nfe"] == max(rec["nfe_per_chunk"])
        steps = rep["sweep"][name]["decoder"].get("steps")
        if rep["sweep"][name]["family"] == "cosine top-k":
            assert set(per_chunk) == {float(steps)}, name  # top-k with T steps: exactly T model calls
        else:
            assert all(1 <= v <= 56 for v in per_chunk), name
    assert {v for r in _records(out / "eval" / "ar") for v in r["nfe_per_chunk"]} == {56.0}  # one call per token
    assert {v for r in _records(out / "eval" / "l1") for v in r["nfe_per_chunk"]} == {1.0}


def test_rerun_resumes_without_redoing_work(quick_run: Path, tmp_path: Path) -> None:
    out = quick_run
    before = {p: p.stat().st_mtime_ns for p in [out / "demos" / "summary.json", *out.glob("train/*/model.safetensors")]}
    lines = {p: len(p.read_text().splitlines()) for p in out.glob("*/*/episodes.jsonl")}
    work_before = json.loads((out / "report.json").read_text())["work"]
    notes = tmp_path / "notes.md"
    notes.write_text("Tried: slot embeddings.\n")
    res = vla("reproduce", "--quick", "--out", str(out), "--no-progress", "--notes", str(notes), timeout=600)
    assert "## Targets" in res.stdout
    assert "## Notes\n\nTried: slot embeddings." in (out / "report.md").read_text()  # the report is regenerated
    assert {p: p.stat().st_mtime_ns for p in before} == before
    assert {p: len(p.read_text().splitlines()) for p in lines} == lines
    # the rerun did no work, so the run's cost stays that of the first invocation (not the rerun's seconds)
    work = json.loads((out / "report.json").read_text())["work"]
    assert len(work["invocations"]) == len(work_before["invocations"]) + 1
    assert work["one_invocation_s"] == pytest.approx(work_before["one_invocation_s"])
    assert work["total_work_s"] >= work_before["total_work_s"]
    assert work["total_work_s"] - work_before["total_work_s"] < 0.5 * work_before["total_work_s"]
    assert "Whole run:" in (out / "report.md").read_text()


def test_targets_say_met_or_missed_by_how_much() -> None:
    def res(sr: float, nfe: float) -> dict:
        return {"average_sr": sr, "mean_nfe": nfe, "overall": {}}

    heads = {"diffusion": res(0.85, 12), "ar": res(0.9, 56)}
    sweep = {MAIN_DECODER: {"family": "cosine top-k", **res(0.85, 12)},
             "threshold-0.7": {"family": "threshold", **res(0.84, 3.5)},
             "cosine-T2": {"family": "cosine top-k", **res(0.86, 2)}}
    t = {x["target"].split()[0] + x["target"].split()[1]: x for x in targets(heads, sweep)}
    assert t["diffusionhead"]["met"] and t["diffusionhead"]["margin_points"] == 5.0
    assert not t["diffusionSR"]["met"] and t["diffusionSR"]["margin_points"] == -5.0
    assert "p_value" not in t["diffusionSR"]  # no episode counts given
    counted = {h: {**r, "overall": {"successes": s, "episodes": 500}} for (h, r), s in zip(heads.items(), (15, 6))}
    row = targets(counted, sweep)[1]
    assert row["p_value"] == pytest.approx(0.0753, abs=1e-4) and "15/500 vs 6/500" in row["note"]
    ada = t["anadaptive"]
    assert ada["met"] and ada["decoder"] == "threshold-0.7" and ada["margin_points"] == 1.0  # cosine-T2 is not adaptive
    assert "threshold" in ADAPTIVE and "cosine top-k" not in ADAPTIVE
    sweep["threshold-0.7"] = {"family": "threshold", **res(0.5, 3.5)}
    assert not targets(heads, sweep)[2]["met"]
    # diffusion ahead of AR but at more than a quarter of its NFE: missed; the L1 row has its own p
    three = {"diffusion": res(0.9, 20), "ar": res(0.85, 56), "l1": res(0.95, 1)}
    rows = {r["target"]: r for r in targets(three, {})}
    assert not rows["diffusion SR >= AR SR at <= 1/4 of AR's NFE"]["met"]
    three["diffusion"]["mean_nfe"] = 1
    assert targets(three, {})[1]["met"]
    assert not rows["diffusion SR >= L1 SR"]["met"] and rows["diffusion SR >= L1 SR"]["margin_points"] == -5.0


def test_aggregate_counts_every_chunk() -> None:
    recs = [{"nfe_per_chunk": [12, 12], "mean_latency_s": 0.01, "n_infer": 2},
            {"nfe_per_chunk": [3, 5, 7, 9], "mean_latency_s": 0.04, "n_infer": 4}]
    summary = {"average_sr": 0.5, "overall": {"errored": 0}, "tasks": []}
    a = aggregate(recs, summary)
    assert a["mean_nfe"] == pytest.approx(48 / 6) and a["max_nfe"] == 12 and a["chunks"] == 6
    assert a["mean_latency_ms"] == pytest.approx(1000 * (0.02 + 0.16) / 6)


def test_unknown_sweep_decoder_is_refused_before_any_work(tmp_path: Path) -> None:
    from scripts.reproduce import main

    assert main(["--out", str(tmp_path / "r"), "--sweep-decoders", "cosine-T4", "no-such-rule"]) == 2
    assert main(["--out", str(tmp_path / "r"), "--notes", str(tmp_path / "missing.md")]) == 2
    assert main(["--out", str(tmp_path / "r"), "--diffusion-decoder", '{"steps": 1, "readout": "median"}']) == 2
    assert not (tmp_path / "r").exists()


def test_update_shipped_replaces_files_only_when_better_and_drops_a_stale_default_decoder(tmp_path: Path) -> None:
    from scripts.reproduce_stages.shipped import update_shipped

    ckpt, dest = tmp_path / "ckpt", tmp_path / "shipped"
    ckpt.mkdir()
    dest.mkdir()
    (ckpt / "config.json").write_text('{"new": 1}')
    (dest / "config.json").write_text('{"old": 1}')
    (dest / "decoder.json").write_text('{"steps": 1}')
    (dest / "eval.json").write_text(json.dumps({"average_sr": 0.5}))
    report = {"config": {"episodes_per_task": 50}, "git": {}}
    result = {"average_sr": 0.4, "overall": {}, "per_task": {}}
    assert not update_shipped(dest, ckpt, result, report)
    assert json.loads((dest / "config.json").read_text()) == {"old": 1} and (dest / "decoder.json").exists()
    assert update_shipped(dest, ckpt, {**result, "average_sr": 0.6}, report)
    assert json.loads((dest / "config.json").read_text()) == {"new": 1} and not (dest / "decoder.json").exists()
    saved = json.loads((dest / "eval.json").read_text())
    assert saved["average_sr"] == 0.6 and saved["decoder"] == MAIN_DECODER
    (ckpt / "decoder.json").write_text('{"steps": 2}')  # the policy's own default decoder goes along
    assert update_shipped(dest, ckpt, {**result, "average_sr": 0.7}, report)
    assert json.loads((dest / "decoder.json").read_text()) == {"steps": 2}
    assert json.loads((dest / "eval.json").read_text())["decoder"] == {"steps": 2}


def test_stage_2d_recipe_on_reused_demos(quick_run: Path, tmp_path: Path) -> None:
    """--demos + --init-from + --diffusion-decoder: nothing is collected, every head is fine-tuned from
    the same trained model with its vision tower frozen and --head swapped, and the diffusion head is
    evaluated under its decoder.json."""
    from vla.checkpoint import load_checkpoint

    out, init = tmp_path / "r2d", quick_run / "train" / "diffusion"
    vla("reproduce", "--quick", "--out", str(out), "--no-progress", "--demos", str(quick_run / "demos"),
        "--init-from", str(init), "--diffusion-decoder", '{"steps": 1}', "--heads", "diffusion", "ar",
        "--sweep-decoders", "cosine-T4", "--nproc", "2", "--full-mask-fraction", "0.5", timeout=900)
    assert not (out / "demos").exists()
    rep = json.loads((out / "report.json").read_text())
    assert set(rep["heads"]) == {"diffusion", "ar"} and rep["data"]["kept"] >= 2
    base = load_checkpoint(init)[0].state_dict()
    for h, cmd in rep["train_commands"].items():
        assert cmd[cmd.index("--init-from") + 1] == str(init) and "--train-only" in cmd
        model = load_checkpoint(out / "train" / h)[0]
        assert model.config.head == h
        sd = model.state_dict()
        assert all(torch.equal(sd[k], base[k]) for k in base if k.startswith(("vision.", "grounding.cell")))
        assert any(not torch.equal(sd[k], base[k]) for k in base if k.startswith("lm."))  # it trained
    assert json.loads((out / "train" / "diffusion" / "decoder.json").read_text()) == {"steps": 1}
    assert "--full-mask-fraction" in rep["train_commands"]["diffusion"]  # the diffusion head only
    assert "--full-mask-fraction" not in rep["train_commands"]["ar"]
    assert rep["heads"]["diffusion"]["mean_nfe"] == 1.0 and rep["heads"]["diffusion"]["decoder"] == {"steps": 1}
    assert rep["heads"]["ar"]["mean_nfe"] > 1
    # the sweep's T=12 reference is run under T=12, not taken from the (T=1) main evaluation
    assert rep["sweep"][MAIN_DECODER]["mean_nfe"] == 12.0 and rep["sweep"]["cosine-T4"]["mean_nfe"] == 4.0
    assert '{"steps": 1}' in (out / "report.md").read_text()
    # --holdout N: the demos held out of training are diagnosed every 1000 steps
    from scripts.reproduce import build_parser
    from scripts.reproduce_stages.train import train_argv

    args = build_parser().parse_args(["--init-from", str(init), "--holdout", "5", "--steps", "4000"])
    cmd = train_argv(args, "ar", quick_run / "demos", tmp_path / "x")
    assert cmd[cmd.index("--holdout") + 1] == "5" and cmd[cmd.index("--diagnose-every") + 1] == "1000"
