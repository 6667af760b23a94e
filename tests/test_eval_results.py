"""Results store: Wilson intervals, atomic JSONL with torn-line recovery, no duplicates, summary."""

from __future__ import annotations

import json

import pytest

from policies.results import ResultsStore, fisher_exact_p, markdown_table, summarize_records, wilson_interval

RUN = {"protocol": {"suite": "s", "tasks": ["a", "b"], "episodes_per_task": 2}, "policy": {"name": "p"}, "chunking": {}}


def rec(task: str, ep: int, success: bool, error: str | None = None) -> dict:
    return {"task": task, "episode": ep, "success": success, "steps": 5, "error": error, "mean_nfe": 4.0}


def test_wilson_interval_known_values():
    lo, hi = wilson_interval(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-4) and hi == pytest.approx(0.7634, abs=1e-4)
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = wilson_interval(10, 10)
    assert lo == pytest.approx(0.7225, abs=1e-4) and hi == 1.0
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_fisher_exact_p_known_values():
    # scipy.stats.fisher_exact([[s1, n1 - s1], [s2, n2 - s2]]).pvalue, computed once
    assert fisher_exact_p(15, 500, 6, 500) == pytest.approx(0.075251, abs=5e-6)
    assert fisher_exact_p(1, 40, 9, 40) == pytest.approx(0.014316, abs=5e-6)
    assert fisher_exact_p(8, 10, 1, 10) == pytest.approx(0.005477, abs=5e-6)
    assert fisher_exact_p(3, 10, 3, 10) == pytest.approx(1.0)
    assert fisher_exact_p(0, 50, 0, 50) == 1.0
    assert fisher_exact_p(1, 2, 0, 0) == 1.0
    assert fisher_exact_p(2, 10, 7, 10) == fisher_exact_p(7, 10, 2, 10)
    with pytest.raises(ValueError, match="successes"):
        fisher_exact_p(11, 10, 0, 10)


def test_append_is_deduplicated_and_torn_last_line_is_dropped(tmp_path):
    store = ResultsStore(tmp_path)
    store.start(dict(RUN), resume=False)
    assert store.append(rec("a", 0, True))
    assert not store.append(rec("a", 0, False)), "the same (task, episode) must never be written twice"
    assert store.append(rec("a", 1, False))
    # simulate a run killed in the middle of writing a line, plus a duplicate from a crashed resume
    with open(store.episodes_path, "ab") as f:
        f.write(json.dumps(rec("a", 0, False)).encode() + b"\n")
        f.write(b'{"task": "b", "episode": 0, "succ')
    store2 = ResultsStore(tmp_path)
    records = store2.start(dict(RUN), resume=True)
    assert [(r["task"], r["episode"], r["success"]) for r in records] == [("a", 0, True), ("a", 1, False)]
    assert store2.episodes_path.read_bytes().endswith(b"\n"), "the torn line must be truncated away"
    assert store2.is_done("a", 1) and not store2.is_done("b", 0)
    assert store2.append(rec("b", 0, True))
    lines = store2.episodes_path.read_text().splitlines()
    assert all(json.loads(x) for x in lines)


def test_refuses_to_overwrite_and_checks_protocol_on_resume(tmp_path):
    store = ResultsStore(tmp_path)
    store.start(dict(RUN), resume=False)
    store.append(rec("a", 0, True))
    with pytest.raises(FileExistsError, match="--resume"):
        ResultsStore(tmp_path).start(dict(RUN), resume=False)
    other = {**RUN, "protocol": {**RUN["protocol"], "tasks": ["a"]}}
    with pytest.raises(ValueError, match="protocol differs"):
        ResultsStore(tmp_path).start(other, resume=True)
    both = {**RUN, "protocol": {**RUN["protocol"], "tasks": ["a"], "episodes_per_task": 3}}
    with pytest.raises(ValueError, match="protocol differs"):
        ResultsStore(tmp_path).start(both, resume=True)
    fewer = {**RUN, "protocol": {**RUN["protocol"], "episodes_per_task": 1}}
    with pytest.raises(ValueError, match="extended, not shortened"):
        ResultsStore(tmp_path).start(fewer, resume=True)
    other_policy = {**RUN, "protocol": {**RUN["protocol"], "episodes_per_task": 3}, "policy": {"name": "q"}}
    with pytest.raises(ValueError, match="policy differs"):
        ResultsStore(tmp_path).start(other_policy, resume=True)


def test_resume_with_more_episodes_per_task_extends_the_run(tmp_path):
    store = ResultsStore(tmp_path)
    store.start(dict(RUN), resume=False)
    store.append(rec("a", 0, True))
    more = {**RUN, "protocol": {**RUN["protocol"], "episodes_per_task": 5}}
    store2 = ResultsStore(tmp_path)
    records = store2.start(dict(more), resume=True)
    assert [(r["task"], r["episode"]) for r in records] == [("a", 0)]
    assert store2.is_done("a", 0) and not store2.is_done("a", 3)
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["protocol"]["episodes_per_task"] == 5 and run["extended_from"] == [2]


def test_summary_counts_errored_as_failures_and_writes_files(tmp_path):
    store = ResultsStore(tmp_path)
    store.start(dict(RUN), resume=False)
    records = [rec("a", 0, True), rec("a", 1, False), rec("b", 0, False, "ObservationError: x"), rec("b", 1, True)]
    for r in records:
        store.append(r)
    summary = store.summarize(records, {**RUN, "planned_episodes": 4})
    assert [t["task"] for t in summary["tasks"]] == ["a", "b"]
    assert summary["tasks"][1]["errored"] == 1 and summary["tasks"][1]["sr"] == 0.5
    assert summary["average_sr"] == 0.5 and summary["complete"] is True
    assert summary["overall"]["ci95"] == pytest.approx(list(wilson_interval(2, 4)))
    for name in ("summary.json", "summary.md", "sr_per_task.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert (tmp_path / "sr_per_task.png").read_bytes()[:4] == b"\x89PNG"
    md = (tmp_path / "summary.md").read_text()
    assert "| a | 2 | 50.0 | [9.5, 90.5] | 0 |" in md


def test_markdown_table_of_an_empty_run():
    md = markdown_table(summarize_records([], dict(RUN)))
    assert "average over tasks" in md
