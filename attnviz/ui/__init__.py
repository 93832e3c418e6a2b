"""Streamlit helpers for the pages; the only part of attnviz that imports streamlit.

core: navigation, device, cached models and traces, pickers and inputs, safe text and errors.
views: tokens, notes, charts and downloads.
"""
from attnviz.ui.core import *  # noqa: F401,F403
from attnviz.ui.core import USER_ERRORS, _word_ids  # noqa: F401
from attnviz.ui.views import *  # noqa: F401,F403
from attnviz.ui.hosting import (error_boundary, expire_user_models_now, is_hosted, max_text_chars,  # noqa: F401
                                shown_path, show_skipped_models)
