"""The branch tree's pure pieces: the forced choices in the URL, and a click on the candidates chart read
back as (step, token id), never for the token the run already took."""
from __future__ import annotations

import pytest

from attnviz.errors import InputError
from attnviz.ui import branches

RUN = {"n_prompt": 3, "ids": [10, 11, 12, 40, 41, 42], "forced": {0: 40}}


def test_forced_choices_round_trip_through_the_url():
    assert branches.forced_param({7: 10, 3: 42}) == "3:42,7:10"
    assert branches.parse_forced("3:42,7:10") == {3: 42, 7: 10}
    assert branches.forced_param({}) is None and branches.parse_forced("") == {}
    with pytest.raises(InputError):
        branches.parse_forced("3:x")


def test_a_clicked_cell_is_read_from_the_chart_state():
    state = {"selection": {"points": [{"x": 4, "y": 1, "customdata": [4, 65]}], "point_indices": [9]}}
    assert branches.clicked_choice(state) == (4, 65)
    assert branches.clicked_choice({"selection": {"points": []}}) is None  # a click that selected nothing
    assert branches.clicked_choice(None) is None and branches.clicked_choice({}) is None
    assert branches.clicked_choice({"selection": {"points": [{"customdata": [4, None]}]}}) is None


def test_the_token_taken_is_not_a_branch():
    assert branches.taken(RUN, 1, 41) and not branches.taken(RUN, 1, 7)
    assert not branches.taken(RUN, 9, 41)  # past the end of the run
    assert branches.branch_forced(RUN, 2, 7) == {0: 40, 2: 7}
    assert branches.branch_forced({**RUN, "forced": {0: 40, 5: 1}}, 2, 7) == {0: 40, 2: 7}  # later ones drop
