"""Typed views of params.yaml: one model per stage section.

`params.yaml` is the only source of settings. Each stage reads its own section
with :func:`load_params`, e.g. ``cfg = load_params("synthesize")``; an unknown
or mistyped key fails with its dotted name and the allowed keys, a wrong type
fails with the expected one. Every field's description says what it does.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)


class ParamsError(ValueError):
    """params.yaml has an unknown key, a wrong type or a bad value."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # Fields filled from the top-level section of the same name (written once in params.yaml,
    # read by several stages), never from the stage's own section.
    shared: ClassVar[tuple[str, ...]] = ()


# --------------------------------------------------------------------- taxonomy
class TaxonomyParams(_Section):
    seed_glob: str = Field(description="which files of the seed directory to read (glob, sorted)")


# ---------------------------------------------------------------------- sandbox
class SandboxParams(_Section):
    timeout_s: float = Field(
        gt=0,
        description="CPU seconds a program (with its children) may use; time waiting for a CPU "
        "does not count, so the verdict does not depend on the load",
    )
    wall_timeout_s: float | None = Field(
        gt=0,
        description="seconds a program may spend sleeping or blocked (neither running nor "
        "waiting for a CPU); null = 5 x timeout_s",
    )
    memory_mb: int = Field(ge=16, description="address space a program may add, MiB")
    workers: int | None = Field(ge=1, description="sandbox workers; null = CPU count")
    allow_unsandboxed: bool = Field(
        description="run with rlimits only where bubblewrap is missing (recorded in metrics); "
        "otherwise the stage refuses to run model-written code",
    )


# ------------------------------------------------------------- generation backends
# One params shape per backend, told apart by `backend` (a discriminated union): each holds
# only its own keys, so a key of another backend is an error, not silently ignored.
class OpenAIBackendParams(_Section):
    """Any OpenAI-compatible HTTP endpoint (vllm serve, a hosted API)."""

    backend: Literal["openai"] = Field(description="an OpenAI-compatible HTTP endpoint")
    base_url: str | None = Field(
        description="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 (needed when used)"
    )
    model: str | None = Field(description="model name sent to the endpoint (needed when used)")
    api_key_env: str = Field(description="environment variable holding the API key (may be unset)")
    concurrency: int = Field(ge=1, description="requests in flight at once")
    max_retries: int = Field(ge=0, description="retries on 429/5xx/timeouts, with backoff")
    timeout_s: float = Field(gt=0, description="per-request timeout in seconds")


class TransformersBackendParams(_Section):
    """A local model through transformers, CPU or GPU (mathforge's own batched decoder)."""

    backend: Literal["transformers"] = Field(description="a local model through transformers")
    device: str = Field(description="torch device, e.g. cpu, cuda, cuda:1")
    batch_size: int = Field(
        ge=1,
        description="sequences decoded together (prompts x n); tiny models pay a per-step "
        "overhead, so batch generously",
    )
    dtype: Literal["float32", "bfloat16", "float16", "auto"] = Field(
        description="weight dtype (auto = the checkpoint's)"
    )
    threads: int | None = Field(ge=1, description="torch CPU threads (null = torch's default)")


class VLLMBackendParams(_Section):
    """A local model on GPUs through vLLM's offline engine (needs the gpu extra)."""

    backend: Literal["vllm"] = Field(description="a local model on GPUs through vLLM")
    tensor_parallel_size: int = Field(
        ge=1, description="GPUs one model replica is split over (tensor parallel)"
    )
    data_parallel_size: int = Field(
        ge=1,
        description="model replicas, one process each on its own tensor_parallel_size GPUs, "
        "each given a contiguous slice of the prompts (tp x dp GPUs in all)",
    )
    gpu_memory_utilization: float = Field(
        gt=0,
        le=1,
        description="share of each GPU's memory vLLM takes for weights, activations and KV "
        "cache (lower it when other processes share the GPU)",
    )
    max_model_len: int | None = Field(
        ge=1,
        description="longest prompt + max_tokens to reserve KV cache for (null = the model's "
        "own context length; lower it when a long-context model's cache does not fit)",
    )


_MODEL_PATH = (
    "a model directory (e.g. models/base/policy_small, or a pretrained pointer written by the "
    "base stage), a local path or an HF name"
)


class TransformersEndpointParams(TransformersBackendParams):
    """The transformers backend serving a model named here (synthesize's endpoint)."""

    model_path: str = Field(description=_MODEL_PATH)


class VLLMEndpointParams(VLLMBackendParams):
    """The vllm backend serving a model named here (synthesize's endpoint)."""

    model_path: str = Field(description=_MODEL_PATH)


# Where a stage names its model in params (synthesize's Self-Instruct teacher).
EndpointParams = Annotated[
    OpenAIBackendParams | TransformersEndpointParams | VLLMEndpointParams,
    Field(discriminator="backend"),
]
# Where the stage brings its own models (sample: each models/sft/<name>): no model_path.
EngineParams = Annotated[
    TransformersBackendParams | VLLMBackendParams, Field(discriminator="backend")
]
BACKENDS = ("openai", "transformers", "vllm")


# ------------------------------------------------------------------- synthesize
class SelfInstructParams(_Section):
    prompts_per_subject: int = Field(
        ge=1, description="Self-Instruct requests per subject (each with fresh examples)"
    )
    examples_per_prompt: int = Field(
        ge=1, description="k seed problems shown in each prompt (Self-Instruct used 8)"
    )
    machine_examples_per_prompt: int = Field(
        ge=0, description="of the k examples, how many come from already-kept synthesized ones"
    )
    problems_per_response: int = Field(ge=1, description="new problems asked for in one response")
    samples_per_prompt: int = Field(ge=1, description="responses sampled per prompt (n)")
    prompts_per_round: int = Field(
        ge=1,
        description="prompts sent together before the novelty filter runs; kept problems "
        "become examples of later rounds (fewer, larger rounds generate faster)",
    )
    temperature: float = Field(ge=0, description="sampling temperature")
    top_p: float = Field(gt=0, le=1, description="nucleus sampling mass")
    max_tokens: int = Field(ge=1, description="max new tokens per response")
    endpoint: EndpointParams = Field(
        description="where the model is served: backend openai, transformers or vllm, each "
        "with its own keys"
    )


class SynthesizeParams(_Section):
    generator: Literal["programmatic", "llm", "auto"] = Field(
        description="programmatic (exact teacher, CPU default), llm (Self-Instruct), "
        "or auto (programmatic where a subject has a generator, llm otherwise)",
    )
    seed: int = Field(description="random seed of all draws in this stage")
    per_subject: int = Field(
        ge=0, description="in-distribution problems to keep per subject (after novelty)"
    )
    hard_fraction: float = Field(
        ge=0, le=1, description="share of in-distribution draws using the hard variant"
    )
    ood_per_subject: int = Field(
        ge=0, description="out-of-distribution problems per subject (held out for eval/test)"
    )
    max_draws_factor: float = Field(
        ge=1, description="give up on a subject after per_subject * this many draws"
    )
    novelty_threshold: float = Field(
        ge=0, le=1, description="drop a problem whose ROUGE-L F vs any kept one exceeds this"
    )
    self_instruct: SelfInstructParams = Field(description="the llm path (Self-Instruct)")
    sandbox: SandboxParams = Field(
        description="where reference solutions run to check they print their answer (the "
        "top-level sandbox section)",
    )
    domain: DomainParams = Field(description="the top-level domain section")

    shared: ClassVar[tuple[str, ...]] = ("sandbox", "domain")


# ------------------------------------------------------------------------ split
class SplitParams(_Section):
    seed: int = Field(description="random seed of the stratified split")
    eval_fraction: float = Field(
        ge=0, lt=1, description="share of each subject's in-distribution problems for eval"
    )
    test_fraction: float = Field(
        ge=0, lt=1, description="share of each subject's in-distribution problems for test"
    )
    ood_eval_fraction: float = Field(
        ge=0, le=1, description="share of out-of-distribution problems for eval (rest: test)"
    )
    decontam_ngram: int = Field(ge=1, description="word n-gram size for decontamination")
    decontam_threshold: float = Field(
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
        ge=300, description="BPE vocabulary size asked for (256 bytes + specials + merges)"
    )
    min_frequency: int = Field(ge=1, description="a merge needs a pair seen at least this often")
    number_digits: int = Field(
        ge=1,
        le=3,
        description="numbers split left to right into chunks of up to this many digits, each "
        "chunk one token (1: digit by digit; 3: every number 0-999 is one token)",
    )


class BaseModelParams(_Section):
    """One base model: a tiny Llama built from the size fields, or a pretrained one by name."""

    pretrained: str | None = Field(
        description="HF name or local path of a pretrained model (GPU profile); recorded, never "
        "downloaded; when set every size field must be null",
    )
    hidden_size: int | None = Field(ge=8, description="model width")
    num_layers: int | None = Field(ge=1, description="transformer blocks")
    num_heads: int | None = Field(ge=1, description="attention heads (divides hidden_size)")
    num_kv_heads: int | None = Field(
        ge=1, description="key/value heads (divides num_heads; fewer = grouped-query)"
    )
    intermediate_size: int | None = Field(ge=1, description="MLP width")
    max_position_embeddings: int | None = Field(
        ge=16, description="longest sequence (prompt + completion) in tokens"
    )
    tie_word_embeddings: bool | None = Field(
        description="share input embeddings and LM head (fewer parameters)"
    )
    system_prompt: bool = Field(
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
    seed: int = Field(description="seed of the random weight init of every built model")
    tokenizer: BaseTokenizerParams = Field(description="the BPE tokenizer trained on train")
    models: dict[str, BaseModelParams] = Field(
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


# --------------------------------------------------------------------- training
class LaunchParams(_Section):
    """How every training stage runs: dvc.yaml starts it with `accelerate launch --config_file
    <config>` (mathforge.launch checks the file agrees with `launcher`)."""

    launcher: Literal["single", "deepspeed"] = Field(
        description="single: one process (CPU, or one GPU); deepspeed: DeepSpeed ZeRO over the "
        "node's GPUs (the gpu extra)"
    )
    config: str = Field(
        description="the accelerate config file (configs/accelerate/): single.yaml, or "
        "deepspeed_zero2.yaml / deepspeed_zero3.yaml, whose deepspeed_config_file names the "
        "ZeRO JSON (configs/deepspeed/)"
    )
    deterministic: bool = Field(
        description="torch's deterministic algorithms in every trainer (TrainingArguments "
        "full_determinism): a rerun on the same machine makes the same weights. On CPU it "
        "changed nothing (the weights were already bit-identical); on a GPU it costs speed"
    )


class OptimizerParams(_Section):
    """The optimizer and run settings every training stage shares (TRL's trainers)."""

    seed: int = Field(description="seed of the example draws and of training (data order, dropout)")
    max_steps: int = Field(ge=1, description="optimizer steps")
    batch_size: int = Field(ge=1, description="sequences per device per micro-batch")
    gradient_accumulation_steps: int = Field(
        ge=1, description="micro-batches per optimizer step (effective batch = product)"
    )
    learning_rate: float = Field(
        gt=0, description="peak AdamW learning rate (tiny models from scratch want ~1e-3)"
    )
    lr_scheduler_type: Literal["cosine", "linear", "constant", "constant_with_warmup"] = Field(
        description="learning-rate schedule after warmup"
    )
    warmup_steps: float = Field(
        ge=0, description="warmup: steps, or a share of max_steps when below 1"
    )
    weight_decay: float = Field(ge=0, description="AdamW weight decay")
    max_length: int = Field(ge=16, description="truncate prompt + completion to this many tokens")
    logging_steps: int = Field(
        ge=1, description="log the train loss (plots/<stage>/<name>.csv) every this many steps"
    )
    threads: int | None = Field(
        ge=1, description="torch CPU threads (null = torch's default; 1 beside other work)"
    )
    use_cpu: bool = Field(description="train on CPU even where a GPU is visible")
    bf16: bool = Field(description="bfloat16 mixed precision (GPU profile)")
    launch: LaunchParams = Field(
        description="how the stage is launched (the top-level launch section)"
    )

    shared: ClassVar[tuple[str, ...]] = ("launch",)


class TrainingParams(OptimizerParams):
    """A policy's training (pretrain, sft): the optimizer, and its held-out accuracy."""

    accuracy_problems: int = Field(
        ge=1,
        description="held-out accuracy (mathforge evaluate): this many eval-split problems, "
        "stratified by subject and in/out of distribution, solved greedily, executed, graded",
    )
    eval_max_tokens: int = Field(ge=1, description="new tokens per held-out solution")
    sandbox: SandboxParams = Field(
        description="where the held-out solutions run (the top-level sandbox section)"
    )

    shared: ClassVar[tuple[str, ...]] = ("sandbox", "launch")


# ----------------------------------------------------------------------- domain
class DomainParams(_Section):
    """Which subjects and skills the teacher draws: the problems of synthesize and the
    pretraining corpus (the CPU default narrows it; see the README)."""

    subjects: dict[str, list[str] | None] | None = Field(
        description="subject -> the skills to draw (null: all of them); null: every subject "
        "and skill of the teacher. Seeds outside it are dropped (reason outside_domain)"
    )


# ----------------------------------------------------------------------- corpus
class CorpusParams(_Section):
    """The pretraining stand-in: fresh teacher problems in formats other than the mixed
    solution (stage corpus), disjoint from the splits and decontaminated like train."""

    seed: int = Field(description="seed of the draws")
    problems: int = Field(ge=1, description="problems drawn (before dropping any)")
    hard_fraction: float = Field(ge=0, le=1, description="share of draws in the hard variant")
    formats: list[
        Literal[
            "program",
            "numbers",
            "key_information",
            "reasoning",
            "reasoning_program",
            "long_numbers",
        ]
    ] = Field(
        min_length=1,
        description="renderings of each problem: program (question -> the program), numbers "
        "(question -> the numbers it gives, in order), key_information (question -> each number "
        "with what it counts), reasoning (question -> the reasoning in words alone), "
        "reasoning_program (question and reasoning -> the program), long_numbers (the program row "
        "with the numbers it binds rewritten to 1-7 digits: copying long numbers)",
    )
    domain: DomainParams = Field(description="the top-level domain section")
    split: SplitParams = Field(description="the split section: its decontamination rule")

    shared: ClassVar[tuple[str, ...]] = ("domain", "split")


# --------------------------------------------------------------------- pretrain
class PretrainParams(TrainingParams):
    """Pretraining every base.models entry on the corpus (stage pretrain@<name>)."""

    heldout_rows: int = Field(
        ge=1, description="corpus rows held out of training for the held-out loss"
    )
    max_steps_by_model: dict[str, Annotated[int, Field(ge=1)]] = Field(
        description="base.models entries that train for other than max_steps (a smaller model "
        "costs less a step, so it can take more of them)"
    )

    def for_model(self, name: str) -> PretrainParams:
        """These settings with the steps of model `name`."""
        return self.model_copy(
            update={"max_steps": self.max_steps_by_model.get(name, self.max_steps)}
        )


# -------------------------------------------------------------------------- sft
class SFTParams(TrainingParams):
    """SFT of every pretrained model on a small set of reference solutions (stage sft@<name>)."""

    sources: list[Literal["seed", "programmatic", "llm"]] = Field(
        min_length=1,
        description="train rows whose generator is one of these give SFT examples (llm-written "
        "solutions are left for RFT by default)",
    )
    max_examples: int | None = Field(
        ge=1,
        description="cap on SFT examples, drawn with `seed` stratified by subject; small on "
        "purpose: reference solutions are scarce, RFT adds the rest (null = every eligible row)",
    )
    eval_examples: int = Field(
        ge=1, description="eval-split reference solutions (drawn per subject) for held-out loss"
    )


# ----------------------------------------------------------------------- sample
class SampleParams(_Section):
    """Rejection sampling by every SFT'd policy model over the train split (stage sample)."""

    seed: int = Field(description="sampling seed (each shard derives its own from it)")
    n: int = Field(ge=1, description="paths sampled per problem by each model (recipe: 100)")
    temperature: float = Field(
        gt=0, description="sampling temperature (above 0: paths must differ)"
    )
    temperature_by_model: dict[str, Annotated[float, Field(gt=0)]] = Field(
        description="models (base.models names) that sample at another temperature: a weaker "
        "model of the pool writes fewer broken programs a little cooler"
    )
    top_p: float = Field(gt=0, le=1, description="nucleus sampling mass")
    max_tokens: int = Field(
        ge=1, description="new tokens per path (reference solutions: 90 on average)"
    )
    max_problems: int | None = Field(
        ge=1,
        description="sample this many train problems, drawn with `seed` stratified by subject "
        "(null = every train problem)",
    )
    skip_sft_examples: bool = Field(
        description="leave out the train problems whose reference solution an SFT'd model "
        "learned from: sample the answer-only problems RFT exists for, and measure the "
        "policies on problems they have not seen solved"
    )
    shard_size: int = Field(
        ge=1,
        description="problems per shard: a finished shard survives a kill and is not redone",
    )
    pass_k: list[int] = Field(min_length=1, description="k of the pass@k metrics (each at most n)")
    majority_min_share: float = Field(
        gt=0,
        le=1,
        description="problems without a reference answer take the majority predicted answer "
        "when its share of the problem's paths (all models) reaches this",
    )
    majority_min_votes: int = Field(
        ge=1, description="... and when at least this many paths give it"
    )
    engine: EngineParams = Field(
        description="how the policy models generate: backend transformers or vllm, each with "
        "its own keys (the models are the stage's inputs, models/sft/<name>)"
    )
    workers: int = Field(
        ge=1,
        description="processes generating shards side by side, each with its own copy of a "
        "model (the transformers backend on CPU: one per core); the rows do not depend on it. "
        "1 with vllm, which spreads over GPUs itself (data_parallel_size)",
    )
    sandbox: SandboxParams = Field(
        description="where the paths' programs run (the top-level sandbox section)"
    )

    shared: ClassVar[tuple[str, ...]] = ("sandbox",)

    def temperature_for(self, model: str) -> float:
        """The sampling temperature of `model`."""
        return self.temperature_by_model.get(model, self.temperature)

    @model_validator(mode="after")
    def _pass_k_within_n(self) -> SampleParams:
        over = [k for k in self.pass_k if k < 1 or k > self.n]
        if over:
            raise ValueError(f"pass_k values must be between 1 and n={self.n}: {over}")
        return self

    @model_validator(mode="after")
    def _workers_need_the_transformers_backend(self) -> SampleParams:
        if self.workers > 1 and self.engine.backend != "transformers":
            raise ValueError(
                f"workers: {self.workers} runs copies of a model side by side, for the "
                f"transformers backend; the {self.engine.backend} backend spreads over its GPUs "
                "itself (data_parallel_size): set workers to 1"
            )
        return self


# ---------------------------------------------------------------------- scoring
class ScoringParams(_Section):
    """Which sampled problems train the scorers and which they score (mathforge.scoring)."""

    seed: int = Field(description="seed of the problems' roles (a hash of seed and question id)")
    fit_fraction: float = Field(
        ge=0, le=1, description="share of sampled problems whose paths the judge labels for "
        "the scorers (train + heldout); the rest are scored and filtered",
    )  # fmt: skip
    heldout_fraction: float = Field(
        ge=0, le=1, description="share of those labelled problems no scorer trains on: the "
        "critique model's agreement and the reward model's accuracy are measured there",
    )  # fmt: skip
    accept_threshold: int = Field(
        ge=0, le=10, description="a judge or critique score at or above this accepts a path"
    )


class ProgrammaticJudgeParams(_Section):
    """The CPU profile's judge: runs and checks the path (mathforge.critique.judge)."""

    backend: Literal["programmatic"] = Field(description="the programmatic judge")
    counterfactual_trials: int = Field(
        ge=0, description="redraws of the question's numbers a right answer must survive"
    )


class CritiqueModelParams(OptimizerParams):
    """The critique model (stages critique_train, critique_score)."""

    base_model: str = Field(
        description="the model directory it is fine-tuned from (a dep of critique_train): a "
        "pretrained policy on CPU; on GPUs a base stage directory naming a real model"
    )
    critic: Literal["model", "judge"] = Field(
        description="who scores the `score` problems' paths in critique_score: the critique "
        "model (the method), or the judge itself (critique_label.judge: what a critique model "
        "that matched the judge would give; cheap only for the programmatic judge)"
    )
    max_new_tokens: int = Field(ge=1, description="tokens of a generated critique")
    generate_batch_size: int = Field(ge=1, description="critiques generated together")
    scoring: ScoringParams = Field(description="the problems' roles (the top-level scoring)")

    shared: ClassVar[tuple[str, ...]] = ("scoring", "launch")


JudgeParams = Annotated[
    ProgrammaticJudgeParams | OpenAIBackendParams, Field(discriminator="backend")
]


class CritiqueParams(_Section):
    """The judge's labels (stage critique_label)."""

    judge: JudgeParams = Field(
        description="programmatic (CPU), or openai: a strong model behind an OpenAI-compatible "
        "endpoint that writes the same critique format (GPU profile)"
    )
    judge_max_tokens: int = Field(ge=1, description="new tokens of an endpoint judge's critique")
    batch_size: int = Field(ge=1, description="paths judged together (one sandbox batch)")
    sandbox: SandboxParams = Field(description="where the paths run (the top-level sandbox)")
    scoring: ScoringParams = Field(description="the problems' roles (the top-level scoring)")

    shared: ClassVar[tuple[str, ...]] = ("sandbox", "scoring")


# ----------------------------------------------------------------------- filter
class FilterParams(_Section):
    """The quality filter over the paths of `score` problems (stage filter, mathforge.filtering)."""

    top_m: int = Field(
        ge=1,
        description="paths kept per problem at most: the best by reward among those that pass "
        "every check (execution, answer, critique)",
    )
    critique_threshold: int | None = Field(
        ge=0,
        le=10,
        description="critique score (0-10) a kept path reaches; null = "
        "scoring.accept_threshold, the judge's own bar the critique model learned",
    )
    hard_first_paths: int = Field(
        ge=1,
        description="a problem's hardness is judged on its first this many paths "
        "(by sample_index, then model)",
    )
    hard_max_share: float = Field(
        gt=0,
        le=1,
        description="a problem is hard when fewer than this share of those paths pass every check",
    )
    threads: int = Field(ge=1, description="DuckDB threads")
    memory_limit: str = Field(
        description="DuckDB memory limit (e.g. 2GB); beyond it, joins and sorts spill to disk"
    )
    validate_rows: int = Field(
        ge=1,
        description="Great Expectations runs on at most this many rows of each output "
        "(a deterministic sample); DuckDB checks every row against the same contract",
    )
    scoring: ScoringParams = Field(description="the top-level scoring section (problem roles)")

    shared: ClassVar[tuple[str, ...]] = ("scoring",)

    @property
    def threshold(self) -> int:
        """The critique score a kept path reaches."""
        if self.critique_threshold is None:
            return self.scoring.accept_threshold
        return self.critique_threshold


# ------------------------------------------------------------------------ pairs
class PairsParams(_Section):
    """DPO pair mining over the filter's verdicts (stage pairs, mathforge.pairs)."""

    strategy: Literal["hard", "best_worst", "margin"] = Field(
        description="hard: the pair types SFT fails to separate (mathforge.pairs); best_worst: "
        "best vs lowest-scored path, the recipe's weak baseline; margin: best vs the failed "
        "path whose reward is nearest mean - margin_sigmas x std of the problem's rewards",
    )
    max_per_problem: int = Field(ge=1, description="pairs per problem at most (hard)")
    max_per_type: int = Field(
        ge=1, description="pairs of one type per problem at most (hard); types take turns"
    )
    rounding_tolerance: float = Field(
        gt=0,
        lt=1,
        description="rounding: a wrong printed number within this relative error of the "
        "reference (not both integers) is a precision or rounding error",
    )
    min_steps: int = Field(
        ge=1,
        description="one_step_wrong: statements a wrong program has at least (prints and "
        "imports not counted), so it is a multi-step program",
    )
    max_step_distance: float = Field(
        ge=0,
        le=1,
        description="one_step_wrong: normalized program distance (mathforge.diversity) from the "
        "wrong program to the nearest good one at most; 0.2 is about one token in five",
    )
    margin_sigmas: float = Field(
        ge=0, description="margin: the rejected path's reward target is mean - this x std"
    )
    batch_problems: int = Field(
        ge=1,
        description="problems mined together: bounds memory to their paths' text and programs; "
        "each batch rescans the path shards",
    )


# ----------------------------------------------------------------------- reward
class RewardParams(OptimizerParams):
    """The reward model: TRL's RewardTrainer on preference pairs of one problem (stage
    reward_train), then a score for every path of the `score` problems (stage reward_score)."""

    init: str = Field(
        description="model directory the reward model starts from (loaded as a sequence "
        "classifier with num_labels=1: the transformer's weights, a new score head); dvc.yaml "
        "reads it too, as reward_train's input",
    )
    pretrained: str | None = Field(
        description="HF name or local path of an existing reward model (GPU profile) used "
        "instead of training one: reward_train records it and measures it; null: train",
    )
    max_pairs_per_problem: int = Field(
        ge=1, description="cap on preference pairs per problem (seeded draw, both kinds in turn)"
    )
    score_batch_size: int = Field(ge=1, description="paths scored per forward pass")
    histogram_bins: int = Field(ge=2, description="bins of the score distributions' plots")
    scoring: ScoringParams = Field(description="the top-level scoring section: problem roles")

    shared: ClassVar[tuple[str, ...]] = ("scoring", "launch")


class DiversityParams(_Section):
    """Diversity selection over normalized programs: the RFT set (stage diversity,
    mathforge.diversity)."""

    k: int = Field(
        ge=1,
        description="paths kept per problem at most, of its filtered paths: normalized "
        "duplicates collapse first, then the k forms with the largest minimum pairwise distance",
    )
    workers: int = Field(
        ge=1, description="processes that normalize and select (1: none beside the stage's)"
    )
    problems_per_task: int = Field(ge=1, description="problems a selection worker takes at a time")
    audit_paths: int = Field(
        ge=0,
        description="the judge audits at most this many filtered and this many selected paths "
        "(a seeded draw): the share it rejects (right answer, wrong reasoning); 0 = no audit",
    )
    audit_trials: int = Field(
        ge=0, description="the audit judge's counterfactual redraws per right answer"
    )
    scoring: ScoringParams = Field(description="the top-level scoring section (problem roles)")
    sandbox: SandboxParams = Field(description="where the audit judge runs the paths")

    shared: ClassVar[tuple[str, ...]] = ("scoring", "sandbox")


class RftParams(TrainingParams):
    """RFT: the target policy fine-tuned on the RFT set (stage diversity) plus its SFT data,
    with hard problems' samples weighted up (stage rft, mathforge.training.weighted)."""

    target: str = Field(
        description="the policy RFT trains (one of base.models), into models/rft/<target>; "
        "models/sft/<target> is its like-for-like SFT baseline"
    )
    init: Literal["pretrained", "sft"] = Field(
        description="the model RFT starts from: pretrained (models/pretrained/<target>, the "
        "model SFT started from, so RFT differs from SFT by its data only) or sft "
        "(models/sft/<target>: RFT continues the SFT model)"
    )
    sft_data: bool = Field(
        description="train on the target's SFT examples (models/sft/<target>/sft_examples) "
        "beside the RFT paths, as the recipe does"
    )
    weighting: Literal["none", "fixed", "dynamic"] = Field(
        description="hard samples' loss weight: none (1, the ablation), fixed (hard_weight), "
        "dynamic (their running loss over the easy samples', between 1 and hard_weight: it "
        "rises as the easy samples converge)"
    )
    hard_weight: float = Field(
        ge=1, description="fixed: hard samples' loss weight; dynamic: its ceiling"
    )
    loss_ema: float = Field(
        ge=0, lt=1, description="dynamic: smoothing of the running hard and easy losses"
    )


class DpoParams(TrainingParams):
    """DPO of the RFT'd target policy on the mined pairs (stage dpo, mathforge.training.dpo):
    TRL's DPOTrainer, the RFT model as its own frozen reference."""

    beta: float = Field(
        gt=0,
        description="DPO's beta: how far the policy may move from the reference (higher: less)",
    )
    sft_weight: float = Field(
        ge=0,
        description="weight of the auxiliary SFT loss on the chosen paths (loss_type "
        "[sigmoid, sft], loss_weights [1, sft_weight]; RPO's alpha): keeps the policy near "
        "the chosen text; 0 = plain DPO",
    )


class GrpoParams(TrainingParams):
    """GRPO of the RFT'd target policy with a verifiable reward (stage grpo,
    mathforge.training.grpo): TRL's GRPOTrainer, the online-RL comparison to DPO."""

    problems: int | None = Field(
        ge=1,
        description="null: the problems DPO's pairs cover (the same problems, the same budget); "
        "a number: that many train problems with a gold answer, drawn with `seed` stratified "
        "by subject",
    )
    num_generations: int = Field(
        ge=2,
        description="completions sampled per problem (the group whose rewards are compared); "
        "batch_size x gradient_accumulation_steps must be a multiple of it",
    )
    max_completion_length: int = Field(ge=1, description="new tokens per sampled completion")
    max_length: int = Field(
        ge=16,
        description="prompt + max_completion_length must fit it (the model's context); a problem "
        "whose prompt leaves less room is left out (dropped_too_long)",
    )
    temperature: float = Field(gt=0, description="sampling temperature of the rollouts")
    top_p: float = Field(gt=0, le=1, description="nucleus sampling mass of the rollouts")
    beta: float = Field(
        ge=0,
        description="KL penalty to the starting model (0: no reference model is loaded, "
        "TRL's default)",
    )
    judge: bool = Field(
        description="a right answer earns the reward only if the programmatic judge also "
        "accepts the path (numbers from the question, computed answer, claims, "
        "counterfactual redraws; mathforge.critique.judge); false: the answer alone"
    )
    counterfactual_trials: int = Field(
        ge=0, description="judge: redraws of the question's numbers a right answer must survive"
    )

    @model_validator(mode="after")
    def _groups_fill_the_batch(self) -> GrpoParams:
        batch = self.batch_size * self.gradient_accumulation_steps
        if batch % self.num_generations:
            raise ValueError(
                f"batch_size x gradient_accumulation_steps ({batch}) must be a multiple of "
                f"num_generations ({self.num_generations}): a batch holds whole groups"
            )
        return self


# --------------------------------------------------------------------- evaluate
class EvaluateParams(_Section):
    """Every model stage on the eval split, greedy and by majority vote, and the win/loss of
    consecutive stages (stage evaluate, mathforge.stage_evaluation). Never the test split."""

    problems: int | None = Field(
        ge=1,
        description="eval-split problems, stratified by subject and in/out of distribution, "
        "seeded (the same problems for every model); null = all of them",
    )
    seed: int = Field(description="seed of the problems drawn, the samples and the intervals")
    k: int = Field(ge=2, description="samples per problem for the majority vote (maj@k) and pass@k")
    temperature: float = Field(gt=0, description="sampling temperature of the k samples")
    max_tokens: int = Field(ge=1, description="new tokens per solution (greedy and sampled)")
    threads: int | None = Field(
        ge=1, description="torch CPU threads (null = torch's default; 1 beside other work)"
    )
    use_cpu: bool = Field(description="generate on CPU even where a GPU is visible")
    workers: int = Field(
        ge=1,
        description="processes evaluating models side by side, one model each at a time (on "
        "CPU: one per core); the rows do not depend on it. 1 with use_cpu false (one GPU)",
    )
    models: dict[str, str] = Field(
        description="stage name -> model directory, in the method's order (a row of the "
        "table each); dvc.yaml lists the same directories as the stage's deps",
    )
    comparisons: list[tuple[str, str]] = Field(
        description="[baseline, candidate] pairs of `models` names: the win/loss table, each "
        "paired by problem on the greedy solutions",
    )
    sandbox: SandboxParams = Field(
        description="where the solutions' programs run (the top-level sandbox section)"
    )

    shared: ClassVar[tuple[str, ...]] = ("sandbox",)

    @field_validator("models")
    @classmethod
    def _model_names(cls, models: dict[str, str]) -> dict[str, str]:
        if not models:
            raise ValueError("must name at least one model directory")
        bad = [name for name in models if not _MODEL_NAME.match(name)]
        if bad:
            raise ValueError(f"names must match [a-z0-9][a-z0-9_-]*: {', '.join(bad)}")
        return models

    @field_validator("comparisons")
    @classmethod
    def _compared_models_exist(
        cls, comparisons: list[tuple[str, str]], info: ValidationInfo
    ) -> list[tuple[str, str]]:
        if "models" not in info.data:  # models itself is invalid: reported there
            return comparisons
        models = info.data["models"]
        for baseline, candidate in comparisons:
            for name in (baseline, candidate):
                if name not in models:
                    raise ValueError(
                        f"[{baseline}, {candidate}]: {name!r} is not a name of evaluate.models "
                        f"({', '.join(models)})" + closest(name, models)
                    )
            if baseline == candidate:
                raise ValueError(f"[{baseline}, {candidate}] compares a model with itself")
        return comparisons

    @model_validator(mode="after")
    def _workers_on_cpu(self) -> EvaluateParams:
        if self.workers > 1 and not self.use_cpu:
            raise ValueError(
                f"workers: {self.workers} evaluates models side by side on CPU; with "
                "use_cpu: false (one GPU) set workers to 1"
            )
        return self


SECTIONS: dict[str, type[_Section]] = {
    "launch": LaunchParams,
    "taxonomy": TaxonomyParams,
    "sandbox": SandboxParams,
    "domain": DomainParams,
    "synthesize": SynthesizeParams,
    "split": SplitParams,
    "corpus": CorpusParams,
    "base": BaseParams,
    "pretrain": PretrainParams,
    "sft": SFTParams,
    "sample": SampleParams,
    "scoring": ScoringParams,
    "critique_label": CritiqueParams,
    "critique_model": CritiqueModelParams,
    "filter": FilterParams,
    "diversity": DiversityParams,
    "rft": RftParams,
    "reward": RewardParams,
    "pairs": PairsParams,
    "dpo": DpoParams,
    "grpo": GrpoParams,
    "evaluate": EvaluateParams,
}


def closest(word: str, choices: Iterable[str], prefix: str = "") -> str:
    """ "; did you mean '<prefix><x>'?" for the closest of `choices` (difflib), '' when none is."""
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{prefix}{found[0]}'?" if found else ""


def _step(annotation: Any, part: str | int) -> tuple[Any, bool]:
    """The type one `loc` step below `annotation`, and whether the step is a key of params.yaml
    (a discriminated union's tag is pydantic's, not the file's)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields[str(part)]
        return field.annotation, True
    args = get_args(annotation)
    if get_origin(annotation) in (Union, UnionType):  # backends: `part` is the tag, e.g. vllm
        for variant in args:
            fields = getattr(variant, "model_fields", {})
            if "backend" in fields and part in get_args(fields["backend"].annotation):
                return variant, False
    return (args[-1] if args else Any), True  # dict[str, X] -> X, list[X] -> X


def _format_error(
    section: str, model: type[BaseModel], err: ValidationError, path: str | Path
) -> list[str]:
    lines = []
    for e in err.errors():
        loc = list(e["loc"])
        parts: list[str] = [] if loc and loc[0] in getattr(model, "shared", ()) else [section]
        parent: Any = model
        for part in loc[:-1]:
            parent, is_key = _step(parent, part)
            if is_key:
                parts.append(str(part))
        key = str(loc[-1]) if loc else ""
        is_model = isinstance(parent, type) and issubclass(parent, BaseModel)
        if e["type"] in ("extra_forbidden", "missing") and is_model:
            allowed = [f for f in parent.model_fields if f not in getattr(parent, "shared", ())]
            dotted = ".".join([*parts, key])
            if e["type"] == "extra_forbidden":
                lines.append(
                    f"  unknown key '{dotted}'; allowed keys: {', '.join(allowed)}"
                    + closest(key, allowed)
                )
            else:
                info = parent.model_fields[key].description
                lines.append(f"  missing key '{dotted}' ({info})")
        elif e["type"] in ("union_tag_invalid", "union_tag_not_found"):  # backend: ...
            choices = get_args(_step(parent, key)[0])
            tags = [t for v in choices for t in get_args(v.model_fields["backend"].annotation)]
            got = (e.get("ctx") or {}).get("tag")
            dotted = ".".join([*parts, key, "backend"])
            lines.append(
                f"  '{dotted}': must be one of {', '.join(tags)} (got {got!r})"
                + (closest(str(got), tags) if got else "")
            )
        else:
            _, is_key = _step(parent, loc[-1]) if loc else (None, False)
            dotted = ".".join([*parts, key] if is_key else parts)
            lines.append(f"  '{dotted}': {e['msg']} (got {e.get('input')!r})")
    return [f"{path}: section '{section}' is invalid:", *lines]


def _merge(base: Any, overrides: Any) -> Any:
    """`base` with `overrides` laid over it, mappings merged key by key."""
    if not isinstance(base, Mapping) or not isinstance(overrides, Mapping):
        return overrides
    merged = dict(base)
    for key, value in overrides.items():
        merged[key] = _merge(base.get(key), value) if key in base else value
    return merged


def _read(path: str | Path) -> dict[str, Any]:
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: top level must be a mapping of sections")
    return raw


def _section_errors(
    section: str, values: Any, shared: Mapping[str, Any], path: str | Path
) -> tuple[_Section | None, list[str]]:
    if section not in SECTIONS:
        return None, [f"{path}: unknown section '{section}'; known: {', '.join(SECTIONS)}"]
    model = SECTIONS[section]
    values = dict(values or {})
    for key in model.shared:
        if key in values:
            return None, [
                f"{path}: '{section}.{key}' is set once, in the top-level '{key}' section "
                f"(every stage reads it there); remove it from '{section}'"
            ]
        if shared.get(key) is None:
            return None, [f"{path}: section '{key}' is missing (stage {section} reads it)"]
        values[key] = shared[key]
    try:
        return model.model_validate(values), []
    except ValidationError as err:
        return None, _format_error(section, model, err, path)


def parse_section(
    section: str,
    values: Mapping[str, Any] | None,
    shared: Mapping[str, Any] | None = None,
    path: str | Path = "params.yaml",
) -> Any:
    """Validate one section's mapping into its typed model; `shared` holds the top-level
    sections it reads too (e.g. ``{"sandbox": {...}}``)."""
    cfg, errors = _section_errors(section, values, shared or {}, path)
    if errors:
        raise ParamsError("\n".join(errors))
    return cfg


def load_params(
    section: str, path: str | Path = "params.yaml", overrides: Mapping[str, Any] | None = None
) -> Any:
    """Read `path` and return its `section` as the stage's typed config.

    `overrides` (tests, experiments in code) are laid over the file's values key by key,
    e.g. ``load_params("sample", overrides={"n": 2, "sandbox": {"timeout_s": 2.0}})``; a
    shared section's key (``sandbox``) overrides that section as this stage reads it.
    """
    raw = _read(path)
    overrides = dict(overrides or {})
    model = SECTIONS.get(section)
    shared = {
        key: _merge(raw.get(key), overrides.pop(key)) if key in overrides else raw.get(key)
        for key in (model.shared if model else ())
    }
    return parse_section(section, _merge(raw.get(section) or {}, overrides), shared, path)


def check_all(path: str | Path = "params.yaml") -> dict[str, _Section]:
    """Validate every section of params.yaml; every error of every section in one ParamsError
    (unknown and missing sections too)."""
    raw = _read(path)
    errors = [
        f"{path}: unknown section '{name}'; known: {', '.join(SECTIONS)}" + closest(name, SECTIONS)
        for name in raw
        if name not in SECTIONS
    ]
    errors += [f"{path}: section '{name}' is missing" for name in SECTIONS if name not in raw]
    sections: dict[str, Any] = {}
    for name in sorted(SECTIONS, key=lambda n: bool(SECTIONS[n].shared)):  # shared ones first
        if name in raw:
            # A shared section's errors are reported once, under its own name, not again in
            # each section that reads it (an unchecked stand-in takes its place there).
            shared = {
                key: raw.get(key) if sections.get(key) else SECTIONS[key].model_construct()
                for key in SECTIONS[name].shared
            }
            cfg, found = _section_errors(name, raw[name], shared, path)
            errors += found
            sections[name] = cfg
    sections = {name: sections.get(name) for name in SECTIONS}
    if errors:
        raise ParamsError("\n".join(errors))
    return sections


def _has_key(raw: Any, dotted: str) -> bool:
    for part in dotted.split("."):
        if not isinstance(raw, dict) or part not in raw:
            return False
        raw = raw[part]
    return True


def dvc_params_errors(dvc_yaml: str | Path, params_path: str | Path = "params.yaml") -> list[str]:
    """Every params reference of a dvc.yaml stage that `params_path` does not have, with the
    closest key there (DVC itself would first delete the stage's outputs, then fail)."""
    raw = _read(params_path)
    stages = yaml.safe_load(Path(dvc_yaml).read_text(encoding="utf-8")).get("stages", {})
    errors = []
    for name, stage in stages.items():
        for entry in stage.get("do", stage).get("params", []):
            if isinstance(entry, dict):  # {other_file.yaml: [keys]}: not ours to check
                continue
            if not _has_key(raw, entry):
                parent, _, last = entry.rpartition(".")
                siblings = raw
                for part in parent.split(".") if parent else []:
                    siblings = siblings.get(part, {}) if isinstance(siblings, dict) else {}
                keys = list(siblings) if isinstance(siblings, dict) else []
                hint = closest(last, keys, f"{parent}." if parent else "")
                errors.append(
                    f"{dvc_yaml}: stage {name} depends on param '{entry}', which {params_path} "
                    f"does not have{hint}"
                )
    return errors
