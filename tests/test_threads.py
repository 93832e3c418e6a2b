"""torch threads per request (issue 19): one when hosted or when several sessions run, the idle cores
otherwise, ATTNVIZ_TORCH_THREADS first."""
from __future__ import annotations

import pytest
import torch

from attnviz.ui.threads import choose_threads, configure_threads


@pytest.mark.parametrize("cores, sessions, hosted, override, load, expected", [
    (2, 1, False, None, 0.2, 2),     # a quiet 2-core machine, one visitor: both cores
    (2, 1, False, None, 1.5, 1),     # another job holds a core
    (2, 1, False, None, 9.0, 1),     # busy: never below one
    (16, 1, False, None, 4.0, 12),
    (2, 8, False, None, 0.0, 1),     # several sessions: one each
    (16, 1, True, None, 0.0, 1),     # hosted: one per request
    (2, 8, True, "3", 0.0, 3),       # the override wins
    (2, 1, False, "²", 0.0, 2),      # ... when it is a plain ASCII number
    (2, 1, False, "0", 0.0, 2),
])
def test_choose_threads(cores, sessions, hosted, override, load, expected):
    assert choose_threads(cores, sessions, hosted, override, load) == expected


def test_configure_threads_sets_torch(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("ATTNVIZ_TORCH_THREADS", "1")
        assert configure_threads(hosted=False) == 1 and torch.get_num_threads() == 1
        monkeypatch.delenv("ATTNVIZ_TORCH_THREADS")
        assert configure_threads(hosted=True) == 1
    finally:
        torch.set_num_threads(before)
