"""Analyses over bundles and traces: pure functions that return numbers, never draw, never change a model.

Why a prediction (issue 8): rollout, attribution, ablation, head importance, minimal pairs.
Which explanation to believe and where the decision is made (issue 17): occlusion, the faithfulness
scoreboard, activation patching.
What heads do (issue 9): head statistics and roles, corpus search, training replay (verify checks live in
attnviz.analysis.verify).
"""
from attnviz.nn.ablation import hooked_ablation, normalize_heads
from attnviz.analysis.attribution import METHODS, Attribution, attribute, integrated_gradients
from attnviz.analysis.context_index import ContextIndex, SearchHit
from attnviz.analysis.faithfulness import FaithfulnessReport, faithfulness, text_curves
from attnviz.analysis.patching import PatchResult, patch, patch_everything
from attnviz.analysis.head_stats import head_role, head_statistics, role_counts
from attnviz.analysis.importance import head_importance
from attnviz.analysis.minimal_pairs import MinimalPair, align_tokens, minimal_pair
from attnviz.analysis.replay import Replay, load_replay, replay_traces
from attnviz.analysis.rollout import rollout

__all__ = ["METHODS", "Attribution", "ContextIndex", "FaithfulnessReport", "MinimalPair", "PatchResult", "Replay",
           "SearchHit", "align_tokens", "attribute", "faithfulness", "patch", "patch_everything", "text_curves", "head_importance", "head_role", "head_statistics", "hooked_ablation",
           "integrated_gradients", "load_replay", "minimal_pair", "normalize_heads", "replay_traces", "role_counts", "rollout"]
