"""Room for plotly's toolbar: it is drawn over the top strip of a chart, where a title sits by default
(on a phone a long title runs under it). Titles move down below that strip; the top margin grows to match."""
from __future__ import annotations

import plotly.graph_objects as go

TOOLBAR_PX = 34  # height of the strip the toolbar covers
LINE_PX = 22  # one line of title text
PLOTLY_DEFAULT_TOP = 100  # plotly's top margin when a figure sets none


def leave_room_for_toolbar(fig: go.Figure) -> go.Figure:
    """The figure (changed in place) with its title starting below the toolbar strip; a figure without a
    title is left as it is. A fixed height grows by what the margin grew, so the plot area keeps its size."""
    title = fig.layout.title.text
    if not title:
        return fig
    lines = title.count("<br>") + 1
    top = fig.layout.margin.t if fig.layout.margin.t is not None else PLOTLY_DEFAULT_TOP
    needed = TOOLBAR_PX + LINE_PX * lines + 10
    fig.update_layout(title=dict(yref="container", y=1.0, yanchor="top", pad=dict(t=TOOLBAR_PX)),
                      margin=dict(t=max(top, needed)))
    if fig.layout.height is not None and needed > top:
        fig.update_layout(height=fig.layout.height + needed - top)
    return fig
