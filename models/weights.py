"""Weights on disk: safetensors (no pickle: loading runs no code) with a card beside each.

``NAME.safetensors`` holds the tensors and, in its metadata, the JSON ``config`` that rebuilds the
network. ``NAME.md`` is the card: how the weights were made (command, data, steps, wall time,
machine) and what they reach, with the numbers in a fenced ``json`` block that tests re-measure.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from safetensors import safe_open



def save_weights(path, module: torch.nn.Module, config: dict, training: dict) -> None:
    """``config`` rebuilds the network; ``training`` records how the weights were made (for the card)."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    save_file(tensors, str(path), metadata={"config": json.dumps(config, sort_keys=True),
                                            "training": json.dumps(training, sort_keys=True)})


def read_training_record(path) -> dict:
    with safe_open(str(path), framework="pt") as handle:
        return json.loads((handle.metadata() or {}).get("training", "{}"))


def load_weights(path, device="cpu") -> tuple[dict, dict]:
    """-> (state dict, config). Raises FileNotFoundError / ValueError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            config = json.loads((handle.metadata() or {}).get("config", "{}"))
        return load_file(str(path), device=str(device)), config
    except Exception as error:  # safetensors raises its own types for truncated or foreign files
        raise ValueError(f"{path}: not a colorgrade safetensors file ({error})") from None


def write_card(path, title: str, body: str, record: dict) -> None:
    text = f"# {title}\n\n{body.strip()}\n\n```json\n{json.dumps(record, indent=2, sort_keys=True)}\n```\n"
    Path(path).write_text(text)


def read_card(path) -> dict:
    """The JSON record of a weight card."""
    match = re.search(r"```json\n(.*?)\n```", Path(path).read_text(), flags=re.S)
    if match is None:
        raise ValueError(f"{path}: card has no json block")
    return json.loads(match.group(1))
