"""The ``transformers`` backend: a local causal LM (our tiny models on CPU, or a GPU model).

Prompts are rendered with the tokenizer's chat template (generation prompt
added), left-padded and decoded together, ``batch_size`` sequences at a time
(``batch_size // n`` prompts, each with ``num_return_sequences=n``; greedy
decoding, ``temperature=0``, decodes each prompt once and repeats it ``n`` times): a tiny
model's decode cost is mostly per-step overhead, so large batches are nearly
free. Left padding with the attention mask gives each prompt the same greedy
output as it gets alone. Sampling is seeded per batch (``seed`` + the index of
the batch's first prompt), so the same seed and batch size give the same
completions. Only new tokens are decoded, special tokens skipped; a completion
ends at the first end-of-turn token (the tokenizer's EOS or any of the
generation config's EOS ids). A prompt whose tokens plus ``max_tokens`` exceed the
model's positions fails with a `GenerationError` naming it, rather than decoding
past what the model was built for.

:meth:`TransformersGenerator.complete` returns :class:`Completion` records with
prompt and completion token counts; :meth:`generate` (the `TextGenerator`
interface) returns only the texts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from tqdm import tqdm
from transformers import AutoModelForCausalLM, AutoTokenizer

from mathforge.config import LLMBackendParams, ParamsError
from mathforge.generation.base import Chat, Completion, GenerationError, SamplingParams
from mathforge.modeling.tiny import resolve_model_path

PROGRESS_MIN_BATCHES = 4  # show a progress bar from this many batches on
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class TransformersGenerator:
    """`TextGenerator` over ``AutoModelForCausalLM.generate``, batched and seeded."""

    def __init__(
        self,
        model_path: str,
        *,
        device: str = "cpu",
        batch_size: int = 64,
        dtype: str = "float32",
        threads: int | None = None,
    ) -> None:
        if threads is not None:
            torch.set_num_threads(threads)
        self.model_path = resolve_model_path(model_path)
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_path, padding_side="left")
        if self.tokenizer.chat_template is None:
            raise ParamsError(f"{self.model_path}: the tokenizer has no chat template")
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(
            self.model_path, dtype=_DTYPES.get(dtype, "auto")
        ).to(self.device)
        self.model.eval()
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [] if eos is None else [eos])
        eos_ids.add(self.tokenizer.eos_token_id)
        self.eos_token_ids = sorted(i for i in eos_ids if i is not None)

    @classmethod
    def from_params(cls, cfg: LLMBackendParams) -> TransformersGenerator:
        if cfg.model_path is None:
            raise ParamsError("the transformers backend needs endpoint.model_path set")
        return cls(
            cfg.model_path,
            device=cfg.device,
            batch_size=cfg.batch_size,
            dtype=cfg.dtype,
            threads=cfg.threads,
        )

    def generate(self, prompts: Sequence[Chat], params: SamplingParams) -> list[list[str]]:
        """`params.n` completion texts per prompt, in prompt order."""
        return [[c.text for c in row] for row in self.complete(prompts, params)]

    def complete(self, prompts: Sequence[Chat], params: SamplingParams) -> list[list[Completion]]:
        """`params.n` completions per prompt, in prompt order, with token counts."""
        # Greedy decoding gives one answer however many are asked for: decode it once, copy it.
        per_prompt = params.n if params.temperature > 0 else 1
        per_batch = max(1, self.batch_size // per_prompt)
        starts = range(0, len(prompts), per_batch)
        results: list[list[Completion]] = []
        for start in tqdm(
            starts,
            desc=f"generate {self.model_path}",
            unit="batch",
            disable=len(starts) < PROGRESS_MIN_BATCHES,
        ):
            seed = None if params.seed is None else params.seed + start
            results += self._batch(prompts[start : start + per_batch], params, seed, start)
        return results

    @torch.inference_mode()
    def _batch(
        self, chats: Sequence[Chat], params: SamplingParams, seed: int | None, first: int
    ) -> list[list[Completion]]:
        inputs = self.tokenizer.apply_chat_template(
            list(chats),
            add_generation_prompt=True,
            padding=True,
            return_tensors="pt",
            return_dict=True,
        ).to(self.device)
        lengths = inputs["attention_mask"].sum(dim=1).tolist()
        limit = getattr(self.model.config, "max_position_embeddings", None)
        longest = max(range(len(chats)), key=lengths.__getitem__)
        if limit is not None and lengths[longest] + params.max_tokens > limit:
            raise GenerationError(
                first + longest,
                f"{lengths[longest]} prompt tokens + max_tokens {params.max_tokens} exceed "
                f"the model's {limit} positions ({self.model_path})",
            )
        sampling: dict[str, Any] = {"do_sample": params.temperature > 0}
        if sampling["do_sample"]:
            # top_k=0 switches off transformers' default top-k 50: the same distribution
            # as OpenAI-compatible servers for the same temperature and top_p.
            sampling.update(temperature=params.temperature, top_p=params.top_p, top_k=0)
        if seed is not None:
            torch.manual_seed(seed)
        output = self.model.generate(
            **inputs,
            max_new_tokens=params.max_tokens,
            num_return_sequences=params.n if sampling["do_sample"] else 1,
            eos_token_id=self.eos_token_ids,
            pad_token_id=self.tokenizer.pad_token_id,
            **sampling,
        )
        prompt_len = inputs["input_ids"].shape[1]
        new = output[:, prompt_len:].tolist()
        stops = set(self.eos_token_ids)
        kept: list[list[int]] = []
        finish: list[str] = []
        counts: list[int] = []
        for row in new:
            end = next((k for k, tok in enumerate(row) if tok in stops), None)
            if end is None:  # still going at max_tokens (nothing after it is padding)
                kept.append(row)
                counts.append(len(row))
                finish.append("length")
            else:
                kept.append(row[:end])
                counts.append(end + 1)
                finish.append("stop")
        texts = self.tokenizer.batch_decode(kept, skip_special_tokens=True)
        rows = len(new) // len(chats)  # sequences decoded per prompt: n, or 1 when greedy
        copies = params.n // rows
        return [
            [
                Completion(texts[j], int(lengths[i]), counts[j], finish[j])
                for j in range(i * rows, (i + 1) * rows)
                for _ in range(copies)
            ]
            for i in range(len(chats))
        ]
