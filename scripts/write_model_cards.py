"""Write checkpoints/<name>/README.md (a short model card) from the facts in its config.json.

    python scripts/write_model_cards.py [checkpoints/sentiment ...]

A checkpoint folder may hold NOTES.md (facts measured outside the training run, e.g. how a run was
stopped or a precision comparison); it is added to the card under "Notes".

The sentiment card also lists the kinds of mistake the model makes on the SST-2 dev set (the model is
run over it; the data comes from $ATTNVIZ_DATA): error rates of sentences with a negation word, with a
contrast ("but", "though"), both, and neither, and a few of the mistakes.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

NEGATION = re.compile(r"\b(not|no|never|nothing|hardly|without|nor|neither)\b|n't\b")
CONTRAST = re.compile(r"\b(but|though|although|yet|however)\b")

ABOUT = {
    "sentiment": ("Binary sentiment of an English sentence (SST-2, sentence level).",
                  "SST-2 test accuracy: CNN from random init 0.827 (Kim 2014), RNTN 0.854 (Socher 2013), "
                  "CNN with word2vec 0.872 (Kim 2014); fine-tuned DistilBERT about 0.91 (dev). Target for this checkpoint: "
                  ">= 0.89 on the test split."),
    "ner": ("Named entities (PER, ORG, LOC; BIO2 tags) in English text (WikiANN-en).",
            "WikiANN-en test entity F1: multilingual BERT 0.852 (XTREME). Target: >= 0.80 on the test split."),
    "lm": ("Character-level language model of Shakespeare's plays (tiny shakespeare).",
           "Loss in nats per character on the held-out last 10 %: nanoGPT 1.47 (6 layers, 384 wide, GPU), "
           "1.88 for its small CPU configuration. Target: <= 1.70."),
}


def failure_kinds(folder: Path) -> str:
    """A markdown section: the sentiment model's dev-set error rate by kind of sentence, and examples."""
    import attnviz
    from attnviz.training.data import DataError, load_task

    try:
        dev = load_task("sentiment", "dev")
    except (DataError, OSError) as error:
        return f"\n## Where it fails\n\nNot measured: the SST-2 dev set could not be read ({error}).\n"
    bundle = attnviz.load(str(folder))
    labels = bundle.labels if hasattr(bundle, "labels") else ["negative", "positive"]
    predicted = [r["label"] for r in bundle.predict([text for text, _ in dev])]
    groups: dict[str, list[bool]] = {"negation word": [], "contrast (but, though, ...)": [],
                                     "negation and contrast": [], "neither": []}
    mistakes: dict[str, list[str]] = {name: [] for name in groups}
    for (text, gold), guess in zip(dev, predicted):
        negation, contrast = bool(NEGATION.search(text)), bool(CONTRAST.search(text))
        name = ("negation and contrast" if negation and contrast else "negation word" if negation else
                "contrast (but, though, ...)" if contrast else "neither")
        wrong = guess != labels[gold]
        groups[name].append(wrong)
        if wrong and len(mistakes[name]) < 2:
            mistakes[name].append(f"{text!r} (gold {labels[gold]})")
    total = sum(sum(g) for g in groups.values())
    rate = {name: sum(g) / max(1, len(g)) for name, g in groups.items()}
    worst = sorted(rate, key=rate.get, reverse=True)
    rows = "\n".join(f"| {name} | {len(g)} | {sum(g)} | {sum(g) / max(1, len(g)):.1%} | "
                     f"{'; '.join(mistakes[name]) or '-'} |" for name, g in groups.items())
    return f"""
## Where it fails (SST-2 dev, {len(dev)} sentences, {total} mistakes)

Measured by `scripts/write_model_cards.py` (the model run over the dev set; a sentence's kind is read
from its words). It errs most on sentences with a {worst[0]} ({rate[worst[0]]:.1%}) and a {worst[1]}
({rate[worst[1]]:.1%}), against {rate["neither"]:.1%} on the rest. The app's Sentiment page has a labelled "where this model fails" set (negation with a comparison, sarcasm: the
model takes "Oh great, ..." and "Brilliant, if you enjoy watching paint dry." at their word).

| kind of sentence | sentences | mistakes | error rate | e.g. |
|---|---|---|---|---|
{rows}
"""


def card(folder: Path) -> str:
    config = json.loads((folder / "config.json").read_text())
    meta, model = config["metadata"], config["model"]
    task = config["task"]
    what, reference = ABOUT[task]
    size_mb = (folder / "model.safetensors").stat().st_size / 1e6
    shape = meta.get("model_shape", {})
    if meta.get("init") and "minilm" not in str(meta["init"]).lower():
        origin = (f"Trained further from an earlier attnviz {task} checkpoint ({meta['init']}, same shape and "
                  "tokenizer; the chain of runs back to random initialisation is in the Notes).")
    elif meta.get("init"):
        vocabulary = (f"its full {model['vocab_size']:,}-piece vocabulary" if shape.get("max_vocab") == 0 else
                      f"its vocabulary pruned to the {model['vocab_size']:,} pieces the training data uses most "
                      "(every single character kept, so no word is unknown)")
        origin = (f"Starts from the first {model['n_layers']} layers of {meta['init']} (BERT, uncased WordPiece), "
                  + vocabulary
                  + (" with its word embeddings frozen" if shape.get("freeze_embeddings") else "")
                  + (", plus a learned embedding of each token's letter case" if model.get("case_features") else "")
                  + "; then fine-tuned on the training split.")
    else:
        origin = "Trained from random initialisation on the training split."
    notes_file = folder / "NOTES.md"
    notes = f"\n## Notes\n\n{notes_file.read_text().strip()}\n" if notes_file.is_file() else ""
    if task == "sentiment":
        notes += failure_kinds(folder)
    metrics = "\n".join(f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |"
                        for k, v in meta.get("dev_metrics", {}).items())
    hardware = meta.get("hardware", {})
    base = config.get("base")
    base_note = (f"\n- Shared with the base: {len(base['tensors'])} tensor(s) equal to {base['name']} "
                 f"({', '.join(base['tensors'])}) are not stored; `attnviz.load` reads them from the pip "
                 f"package `{base['package']}` and checks their sha256." if base else "")
    decoding = ("\nEntity F1 is measured with BIO-constrained Viterbi decoding of the first piece of each word "
                "(as the app tags)." if task == "ner" else "")
    threads_note = ("\nIt ran with `OMP_NUM_THREADS=1` (one CPU thread), which also makes the run repeatable "
                    "bit for bit." if hardware.get("cpu_threads") == 1 else "")
    return f"""# attnviz checkpoint: {folder.name}

{what}

- Architecture: {model['kind']}, {model['n_layers']} layers x {model['n_heads']} heads, d_model {model['d_model']},
  feed-forward {model['d_ff']}, {model['positional']} positions, {'pre' if model['norm_first'] else 'post'}-norm,
  context {model['max_len']} tokens; {meta.get('parameters', 0):,} parameters, stored as
  {config.get('weights_dtype', 'float32')} ({size_mb:.1f} MB); tokenizer: {config['tokenizer']['kind']}
  ({config['tokenizer']['normalization']} normalisation).
- Origin: {origin}
- Labels: {', '.join(config['labels']) or '(characters)'}{base_note}

## How it was trained

```sh
export ATTNVIZ_DATA=../shared/data   # SST-2, WikiANN-en and tiny shakespeare, see ../shared/data/README.md
{meta.get('command', '(unknown)')}
```

The run wrote to the `--out` folder above; that folder was then copied here unchanged.
Data: {json.dumps(meta.get('data', {}))}. Steps: {meta.get('steps')}; stopped early: {meta.get('stopped_early')}.
Wall time: {meta.get('wall_time_s')} s on {hardware.get('device')} ({hardware.get('processor')}),
precision {hardware.get('precision') or 'fp32'} (autocast; weights kept in float32 while training), torch
{hardware.get('torch')}, Python {hardware.get('python')}, at {meta.get('trained_at')}. The machine was shared with
other work while it trained, so the wall time is an upper bound.{threads_note}

## Dev metrics (the only split used for choices)
{decoding}

| metric | value |
|---|---|
{metrics}

Published references: {reference}
{notes}
## Use

```python
import attnviz
bundle = attnviz.load("checkpoints/{folder.name}")
```

Limitations: small and trained on one data set each; expect mistakes on text unlike the training data
(SST-2 is film reviews; WikiANN is Wikipedia sentences; tiny shakespeare is early modern English drama).
"""


def main(folders: list[str]) -> None:
    targets = [Path(f) for f in folders] or sorted(p.parent for p in (REPO / "checkpoints").glob("*/config.json"))
    for folder in targets:
        (folder / "README.md").write_text(card(folder))
        print(f"wrote {folder / 'README.md'}")


if __name__ == "__main__":
    main(sys.argv[1:])
