"""Chart titles that fit a phone: plotly never wraps a title, so a long one runs past the chart's edge and
is cut ("…heads loo"). These helpers break titles at spaces into short lines and make room for them."""
from __future__ import annotations

import textwrap

import plotly.graph_objects as go

from attnviz.plots.attention import MARGIN, _finish

TITLE_CHARS = 38   # a line that fits a ~360 px chart (a 390 px phone) at plotly's title font
AXIS_CHARS = 34    # an axis title's line: it is centred over the plot area, narrower than the chart
LINE_PX = 22       # the height one more title line takes


def wrap(text: str, width: int = TITLE_CHARS) -> str:
    """`text` in lines of at most `width` characters, split at spaces and joined by <br> (a word longer
    than `width` keeps its own line). Text that is already HTML-escaped stays so: entities hold no space."""
    return "<br>".join(textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)) or text


def lines(title: str) -> int:
    return title.count("<br>") + 1


def finish_wrapped(fig: go.Figure, title: str, height: int, top: int = MARGIN["t"]) -> go.Figure:
    """`_finish` with the title wrapped, the top margin (`top` for one line) and the height grown by
    the extra lines, so the plot keeps its size."""
    title = wrap(title)
    extra = LINE_PX * (lines(title) - 1)
    fig = _finish(fig, title, height + extra)
    fig.update_layout(margin=dict(t=top + extra))
    return fig
