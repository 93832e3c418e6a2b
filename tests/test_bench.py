"""The attention benchmark runs and reports what it promises (no timing is asserted)."""
from __future__ import annotations

import json

import pytest
import torch

from attnviz.bench import attention as bench

KEYS = {"impl", "batch", "seq_len", "ms", "peak_mib"}


@pytest.mark.parametrize("impl", bench.IMPLS)
def test_measure_in_process(impl):
    row = bench.measure(impl, seq_len=16, batch=1, repeats=2, threads=None)
    assert set(row) == KEYS
    assert row["impl"] == impl and row["seq_len"] == 16 and row["batch"] == 1
    assert row["ms"] > 0 and row["peak_mib"] >= 0


def test_unknown_impl_is_refused():
    with pytest.raises(ValueError, match="impl"):
        bench.measure("flash9000", seq_len=8, batch=1, repeats=1, threads=None)


def test_batch_is_the_same_for_every_impl_and_smaller_when_long():
    assert bench.batch_for(128) == bench.batch_for(512) == 8
    assert bench.batch_for(2048) < 8


def test_main_json_runs_a_child_process(capsys):
    assert bench.main(["attention", "--json", "--repeats", "1", "--seq-lens", "32", "--impls", "fast"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    row = json.loads(lines[0])
    assert set(row) == KEYS and row["impl"] == "fast" and row["seq_len"] == 32


def test_table_format():
    rows = [{"impl": impl, "batch": 8, "seq_len": 128, "ms": ms, "peak_mib": mib}
            for impl, ms, mib in (("fast", 1.0, 2.0), ("weights", 3.0, 8.0), ("torch_mha", 2.0, 4.0))]
    table = bench.format_table(rows, threads=2)
    assert "fast ms" in table and "torch_mha MiB" in table
    assert "2.00x torch_mha's speed, 0.50x torch's memory" in table


@pytest.mark.parametrize("argv", [[], ["memory"], ["attention", "--repeats", "0"]])
def test_bad_arguments_exit(argv):
    with pytest.raises(SystemExit):
        bench.main(argv)


def test_bench_train_rows_and_turn_taking(capsys):
    from attnviz.bench import train as bench_train
    from attnviz.device import pick_precision

    small = bench_train.BenchConfig(batch=2, seq_len=8, d_model=16, n_heads=2, n_layers=1, d_ff=32, vocab=50)
    rows = bench_train.run(steps=2, warmup=1, config=small)
    assert [r["impl"] for r in rows] == list(bench_train.IMPLS)
    assert rows[0]["precision"] == pick_precision(torch.device("cpu"), "auto")
    assert rows[1]["precision"] == rows[2]["precision"] == "fp32"
    for row in rows:
        assert row["tokens_per_s"] > 0 and row["batch"] == 2 and row["seq_len"] == 8 and row["steps"] == 2


def test_bench_train_reference_matches_our_parameter_count():
    from attnviz.bench import train as bench_train

    c = bench_train.BenchConfig()
    ours = sum(p.numel() for p in bench_train._ours(c).parameters())
    theirs = sum(p.numel() for p in bench_train.TorchEncoderClassifier(c).parameters())
    assert ours == theirs  # the same sizes: the comparison is like for like
