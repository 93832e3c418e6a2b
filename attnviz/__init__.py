"""attnviz: see what self-attention does, in our own small models and in pretrained ones.

The library's rooms: nn (the torch modules), text (tokenizers, display), store (files on disk),
bundles (a loaded model with its tokenizer), training, bench, analysis, plots, ui (Streamlit only).
"""
from __future__ import annotations

from attnviz.bundles.bundle import Bundle
from attnviz.bundles.loading import SHIPPED_CHECKPOINTS, load
from attnviz.errors import CheckpointError, InputError
from attnviz.trace import AttentionTrace

__all__ = ["AttentionTrace", "Bundle", "CheckpointError", "InputError", "SHIPPED_CHECKPOINTS", "load"]
__version__ = "0.1.0"
