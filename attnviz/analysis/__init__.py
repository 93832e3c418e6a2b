"""Analysis over bundles and traces (no streamlit): head statistics, corpus search, replay, verify."""
from attnviz.analysis.context_index import ContextIndex, SearchHit
from attnviz.analysis.head_stats import head_role, head_statistics, role_counts
from attnviz.analysis.replay import Replay, ReplayRecorder, load_replay

__all__ = ["ContextIndex", "Replay", "ReplayRecorder", "SearchHit", "head_role", "head_statistics",
           "load_replay", "role_counts"]
