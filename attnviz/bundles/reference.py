"""Reference numbers for Home's model table that no shipped file holds: measured by a script, recorded here.

SmolLM2-135M-Instruct on the char LM's dev split (the last 10% of Tiny Shakespeare's train.txt, as
`attnviz.training.data.split_tail` cuts it), in nats per character like the char LM's dev loss:
`python scripts/smollm2_reference.py` (windows of 512 tokens, stride 256; characters counted from the
end of the first token, as a character model counts every character after the first).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reference:
    name: str          # the model's name in the registry
    layers: int
    heads: int
    parameters: int
    nats_per_char: float
    measured: str      # how, in words


SMOLLM2_DEV = Reference(name="SmolLM2-135M-Instruct", layers=30, heads=9, parameters=134_515_008,
                        nats_per_char=1.0738,  # 31,178 tokens over 100,384 characters (1,889 s, one thread)
                        measured="scripts/smollm2_reference.py")
REFERENCES = (SMOLLM2_DEV,)
