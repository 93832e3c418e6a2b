"""Analyses over bundles and traces: pure functions that return numbers, never draw, never change a model.

Why a prediction (issue 8): rollout, attribution, ablation, head importance, minimal pairs.
Which explanation to believe and where the decision is made (issue 17): occlusion, the faithfulness
scoreboard, activation patching.
What heads do (issue 9): head statistics and roles, corpus search, training replay (verify checks live in
attnviz.analysis.verify). A decoder at work (issue 18): logit lens, surprisal, sinks (in head statistics),
word alignment across tokenizers.
"""
from attnviz.nn.ablation import hooked_ablation, normalize_heads
from attnviz.analysis.attribution import METHODS, Attribution, attribute, integrated_gradients
from attnviz.analysis.context_index import ContextIndex, SearchHit
from attnviz.analysis.faithfulness import FaithfulnessReport, faithfulness, text_curves
from attnviz.analysis.patching import PatchResult, patch, patch_everything
from attnviz.analysis.alignment import WordAlignment, align_words, token_spans
from attnviz.analysis.head_stats import head_role, head_statistics, role_counts
from attnviz.analysis.importance import head_importance
from attnviz.analysis.logit_lens import LogitLens, logit_lens  # the function shadows its module's name here
from attnviz.analysis.minimal_pairs import MinimalPair, align_tokens, minimal_pair
from attnviz.analysis.replay import Replay, load_replay, replay_traces
from attnviz.analysis.rollout import rollout
from attnviz.analysis.surprisal import Surprisal, surprisal

__all__ = ["METHODS", "Attribution", "ContextIndex", "FaithfulnessReport", "LogitLens", "MinimalPair", "PatchResult",
           "Replay", "SearchHit", "Surprisal", "WordAlignment", "align_tokens", "align_words", "attribute",
           "faithfulness", "head_importance", "head_role", "head_statistics", "hooked_ablation", "integrated_gradients",
           "load_replay", "logit_lens", "minimal_pair", "normalize_heads", "patch", "patch_everything", "replay_traces",
           "role_counts", "rollout", "surprisal", "text_curves", "token_spans"]
