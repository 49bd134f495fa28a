"""What a report records about each model and the machine: architecture, parameters, bytes, versions."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import PreTrainedModel

from kdnas.compress.prune_vocab import weights_bytes
from kdnas.models.student import count_parameters
from kdnas.models.teacher import Teacher

#: the config fields a report shows for each model
ARCH_FIELDS: tuple[str, ...] = (
    "model_type", "num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size", "hidden_act",
    "vocab_size", "max_position_embeddings",
)  # fmt: skip


def model_facts(model: PreTrainedModel, weights: int) -> dict[str, Any]:
    """Architecture, parameters (with and without the input embeddings) and ``weights`` bytes of an encoder."""
    config = model.config
    return {
        "architecture": {k: getattr(config, k, None) for k in ARCH_FIELDS},
        "parameters": count_parameters(model),
        "parameters_without_embeddings": count_parameters(model, include_embeddings=False),
        "bytes": int(weights),
    }


def directory_facts(model: PreTrainedModel, directory: Path) -> dict[str, Any]:
    """:func:`model_facts` of the model saved in ``directory``, with the resolved directory under ``dir``."""
    return {"dir": str(directory.resolve()), **model_facts(model, weights_bytes(directory))}


def teacher_facts(teacher: Teacher) -> dict[str, Any]:
    """The teacher's name, source and text prefix, with its :func:`model_facts`."""
    return {
        "name": teacher.name,
        "source": teacher.source,
        "text_prefix": teacher.text_prefix,
        **model_facts(teacher.model, teacher_weights_bytes(teacher)),
    }


def teacher_weights_bytes(teacher: Teacher) -> int:
    """Weights on disk of the teacher's source directory, else the size of its fp32 state dict in safetensors."""
    source = Path(teacher.source)
    if (source / "config.json").is_file() and (size := weights_bytes(source)) > 0:
        return size
    state = {k: v.detach().to(torch.float32).contiguous() for k, v in teacher.model.state_dict().items()}
    try:
        from safetensors.torch import save

        return len(save(state, metadata={"format": "pt"}))
    except (ImportError, RuntimeError, ValueError):  # shared tensors, or no safetensors
        return sum(v.numel() * 4 for v in state.values())


def environment() -> dict[str, Any]:
    """Versions and hardware of this process, for the report's provenance."""
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
