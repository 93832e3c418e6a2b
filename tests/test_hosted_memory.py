"""H1/H4: a hostile training request cannot push a hosted server past its memory goal, and a step's
cost is bounded. The hostile inputs run in a subprocess under a memory ulimit; its peak RSS is measured."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from attnviz.errors import InputError
from attnviz.text.tokenize import MAX_CHAR_SYMBOLS, build_char_tokenizer
from attnviz.training.budget import RunCaps, check_run, estimate_step_bytes

GOAL_BYTES = int(1.5 * 2**30)  # a hosted server stays at or under 1.5 GB RSS
ULIMIT_BYTES = 6 << 30  # address space: torch reserves far more than it touches, so the cap is above the goal

CHILD = textwrap.dedent("""
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, ({ulimit}, {ulimit}))
    import torch
    torch.set_num_threads(1)
    from attnviz.errors import InputError
    from attnviz.training.budget import RunCaps
    from attnviz.training.train import TrainConfig
    from attnviz.training.training_job import JobSpec, ModelShape, run_job
    results = {{}}
    # 74,074 distinct characters repeated 6 times: under the 500k-character cap of an upload
    distinct = "".join(chr(c) for c in range(0x4E00, 0x4E00 + 74_074) if chr(c).isprintable())
    text = (distinct * 6)[:444_444]
    cases = {{
        "distinct-chars-batch-32": ("lm", text, 32),
        "distinct-chars-batch-512": ("lm", text, 512),
        "long-sentences-batch-512": ("sentiment", [("word " * 120, 1), ("other " * 120, 0)] * 600, 512),
    }}
    for name, (task, data, batch) in cases.items():
        spec = JobSpec(task=task, out=sys.argv[1] + "/" + name, caps=RunCaps(),
                       train=TrainConfig(task=task, batch_size=batch, max_steps=2, epochs=1, eval_every=1000,
                                         warmup_steps=1),
                       shape=ModelShape(d_model=128, n_heads=4, n_layers=2, d_ff=512, max_len=128))
        try:
            run_job(spec, train_data=data, dev_data=None)
            results[name] = "trained"
        except InputError as error:
            results[name] = "refused: " + str(error)
        except MemoryError:
            results[name] = "MemoryError"
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec, so a child of a big pytest process would
    # report its parent's size; VmHWM belongs to this process's own memory map
    hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    results["peak_rss"] = int(hwm.split()[1]) * 1024
    print(json.dumps(results))
""")


def test_hostile_training_inputs_stay_within_the_memory_goal(tmp_path):
    script = CHILD.format(ulimit=ULIMIT_BYTES)
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True,
                          timeout=900, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin",
                                            "PYTHONPATH": str(__import__("pathlib").Path(__file__).parents[1])})
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    print(results)
    assert "MemoryError" not in results.values()
    assert results["distinct-chars-batch-32"] == "trained"  # the capped vocabulary makes it affordable
    assert results["distinct-chars-batch-512"].startswith("refused") and "tokens per batch" in \
        results["distinct-chars-batch-512"]
    assert results["long-sentences-batch-512"].startswith("refused")
    assert results["peak_rss"] <= GOAL_BYTES, f"peak RSS {results['peak_rss'] / 2**30:.2f} GiB"


def test_a_char_vocabulary_keeps_the_most_frequent_symbols():
    text = "".join(chr(0x4E00 + i) for i in range(2000)) + "abc" * 100
    tokenizer = build_char_tokenizer(text)
    assert tokenizer.vocab_size == MAX_CHAR_SYMBOLS + 2  # plus <pad> and <unk>
    assert tokenizer.encode("abc").ids == [tokenizer.tokenizer.token_to_id(c) for c in "abc"]
    assert tokenizer.encode(chr(0x4E00 + 1999)).tokens == ["<unk>"]


def test_the_step_estimate_grows_with_the_batch_and_refuses_over_the_caps():
    import torch

    from attnviz.nn.models import ModelConfig, build_model

    model = build_model(ModelConfig(kind="causal_lm", vocab_size=514, n_labels=1, d_model=64, n_heads=4,
                                    n_layers=2, d_ff=256, max_len=128))
    small, big = (estimate_step_bytes(model, b, 128, "lm") for b in (8, 64))
    assert 7 * small < big * 1.0 < 9 * small + 4 * 4 * sum(p.numel() for p in model.parameters())
    check_run(model, 32, 128, "lm", RunCaps(server_bytes=None))  # (this test process may hold a lot)
    with pytest.raises(InputError, match="tokens per batch"):
        check_run(model, 512, 128, "lm", RunCaps())
    with pytest.raises(InputError, match="MiB"):
        check_run(model, 64, 128, "lm", RunCaps(max_batch_tokens=10**9, max_peak_bytes=1 << 20))
    del torch


def test_a_run_that_would_take_the_server_past_its_budget_is_refused(monkeypatch):
    from attnviz.nn.models import ModelConfig, build_model
    from attnviz.training import budget

    model = build_model(ModelConfig(kind="classifier", vocab_size=1000, n_labels=2, d_model=64, n_heads=4,
                                    n_layers=2, d_ff=256, max_len=64))
    estimate = estimate_step_bytes(model, 32, 64, "sentiment")
    monkeypatch.setattr(budget, "resident_bytes", lambda: 1536 * 2**20 - estimate - 1)
    assert check_run(model, 32, 64, "sentiment", RunCaps()) == estimate  # just fits
    monkeypatch.setattr(budget, "resident_bytes", lambda: 1536 * 2**20 - estimate // 2)
    with pytest.raises(InputError, match="server holds .* MiB now .* over its budget of 1,536 MiB"):
        check_run(model, 32, 64, "sentiment", RunCaps())
    monkeypatch.undo()
    assert 10 * 2**20 < budget.resident_bytes() < 64 * 2**30  # the real reader: this process's VmRSS


def test_the_time_cap_is_checked_right_after_each_step_before_a_dev_evaluation(monkeypatch):
    from attnviz.nn.models import ModelConfig, build_model
    from attnviz.training import train as train_module
    from attnviz.training.train import TrainConfig, train

    evaluations = []
    original = train_module._DevEvaluator.__call__
    monkeypatch.setattr(train_module._DevEvaluator, "__call__",
                        lambda self, model: evaluations.append(1) or original(self, model))
    text = "to be or not to be, that is the question. " * 200
    tokenizer = build_char_tokenizer(text)
    model = build_model(ModelConfig(kind="causal_lm", vocab_size=tokenizer.vocab_size, n_labels=1, d_model=16,
                                    n_heads=2, n_layers=1, d_ff=32, max_len=32))
    calls = []

    def deadline_passed() -> bool:  # asked before and after each step: the 4th question is after step 2
        calls.append(1)
        return len(calls) >= 4

    config = TrainConfig(task="lm", max_steps=50, batch_size=4, eval_every=2, warmup_steps=1, device="cpu")
    result = train(model, tokenizer, config, text, text[:2000], should_stop=deadline_passed)
    assert result.steps == 2 and result.stopped_early
    assert evaluations == []  # the deadline passed during step 2: no dev evaluation was started after it
