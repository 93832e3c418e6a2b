"""The browser tests and .ci/run find Chromium through $CHROMIUM or PATH, and say what to install when
it is missing (never a fixed /usr/bin/chromium)."""
from __future__ import annotations

import subprocess
from pathlib import Path

from chromium import find_chromium, missing_message

REPO = Path(__file__).resolve().parents[1]
FIND = REPO / ".ci" / "find-chromium"


def fake_browser(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


def test_python_finds_chromium_on_path_or_from_the_variable(tmp_path):
    on_path = fake_browser(tmp_path / "bin", "chromium-browser")
    assert find_chromium({"PATH": str(tmp_path / "bin")}) == on_path
    given = fake_browser(tmp_path / "elsewhere", "my-chrome")
    assert find_chromium({"PATH": str(tmp_path / "bin"), "CHROMIUM": str(given)}) == given
    assert find_chromium({"PATH": str(tmp_path / "empty")}) is None
    assert "apt-get install chromium" in missing_message({"PATH": ""})
    assert "CHROMIUM=/nope" in missing_message({"CHROMIUM": "/nope"})
    assert find_chromium({"CHROMIUM": "/nope", "PATH": str(tmp_path / "bin")}) is None


def test_ci_script_finds_chromium_the_same_way(tmp_path):
    bash = "/bin/bash"
    on_path = fake_browser(tmp_path / "bin", "chromium")
    env = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin"}
    result = subprocess.run([bash, str(FIND)], capture_output=True, text=True, env=env)
    assert result.returncode == 0 and result.stdout.strip() == str(on_path)
    given = fake_browser(tmp_path / "other", "chrome")
    result = subprocess.run([bash, str(FIND)], capture_output=True, text=True, env=env | {"CHROMIUM": str(given)})
    assert result.stdout.strip() == str(given)
    result = subprocess.run([bash, str(FIND)], capture_output=True, text=True,
                            env={"PATH": str(tmp_path / "empty"), "CHROMIUM": ""})
    assert result.returncode == 1 and "apt-get install chromium" in result.stderr


def test_nothing_names_a_fixed_chromium_path():
    for path in (REPO / ".ci" / "run", REPO / "tests" / "test_browser.py"):
        assert "/usr/bin/chromium" not in path.read_text(), path
    assert ".ci/find-chromium" in (REPO / ".ci" / "run").read_text()
