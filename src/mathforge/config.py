"""Typed views of params.yaml: one model per stage section.

`params.yaml` is the only source of settings. Each stage reads its own section
with :func:`load_params`, e.g. ``cfg = load_params("synthesize")``; an unknown
or mistyped key fails with its dotted name and the allowed keys, a wrong type
fails with the expected one. Every field's description says what it does.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ParamsError(ValueError):
    """params.yaml has an unknown key, a wrong type or a bad value."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------- taxonomy
class TaxonomyParams(_Section):
    seed_glob: str = Field(
        "*.jsonl", description="which files of the seed directory to read (glob, sorted)"
    )


# ---------------------------------------------------------------------- sandbox
class SandboxParams(_Section):
    timeout_s: float = Field(5.0, gt=0, description="wall-clock limit per program, seconds")
    memory_mb: int = Field(1024, ge=16, description="address space a program may add, MiB")
    workers: int | None = Field(None, ge=1, description="sandbox workers; null = CPU count")
    allow_unsandboxed: bool = Field(
        False,
        description="run with rlimits only where bubblewrap is missing (recorded in metrics); "
        "otherwise the stage refuses to run model-written code",
    )


# ------------------------------------------------------------------- synthesize
class LLMBackendParams(_Section):
    backend: Literal["openai", "transformers", "vllm"] = Field(
        "openai",
        description="openai (any OpenAI-compatible HTTP endpoint), transformers (a local "
        "model, CPU or GPU) or vllm (a local model on GPUs through vLLM's offline engine; "
        "needs the gpu extra)",
    )
    base_url: str | None = Field(
        None, description="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1"
    )
    model: str | None = Field(None, description="model name sent to the endpoint")
    api_key_env: str = Field(
        "OPENAI_API_KEY", description="environment variable holding the API key (may be unset)"
    )
    concurrency: int = Field(8, ge=1, description="requests in flight at once")
    max_retries: int = Field(5, ge=0, description="retries on 429/5xx/timeouts, with backoff")
    timeout_s: float = Field(120.0, gt=0, description="per-request timeout in seconds")
    model_path: str | None = Field(
        None,
        description="transformers and vllm: a model directory (e.g. models/base/policy_small, "
        "or a pretrained pointer written by the base stage), a local path or an HF name",
    )
    device: str = Field("cpu", description="transformers: torch device, e.g. cpu, cuda, cuda:1")
    batch_size: int = Field(
        64,
        ge=1,
        description="transformers: sequences decoded together (prompts x n); tiny models "
        "pay a per-step overhead, so batch generously",
    )
    dtype: Literal["float32", "bfloat16", "float16", "auto"] = Field(
        "float32", description="transformers: weight dtype (auto = the checkpoint's)"
    )
    threads: int | None = Field(
        None, ge=1, description="transformers: torch CPU threads (null = torch's default)"
    )
    tensor_parallel_size: int = Field(
        1, ge=1, description="vllm: GPUs one model replica is split over (tensor parallel)"
    )
    data_parallel_size: int = Field(
        1,
        ge=1,
        description="vllm: model replicas, one process each on its own tensor_parallel_size "
        "GPUs, each given a contiguous slice of the prompts (tp x dp GPUs in all)",
    )
    gpu_memory_utilization: float = Field(
        0.9,
        gt=0,
        le=1,
        description="vllm: share of each GPU's memory vLLM takes for weights, activations "
        "and KV cache (lower it when other processes share the GPU)",
    )
    max_model_len: int | None = Field(
        None,
        ge=1,
        description="vllm: longest prompt + max_tokens to reserve KV cache for (null = the "
        "model's own context length; lower it when a long-context model's cache does not fit)",
    )


class SelfInstructParams(_Section):
    prompts_per_subject: int = Field(
        20, ge=1, description="Self-Instruct requests per subject (each with fresh examples)"
    )
    examples_per_prompt: int = Field(
        4, ge=1, description="k seed problems shown in each prompt (Self-Instruct used 8)"
    )
    machine_examples_per_prompt: int = Field(
        1, ge=0, description="of the k examples, how many come from already-kept synthesized ones"
    )
    problems_per_response: int = Field(
        5, ge=1, description="new problems asked for in one response"
    )
    samples_per_prompt: int = Field(1, ge=1, description="responses sampled per prompt (n)")
    prompts_per_round: int = Field(
        8,
        ge=1,
        description="prompts sent together before the novelty filter runs; kept problems "
        "become examples of later rounds (fewer, larger rounds generate faster)",
    )
    temperature: float = Field(1.0, ge=0, description="sampling temperature")
    top_p: float = Field(0.95, gt=0, le=1, description="nucleus sampling mass")
    max_tokens: int = Field(1024, ge=1, description="max new tokens per response")
    endpoint: LLMBackendParams = Field(
        default_factory=LLMBackendParams, description="where the model is served"
    )


class SynthesizeParams(_Section):
    generator: Literal["programmatic", "llm", "auto"] = Field(
        "programmatic",
        description="programmatic (exact teacher, CPU default), llm (Self-Instruct), "
        "or auto (programmatic where a subject has a generator, llm otherwise)",
    )
    seed: int = Field(0, description="random seed of all draws in this stage")
    per_subject: int = Field(
        200, ge=0, description="in-distribution problems to keep per subject (after novelty)"
    )
    hard_fraction: float = Field(
        0.3, ge=0, le=1, description="share of in-distribution draws using the hard variant"
    )
    ood_per_subject: int = Field(
        30, ge=0, description="out-of-distribution problems per subject (held out for eval/test)"
    )
    max_draws_factor: float = Field(
        5.0, ge=1, description="give up on a subject after per_subject * this many draws"
    )
    novelty_threshold: float = Field(
        0.7, ge=0, le=1, description="drop a problem whose ROUGE-L F vs any kept one exceeds this"
    )
    self_instruct: SelfInstructParams = Field(
        default_factory=SelfInstructParams, description="the llm path (Self-Instruct)"
    )
    sandbox: SandboxParams = Field(
        default_factory=SandboxParams,
        description="where reference solutions run to check they print their answer",
    )


# ------------------------------------------------------------------------ split
class SplitParams(_Section):
    seed: int = Field(0, description="random seed of the stratified split")
    eval_fraction: float = Field(
        0.15, ge=0, lt=1, description="share of each subject's in-distribution problems for eval"
    )
    test_fraction: float = Field(
        0.15, ge=0, lt=1, description="share of each subject's in-distribution problems for test"
    )
    ood_eval_fraction: float = Field(
        0.5, ge=0, le=1, description="share of out-of-distribution problems for eval (rest: test)"
    )
    decontam_ngram: int = Field(10, ge=1, description="word n-gram size for decontamination")
    decontam_threshold: float = Field(
        0.5,
        gt=0,
        le=1,
        description="drop a train problem when this share of its n-grams occurs in eval/test",
    )

    @model_validator(mode="after")
    def _fractions_leave_train(self) -> SplitParams:
        if self.eval_fraction + self.test_fraction >= 1:
            raise ValueError("eval_fraction + test_fraction must be below 1")
        return self


# ------------------------------------------------------------------------- base
_MODEL_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
ARCHITECTURE_FIELDS = (
    "hidden_size",
    "num_layers",
    "num_heads",
    "num_kv_heads",
    "intermediate_size",
    "max_position_embeddings",
    "tie_word_embeddings",
)


class BaseTokenizerParams(_Section):
    vocab_size: int = Field(
        2048, ge=300, description="BPE vocabulary size asked for (256 bytes + specials + merges)"
    )
    min_frequency: int = Field(2, ge=1, description="a merge needs a pair seen at least this often")


class BaseModelParams(_Section):
    """One base model: a tiny Llama built from the size fields, or a pretrained one by name."""

    pretrained: str | None = Field(
        None,
        description="HF name or local path of a pretrained model (GPU profile); recorded, never "
        "downloaded; when set every size field must be null",
    )
    hidden_size: int | None = Field(None, ge=8, description="model width")
    num_layers: int | None = Field(None, ge=1, description="transformer blocks")
    num_heads: int | None = Field(None, ge=1, description="attention heads (divides hidden_size)")
    num_kv_heads: int | None = Field(
        None, ge=1, description="key/value heads (divides num_heads; fewer = grouped-query)"
    )
    intermediate_size: int | None = Field(None, ge=1, description="MLP width")
    max_position_embeddings: int | None = Field(
        None, ge=16, description="longest sequence (prompt + completion) in tokens"
    )
    tie_word_embeddings: bool | None = Field(
        None, description="share input embeddings and LM head (fewer parameters)"
    )
    system_prompt: bool = Field(
        True,
        description="prompts for this model (sft, sampling) open with the system message that "
        "teaches the mixed format; models trained from scratch learn it from SFT data instead "
        "and trained 2.4x faster per step without it (policy_small: 1.38 s -> 0.57 s)",
    )

    @model_validator(mode="after")
    def _pretrained_or_sizes(self) -> BaseModelParams:
        given = [name for name in ARCHITECTURE_FIELDS if getattr(self, name) is not None]
        if self.pretrained is not None and given:
            raise ValueError(
                f"give either pretrained or the size fields, not both (set: {', '.join(given)})"
            )
        if self.pretrained is None:
            missing = [name for name in ARCHITECTURE_FIELDS if getattr(self, name) is None]
            if missing:
                raise ValueError(
                    f"a model built from config needs {', '.join(missing)} "
                    "(or pretrained: <HF name or path>)"
                )
            assert self.hidden_size and self.num_heads and self.num_kv_heads
            if self.hidden_size % self.num_heads or self.num_heads % self.num_kv_heads:
                raise ValueError("num_heads must divide hidden_size and num_kv_heads num_heads")
        return self


class BaseParams(_Section):
    seed: int = Field(0, description="seed of the random weight init of every built model")
    tokenizer: BaseTokenizerParams = Field(
        default_factory=BaseTokenizerParams, description="the BPE tokenizer trained on train"
    )
    models: dict[str, BaseModelParams] = Field(
        default_factory=dict,
        description="name -> model, saved under models/base/<name>/ (names: a-z 0-9 _ -); "
        "dvc.yaml's artifacts list the same names",
    )

    @model_validator(mode="after")
    def _model_names(self) -> BaseParams:
        if not self.models:
            raise ValueError("models must name at least one model")
        bad = [name for name in self.models if not _MODEL_NAME.match(name)]
        if bad:
            raise ValueError(f"model names must match [a-z0-9][a-z0-9_-]*: {', '.join(bad)}")
        return self


# -------------------------------------------------------------------------- sft
class SFTParams(_Section):
    """SFT of every base.models entry on a small set of reference solutions (stage sft@<name>)."""

    seed: int = Field(
        0, description="seed of the example draws and of training (data order, dropout)"
    )
    sources: list[Literal["seed", "programmatic", "llm"]] = Field(
        ["seed", "programmatic"],
        min_length=1,
        description="train rows whose generator is one of these give SFT examples (llm-written "
        "solutions are left for RFT by default)",
    )
    max_examples: int | None = Field(
        300,
        ge=1,
        description="cap on SFT examples, drawn with `seed` stratified by subject; small on "
        "purpose: reference solutions are scarce, RFT adds the rest (null = every eligible row)",
    )
    eval_examples: int = Field(
        64, ge=1, description="eval-split reference solutions (drawn per subject) for held-out loss"
    )
    max_steps: int = Field(100, ge=1, description="optimizer steps")
    batch_size: int = Field(8, ge=1, description="sequences per device per micro-batch")
    gradient_accumulation_steps: int = Field(
        1, ge=1, description="micro-batches per optimizer step (effective batch = product)"
    )
    learning_rate: float = Field(
        3e-3, gt=0, description="peak AdamW learning rate (tiny models from scratch want ~1e-3)"
    )
    lr_scheduler_type: Literal["cosine", "linear", "constant", "constant_with_warmup"] = Field(
        "cosine", description="learning-rate schedule after warmup"
    )
    warmup_steps: float = Field(
        0.05, ge=0, description="warmup: steps, or a share of max_steps when below 1"
    )
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay")
    max_length: int = Field(
        1024, ge=16, description="truncate prompt + completion to this many tokens"
    )
    logging_steps: int = Field(
        10, ge=1, description="log the train loss (plots/sft/<name>.csv) every this many steps"
    )
    threads: int | None = Field(
        1, ge=1, description="torch CPU threads (null = torch's default; 1 beside other work)"
    )
    use_cpu: bool = Field(True, description="train on CPU even where a GPU is visible")
    bf16: bool = Field(False, description="bfloat16 mixed precision (GPU profile)")
    eval_max_tokens: int = Field(
        256,
        ge=1,
        description="held-out accuracy: greedy solutions of the eval_examples problems (and as "
        "many out-of-distribution ones) are generated with this many new tokens, executed "
        "and graded",
    )
    sandbox: SandboxParams = Field(
        default_factory=SandboxParams, description="where the held-out solutions run"
    )


# ----------------------------------------------------------------------- sample
class SampleParams(_Section):
    """Rejection sampling by every SFT'd policy model over the train split (stage sample)."""

    seed: int = Field(0, description="sampling seed (each shard derives its own from it)")
    n: int = Field(4, ge=1, description="paths sampled per problem by each model (recipe: 100)")
    temperature: float = Field(
        0.8, gt=0, description="sampling temperature (above 0: paths must differ)"
    )
    top_p: float = Field(1.0, gt=0, le=1, description="nucleus sampling mass")
    max_tokens: int = Field(
        256, ge=1, description="new tokens per path (reference solutions: 90 on average)"
    )
    max_problems: int | None = Field(
        None,
        ge=1,
        description="sample this many train problems, drawn with `seed` stratified by subject "
        "(null = every train problem)",
    )
    shard_size: int = Field(
        64,
        ge=1,
        description="problems per shard: a finished shard survives a kill and is not redone",
    )
    pass_k: list[int] = Field(
        [1, 2, 4], min_length=1, description="k of the pass@k metrics (each at most n)"
    )
    majority_min_share: float = Field(
        0.5,
        gt=0,
        le=1,
        description="problems without a reference answer take the majority predicted answer "
        "when its share of the problem's paths (all models) reaches this",
    )
    majority_min_votes: int = Field(
        2, ge=1, description="... and when at least this many paths give it"
    )
    engine: LLMBackendParams = Field(
        default_factory=lambda: LLMBackendParams(backend="transformers"),
        description="how the policy models generate (model_path is each model's directory)",
    )
    sandbox: SandboxParams = Field(
        default_factory=SandboxParams, description="where the paths' programs run"
    )

    @model_validator(mode="after")
    def _pass_k_within_n(self) -> SampleParams:
        over = [k for k in self.pass_k if k < 1 or k > self.n]
        if over:
            raise ValueError(f"pass_k values must be between 1 and n={self.n}: {over}")
        return self


SECTIONS: dict[str, type[_Section]] = {
    "taxonomy": TaxonomyParams,
    "synthesize": SynthesizeParams,
    "split": SplitParams,
    "base": BaseParams,
    "sft": SFTParams,
    "sample": SampleParams,
}


def _format_error(section: str, model: type[BaseModel], err: ValidationError) -> str:
    lines = [f"params.yaml section '{section}' is invalid:"]
    for e in err.errors():
        dotted = ".".join([section, *(str(p) for p in e["loc"])])
        if e["type"] == "extra_forbidden":
            # Walk the model to the parent of the unknown key to list its allowed keys.
            parent: Any = model
            for part in e["loc"][:-1]:
                if isinstance(parent, type) and issubclass(parent, BaseModel):
                    parent = parent.model_fields[str(part)].annotation
                else:  # a key of a dict[str, Model] field: step into the value type
                    parent = get_args(parent)[-1]
            allowed = ", ".join(parent.model_fields)
            lines.append(f"  unknown key '{dotted}'; allowed keys: {allowed}")
        else:
            lines.append(f"  '{dotted}': {e['msg']} (got {e.get('input')!r})")
    return "\n".join(lines)


def parse_section(section: str, values: dict[str, Any] | None) -> _Section:
    """Validate one section's raw mapping into its typed model."""
    if section not in SECTIONS:
        raise ParamsError(f"unknown params section '{section}'; known: {', '.join(SECTIONS)}")
    model = SECTIONS[section]
    try:
        return model.model_validate(values or {})
    except ValidationError as err:
        raise ParamsError(_format_error(section, model, err)) from None


def load_params(section: str, path: str | Path = "params.yaml") -> Any:
    """Read `path` and return its `section` as the stage's typed config."""
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: top level must be a mapping of stage sections")
    return parse_section(section, raw.get(section))


def check_all(path: str | Path = "params.yaml") -> dict[str, _Section]:
    """Validate every section of params.yaml; unknown top-level sections are errors too."""
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise ParamsError(
            f"{path}: unknown section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}"
        )
    return {name: parse_section(name, raw.get(name)) for name in SECTIONS}
