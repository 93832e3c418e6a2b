"""Resident memory of the library (no streamlit) once it has loaded and traced what the app serves:
the shipped checkpoints and all-MiniLM-L6-v2, then any prepared model (SmolLM2). Prints one JSON
object. The app's own memory (streamlit included) is measured by scripts/measure_app_memory.py.

    python scripts/measure_memory.py [--with-streamlit]
"""
from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    steps = {"python": rss_mib()}
    if "--with-streamlit" in sys.argv:
        import streamlit  # noqa: F401  (the app imports it too)
    import attnviz
    from attnviz import plots  # noqa: F401
    from attnviz.bundles import registry
    steps["imports"] = rss_mib()
    bundles = []
    for entry in registry.available_models():
        bundles.append(attnviz.load(entry.source))
        bundles[-1].trace("The quick brown fox jumps over the lazy dog in Paris.")
        steps[f"+ {entry.name}"] = rss_mib()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rss_mib": {k: round(v, 1) for k, v in steps.items()}, "peak_rss_mib": round(peak, 1)}))


if __name__ == "__main__":
    main()
