"""Two small task families that exercise the runner contract beyond classification.

Not workloads: the smallest honest stand-ins for the papers' Penn Treebank LSTMs and
SN-GAN, used by ``test_task_contract.py`` to show that ``bench.cell.run_cell`` runs them
unchanged (see the contract in ``tasks/__init__.py``).

- :class:`TinyLM` + :class:`TokenStream`: a word-level LSTM language model over one long
  token stream cut into consecutive ``(bptt, batch)`` windows; the hidden state is carried
  (detached) from batch to batch and reset at each epoch; gradient clipping comes from the
  cell's ``grad_clip``; the selection metric is perplexity (lower is better).
- :class:`TinyGAN` + :class:`GaussianSamples`: a generator and a discriminator on 1-D data,
  manual optimization with two optimizers built from the cell's one optimizer config and
  two schedules stepped per epoch; the selection metric is a moment distance between
  generated and real samples.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tasks.base import SPLITS, Task, TaskData
from tasks.metric import DISTANCE, PERPLEXITY


class Batches:
    """A fixed sequence of batches (a bare list would read to Lightning as a list of loaders)."""

    def __init__(self, batches: list[Any]) -> None:
        self.batches = batches

    def __iter__(self) -> Any:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


# --- language model --------------------------------------------------------------------------
class TokenStream(TaskData):
    """A first-order Markov token stream (learnable), batchified as in PyTorch's word LM example."""

    def __init__(self, vocab: int = 16, tokens: int = 3000, batch_size: int = 8, bptt: int = 12) -> None:
        super().__init__()
        self.vocab, self.tokens, self.batch_size, self.bptt = vocab, tokens, batch_size, bptt

    def setup(self, stage: str) -> None:
        g = torch.Generator().manual_seed(1234)
        successor = torch.randint(self.vocab, (self.vocab, 2), generator=g)  # each token has two likely successors
        stream = [0]
        choices = torch.randint(2, (self.tokens,), generator=g)
        for c in choices.tolist():
            stream.append(int(successor[stream[-1], c]))
        data = torch.tensor(stream)
        n = len(data)
        self.splits = {"train": data[: int(0.8 * n)], "val": data[int(0.8 * n): int(0.9 * n)],
                       "test": data[int(0.9 * n):]}

    def _windows(self, split: str) -> Batches:
        data = self.splits[split]
        columns = len(data) // self.batch_size
        grid = data[: columns * self.batch_size].view(self.batch_size, columns).t().contiguous()  # (time, batch)
        return Batches([(grid[i: i + self.bptt], grid[i + 1: i + 1 + self.bptt])
                        for i in range(0, columns - 1 - self.bptt, self.bptt)])

    def split_loader(self, split: str) -> Batches:
        return self._windows(split)

    def example_batch(self) -> tuple[Tensor, Tensor]:
        tokens = torch.zeros(self.bptt, self.batch_size, dtype=torch.long)  # (time, batch) indices
        return tokens, tokens


class LSTMNet(nn.Module):
    def __init__(self, vocab: int, hidden: int = 32) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, hidden)
        self.lstm = nn.LSTM(hidden, hidden)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        out, state = self.lstm(self.embed(x), state)
        return self.head(out), state


class TinyLM(Task):
    metric = PERPLEXITY
    logged_keys = ("train_loss", "val_loss", "val_ppl", "test_loss", "test_ppl")

    def __init__(self, model: LSTMNet, optimizer_factory: Any, scheduler_factory: Any = None,
                 divergence_check_every: int = 1) -> None:
        super().__init__(model, optimizer_factory, scheduler_factory, divergence_check_every)
        self.state: tuple[Tensor, Tensor] | None = None

    def on_train_epoch_start(self) -> None:
        self.state = None  # a new pass over the stream starts from a zero state
        self._sums = torch.zeros(2, dtype=torch.float64)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        logits, state = self.model(x, self.state)
        self.state = tuple(s.detach() for s in state)  # truncated BPTT: carry the values, not the graph
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        self.check_finite(loss, "training loss", step=batch_idx)
        self._sums += torch.stack([loss.detach().double() * y.numel(), torch.tensor(float(y.numel()))])
        return loss

    def on_train_epoch_end(self) -> None:
        self.log("train_loss", (self._sums[0] / self._sums[1]).item())

    @classmethod
    def fit_check(cls, model: nn.Module, batch: Any) -> None:
        model(batch[0], None)  # token indices in, logits and a state out

    def on_validation_epoch_start(self) -> None:
        self._eval = {s: torch.zeros(2, dtype=torch.float64) for s in SPLITS}
        self._eval_state: dict[str, Any] = {s: None for s in SPLITS}

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int, dataloader_idx: int = 0) -> None:
        split = SPLITS[dataloader_idx]
        x, y = batch
        logits, self._eval_state[split] = self.model(x, self._eval_state[split])
        self._eval[split] += torch.stack([F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum").double(),
                                          torch.tensor(float(y.numel()), dtype=torch.float64)])

    def on_validation_epoch_end(self) -> None:
        for split, (total, n) in self._eval.items():
            if n > 0:
                loss = (total / n).item()
                self.log_dict({f"{split}_loss": loss, f"{split}_ppl": math.exp(loss)}, add_dataloader_idx=False)


class ClipProbeSGD(torch.optim.SGD):
    """SGD that notes the global gradient norm it is handed (after any clipping)."""

    norms: list[float] = []

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = closure() if closure is not None else None  # Lightning clips inside the closure
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        ClipProbeSGD.norms.append(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item())
        super().step()
        return loss


# --- GAN ---------------------------------------------------------------------------------------
class GaussianSamples(TaskData):
    """Real data: 1-D samples from N(mean, std); the generator has to match them."""

    def __init__(self, n: int = 512, mean: float = 3.0, std: float = 0.5, batch_size: int = 64) -> None:
        super().__init__()
        self.n, self.mean, self.std, self.batch_size = n, mean, std, batch_size

    def setup(self, stage: str) -> None:
        g = torch.Generator().manual_seed(99)
        self.samples = self.mean + self.std * torch.randn(self.n, 1, generator=g)

    def split_loader(self, split: str) -> Batches:
        return Batches(list(self.samples.split(self.batch_size)) if split == "train" else [self.samples])

    def example_batch(self) -> Tensor:
        return torch.zeros(self.batch_size, 1)


class GeneratorDiscriminator(nn.Module):
    def __init__(self, latent: int = 4, hidden: int = 16) -> None:
        super().__init__()
        self.latent = latent
        self.generator = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        self.discriminator = nn.Sequential(nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, 1))


class TinyGAN(Task):
    metric = DISTANCE
    logged_keys = ("train_loss", "val_dist", "test_dist")
    roles = ("generator", "discriminator")

    def __init__(self, model: GeneratorDiscriminator, optimizer_factory: Any, scheduler_factory: Any = None,
                 divergence_check_every: int = 1) -> None:
        super().__init__(model, optimizer_factory, scheduler_factory, divergence_check_every)
        self.automatic_optimization = False

    def _noise(self, n: int, *key: int) -> Tensor:
        """Noise that depends only on (epoch, batch): a resumed run draws what an uninterrupted one does."""
        g = torch.Generator().manual_seed(hash(key) & 0xFFFFFFFF)
        return torch.randn(n, self.model.latent, generator=g)

    def on_train_epoch_start(self) -> None:
        self._sums = torch.zeros(2, dtype=torch.float64)

    def _adversarial_step(self, real: Tensor, fake: Tensor, batch_idx: int) -> Tensor:
        """One discriminator, then one generator update (BCE); returns the generator's loss."""
        opt_g, opt_d = self.optimizers()
        disc = self.model.discriminator
        ones, zeros = torch.ones(real.shape[0], 1), torch.zeros(real.shape[0], 1)
        d_loss = (F.binary_cross_entropy_with_logits(disc(real), ones)
                  + F.binary_cross_entropy_with_logits(disc(fake.detach()), zeros))
        opt_d.zero_grad()
        self.manual_backward(d_loss)
        opt_d.step()
        g_loss = F.binary_cross_entropy_with_logits(disc(fake), ones)
        opt_g.zero_grad()
        self.manual_backward(g_loss)
        opt_g.step()
        self.check_finite(d_loss + g_loss, "GAN losses", step=batch_idx)
        return g_loss

    def training_step(self, real: Tensor, batch_idx: int) -> None:
        fake = self.model.generator(self._noise(real.shape[0], self.current_epoch, batch_idx))
        g_loss = self._adversarial_step(real, fake, batch_idx)
        self._sums += torch.stack([g_loss.detach().double(), torch.tensor(1.0, dtype=torch.float64)])

    def on_train_epoch_end(self) -> None:
        opt_g, opt_d = self.optimizers()
        self.log_dict({"train_loss": (self._sums[0] / self._sums[1]).item(),
                       "lr_g": opt_g.param_groups[0]["lr"], "lr_d": opt_d.param_groups[0]["lr"]})
        for scheduler in self.lr_schedulers():  # manual optimization: the module steps its schedules
            scheduler.step()

    def validation_step(self, real: Tensor, batch_idx: int, dataloader_idx: int = 0) -> None:
        fake = self.model.generator(self._noise(real.shape[0], -1 - dataloader_idx))
        dist = (fake.mean() - real.mean()).abs() + (fake.std() - real.std()).abs()
        self.log(f"{SPLITS[dataloader_idx]}_dist", dist.item(), add_dataloader_idx=False)

    @classmethod
    def fit_check(cls, model: nn.Module, batch: Any) -> None:
        model.discriminator(model.generator(torch.zeros(batch.shape[0], model.latent)))
        model.discriminator(batch)

    def configure_optimizers(self) -> Any:
        opt_g = self.optimizer_factory(self.model.generator.parameters(), "generator")
        opt_d = self.optimizer_factory(self.model.discriminator.parameters(), "discriminator")
        if self.scheduler_factory is None:
            return [opt_g, opt_d]
        return [opt_g, opt_d], [self.scheduler_factory(opt_g), self.scheduler_factory(opt_d)]


class StepGAN(TinyGAN):
    """:class:`TinyGAN` under a step budget: its data, noise and figures are functions of the
    step (``global_step`` counts both optimizers' steps), so a resumed cell replays exactly."""

    def on_fit_start(self) -> None:
        self._g_losses: list[float] = []

    def _real(self, n: int) -> Tensor:
        g = torch.Generator().manual_seed(10_007 + self.global_step)
        return 3.0 + 0.5 * torch.randn(n, 1, generator=g)

    def training_step(self, batch: Tensor, batch_idx: int) -> None:
        real = self._real(batch.shape[0])
        fake = self.model.generator(self._noise(real.shape[0], self.global_step))
        self._g_losses.append(self._adversarial_step(real, fake, batch_idx).item())

    def on_train_epoch_end(self) -> None:
        pass  # a step budget: figures are logged per evaluation

    def on_validation_epoch_end(self) -> None:
        losses = self._g_losses or [float("nan")]
        self.log("train_loss", sum(losses) / len(losses))
        self._g_losses = []

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["g_losses"] = list(self._g_losses)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._pending = checkpoint["g_losses"]

    def on_train_start(self) -> None:
        self._g_losses = getattr(self, "_pending", self._g_losses)


class Forgetful(Task):
    """Breaks the contract: no selection metric."""

    logged_keys = ("train_loss",)
