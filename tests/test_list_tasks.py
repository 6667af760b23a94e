"""List-task generator, checker, and the quick ParallelBench-style run end to end."""

from __future__ import annotations

import json

import pytest

from vla.list_tasks import TASKS, ListExample, ListVocab, check, generate


@pytest.mark.parametrize("task", TASKS)
def test_generator_is_deterministic_and_answers_check(task):
    a, b = generate(task, 30, seed=3), generate(task, 30, seed=3)
    assert a == b
    assert generate(task, 30, seed=4) != a
    for ex in a:
        assert 3 <= len(ex.names) <= 6
        assert check(ex, list(ex.answer) + ["[EOS]"])


def test_checker_rejects_wrong_answers():
    ex = ListExample("reverse", ("alice", "bob", "carol"), (), ("carol", "bob", "alice"))
    assert not check(ex, ["alice", "bob", "carol"])
    assert not check(ex, ["carol", "bob"])
    assert not check(ex, ["carol", "bob", "alice", "dave"])
    assert not check(ex, ["carol", "[EOS]", "bob", "alice"])  # nothing after EOS
    shuf = ListExample("shuffle", ("alice", "bob", "carol"), (), ("bob", "carol", "alice"))
    assert check(shuf, ["carol", "alice", "bob"])  # any other permutation is valid
    assert not check(shuf, ["alice", "bob", "carol"])  # the input order is not a shuffle
    assert not check(shuf, ["bob", "bob", "alice"])  # duplicates: the parallel-decoding failure
    ins = ListExample("insert_random", ("alice", "bob"), ("zack",), ("alice", "zack", "bob"))
    assert check(ins, ["zack", "alice", "bob"]) and not check(ins, ["zack", "bob", "alice"])
    rem = ListExample("remove_random", ("alice", "bob", "carol"), (), ("alice", "carol"))
    assert check(rem, ["bob", "carol"]) and not check(rem, ["carol", "bob"])
    rep = ListExample("replace_random", ("alice", "bob"), ("zack",), ("zack", "bob"))
    assert check(rep, ["alice", "zack"]) and not check(rep, ["zack", "zack"])


def test_vocab_round_trip():
    v = ListVocab()
    ex = generate("insert", 1, seed=0)[0]
    assert [v.itos[v.id(w)] for w in ex.prompt_words()] == ex.prompt_words()
    with pytest.raises(ValueError, match="word"):
        v.id("mallet")


def test_quick_parallelbench_writes_report(tmp_path):
    from scripts.parallelbench import decoder_sweep, main

    assert main(["--quick", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "results.json").read_text())
    assert set(data["results"]["mdlm"]) == set(TASKS)
    for task in TASKS:
        assert set(data["results"]["mdlm"][task]) == set(decoder_sweep())
        for r in data["results"]["mdlm"][task].values():
            assert 0 <= r["accuracy"] <= 1 and r["mean_nfe"] >= 1 and r["max_nfe"] <= 7 * 3 + 8
        assert data["results"]["arlm"][task]["mean_nfe"] >= 1
    # cosine with T steps takes exactly T model calls per row
    assert data["results"]["mdlm"]["copy"]["cosine-T2"]["mean_nfe"] == 2
    assert (tmp_path / "accuracy_vs_tokens_per_step.png").stat().st_size > 1000
    assert "| decoder |" in (tmp_path / "report.md").read_text()
