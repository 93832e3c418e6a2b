"""The README's example numbers come from the shipped models (issue 11: it showed 0.97 where the model
gives 0.851). If a checkpoint is retrained, this says which README line to update."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import attnviz

README = Path(__file__).resolve().parents[1] / "README.md"
PREDICT = re.compile(r"""sentiment\.predict\(\[(?P<text>"[^"]*")\]\)\n# \[\{'label': '(?P<label>\w+)', """
                     r"""'probabilities': (?P<probs>\{[^}]*\})""")


def test_the_predict_example_shows_what_the_model_gives():
    found = PREDICT.search(README.read_text())
    assert found, "the README lost its sentiment.predict example"
    text, label, shown = ast.literal_eval(found["text"]), found["label"], ast.literal_eval(found["probs"])
    result = attnviz.load("checkpoints/sentiment").predict([text])[0]
    assert result["label"] == label
    for name, value in shown.items():
        digits = len(str(value).split(".")[1])
        assert round(result["probabilities"][name], digits) == pytest.approx(value), (name, result["probabilities"])


# ---------------------------------------------------------------- issue 19: a README a newcomer can follow

import builtins  # noqa: E402
import json  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

REPO = README.parent
SHELL_PROGRAMS = ("python", "python3", "pip", "torchrun", "streamlit")


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def shell_commands() -> list[str]:
    """Each command of the sh blocks (continuation lines joined, comments dropped)."""
    commands = []
    for block in blocks("sh"):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def test_every_python_sample_defines_the_names_it_uses():
    known = set(dir(builtins))
    for block in blocks("python"):
        tree = ast.parse(block)
        defined = set(known)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                defined |= {(a.asname or a.name).split(".")[0] for a in node.names}
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                defined.add(node.id)
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        if "attnviz" in used and "attnviz" not in defined:
            defined.add("attnviz")  # the samples follow the tour, which starts with `import attnviz`
        assert used <= defined, (sorted(used - defined), block[:200])


def test_shell_commands_use_the_environments_programs_and_no_placeholders():
    for command in shell_commands():
        lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        parts: list[list[str]] = [[]]
        for token in lexer:
            if token in ("&&", "||", ";", "|", "{", "}"):
                parts.append([])
            else:
                parts[-1].append(token)
        for words in parts:
            while words and "=" in words[0] and not words[0].startswith("-"):
                words = words[1:]  # VAR=value prefixes
            if not words:
                continue
            assert words[0] not in SHELL_PROGRAMS or words[:3] == ["python3", "-m", "venv"], command
            assert "..." not in words, command


def test_the_install_is_editable_in_the_readme_and_in_ci():
    first = shell_commands()[0]
    assert "-e ." in first, first
    assert "-e ." in (REPO / ".ci" / "run").read_text()
    assert 'include = ["attnviz", "attnviz.*"]' in (REPO / "pyproject.toml").read_text()


def test_the_gpu_check_runs_on_a_cpu_only_torch():
    line = next(c for c in shell_commands() if "cuda.is_available" in c)
    code = shlex.split(line)[-1]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-500:]


def test_the_fine_tuning_command_is_the_one_that_made_the_shipped_model():
    recorded = json.loads((REPO / "checkpoints" / "sentiment" / "config.json").read_text())["metadata"]["command"]
    shown = next(c for c in shell_commands() if "--init all-MiniLM-L6-v2" in c)
    strip_out = lambda words: [w for i, w in enumerate(words) if w not in ("--out", "--overwrite")  # noqa: E731
                               and (i == 0 or words[i - 1] != "--out")]
    assert strip_out(shlex.split(shown)[1:]) == strip_out(shlex.split(recorded)[1:])


def test_head_counts_name_the_shipped_sentiment_models_shape():
    model = attnviz.load("sentiment")
    text = README.read_text()
    for layers, heads in re.findall(r"sentiment \(ours, (\d+) x (\d+)", text):
        assert (int(layers), int(heads)) == (model.n_layers, model.n_heads)
    for total in re.findall(r"\((\d+) heads\)", text.split("| sentiment (ours")[1].split("\n")[0]):
        assert int(total) == model.n_layers * model.n_heads
    assert "48 heads" not in text and "4 x 12" not in text and "4 × 12" not in text


def test_the_attention_memory_ratio_at_2048_is_the_tables():
    text = README.read_text()
    row = re.search(r"\| 2048 \| \d+ \| [\d.]+ \| (?P<fast>[\d.]+) \| [\d.]+ \| [\d.]+ \| [\d.]+ \| (?P<mha>[\d.]+) \|",
                    text)
    stated = re.search(r"at L=2048 needs (?P<ratio>[\d.]+)x its extra memory", text)
    assert row and stated
    assert float(stated["ratio"]) == pytest.approx(float(row["fast"]) / float(row["mha"]), abs=0.005)


def test_smollm2_conversion_is_quoted_one_way():
    text = README.read_text()
    opening = re.search(r"converting takes (\d+)-(\d+) s and ([\d.]+)-([\d.]+) GB", text)
    measured = re.search(r"converting took (\d+) s with a peak of ([\d.]+) GB resident\s+memory on a quiet "
                         r"machine \((\d+) s and ([\d.]+) GB under load\)", text)
    assert opening and measured
    assert opening.groups() == (measured[1], measured[3], measured[2], measured[4])
    assert "two minutes" not in text
