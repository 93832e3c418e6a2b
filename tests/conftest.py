"""Shared fixtures: where the shared data lives, and small helpers."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """ATTNVIZ_DATA if set, else ../shared/data beside the repository (the rule of attnviz.training.data)."""
    from attnviz.training.data import default_data_root
    return default_data_root()[0]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not (path / "sst2" / "train.tsv").exists():
        pytest.fail(f"shared data not found at {path}; set ATTNVIZ_DATA to the shared data folder")
    return path


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield
