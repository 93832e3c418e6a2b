"""Text generation for HuggingFace decoders: per-call key/value cache, attention rows recorded on request."""
from __future__ import annotations

import inspect
from dataclasses import replace

import torch

from attnviz.errors import InputError
from attnviz.nn.generate import GenerationConfig, GenerationResult, sample_tokens


def generate_hf(bundle, prompt: str, config: GenerationConfig) -> tuple[str, GenerationResult]:
    """Continue the prompt with an HFBundle's decoder; returns the new text and the per-step details."""
    if bundle.task != "lm":
        raise InputError(f"{bundle.name} is a {bundle.task} model; only language models generate text.")
    ids = bundle.encode(prompt).ids if prompt.strip() else []
    if not ids:
        bos = getattr(bundle.tokenizer, "bos_token_id", None)
        bos = bos if bos is not None else getattr(bundle.tokenizer, "eos_token_id", None)
        if bos is None:
            raise InputError("The prompt gave no tokens this model knows.")
        ids = [bos]
    eos = getattr(bundle.tokenizer, "eos_token_id", None)
    if isinstance(eos, int) and not config.stop_ids:  # a decoder ends its answer with its end token
        config = replace(config, stop_ids=(eos,))

    cache: dict = {"ids": None, "past": None}  # this call's key/value cache: local, so thread-safe
    # transformers 5 names the cache argument `cache` (older models: past_key_values)
    cache_arg = "cache" if "cache" in inspect.signature(bundle.model.forward).parameters else "past_key_values"

    def next_logits(context: list[int]) -> torch.Tensor:
        """Only the new token runs when the context grew by one (a 30-layer decoder then takes
        one token's work per step); a cropped context is run again in full."""
        previous, past = cache["ids"], cache["past"]
        record = {"output_attentions": True} if config.record_attention else {}
        if past is not None and len(context) == len(previous) + 1 and context[:-1] == previous:
            tensor = torch.tensor([context[-1:]], device=bundle.device)  # (1, 1)
            output = bundle.model(input_ids=tensor, use_cache=True, **{cache_arg: past}, **record)
        else:
            tensor = torch.tensor([context], device=bundle.device)  # (1, T)
            output = bundle.model(input_ids=tensor, use_cache=True, **record)
        cache["ids"] = list(context)
        cache["past"] = getattr(output, "cache", None) or getattr(output, "past_key_values", None)
        if not config.record_attention:
            return output.logits[0, -1]
        if not output.attentions or output.attentions[0] is None:
            raise InputError(f"{bundle.name} gives no attention weights while generating")
        # per layer (1, H, new tokens, len(context)): the last query's row is the one that chooses
        return output.logits[0, -1], torch.stack([a[0, :, -1] for a in output.attentions])  # (L, H, T)

    with torch.inference_mode():
        result = sample_tokens(next_logits, ids, config, bundle.max_len)
    return bundle.tokenizer.decode(result.new_ids), result
