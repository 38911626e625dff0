"""Typed configuration: YAML (the package's configs/, or a file of yours), overridden from the CLI with
dotted keys.

`load_config("configs/default.yaml", ["teacher.temperature=0.9"])` gives a validated Config. A relative
path that is not there from the working directory is the package's own (`packaged`): the configs,
prompts and seeds ship inside the package, so a plain `pip install .` runs from any folder.
Unknown keys are errors (a typo must not silently fall back to a default). The resolved config
and its fingerprint are written next to every output; the fingerprint leaves out the fields a
user may change when resuming a run (how many rounds, threads, progress display).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from .config_yaml import ConfigError, parse_yaml, read_config_file, validation_message

PROJECT_ROOT = Path(__file__).resolve().parent.parent  # a checkout's root: tests/ and bench/ live there
PACKAGE_DIR = Path(__file__).resolve().parent  # configs/, prompts/ and seeds/ ship here
DEFAULT_CONFIG = PACKAGE_DIR / "configs" / "default.yaml"


def packaged(path: str | Path) -> Path:
    """`path` as given when it is absolute or there from the working directory, else the package's own
    file of that name (configs/default.yaml, seeds/seed_tasks.jsonl, prompts)."""
    p = Path(path)
    return p if p.is_absolute() or p.exists() or not (PACKAGE_DIR / p).exists() else PACKAGE_DIR / p


# The ranges a setting may take: a value outside is refused when the config loads, before a run
# folder exists (a chunk_size of 0 or a top_p of 2 made no sense anywhere downstream).
PosInt = Annotated[int, Field(ge=1)]
Count = Annotated[int, Field(ge=0)]
NonNeg = Annotated[float, Field(ge=0, allow_inf_nan=False)]  # temperatures, waits
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Share = Annotated[float, Field(ge=0, le=1)]
Unit = Annotated[float, Field(gt=0, le=1)]  # top_p, similarity thresholds, a memory share
Part = Annotated[float, Field(ge=0, lt=1)]  # a share that must leave something: held-out seeds, dropout


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class RunConfig(Section):
    name: str = "default"
    root: str = "runs"
    seed: int = 0
    threads: PosInt = 2  # torch threads; on this 2-core machine set deliberately

    @field_validator("name")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        """The run goes to root/NAME, and nowhere else: `../x` or `a/b` wrote outside run.root."""
        if name in ("", ".", "..") or any(c in name for c in "/\\\0"):
            raise ValueError(
                f"{name!r} is not a plain folder name (no '/', not '.' or '..'); the run goes to run.root/NAME"
            )
        return name


class VllmOptions(Section):
    tensor_parallel_size: PosInt = 1
    data_parallel_size: PosInt = 1
    max_num_seqs: PosInt = 64
    gpu_memory_utilization: Unit = 0.85
    enable_prefix_caching: bool = True
    enforce_eager: bool = True  # ~30 s start-up on CPU instead of ~120 s, same speed
    max_model_len: PosInt = 2048
    dtype: str = "auto"  # auto: float32 on CPU (bfloat16 is ~5x slower there), bfloat16 on GPU
    kv_cache_space_gb: PosInt = 2  # VLLM_CPU_KVCACHE_SPACE on CPU
    max_lora_rank: Count = (
        0  # > 0: LoRA enabled, so requests can name their own adapter (eval: all students, one engine)
    )
    extra: dict[str, Any] = Field(default_factory=dict)  # passed to vllm.LLM as is


class OpenAIOptions(Section):
    base_urls: list[str] = Field(default_factory=lambda: ["http://127.0.0.1:8000/v1"])
    api_key_env: str = "OPENAI_API_KEY"  # the key itself is never stored
    max_in_flight: PosInt = 32  # the ceiling: requests in flight halve on 429/503/timeouts, then grow back to it
    min_in_flight: PosInt = 1  # the floor they never halve below
    adaptive: bool = True  # false: always max_in_flight, whatever the server answers
    timeout_s: Positive = 120.0  # hard limit per attempt, so a stuck server never hangs a step
    max_retries: Count = 5  # on connection errors, timeouts, 429 and 5xx; never on other 4xx
    backoff_s: NonNeg = 1.0  # first retry wait; doubles each time, with jitter
    backoff_max_s: NonNeg = 30.0
    balance: Literal["least_in_flight", "round_robin"] = "least_in_flight"  # over base_urls
    cooldown_s: NonNeg = 5.0  # a failing endpoint is out of rotation this long, doubled per failure in a row
    cooldown_max_s: NonNeg = 60.0
    served_model: str | None = None  # the name the server serves; default: teacher.model (resolved)
    extra_body: dict[str, Any] = Field(default_factory=dict)  # merged into every request body

    @field_validator("min_in_flight")
    @classmethod
    def _floor_under_ceiling(cls, n: int, info: ValidationInfo) -> int:
        most = info.data.get("max_in_flight", n)
        if n > most:
            raise ValueError(f"{n} is out of range; allowed: 1 <= min_in_flight <= max_in_flight ({most})")
        return n


class TransformersOptions(Section):
    batch_size: PosInt = 16
    dtype: str = "auto"  # auto: float32 on CPU, bfloat16 on GPU
    device: Literal["auto", "cpu", "cuda"] = "auto"


def _backend(name: str, but: str | None = None) -> str:
    """A registered teacher backend (teachers/registry.py): a new backend file needs no edit here."""
    from .teachers import backend_names

    names = [n for n in backend_names() if n != but]
    if name not in names:
        raise ValueError(f"{name!r} is not a teacher backend; allowed: {', '.join(names)}")
    return name


class RayOptions(Section):
    """backend: ray -- each run_step chunk becomes a Ray Dataset, answered by `replicas` actors,
    each holding its own `inner` teacher (the same teacher section, with backend `inner`)."""

    inner: str = "transformers"  # any other backend
    address: str | None = None  # a cluster ("ray://head:10001", "auto"); None: a local instance
    replicas: PosInt = 2  # actors, each with its own inner teacher
    batch_size: PosInt = 16  # requests per map_batches call on an actor
    num_cpus: PosInt = 2  # of the local instance (ignored with an address)
    cpus_per_replica: NonNeg = 1.0
    gpus_per_replica: NonNeg = 0.0
    threads_per_replica: PosInt = 1  # torch/OpenMP threads in each actor

    @field_validator("inner")
    @classmethod
    def _inner_backend(cls, name: str) -> str:
        return _backend(name, but="ray")


class Price(Section):
    """What the teacher's tokens cost, per million (any currency): estimates show a cost, budgets may cap it."""

    prompt_per_m: NonNeg = 0.0
    completion_per_m: NonNeg = 0.0


class TeacherConfig(Section):
    backend: str = "vllm"  # a registered backend: vllm, openai, transformers, ray, instant (benchmarks, tests)
    model: str = "embedded:smollm2-135m"
    # A LoRA adapter of `model` every request is answered with unless it names its own (Request.adapter);
    # the student_teacher loop sets it to the last round's student. The backend must take adapters.
    adapter: str | None = None
    prompt_style: Literal["completion", "chat"] = "completion"
    # Per step (propose, classify, instances, judge, audit), overriding prompt_style: an instruction-tuned
    # teacher continues a task list well in completion style but answers yes/no and writes
    # examples better in chat style (measured for Qwen2.5-0.5B, see docs/results.md).
    step_styles: dict[str, Literal["completion", "chat"]] = Field(default_factory=dict)
    temperature: NonNeg = 0.7
    top_p: Unit = 0.5
    max_tokens: PosInt = 256
    chunk_size: PosInt = 64  # prompts per durable chunk: a crash loses at most one chunk
    ignore_eos: bool = False  # benchmarks only: always generate max_tokens, so backends compare fairly
    vllm: VllmOptions = Field(default_factory=VllmOptions)
    openai: OpenAIOptions = Field(default_factory=OpenAIOptions)
    transformers: TransformersOptions = Field(default_factory=TransformersOptions)
    ray: RayOptions = Field(default_factory=RayOptions)
    price: Price | None = None  # {prompt_per_m, completion_per_m}, or one figure for both; None: no cost shown

    @model_validator(mode="before")
    @classmethod
    def _adapter_moved(cls, v):
        """The adapter was a setting of two backends (teacher.vllm.lora_adapter, teacher.transformers.
        lora_adapter); it is teacher.adapter now. Every stored config holds them, mostly null."""
        if not isinstance(v, dict):
            return v
        v = dict(v)
        for backend in ("vllm", "transformers"):
            opts = v.get(backend)
            if isinstance(opts, dict) and "lora_adapter" in opts:
                v[backend] = {k: x for k, x in opts.items() if k != "lora_adapter"}
                if opts["lora_adapter"] is not None:
                    v.setdefault("adapter", opts["lora_adapter"])
        return v

    @field_validator("backend")
    @classmethod
    def _registered(cls, name: str) -> str:
        return _backend(name)

    @field_validator("price", mode="before")
    @classmethod
    def _one_figure(cls, v):
        """One number prices prompt and completion tokens alike."""
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return v
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"{v!r} is out of range; allowed: price >= 0 per million tokens, finite")
        return {"prompt_per_m": v, "completion_per_m": v}

    def style(self, step: str) -> str:
        """How `step` is prompted: its own entry in step_styles, else prompt_style."""
        return self.step_styles.get(step, self.prompt_style)


Strategy = str  # a registered strategy's name (generate/strategies/: one module each)


class Budget(Section):
    """The whole run's teacher spending (generate/budget.py): generate stops at the first batch boundary
    past it, and resumes when it is raised. 0: no limit. Not part of the run's identity."""

    tokens: Count = 0  # prompt + completion, every step of every round
    cost: NonNeg = 0.0  # at teacher.price, which it needs

    @model_validator(mode="before")
    @classmethod
    def _one_figure(cls, v):
        """`generate.budget: 50000` is a token budget."""
        return {"tokens": v} if isinstance(v, (int, float)) and not isinstance(v, bool) else v


class TailOptions(Section):
    """Bounded tails (generate/tails.py): from round 2, each step's token limit is this quantile of the
    lengths of its answers that ended by themselves in earlier rounds, times margin (quantile null: off)."""

    quantile: Unit | None = 0.95
    margin: float = Field(default=1.25, ge=1.0, allow_inf_nan=False)
    min_answers: PosInt = 30  # a step with fewer finished answers so far keeps teacher.max_tokens


class GenerateConfig(Section):
    rounds: PosInt = 3
    per_round: PosInt = 20  # target accepted tasks per round
    # How new tasks are made (generate/strategies/): one name, shares of a mix ({self_instruct: 2,
    # evol: 1, magpie: 1}), or a list with one of those per round (the last one for later rounds).
    strategy: Strategy | dict[Strategy, float] | list[Strategy | dict[Strategy, float]] = "self_instruct"
    # A round stops starting batches once its teacher tokens (in + out) reach this (0: no cap): the
    # same budget for every strategy (bench/strategies.py).
    max_teacher_tokens: Count = 0
    budget: Budget = Field(default_factory=Budget)
    tails: TailOptions = Field(default_factory=TailOptions)
    evol_temperature: NonNeg = 0.7
    magpie_temperature: NonNeg = 1.0  # Magpie samples the query at 1.0 (top_p 1): the template is its only prompt
    magpie_prefix: str | None = None  # the user-turn prefix, for a teacher whose tokenizer is not local
    # multi_turn: user-assistant exchanges a conversation has, the first included
    turns: int = Field(default=2, ge=2, le=8)
    prompts_per_round: PosInt = 24  # instruction-generation prompts per batch (sent to the teacher at once)
    max_batches: PosInt = 4  # batches a round may take to reach per_round accepted tasks
    in_context: PosInt = 8
    in_context_seed: Count = 6  # of the in-context tasks, how many come from the seeds
    max_new_per_prompt: PosInt = 8
    completions_per_prompt: PosInt = 1  # propose requests sharing one in-context sample (prefix-cached prefill)
    min_acceptance: Share = 0.05  # stop when a round accepts less than this share: pool saturated
    instances_per_task: PosInt = 1
    # Chat teachers, input-first tasks: one request writes the input, a second answers the task on it
    # (a small instruct model filled "Input: ... Output: ..." forms with copies and placeholders)
    answer_step: bool = False
    # Two-step instances: a self-contained question ("How many legs does an octopus have?") gets an
    # input request too only with this on; a written input gave its answer away (docs/results.md).
    input_for_questions: bool = False
    # Temperature of that second request (None: teacher.temperature). Self-Instruct wrote instances
    # greedily (temperature 0); the answer is where a small teacher's slips cost the most.
    answer_temperature: NonNeg | None = None
    # teacher: a few-shot yes/no request per task; neighbours: the majority label of the nearest seed
    # instructions (MiniLM, no request). Measured on the seeds: bench/prompt_choices.py, docs/results.md.
    classify_with: Literal["teacher", "neighbours"] = "teacher"
    classify_neighbours: PosInt = 5  # k of classify_with: neighbours
    classify_shots: Count = 8  # in-context examples of the teacher's classify request, half yes, half no (0: none)
    templates: str = "prompts"  # folder of Jinja2 templates
    heldout_share: Part = 0.0  # seeds kept out of generation, kept in the run folder for eval
    audit: bool = False  # after the last round, the teacher audits every accepted task (audit.py)
    audit_judge: str | None = None  # the audit's judge model (None: the teacher), prompted as the teacher is

    @field_validator("strategy")
    @classmethod
    def _mixes_have_shares(cls, spec):
        """Every round's mix is checked here, not when its round comes (round 2's bad entry once
        failed only after round 1 was done)."""
        from .generate.strategy import registry

        specs = spec if isinstance(spec, list) else [spec]
        if not specs:
            raise ValueError("an empty list; give a strategy, a mix of shares, or one of those per round")
        known = registry()
        for n, mix in enumerate(specs, 1):
            where = f" (entry {n} of the list)" if isinstance(spec, list) else ""
            unknown = [s for s in ([mix] if isinstance(mix, str) else mix) if s not in known]
            if unknown:
                raise ValueError(f"unknown strategy {unknown[0]!r}{where}; known: {', '.join(known)}")
            if isinstance(mix, dict):
                bad = [f"{k}: {v}" for k, v in mix.items() if not (math.isfinite(v) and v >= 0)]
                if bad:
                    raise ValueError(f"share {bad[0]}{where}; allowed: a finite number >= 0")
                if not any(v > 0 for v in mix.values()):
                    raise ValueError(f"no strategy has a share above 0 in {mix or '{}'}{where}")
        return spec

    @field_validator("in_context_seed")
    @classmethod
    def _seed_share_fits(cls, n: int, info: ValidationInfo) -> int:
        most = info.data.get("in_context", n)
        if n > most:
            raise ValueError(f"{n} is out of range; allowed: 0 <= in_context_seed <= in_context ({most})")
        return n

    def shares(self, round_n: int) -> dict[str, float]:
        """round_n's strategy mix as shares that sum to 1, in the registry's order (generate/strategy.py)."""
        spec = self.strategy
        if isinstance(spec, list):
            if not spec:
                raise ValueError("generate.strategy: an empty list")
            spec = spec[min(round_n, len(spec)) - 1]
        mix = {spec: 1.0} if isinstance(spec, str) else dict(spec)
        total = sum(v for v in mix.values() if v > 0)
        if total <= 0:
            raise ValueError(f"generate.strategy: no strategy has a share above 0 in {mix}")
        from .generate.strategy import registry

        return {s: mix[s] / total for s in registry() if mix.get(s, 0) > 0}


class NoveltyConfig(Section):
    method: Literal["embedding", "rouge"] = "embedding"
    embedder: str = "embedded:all-minilm-l6-v2"
    embed_input: bool = False  # embed the first instance's input with the instruction
    # Cosine similarity at or above which a candidate is a near duplicate. With MiniLM, paraphrases
    # ("Write a poem about the ocean." / "Compose a poem about the sea.") score ~0.89.
    threshold: Unit = 0.85
    rouge_threshold: Unit = 0.7  # paper mode: ROUGE-L F at or above which it is a duplicate
    batch_size: PosInt = 32  # texts per embedding forward pass (32-64 fastest on CPU: 153/s vs 125/s at 256, 1 thread)
    # onnx: ONNX Runtime on CPU (~1.2x torch, same vectors to ~1e-6) when the model has the plain layout
    embed_backend: Literal["onnx", "torch"] = "onnx"
    embed_workers: Count = 0  # processes encoding a big call on CPU (one thread each share); 0: one per core
    embed_parallel_above: Count = 5000  # texts below which one process encodes (workers take ~10 s to start)
    search_block: PosInt = 2048  # candidates searched (and compared with each other) per faiss call
    approx_above: Count = 200_000  # index size (pool + candidates) above which an approximate index is used
    approx_index: Literal["ivf_pq", "ivf", "hnsw"] = "ivf_pq"  # ivf_pq: PQ fast-scan, exact re-rank
    ivf_nlist: Count = 0  # 0: about 4*sqrt(size), rounded to a power of two
    ivf_nprobe: PosInt = 16
    refine_k: PosInt = 32  # ivf_pq: approximate hits re-scored with the exact vectors per query
    hnsw_m: PosInt = 32
    hnsw_ef_construction: PosInt = 40
    hnsw_ef_search: PosInt = 64


class QualityConfig(Section):
    min_words: Count = 4  # Self-Instruct drops instructions of 3 words or fewer
    max_words: PosInt = 150
    blacklist: list[str] = Field(
        default_factory=lambda: [
            "image",
            "images",
            "graph",
            "graphs",
            "picture",
            "pictures",
            "file",
            "files",
            "map",
            "maps",
            "draw",
            "plot",
            "go to",
            "video",
            "audio",
            "music",
            "flowchart",
            "diagram",
        ]
    )
    sentence_end: bool = True  # an instruction must end as a sentence does (rejects "unfinished")
    judge: bool = False  # AlpaGasus-style: the teacher rates (instruction, input, output) 1-5
    judge_threshold: float = 3
    judge_template: str = "judge.jinja"  # completion style; judge_chat.jinja for chat teachers
    judge_chat_template: str = "judge_chat.jinja"
    judge_max_tokens: PosInt = 8
    # Instruction-following difficulty (filter/ifd.py): with a model named, a task whose output the
    # instruction does not help predict (IFD >= ifd_max) is rejected as misaligned. No teacher request.
    ifd_model: str | None = None
    ifd_max: Positive = 1.0
    # Heuristic rules switched off, by the reject each gives (filter/quality.py: answer_in_input, unfinished, ...).
    skip: list[str] = Field(default_factory=list)

    @field_validator("skip")
    @classmethod
    def _known_rules(cls, names: list[str]) -> list[str]:
        from .filter.quality import RULES

        unknown = [n for n in names if n not in RULES]
        if unknown:
            raise ValueError(f"unknown rule {unknown[0]!r}; rules: {', '.join(RULES)}")
        return names


class VerifyConfig(Section):
    """Proving outputs right where a program can (verify/): code runs against tests the teacher
    writes, computable answers against a program it writes, both in the sandbox."""

    enabled: bool = False
    repair: bool = False  # a computed value replaces a wrong output (the teacher's own kept in checks): 2 of 10 right
    # tasks no program could check (open writing, advice): kept, rejected, or kept where a second answer agrees
    unverified: Literal["keep", "reject", "agree"] = "keep"
    # the second answer's model (verify/agree.py); None: generate.audit_judge's (the teacher's own sampled
    # second answer agreed as often on wrong outputs as on right ones: docs/results.md "Verified data")
    agree_with: str | None = None
    agree_min: float = Field(default=0.8, ge=0.0, le=1.0)  # MiniLM cosine of the two answers that counts as agreeing
    max_tokens: int = Field(default=384, ge=16)  # of a test or program request
    cpu_s: int = Field(default=5, ge=1)
    wall_s: float = Field(default=10.0, gt=0)
    memory_mb: int = Field(default=1024, ge=64)
    workers: int = Field(default=2, ge=1)  # sandboxed runs at once


# The filter's checks in the order they run (filter/checks/): a check whose own settings leave it off
# (ifd with no model, judge: false, decontam without held-out tasks, verify.enabled: false) passes everything.
CHECKS: list[str | dict[str, dict[str, Any]]] = [
    "quality",
    "instances",
    "turns",
    "verifiable",
    "decontam",
    "novelty",
    "ifd",
    "judge",
    "verify",
]


class FilterConfig(Section):
    # A check's name, or {name: {option: value}} for a check that takes options.
    checks: list[str | dict[str, dict[str, Any]]] = Field(default_factory=lambda: list(CHECKS))
    novelty: NoveltyConfig = Field(default_factory=NoveltyConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    verify: VerifyConfig = Field(default_factory=VerifyConfig)

    @field_validator("checks")
    @classmethod
    def _known_checks(cls, items: list) -> list:
        from .filter.check import entry

        names = [entry(item)[0].name for item in items]
        twice = [n for n in names if names.count(n) > 1]
        if twice:
            raise ValueError(f"check {twice[0]!r} is listed twice")
        return items


class LoraConfig(Section):
    r: PosInt = 16
    alpha: PosInt = 32
    dropout: Part = 0.05
    target_modules: list[str] | str = Field(default_factory=lambda: ["q_proj", "v_proj"])


class StudentConfig(Section):
    enabled: bool = False
    model: str = "embedded:smollm2-135m"
    lora: LoraConfig = Field(default_factory=LoraConfig)
    # all: each round's student learns every task accepted so far, from the base; round: only the
    # new round's, from the base; continue: only the new round's, starting from the last student
    # (each task is learned once: the cheapest way to a student per round)
    data: Literal["all", "round", "continue"] = "all"
    epochs: Positive = 1.0
    max_steps: Annotated[int, Field(ge=-1)] = -1  # -1: epochs decide
    batch_size: PosInt = 8
    grad_accum: PosInt = 1
    learning_rate: Positive = 2e-4
    max_length: PosInt = 512
    packing: bool = False  # best-fit packing, padding-free: pays off when answers vary a lot in length
    merge: bool = False  # also save the merged model in <out>/merged/ (vLLM and transformers load it directly)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # Only on CUDA: on CPU it makes a step ~20x slower (trl's default is on; we choose per device).
    gradient_checkpointing: bool = False
    warmup: NonNeg = 0.0  # optimizer steps, or a share of all steps when below 1
    logging_steps: PosInt = 1
    loop: Literal["none", "student_teacher", "hard_examples"] = "none"
    eval_max_new_tokens: PosInt = 128  # greedy answers on held-out tasks
    eval_batch_size: PosInt = 8
    # The teacher backend eval answers with (evaluate/answers.py): vllm, one engine for the base and every
    # student (LoRA per request); transformers where vLLM is missing. A merged student gets a teacher of its own.
    eval_backend: Literal["vllm", "transformers"] = "vllm"


class Config(Section):
    run: RunConfig = Field(default_factory=RunConfig)
    seeds: str = "seeds/seed_tasks.jsonl"
    teacher: TeacherConfig = Field(default_factory=TeacherConfig)
    generate: GenerateConfig = Field(default_factory=GenerateConfig)
    filter: FilterConfig = Field(default_factory=FilterConfig)
    student: StudentConfig = Field(default_factory=StudentConfig)

    def fingerprint(self) -> str:
        d = self.model_dump()
        # Fields a relaunch may change without making it a different run.
        for path in RESUME_SAFE:
            *parents, key = path.split(".")
            node = d
            for p in parents:
                node = node.get(p, {})
            node.pop(key, None)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(), sort_keys=False)


# Speed knobs, where the run lives (a run copied to another disk or renamed computes the same
# thing) and what it may spend (a raised budget resumes the run): the same run, whatever they are set to.
RESUME_SAFE = [
    "run.root",
    "run.name",
    "run.threads",
    "generate.rounds",
    "generate.budget",
    "teacher.price",
    "filter.novelty.batch_size",
    "filter.novelty.embed_workers",
    "filter.novelty.embed_parallel_above",
    "filter.novelty.embed_backend",
]


def _set_dotted(d: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for p in parents:
        d = d.setdefault(p, {})
        if not isinstance(d, dict):
            raise ConfigError(f"override {dotted!r}: {p!r} is not a section")
    d[last] = value


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Loads YAML (default: the package's configs/default.yaml) and applies `a.b=value` overrides (values
    are YAML). Every setting is checked here, so a bad one is refused before anything is written."""
    path = packaged(path) if path else DEFAULT_CONFIG
    data = read_config_file(path)
    keys = set()
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"override {item!r}: expected key=value")
        keys.add(key.strip())
        _set_dotted(data, key.strip(), parse_yaml(value, f"override {key.strip()}"))
    try:
        cfg = Config.model_validate(data)
    except ValidationError as e:
        raise ConfigError(validation_message(e, Config, str(path), keys)) from None
    if cfg.generate.budget.cost and cfg.teacher.price is None:
        lead = "" if any(k.startswith("generate.budget") for k in keys) else f"{path}: "
        raise ConfigError(
            f"{lead}generate.budget.cost: {cfg.generate.budget.cost} needs teacher.price (per million "
            "tokens) to count spending in money; set it, or budget tokens (generate.budget.tokens)"
        )
    return cfg
