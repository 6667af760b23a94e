"""The AR/speculative benchmark script runs end to end on a tiny configuration and writes
JSON in which every lossless method reproduces greedy decoding exactly."""

from __future__ import annotations

import json

import pytest
import torch

from scripts.bench_text_decoding import main


@pytest.fixture(autouse=True)
def _restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_bench_text_decoding_smoke(tmp_path, capsys):
    out = tmp_path / "bench.json"
    rc = main(["--out", str(out), "--train-steps", "3", "--draft-steps", "3", "--train-seqs", "16",
               "--seq-len", "32", "--prompt-len", "16", "--prompts", "1", "--new-tokens", "10",
               "--hidden", "32", "--layers", "1", "--draft-hidden", "32"])
    assert rc == 0
    result = json.loads(out.read_text())
    rows = result["methods"]
    assert {"greedy", "beam4", "spec_prompt_lookup", "spec_aded_trigram", "ead_tau2.0", "adadec_h2.0"} <= set(rows)
    for name, row in rows.items():
        assert row["wall_time_s"] > 0 and row["tokens_per_target_call"] > 0, name
        if row["lossless"]:
            assert row["agreement_with_greedy"] == 1.0, name
    assert rows["spec_small_k4"]["nfe_per_model"]["draft"] > 0
    assert "speedup" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--prompt-len", "200"])
