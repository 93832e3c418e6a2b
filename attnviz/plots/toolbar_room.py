"""Room for plotly's toolbar: it is drawn over the top strip of a chart, where a title sits by default
(on a phone a long title runs under it). Titles move down below that strip, long title lines are wrapped
(plotly never wraps one: it runs past a phone's edge), a legend placed above the plot gets a line of its
own under the title, and the top margin grows to match."""
from __future__ import annotations

import plotly.graph_objects as go

from attnviz.plots.titles import TITLE_CHARS, wrap

TOOLBAR_PX = 34  # height of the strip the toolbar covers
LINE_PX = 22  # one line of title text
LEGEND_PX = 24  # one row of a horizontal legend
PLOTLY_DEFAULT_TOP = 100  # plotly's top margin when a figure sets none


def leave_room_for_toolbar(fig: go.Figure) -> go.Figure:
    """The figure (changed in place) with its title starting below the toolbar strip; a figure without a
    title is left as it is. A fixed height grows by what the margin grew, so the plot area keeps its size."""
    title = fig.layout.title.text
    if not title:
        return fig
    if any(len(line) > TITLE_CHARS for line in title.split("<br>")):
        title = "<br>".join(wrap(line) for line in title.split("<br>"))
    lines = title.count("<br>") + 1
    top = fig.layout.margin.t if fig.layout.margin.t is not None else PLOTLY_DEFAULT_TOP
    needed = TOOLBAR_PX + LINE_PX * lines + 10 + (LEGEND_PX if legend_above_plot(fig) else 0)
    fig.update_layout(title=dict(text=title, yref="container", y=1.0, yanchor="top", pad=dict(t=TOOLBAR_PX)),
                      margin=dict(t=max(top, needed)))
    if fig.layout.height is not None and needed > top:
        fig.update_layout(height=fig.layout.height + needed - top)
    return fig


def legend_above_plot(fig: go.Figure) -> bool:
    """Whether plotly draws a legend in the top margin (between the title and the plot area)."""
    legend = fig.layout.legend
    if legend.y is None or legend.y < 1 or fig.layout.showlegend is False:
        return False
    listed = [t for t in fig.data if t.showlegend is not False]
    return bool(listed) if fig.layout.showlegend else len(listed) >= 2  # plotly's default: two or more traces
