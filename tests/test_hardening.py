"""Hostile model folders (issue 11, items 1 and 3): no code from a folder ever runs, and a hostile
config or file is refused quickly with a CheckpointError, allocating nothing the files do not justify."""
from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

import attnviz
from attnviz.bundles import registry
from attnviz.store.checkpoint import CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE, CheckpointError, load_checkpoint

from test_checkpoint import saved

REPO = Path(__file__).resolve().parents[1]


def edit_config(folder: Path, **model_changes) -> Path:
    document = json.loads((folder / CONFIG_FILE).read_text())
    for key, value in model_changes.items():
        if key in ("labels", "task", "tokenizer"):
            document[key] = value
        else:
            document["model"][key] = value
    (folder / CONFIG_FILE).write_text(json.dumps(document))
    return folder


# ------------------------------------------------------------------------- 1. remote code

def remote_code_folder(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "evil"
    folder.mkdir()
    marker = tmp_path / "code-ran"
    (folder / "config.json").write_text(json.dumps({
        "model_type": "evilbert", "architectures": ["EvilModel"],
        "auto_map": {"AutoConfig": "evil.EvilConfig", "AutoModel": "evil.EvilModel"}}))
    (folder / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n"
                                    "from transformers import PretrainedConfig\n"
                                    "class EvilConfig(PretrainedConfig):\n    model_type = 'evilbert'\n")
    (folder / "model.safetensors").write_bytes(b"")
    return folder, marker


def test_a_folder_asking_for_remote_code_is_refused_whatever_stdin_says(tmp_path, monkeypatch):
    folder, marker = remote_code_folder(tmp_path)
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n" * 10))
    started = time.perf_counter()
    with pytest.raises(CheckpointError, match="code"):
        attnviz.load(str(folder))
    assert time.perf_counter() - started < 5
    assert not marker.exists()


def test_remote_code_in_tokenizer_config_is_refused_too(tmp_path):
    folder, marker = remote_code_folder(tmp_path)
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (folder / "tokenizer_config.json").write_text(json.dumps({"auto_map": {"AutoTokenizer": ["evil.T", None]}}))
    with pytest.raises(CheckpointError, match="code"):
        attnviz.load(str(folder))
    assert not marker.exists()


def test_hf_loading_passes_trust_remote_code_false(monkeypatch):
    transformers = pytest.importorskip("transformers")
    from attnviz.bundles import hf
    seen = []
    for owner in (transformers.AutoConfig, transformers.AutoTokenizer, transformers.AutoModel):
        original = owner.from_pretrained

        def recording(*args, _original=original, _owner=owner, **kwargs):
            seen.append((_owner.__name__, kwargs.get("trust_remote_code", "not passed")))
            return _original(*args, **kwargs)

        monkeypatch.setattr(owner, "from_pretrained", recording)
    hf.load_hf(registry.MINILM_NAME)
    assert {owner for owner, _ in seen} == {"AutoConfig", "AutoTokenizer", "AutoModel"}
    assert all(value is False for _, value in seen), seen


@pytest.mark.parametrize("name", ["config.json", "tokenizer.json", "model.safetensors"])
def test_hf_folders_with_fifos_or_dev_zero_are_refused_at_once(tmp_path, name):
    folder = tmp_path / "hf"
    folder.mkdir()
    for file in ("config.json", "tokenizer.json", "model.safetensors"):
        (folder / file).write_text(json.dumps({"model_type": "bert"}) if file == "config.json" else "{}")
    started = time.perf_counter()
    (folder / name).unlink()
    (folder / name).symlink_to("/dev/zero")
    with pytest.raises(CheckpointError, match="not a regular file"):
        attnviz.load(str(folder))
    (folder / name).unlink()
    os.mkfifo(folder / name)
    with pytest.raises(CheckpointError, match="not a regular file"):
        attnviz.load(str(folder))
    assert time.perf_counter() - started < 5


# ------------------------------------------------------------------------- 3. hostile files and configs

@pytest.mark.parametrize("changes,match", [
    ({"n_heads": 0}, "n_heads"),
    ({"layer_norm_eps": -1.0}, "layer_norm_eps"),
    ({"n_layers": "2"}, "n_layers"),
    ({"n_layers": 2.5}, "n_layers"),
    ({"n_layers": True}, "n_layers"),
    ({"dropout": 7.0}, "dropout"),
    ({"labels": 5}, "labels"),
    ({"labels": [1, 2]}, "labels"),
    ({"task": ["sentiment"]}, "task"),
    ({"tokenizer": "word"}, "tokenizer"),
    ({"n_layers": 10_000}, "n_layers"),
    ({"d_ff": 10_000_000}, "d_ff"),
    ({"vocab_size": 1_600_000}, "vocab_size"),
    ({"activation": "rm -rf"}, "activation"),
])
def test_bad_config_values_are_checkpoint_errors(tmp_path, changes, match):
    folder = edit_config(saved(tmp_path, "sentiment"), **changes)
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(folder)


def test_a_deeply_nested_config_is_a_checkpoint_error(tmp_path):
    folder = saved(tmp_path, "sentiment")
    (folder / CONFIG_FILE).write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(CheckpointError):
        load_checkpoint(folder)


@pytest.mark.parametrize("name", [CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE])
def test_dev_zero_and_fifos_are_refused_at_once(tmp_path, name):
    folder = saved(tmp_path, "sentiment")
    (folder / name).unlink()
    (folder / name).symlink_to("/dev/zero")
    started = time.perf_counter()
    with pytest.raises(CheckpointError, match="not a regular file"):
        load_checkpoint(folder)
    (folder / name).unlink()
    os.mkfifo(folder / name)
    with pytest.raises(CheckpointError, match="not a regular file"):
        load_checkpoint(folder)
    assert time.perf_counter() - started < 5


def test_oversized_config_and_safetensors_header_are_refused(tmp_path):
    folder = saved(tmp_path, "sentiment")
    document = json.loads((folder / CONFIG_FILE).read_text())
    document["metadata"] = {"padding": "x" * 3_000_000}
    (folder / CONFIG_FILE).write_text(json.dumps(document))
    with pytest.raises(CheckpointError, match="too big"):
        load_checkpoint(folder)
    folder = saved(tmp_path / "b", "sentiment")
    with open(folder / WEIGHTS_FILE, "r+b") as handle:
        handle.write(struct.pack("<Q", 10**15))  # a header "10^15 bytes long"
    with pytest.raises(CheckpointError, match="header"):
        load_checkpoint(folder)


def test_config_shapes_are_checked_against_the_header_before_building(tmp_path, monkeypatch):
    folder = edit_config(saved(tmp_path, "sentiment"), d_ff=64)  # fits the ranges, not the tensors
    import attnviz.store.checkpoint as checkpoint_module

    def never(*args, **kwargs):
        raise AssertionError("a model was built before the shapes were checked")

    monkeypatch.setattr(checkpoint_module, "build_model", never)
    with pytest.raises(CheckpointError, match="does not match"):
        load_checkpoint(folder)


HOSTILE_SCRIPT = r"""
import json, os, resource, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from attnviz.store.checkpoint import load_checkpoint, CheckpointError
results = {}
for folder in sorted(Path(sys.argv[1]).iterdir()):
    started = time.perf_counter()
    try:
        load_checkpoint(folder)
        outcome = "loaded"
    except CheckpointError as error:
        outcome = "CheckpointError: " + str(error)[:150]
    except BaseException as error:
        outcome = type(error).__name__ + ": " + str(error)[:150]
    results[folder.name] = [outcome, round(time.perf_counter() - started, 3)]
# VmHWM is this process's own peak: ru_maxrss would also count the forking pytest process's memory
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")]
results["peak_rss_mb"] = int(hwm[0].split()[1]) / 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(results))
"""


def hostile_folders(root: Path) -> None:
    for name, changes in {"n_layers_1e4": {"n_layers": 9_999}, "d_ff_1e7": {"d_ff": 9_999_999},
                          "vocab_1_6M": {"vocab_size": 1_600_000}, "max_len_1e8": {"max_len": 10**8},
                          "n_layers_128": {"n_layers": 128}, "d_ff_65536": {"d_ff": 65_536},
                          "vocab_1M": {"vocab_size": 1_000_000}, "max_len_65536": {"max_len": 65_536},
                          "d_model_8192": {"d_model": 8192, "n_heads": 2}}.items():
        edit_config(saved(root / "tmp" / name, "sentiment"), **changes).rename(root / "cases" / name)
    big = saved(root / "tmp" / "config_3MB", "sentiment")
    document = json.loads((big / CONFIG_FILE).read_text())
    document["metadata"] = {"padding": "x" * 3_000_000}
    (big / CONFIG_FILE).write_text(json.dumps(document))
    big.rename(root / "cases" / "config_3MB")
    for name, size in ((CONFIG_FILE, 2 << 30), (TOKENIZER_FILE, 1 << 30), (WEIGHTS_FILE, 5 << 30)):
        sparse = saved(root / "tmp" / f"sparse-{name}", "sentiment")
        os.truncate(sparse / name, size)  # gigabytes of zeros that take no disk space
        sparse.rename(root / "cases" / f"sparse-{name}")
    header = saved(root / "tmp" / "header_1e15", "sentiment")
    with open(header / WEIGHTS_FILE, "r+b") as handle:
        handle.write(struct.pack("<Q", 10**15))
    header.rename(root / "cases" / "header_1e15")
    for name in (CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE):
        for kind in ("zero", "fifo"):
            folder = saved(root / "tmp" / f"{kind}-{name}", "sentiment")
            (folder / name).unlink()
            (folder / name).symlink_to("/dev/zero") if kind == "zero" else os.mkfifo(folder / name)
            folder.rename(root / "cases" / f"{kind}-{name}")


def test_hostile_checkpoints_are_refused_within_seconds_and_1_5_gb(tmp_path):
    (tmp_path / "cases").mkdir()
    hostile_folders(tmp_path)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run([sys.executable, "-c", HOSTILE_SCRIPT, str(tmp_path / "cases"), str(REPO)],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    peak = report.pop("peak_rss_mb")
    print(json.dumps(report, indent=1), f"peak RSS {peak:.0f} MB")
    assert peak < 1500
    for name, (outcome, seconds) in report.items():
        # a longer context for sinusoidal positions needs no weights: a valid model, loaded
        expected = "loaded" if name == "max_len_65536" else "CheckpointError"
        assert outcome.startswith(expected), (name, outcome)
        assert seconds < 5, (name, seconds)


@pytest.mark.parametrize("changes", [{}, {"positional": "learned", "max_len": 300}, {"case_features": True},
                                     {"embedding_norm": True, "norm_first": True, "n_layers": 3, "d_ff": 7}])
@pytest.mark.parametrize("kind", ["classifier", "tagger", "causal_lm"])
def test_the_size_bound_covers_every_model(kind, changes):
    from attnviz.store.checkpoint_checks import parameter_bound
    from attnviz.nn.models import ModelConfig, build_model
    config = ModelConfig(**({"kind": kind, "vocab_size": 50, "n_labels": 3, "d_model": 8, "n_heads": 2, "n_layers": 2,
                             "d_ff": 16, "max_len": 32} | changes))
    held = sum(t.numel() for t in build_model(config).state_dict().values())
    assert held <= parameter_bound(config) <= 3 * held
