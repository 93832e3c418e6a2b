"""Analyses over bundles and traces: pure functions that return numbers, never draw, never change a model."""
from attnviz.analysis.ablation import hooked_ablation, normalize_heads
from attnviz.analysis.attribution import METHODS, Attribution, attribute, integrated_gradients
from attnviz.analysis.importance import head_importance
from attnviz.analysis.minimal_pairs import MinimalPair, align_tokens, minimal_pair
from attnviz.analysis.rollout import rollout

__all__ = ["METHODS", "Attribution", "MinimalPair", "align_tokens", "attribute", "head_importance",
           "hooked_ablation", "integrated_gradients", "minimal_pair", "normalize_heads", "rollout"]
