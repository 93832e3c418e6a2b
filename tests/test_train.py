"""The trainer: schedule, optimizer step order, devices, early stopping, checkpoints it writes."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from attnviz.training.data import SENTIMENT_LABELS, read_classification_tsv
from attnviz.device import cpu_supports_bf16, pick_device, pick_precision
from attnviz.nn.models import ModelConfig, build_model
from attnviz.training.schedule import lr_multiplier, transformer_peak_lr
from attnviz.text.tokenize import build_word_tokenizer
from attnviz.training.train import TrainConfig, optimizer_step, train


def test_transformer_schedule_rises_then_decays_and_is_never_zero():
    # seed fault 7: Adam(lr=0) under LambdaLR kept the rate at 0 for ever
    d_model, warmup = 128, 100
    peak = transformer_peak_lr(d_model, warmup)
    optimizer = torch.optim.Adam([nn.Parameter(torch.zeros(1))], lr=peak)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_multiplier("transformer", warmup, 1000))
    rates = []
    for _ in range(400):
        rates.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    assert rates[0] > 0
    paper = [d_model ** -0.5 * min(s ** -0.5, s * warmup ** -1.5) for s in range(1, 401)]
    assert rates == pytest.approx(paper, rel=1e-9)
    assert max(rates) == pytest.approx(peak)
    assert rates.index(max(rates)) == warmup - 1


def test_linear_schedule_reaches_zero_at_the_end():
    factor = lr_multiplier("linear", 10, 100)
    assert factor(0) == pytest.approx(0.1)
    assert factor(9) == pytest.approx(1.0)
    assert factor(99) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError):
        lr_multiplier("cosine-ish", 10, 100)


def test_clipping_sees_unscaled_gradients():
    # seed fault 9: clipping the scaled gradients shrinks every step by the loss scale
    torch.manual_seed(0)
    weight = nn.Parameter(torch.randn(5))
    model = nn.Module()
    model.weight = weight
    optimizer = torch.optim.SGD([weight], lr=1.0)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0, enabled=True)
    before = weight.detach().clone()
    loss = (weight * torch.arange(1.0, 6.0) * 10).sum()  # gradient norm ~74, clipped to 1
    optimizer_step(loss, model, optimizer, scaler, clip_norm=1.0)
    step = weight.detach() - before
    assert step.norm().item() == pytest.approx(1.0, rel=1e-4)


def test_devices_without_gpu():
    device = pick_device("auto")
    assert device.type in ("cpu", "cuda", "mps")
    assert pick_precision(torch.device("cpu"), "auto") == ("bf16" if cpu_supports_bf16() else "fp32")
    assert pick_precision(torch.device("cpu"), "bf16") == "bf16"
    assert pick_precision(torch.device("cpu"), "fp32") == "fp32"
    with pytest.raises(ValueError, match="CUDA"):
        pick_precision(torch.device("cpu"), "fp16")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            pick_device("cuda")


def _tiny_sentiment(shared_data, n=160):
    rows = read_classification_tsv(shared_data / "sst2" / "train.tsv")[:n]
    tokenizer = build_word_tokenizer([t for t, _ in rows])
    config = ModelConfig(kind="classifier", vocab_size=tokenizer.vocab_size, d_model=16, n_heads=2, n_layers=1,
                         d_ff=32, max_len=64)
    return rows, tokenizer, config


@pytest.mark.slow
def test_training_learns_and_reports_progress(shared_data):
    rows, tokenizer, config = _tiny_sentiment(shared_data, 64)
    model = build_model(config)
    events = []
    result = train(model, tokenizer, TrainConfig(task="sentiment", epochs=20, batch_size=16, lr=5e-3, warmup_steps=5,
                                                 patience=100, eval_every=20), rows, rows, SENTIMENT_LABELS,
                   on_progress=events.append, log_every=5)
    losses = [e.loss for e in events]
    assert losses[-1] < losses[0]
    assert result.best_dev_metric is not None and result.best_dev_metric > 0.7  # fits its own training slice
    assert any(e.dev_metric is not None for e in events)
    assert all(e.lr > 0 for e in events)
    assert not model.training


@pytest.mark.slow
def test_same_seed_same_weights(shared_data):
    rows, tokenizer, config = _tiny_sentiment(shared_data, 64)
    weights = []
    for _ in range(2):
        torch.manual_seed(123)  # model init
        model = build_model(config)
        train(model, tokenizer, TrainConfig(task="sentiment", epochs=1, batch_size=16, lr=1e-3, seed=5), rows)
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(weights[0], weights[1])


@pytest.mark.slow
def test_stop_callback_and_early_stopping(shared_data):
    rows, tokenizer, config = _tiny_sentiment(shared_data, 64)
    calls = []

    def stop_after_three() -> bool:
        calls.append(1)
        return len(calls) > 3

    result = train(build_model(config), tokenizer, TrainConfig(task="sentiment", epochs=50, batch_size=8),
                   rows, should_stop=stop_after_three)
    assert result.stopped_early and result.steps == 3
    # dev metric that cannot improve (lr 0 via a constant tiny rate) stops after `patience` evaluations
    result = train(build_model(config), tokenizer,
                   TrainConfig(task="sentiment", epochs=50, batch_size=8, lr=1e-12, patience=2, eval_every=2),
                   rows, rows[:16], SENTIMENT_LABELS)
    assert result.stopped_early and result.steps <= 6


def test_lm_config_needs_steps():
    with pytest.raises(ValueError, match="max-steps"):
        TrainConfig(task="lm")
    with pytest.raises(ValueError, match="unknown task"):
        TrainConfig(task="poetry")


def test_padding_free_lm_windows_never_run_past_the_text():
    from attnviz.training.batching import lm_windows
    stream = torch.arange(50)
    batch = lm_windows(stream, 10, 64, torch.Generator().manual_seed(0))
    assert batch["ids"].shape == (64, 10)
    assert torch.equal(batch["targets"], batch["ids"] + 1)
    assert int(batch["targets"].max()) <= 49
    assert not math.isnan(float(batch["ids"].float().mean()))
