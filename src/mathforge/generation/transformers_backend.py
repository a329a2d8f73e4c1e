"""The ``transformers`` backend: a local causal LM (our tiny models on CPU, or a GPU model).

Prompts are rendered with the tokenizer's chat template (generation prompt
added), left-padded and decoded together, ``batch_size`` sequences at a time
(``batch_size // n`` prompts, each sampled ``n`` times; greedy decoding,
``temperature=0``, decodes each prompt once and repeats it ``n`` times). Left
padding with the attention mask gives each prompt the same greedy output as it
gets alone. Sampling is seeded per batch (``seed`` + the index of the batch's
first prompt), so the same seed and batch size give the same completions.

Decoding (``compact=True``, the default) is our own loop over the model's
forward pass and KV cache, not ``model.generate``: each prompt is prefilled
once and its cache copied ``n`` times (``generate`` prefills every copy), and a
sequence that ends leaves the batch, so the remaining steps compute only the
sequences still running (``generate`` carries finished ones to the end of the
longest). On CPU a step's cost grows with the rows in it; one sample that runs
to ``max_tokens`` no longer makes a whole batch pay for it. Temperature and
top-p are transformers' own logits warpers, in ``generate``'s order; greedy
output is token for token ``generate``'s (a test checks it).
``compact=False`` calls ``model.generate`` (``benchmarks/bench_generation.py``
compares the two). Only new tokens are decoded, special tokens skipped; a completion
ends at the first end-of-turn token (the tokenizer's EOS or any of the
generation config's EOS ids). A prompt whose tokens plus ``max_tokens`` exceed the
model's positions fails with a `GenerationError` naming it, rather than decoding
past what the model was built for.

:meth:`TransformersGenerator.complete` returns :class:`Completion` records with
prompt and completion token counts (always known here); :meth:`generate`
returns only the texts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from tqdm import tqdm
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    DynamicCache,
    LogitsProcessorList,
    TemperatureLogitsWarper,
    TopPLogitsWarper,
)

from mathforge.config import ParamsError, TransformersBackendParams
from mathforge.generation.base import Chat, Completion, GenerationError, SamplingParams
from mathforge.modeling.directory import resolve_model_path

PROGRESS_MIN_BATCHES = 4  # show a progress bar from this many batches on
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class TransformersGenerator:
    """`TextGenerator` over a local causal LM: batched, seeded, finished sequences dropped."""

    progress = True  # a progress bar on long calls; callers with their own bar turn it off

    def __init__(
        self,
        model_path: str,
        *,
        device: str = "cpu",
        batch_size: int = 64,
        dtype: str = "float32",
        threads: int | None = None,
        compact: bool = True,
    ) -> None:
        self.compact = compact
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
    def from_params(cls, cfg: TransformersBackendParams, model_path: str) -> TransformersGenerator:
        """The model at `model_path`, configured from params."""
        return cls(
            model_path,
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
            disable=not self.progress or len(starts) < PROGRESS_MIN_BATCHES,
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
        copies_decoded = params.n if sampling["do_sample"] else 1
        if self.compact:
            new = self._decode(inputs, copies_decoded, params)
        else:
            output = self.model.generate(
                **inputs,
                max_new_tokens=params.max_tokens,
                num_return_sequences=copies_decoded,
                eos_token_id=self.eos_token_ids,
                pad_token_id=self.tokenizer.pad_token_id,
                **sampling,
            )
            new = output[:, inputs["input_ids"].shape[1] :].tolist()
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

    def _decode(self, inputs: Any, copies: int, params: SamplingParams) -> list[list[int]]:
        """New token ids of `copies` completions per prompt (prompt-major order), each up to
        and including its end-of-turn token; finished sequences leave the batch."""
        ids, mask = inputs["input_ids"], inputs["attention_mask"]
        warpers = LogitsProcessorList()
        if params.temperature > 0:
            warpers.append(TemperatureLogitsWarper(params.temperature))
            if params.top_p < 1:
                warpers.append(TopPLogitsWarper(params.top_p))
        cache = DynamicCache(config=self.model.config)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        logits = self.model(
            input_ids=ids, attention_mask=mask, position_ids=positions, cache=cache,
            use_cache=True, logits_to_keep=1,
        ).logits[:, -1, :]  # fmt: skip
        if copies > 1:  # one prefill per prompt, its cache shared by the copies
            cache.batch_repeat_interleave(copies)
            logits = logits.repeat_interleave(copies, dim=0)
            mask = mask.repeat_interleave(copies, dim=0)
        rows = torch.arange(mask.shape[0], device=mask.device)  # original index of each row
        next_position = mask.sum(-1)
        stops = torch.tensor(self.eos_token_ids, device=mask.device)
        out: list[list[int]] = [[] for _ in range(mask.shape[0])]
        for step in range(params.max_tokens):
            if warpers:
                scores = warpers(None, logits.float())
                tokens = torch.multinomial(torch.softmax(scores, dim=-1), 1).squeeze(1)
            else:
                tokens = logits.argmax(dim=-1)
            for row, token in zip(rows.tolist(), tokens.tolist(), strict=True):
                out[row].append(token)
            running = ~torch.isin(tokens, stops)
            if step + 1 == params.max_tokens or not running.any():
                break
            if not running.all():
                keep = running.nonzero().squeeze(1)
                cache.batch_select_indices(keep)
                rows, tokens, mask = rows[keep], tokens[keep], mask[keep]
                next_position = next_position[keep]
            mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=1)
            logits = self.model(
                input_ids=tokens[:, None], attention_mask=mask,
                position_ids=next_position[:, None], cache=cache, use_cache=True,
            ).logits[:, -1, :]  # fmt: skip
            next_position = next_position + 1
        return out
