"""The training loop: AdamW, warm-up schedule, clipping, early stopping on dev, mixed precision
(CUDA; bf16 autocast on CPUs with native bf16), DistributedDataParallel under torchrun.
It reports through a callback and has no UI."""
from __future__ import annotations

import copy
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from attnviz.training.batching import IGNORE_INDEX, collate, encode_ner, encode_sentiment, lm_windows
from attnviz.device import describe_device, pick_device, pick_precision
from attnviz.training.evaluate import evaluate_lm, evaluate_ner, evaluate_sentiment
from attnviz.training.schedule import lr_multiplier, transformer_peak_lr
from attnviz.text.tokenize import TextTokenizer

DEV_METRIC = {"sentiment": "accuracy", "ner": "f1", "lm": "loss"}


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one run. lr 0 means the Transformer paper's peak rate for the model."""

    task: str
    epochs: int = 10
    max_steps: int = 0  # 0: no cap for sentiment/ner; the language model needs a number of steps
    batch_size: int = 32
    lr: float = 0.0
    schedule: str = "transformer"
    warmup_steps: int = 200
    weight_decay: float = 0.01
    clip_norm: float = 1.0
    eval_every: int = 0  # steps between dev evaluations; 0: once per epoch (lm: every 500 steps)
    patience: int = 3  # evaluations without improvement before stopping early
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    eval_limit: int = 0  # dev examples (lm: characters) used during training; 0: all

    def __post_init__(self) -> None:
        if self.task not in DEV_METRIC:
            raise ValueError(f"unknown task {self.task!r}; choose one of {sorted(DEV_METRIC)}")
        if self.batch_size < 1 or self.epochs < 1 or self.max_steps < 0:
            raise ValueError("batch_size and epochs must be at least 1, max_steps 0 or more")
        if self.task == "lm" and self.max_steps < 1:
            raise ValueError("the language model trains for --max-steps steps; give a number")


@dataclass
class Progress:
    """What the callback is told: the step, the training loss, the rate and the latest dev metric."""

    step: int
    total_steps: int
    epoch: int
    loss: float
    lr: float
    dev_metric: float | None = None
    metric_name: str = ""
    elapsed_s: float = 0.0
    message: str = ""


@dataclass
class TrainResult:
    best_dev_metric: float | None
    metric_name: str
    steps: int
    elapsed_s: float
    device: str
    precision: str
    stopped_early: bool
    history: list[dict] = field(default_factory=list)


def _distributed() -> tuple[int, int]:
    """(rank, world size); starts the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def _optimizer(model: nn.Module, config: TrainConfig, peak_lr: float) -> torch.optim.Optimizer:
    """AdamW with the paper's betas and eps; no weight decay on biases and norms."""
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=peak_lr, betas=(0.9, 0.98), eps=1e-9)


def _loss(task: str, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    if task == "sentiment":
        return F.cross_entropy(logits.float(), targets)
    return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=IGNORE_INDEX)


class _DevEvaluator:
    """Runs the dev metric; higher is better for accuracy and F1, lower for the LM loss."""

    def __init__(self, task: str, tokenizer: TextTokenizer, labels: list[str], dev_data, limit: int,
                 autocast_dtype: torch.dtype | None = None) -> None:
        self.task, self.tokenizer, self.labels = task, tokenizer, labels
        self.autocast_dtype = autocast_dtype  # dev runs at the training precision (the final metric is fp32)
        self.data = dev_data[:limit] if (limit and dev_data is not None) else dev_data

    def __call__(self, model: nn.Module) -> float | None:
        if not self.data:
            return None
        was_training = model.training
        model.eval()
        device_type = next(model.parameters()).device.type
        with torch.autocast(device_type, dtype=self.autocast_dtype or torch.float32,
                            enabled=self.autocast_dtype is not None):
            value = self._measure(model)
        model.train(was_training)
        return value

    def _measure(self, model: nn.Module) -> float:
        if self.task == "sentiment":
            value = evaluate_sentiment(model, self.tokenizer, self.data)["accuracy"]
        elif self.task == "ner":
            value = evaluate_ner(model, self.tokenizer, self.data, self.labels)["f1"]
        else:
            value = evaluate_lm(model, self.tokenizer, self.data)["loss"]
        return value

    def better(self, new: float, old: float | None) -> bool:
        return old is None or (new < old if self.task == "lm" else new > old)


def optimizer_step(loss: torch.Tensor, model: nn.Module, optimizer: torch.optim.Optimizer,
                   scaler: torch.amp.GradScaler, clip_norm: float) -> None:
    """Backward, unscale (so clipping sees the true gradients), clip, step. With fp16 the scaler
    also skips steps whose gradients overflowed; disabled, it is a plain backward and step."""
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    scaler.step(optimizer)
    scaler.update()


def _length_bucketed_batches(examples: list, batch_size: int, world: int, steps_per_epoch: int,
                             seed: int) -> list[list[int]]:
    """Shuffled batches of similar lengths (less padding): shuffle, sort within pools of 50 batches,
    cut into batches, shuffle the batches. Every process gets the same list and takes its share."""
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(examples), generator=generator).tolist()
    pool = batch_size * 50
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start: start + pool], key=lambda i: len(examples[i][0]))
        batches.extend(chunk[i: i + batch_size] for i in range(0, len(chunk), batch_size))
    batches = [b for b in batches if len(b) == batch_size] or batches
    shuffled = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
    return shuffled[: steps_per_epoch * world]


def train(model: nn.Module, tokenizer: TextTokenizer, config: TrainConfig, train_data, dev_data=None,
          labels: list[str] | None = None, on_progress: Callable[[Progress], None] | None = None,
          should_stop: Callable[[], bool] | None = None, log_every: int = 10,
          on_improved: Callable[[nn.Module, float], None] | None = None, *,
          on_step: Callable[[int, int, float | None, nn.Module], None] | None = None) -> TrainResult:
    """Train in place and leave the model holding the best dev weights (eval mode on return).

    on_improved(model, dev_metric) is called (first process only) whenever dev improves, for
    example to save the best checkpoint so far: an interrupted run still leaves a usable model.
    on_step(step, total_steps, running_loss, model) is called (first process only) before the first
    step (step 0, loss None) and after every step, for example to record attention (analysis.replay).

    train_data: list of (sentence, label) | list of (words, tags) | a text for the LM.
    """
    torch.manual_seed(config.seed)
    rank, world = _distributed()
    device = pick_device(config.device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    precision = pick_precision(device, config.precision)
    labels = labels or []
    model.to(device).train()
    trained = nn.parallel.DistributedDataParallel(model) if world > 1 else model
    max_len = model.config.max_len

    if config.task == "lm":
        stream = torch.tensor(tokenizer.encode(train_data).ids, dtype=torch.long)
        if len(stream) < max_len + 2:
            raise ValueError(f"the training text has {len(stream)} characters; it needs more than the context ({max_len})")
        steps_per_epoch, total_steps = config.max_steps, config.max_steps
    else:
        examples = (encode_sentiment(tokenizer, train_data, max_len) if config.task == "sentiment"
                    else encode_ner(tokenizer, train_data, labels, max_len))
        if not examples:
            raise ValueError("the training data gave no usable example")
        steps_per_epoch = max(1, len(examples) // (config.batch_size * world))
        total_steps = steps_per_epoch * config.epochs
        if config.max_steps:
            total_steps = min(total_steps, config.max_steps)

    peak_lr = config.lr or transformer_peak_lr(model.config.d_model, config.warmup_steps)
    optimizer = _optimizer(model, config, peak_lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_multiplier(config.schedule, config.warmup_steps, total_steps))
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    evaluator = _DevEvaluator(config.task, tokenizer, labels, dev_data, config.eval_limit, autocast_dtype)
    eval_every = config.eval_every or (500 if config.task == "lm" else steps_per_epoch)
    generator = torch.Generator().manual_seed(config.seed)

    result = TrainResult(None, DEV_METRIC[config.task], 0, 0.0, describe_device(device), precision, False)
    best_state, bad_evals, step, running, started = None, 0, 0, None, time.perf_counter()

    def report(loss: float, dev: float | None = None, message: str = "") -> None:
        event = Progress(step, total_steps, step // steps_per_epoch, loss, scheduler.get_last_lr()[0],
                         dev, result.metric_name, time.perf_counter() - started, message)
        result.history.append(asdict(event))
        if on_progress is not None and rank == 0:
            on_progress(event)

    def batches():
        if config.task == "lm":
            while True:
                yield lm_windows(stream, max_len, config.batch_size, generator)
        epoch = 0
        while True:
            for batch_indices in _length_bucketed_batches(examples, config.batch_size, world, steps_per_epoch,
                                                          config.seed + epoch)[rank::world]:
                yield collate([examples[i] for i in batch_indices], tokenizer.pad_id)
            epoch += 1

    if on_step is not None and rank == 0:
        on_step(0, total_steps, None, model)
    for batch in batches():
        if step >= total_steps:
            break
        if should_stop is not None and should_stop():
            result.stopped_early = True
            report(running or 0.0, message="stopped by the user")
            break
        ids = batch["ids"].to(device)
        mask = batch["mask"].to(device) if batch["mask"] is not None else None
        cases = batch["case_ids"].to(device) if batch["case_ids"] is not None else None
        with torch.autocast(device.type, dtype=autocast_dtype or torch.float32, enabled=autocast_dtype is not None):
            logits = trained(ids, mask, case_ids=cases).logits
        loss = _loss(config.task, logits, batch["targets"].to(device))
        optimizer_step(loss, model, optimizer, scaler, config.clip_norm)
        scheduler.step()
        step += 1
        value = loss.item()
        if should_stop is not None and should_stop():  # checked after every step too: a time cap holds
            running = value if running is None else 0.95 * running + 0.05 * value
            result.stopped_early = True
            report(running, message="stopped by the user")
            break
        running = value if running is None else 0.95 * running + 0.05 * value
        if on_step is not None and rank == 0:
            on_step(step, total_steps, running, model)
        if step % log_every == 0:
            report(running)
        if step % eval_every == 0 or step == total_steps:
            dev = evaluator(model)
            report(running, dev, "dev evaluation")
            if dev is None:
                continue
            if evaluator.better(dev, result.best_dev_metric):
                result.best_dev_metric, bad_evals = dev, 0
                best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
                if on_improved is not None and rank == 0:
                    on_improved(model, dev)
                    model.train()
            else:
                bad_evals += 1
                if bad_evals >= config.patience:
                    result.stopped_early = True
                    report(running, dev, f"no dev improvement in {bad_evals} evaluations: stopping early")
                    break
    if best_state is not None:
        model.load_state_dict(best_state)
    result.steps, result.elapsed_s = step, time.perf_counter() - started
    model.eval()
    return result
