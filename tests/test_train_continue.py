"""Training an attnviz checkpoint further (`--init <checkpoint>`): same shape, same tokenizer, its weights."""
from __future__ import annotations

import pytest
import torch

import attnviz
from attnviz.training.train import TrainConfig
from attnviz.training.training_job import JobSpec, ModelShape, run_job

TEXT = "To be, or not to be, that is the question. " * 40


def lm_spec(out, **changes) -> JobSpec:
    train = TrainConfig(task="lm", max_steps=6, batch_size=4, lr=3e-3, schedule="constant", warmup_steps=0,
                        device="cpu", precision="fp32")
    fields = dict(task="lm", out=str(out), train=train,
                  shape=ModelShape(d_model=16, n_heads=2, n_layers=1, d_ff=32, max_len=16))
    return JobSpec(**{**fields, **changes})


def continue_frozen(first_run, out, **changes):
    """Train `first_run` further at a rate of 1e-30 (so the weights stay where they were); the result."""
    train = TrainConfig(task="lm", max_steps=2, batch_size=4, lr=1e-30, schedule="constant", warmup_steps=0,
                        weight_decay=0.0, device="cpu", precision="fp32")
    run_job(lm_spec(out, init=str(first_run), train=train, **changes), train_data=TEXT, dev_data=TEXT[:200])
    return attnviz.load(out)


def assert_same_weights(before, after) -> None:
    for (name, a), (_, b) in zip(before.model.state_dict().items(), after.model.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-6), name


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("continue") / "first"
    run_job(lm_spec(folder), train_data=TEXT, dev_data=TEXT[:200])
    return folder


def test_continuing_keeps_the_shape_and_starts_from_the_weights(first_run, tmp_path):
    before = attnviz.load(first_run)
    after = continue_frozen(first_run, tmp_path / "second",
                            shape=ModelShape(d_model=64, n_heads=4, n_layers=3))  # ignored: the checkpoint's is kept
    assert after.config == before.config
    assert after.tokenizer.vocab_size == before.tokenizer.vocab_size
    assert_same_weights(before, after)
    assert after.model.config.n_layers == 1


def test_continuing_changes_the_weights_when_it_learns(first_run, tmp_path):
    run_job(lm_spec(tmp_path / "more", init=str(first_run)), train_data=TEXT, dev_data=TEXT[:200])
    before, after = attnviz.load(first_run).model.state_dict(), attnviz.load(tmp_path / "more").model.state_dict()
    assert any(not torch.equal(before[name], after[name]) for name in before)


def test_a_checkpoint_of_another_task_is_refused(first_run, tmp_path):
    with pytest.raises(ValueError, match="is a lm checkpoint; this run trains sentiment"):
        run_job(lm_spec(tmp_path / "wrong", task="sentiment", init=str(first_run),
                        train=TrainConfig(task="sentiment", epochs=1, device="cpu")),
                train_data=[("a good film", 1), ("bad", 0)] * 4, dev_data=[("good", 1)])


def test_a_longer_context_keeps_the_weights_and_the_predictions_on_short_text(first_run, tmp_path):
    before = attnviz.load(first_run)
    after = continue_frozen(first_run, tmp_path / "longer", longer_context=32)
    assert after.model.config.max_len == 32 and before.model.config.max_len == 16
    ids = torch.tensor([before.tokenizer.encode(TEXT[:16]).ids])
    with torch.no_grad():
        assert torch.allclose(before.model(ids).logits, after.model(ids).logits, atol=1e-5)
        longer = torch.tensor([after.tokenizer.encode(TEXT[:32]).ids])
        assert after.model(longer).logits.shape[1] == 32  # the longer context runs


def test_a_longer_context_is_refused_for_learned_positions(tmp_path):
    learned = tmp_path / "learned"
    run_job(lm_spec(learned, shape=ModelShape(d_model=16, n_heads=2, n_layers=1, d_ff=32, max_len=16,
                                              positional="learned")), train_data=TEXT, dev_data=TEXT[:200])
    with pytest.raises(ValueError, match="learned positions for 16 tokens"):
        run_job(lm_spec(tmp_path / "longer", init=str(learned), longer_context=32), train_data=TEXT,
                dev_data=TEXT[:200])


def test_a_new_dropout_rate_is_taken_and_the_weights_kept(first_run, tmp_path):
    before = attnviz.load(first_run)
    after = continue_frozen(first_run, tmp_path / "dropout", continue_dropout=0.3)
    assert after.model.config.dropout == 0.3 != before.model.config.dropout
    assert_same_weights(before, after)
