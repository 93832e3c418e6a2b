"""User text in markdown: escaped so it shows as typed and never becomes a tag, link or formula."""
from __future__ import annotations

import re

MAX_TEXT_CHARS = 100_000  # longer pastes are cut here before tokenising (the model cuts further)
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=^&\"'%@/])")


def escape_markdown(text: object) -> str:
    """`text` made inert for st.markdown: every markdown/HTML/LaTeX/directive character is
    backslash-escaped, so user text is shown as typed and never becomes a tag, link or formula."""
    text = str(text).replace("\r\n", "\n").replace("\r", "\n")
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)
