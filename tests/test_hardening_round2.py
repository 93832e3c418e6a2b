"""Issue 20 regressions: the safe writer, format_version true, NaN weights, stale staging folders."""
from __future__ import annotations

import json
import os

import pytest
from safetensors.torch import load_file, save_file

from attnviz.bundles import registry
from attnviz.store import safe_write
from attnviz.store.checkpoint import CONFIG_FILE, WEIGHTS_FILE, CheckpointError, load_checkpoint
from tests.test_checkpoint import saved


def test_safe_write_replaces_a_planted_link_and_never_writes_through_it(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    target = tmp_path / "out" / "file.json"
    target.parent.mkdir()
    target.symlink_to(victim)
    safe_write.save_text(target, "ours")
    assert victim.read_text() == "precious" and not target.is_symlink() and target.read_text() == "ours"
    safe_write.save_via(target, lambda path: open(path, "wb").write(b"via"))  # noqa: SIM115
    assert target.read_bytes() == b"via" and victim.read_text() == "precious"
    assert sorted(p.name for p in target.parent.iterdir()) == ["file.json"]  # no temporary files left


def test_safe_write_refuses_a_linked_folder_and_a_folder_at_the_file_name(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "linked").symlink_to(real, target_is_directory=True)
    with pytest.raises(safe_write.UnsafePathError, match="symbolic link"):
        safe_write.save_text(tmp_path / "linked" / "x.json", "no")
    assert list(real.iterdir()) == []
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(safe_write.UnsafePathError, match="is a folder"):
        safe_write.save_text(tmp_path / "dir.json", "no")


def test_a_checkpoint_save_never_writes_through_a_link_in_its_parent(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "models").symlink_to(outside, target_is_directory=True)
    with pytest.raises(OSError):
        saved(tmp_path / "models")
    assert list(outside.iterdir()) == []


def test_format_version_true_is_refused(tmp_path):
    folder = saved(tmp_path)
    document = json.loads((folder / CONFIG_FILE).read_text())
    document["format_version"] = True
    (folder / CONFIG_FILE).write_text(json.dumps(document))
    with pytest.raises(CheckpointError, match="format version True"):
        load_checkpoint(folder)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused_at_load(tmp_path, value):
    folder = saved(tmp_path)
    tensors = load_file(str(folder / WEIGHTS_FILE))
    name = next(n for n, t in tensors.items() if t.is_floating_point() and t.dim() == 2)
    tensors[name][0, 0] = value
    save_file(tensors, str(folder / WEIGHTS_FILE), metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match="NaN or infinite"):
        load_checkpoint(folder)


def test_stale_staging_folders_are_removed_by_listing_and_loading(tmp_path):
    folder = saved(tmp_path)
    dead = 2 ** 22 + 12345  # above pid_max on a default Linux: no such process
    stale = [tmp_path / f".{folder.name}.tmp-{dead}-abcd", tmp_path / f".{folder.name}.tmp-{dead}-efgh"]
    for path in stale:
        path.mkdir()
        (path / "model.safetensors").write_bytes(b"partial")
    live = tmp_path / f".{folder.name}.tmp-{os.getpid()}-live"
    live.mkdir()
    registry._recover_interrupted(tmp_path)
    assert not stale[0].exists() and not stale[1].exists() and live.exists()
    stale[0].mkdir()
    load_checkpoint(folder)
    assert not stale[0].exists() and live.exists()
