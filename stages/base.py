"""base: train split → a BPE tokenizer and the base models (tiny Llamas, or pretrained pointers).

Reads   TRAIN                        data/splits/train.parquet (stage split): question, solution
Writes  OUT_DIR/tokenizer/           the tokenizer alone (tokenizer.json + config, chat template)
        OUT_DIR/<name>/              per base.models entry: a built model (save_pretrained:
                                     config, safetensors weights, generation config) with the
                                     tokenizer beside it; or, for a `pretrained` entry,
                                     pretrained.json naming the HF model / path (no download);
                                     and manifest.parquet (contract `models`)
        METRICS                      vocab size, tokenizer fertility (tokens per word on train),
                                     round-trip checks, parameters per model
The tokenizer is trained on every train question and solution and must give
back each of them exactly (decode(encode(text)) == text); one failure fails
the stage. Every built model is reloaded with AutoModelForCausalLM and runs a
forward pass on a training text before the output directory is put in place.
Default params on the default train split (826 rows): vocab 2560 (every number 0-999 one
token), 1.79 tokens per word, 1,652 texts round-trip; policy_small 688,992 and policy_tiny
246,080 parameters.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.utils import logging as hf_logging

from mathforge.config import BaseParams, load_params
from mathforge.contracts.models import MANIFEST_FILE, MODELS
from mathforge.contracts.splits import TRAIN
from mathforge.errors import UserError, run_stage
from mathforge.io import write_parquet
from mathforge.modeling.tiny import save_base_model
from mathforge.modeling.tokenizer import fertility, round_trip_failures, train_bpe, wrap_tokenizer
from mathforge.stage import Stage, atomic_dir

TOKENIZER_DIR = "tokenizer"


def training_texts(train: pl.DataFrame) -> list[str]:
    """The texts the tokenizer learns from: every question, then every solution."""
    texts = [t for t in train["question"].to_list() + train["solution"].to_list() if t]
    if not texts:
        raise UserError("train split has no question or solution text to train a tokenizer on")
    return texts


def check_loads(model_dir: Path, text: str) -> None:
    """Reload a saved model the way later stages will and run one forward pass."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    ids = tokenizer(text, return_tensors="pt", truncation=True).input_ids
    with torch.no_grad():
        logits = model(ids).logits
    if logits.shape[-1] != len(tokenizer) or not torch.isfinite(logits).all():
        raise UserError(f"{model_dir}: reloaded model gives bad logits {tuple(logits.shape)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("metrics", type=Path)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    cfg: BaseParams = load_params("base", args.params)
    hf_logging.disable_progress_bar()
    if TOKENIZER_DIR in cfg.models:
        raise UserError(f"base.models: '{TOKENIZER_DIR}' is reserved for the tokenizer directory")

    stage = Stage("base")
    texts = training_texts(TRAIN.read(args.train, ["question", "solution"]))
    tok = cfg.tokenizer
    try:
        raw = train_bpe(texts, tok.vocab_size, tok.min_frequency, tok.number_digits)
    except ValueError as error:
        raise UserError(f"params.yaml base.tokenizer: {error}") from error
    failures = round_trip_failures(raw, texts)
    if failures:
        raise UserError(
            f"tokenizer does not round-trip {len(failures)} of {len(texts)} training texts; "
            f"first: {texts[failures[0]][:200]!r}"
        )
    tokenizer = wrap_tokenizer(raw)

    # Build everything in a scratch directory, then put it in place: no half-written models.
    models: dict[str, dict[str, object]] = {}
    with atomic_dir(args.out_dir) as tmp:
        tokenizer.save_pretrained(tmp / TOKENIZER_DIR)
        for name, spec in cfg.models.items():
            models[name] = save_base_model(tmp / name, spec, tokenizer, cfg.seed)
            if spec.pretrained is None:
                check_loads(tmp / name, texts[-1])
            manifest = MODELS.frame(
                [
                    {
                        "stage": "base",
                        "model": name,
                        "kind": "built" if spec.pretrained is None else "pretrained",
                        "pretrained": spec.pretrained,
                        "parameters": models[name].get("parameters"),
                        "vocab_size": models[name].get("vocab_size"),
                        "system_prompt": spec.system_prompt,
                        "load_check": "forward" if spec.pretrained is None else "skipped",
                    }
                ]
            )
            stage.validate(manifest, MODELS, name=f"models_{name}", row_count=1)
            write_parquet(manifest, tmp / name / MANIFEST_FILE)

    stage.write_metrics(
        args.metrics,
        train_texts=len(texts),
        vocab_size=len(tokenizer),
        vocab_size_asked=cfg.tokenizer.vocab_size,
        fertility_tokens_per_word=round(fertility(raw, texts), 4),
        round_trip_checked=len(texts),
        round_trip_failed=len(failures),
        models=models,
    )
    sizes = ", ".join(
        f"{name} {m['parameters']:,} parameters"
        if "parameters" in m
        else f"{name} -> {m['pretrained']}"
        for name, m in models.items()
    )
    print(f"base: vocab {len(tokenizer)}, {len(texts)} texts round-trip; {sizes}")


if __name__ == "__main__":
    run_stage("base", main)
