"""Training runs that a law claim samples along the way: checkpoints at chosen amounts of data.

Two settings, one loop: a byte-level language model on the standard library's text (data counted
in tokens), and an image classifier on a kbench.data task (data counted in examples, labels real
or shuffled). AdamW at a constant learning rate after a linear warm-up (a decaying schedule
would tie every checkpoint's state to the run's planned length); the seed fixes the initial
weights and the data order. At each checkpoint the run hands the model to `at_checkpoint`,
which measures it; the model is put back in training mode afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from kbench.data import Task
from kbench.data.text import Corpus

AtCheckpoint = Callable[[int, nn.Module], None]  # (data seen so far, model)


@dataclass(frozen=True)
class SweepConfig:
    batch: int  # sequences (text) or examples (images) per step
    lr: float
    warmup: int = 20  # steps
    weight_decay: float = 0.01


Schedule = torch.optim.lr_scheduler.LRScheduler


def _optimizer(model: nn.Module, config: SweepConfig) -> tuple[torch.optim.Optimizer, Schedule]:
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: min(1.0, (i + 1) / config.warmup))
    return opt, sched


def steps_for(points: Sequence[int], per_step: int) -> list[int]:
    """The step after which each checkpoint is taken: the first whose data reaches the point."""
    return [max(1, math.ceil(p / per_step)) for p in points]


def _train(model: nn.Module, config: SweepConfig, per_step: int, points: Sequence[int],
           step: Callable[[int], torch.Tensor], at_checkpoint: AtCheckpoint) -> None:
    opt, sched = _optimizer(model, config)
    marks = steps_for(points, per_step)
    model.train()
    done = 0
    for i in range(1, max(marks) + 1):
        opt.zero_grad(set_to_none=True)
        loss = step(i)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"the training loss became {loss.item()} at step {i}")
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        sched.step()
        while done < len(marks) and marks[done] == i:
            model.eval()
            at_checkpoint(i * per_step, model)
            model.train()
            done += 1


def windows(tokens: np.ndarray, seq_len: int, starts: np.ndarray, device: torch.device
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Input and next-token target windows starting at `starts`."""
    idx = starts[:, None] + np.arange(seq_len + 1)[None, :]
    chunk = torch.as_tensor(tokens[idx].astype(np.int64), device=device)
    return chunk[:, :-1], chunk[:, 1:]


def heldout_loss(corpus: Corpus, seq_len: int, sequences: int, device: torch.device) -> Callable[[nn.Module], float]:
    """A model's mean next-token loss (nats) on fixed, evenly spaced held-out windows."""
    starts = np.linspace(0, corpus.heldout.size - seq_len - 2, sequences).astype(np.int64)
    x, y = windows(corpus.heldout, seq_len, starts, device)

    @torch.no_grad()
    def loss(model: nn.Module) -> float:
        total = 0.0
        for i in range(0, len(x), 32):
            logits = model(x[i:i + 32])
            total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]).double(), y[i:i + 32].reshape(-1),
                                           reduction="sum"))
        return total / y.numel()

    return loss


def train_lm(model: nn.Module, corpus: Corpus, config: SweepConfig, seq_len: int, points: Sequence[int], seed: int,
             device: torch.device, at_checkpoint: AtCheckpoint) -> None:
    """Train on random windows of the training text; `points` in tokens."""
    rng = np.random.default_rng(seed)
    high = corpus.train.size - seq_len - 1

    def step(i: int) -> torch.Tensor:
        x, y = windows(corpus.train, seq_len, rng.integers(0, high, config.batch), device)
        logits = model(x)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))

    _train(model, config, config.batch * seq_len, points, step, at_checkpoint)


def train_classifier(model: nn.Module, task: Task, config: SweepConfig, points: Sequence[int], seed: int,
                     device: torch.device, random_labels: bool, at_checkpoint: AtCheckpoint) -> None:
    """Train on the task's training split (labels shuffled once by `seed` if `random_labels`);
    `points` in examples."""
    rng = np.random.default_rng(seed)
    x = torch.as_tensor(task.train.x, device=device)
    labels = rng.permutation(task.train.y) if random_labels else task.train.y
    y = torch.as_tensor(labels, dtype=torch.long, device=device)

    def step(i: int) -> torch.Tensor:
        idx = torch.as_tensor(rng.integers(0, len(y), config.batch), device=device)
        return F.cross_entropy(model(x[idx]), y[idx])

    _train(model, config, config.batch, points, step, at_checkpoint)
