"""Penn Treebank as a Lightning data module: parallel streams and truncated-BPTT windows.

As in the AWD-LSTM reference (``main.py``): the training stream is cut into
``batch_size`` columns and read in windows of ``bptt`` (or AWD-LSTM's variable length);
validation is read whole at ``eval_batch_size`` (10) columns and the test split at
``test_batch_size`` (1), both in ``bptt``-row windows. With ``W`` data-parallel ranks the
runner hands this module the per-device batch ``batch_size / W``; the global layout is the
same ``batch_size * W`` columns as on one device and each rank reads its own contiguous
block of them (:mod:`tasks.lm.streams`), so one step sees the tokens of one single-device
step and evaluation sums count every token once whatever ``W`` is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from tasks.base import TaskData
from tasks.lm.corpus import Corpus, CorpusError, check_files, load_corpus
from tasks.lm.streams import Window, WindowLoader, fixed_windows, rank_loader
from tasks.tensor_loader import EpochSampler

SMOKE_BPTT = 8  # a smoke cell's windows: short, so full-size models take a couple of seconds per batch


class SplitLoader:
    """The windows of one split for this rank, built when first iterated.

    The rank and world size are read at iteration time, when the data-parallel process group
    exists (Lightning creates it inside ``fit``, after the runner built the loaders).
    """

    def __init__(self, stream: torch.Tensor, streams: int, bptt: int, where: Callable[[], tuple[int, int]], *,
                 variable_bptt: bool = False, seed: int = 0, per_rank: bool = False,
                 epoch: Callable[[], int | None] = lambda: None) -> None:
        self.stream, self.streams, self.bptt = stream, int(streams), int(bptt)
        self.where, self.variable_bptt, self.seed = where, variable_bptt, int(seed)
        self.epoch = epoch  # the trainer's epoch when known (see __iter__)
        self.per_rank = per_rank  # streams is the per-rank count (training); else the global count
        self.sampler = EpochSampler()
        self.batch_sampler = None
        self._loader: WindowLoader | None = None
        self._key: tuple[int, int] | None = None
        self._skip, self._yielded, self._exhausted = 0, 0, False

    def loader(self) -> WindowLoader:
        rank, world = self.where()
        if self._key != (rank, world):
            total = self.streams * world if self.per_rank else self.streams
            self._loader = rank_loader(self.stream, total, self.bptt, rank, world,
                                       variable_bptt=self.variable_bptt, seed=self.seed)
            self._key = (rank, world)
        assert self._loader is not None
        epoch = self.epoch()
        self._loader.sampler.epoch = self.sampler.epoch = self.sampler.epoch if epoch is None else int(epoch)
        return self._loader

    def __len__(self) -> int:
        if self.variable_bptt:
            raise TypeError("variable-length BPTT: the number of windows differs per epoch")
        total = self.streams * self.where()[1] if self.per_rank else self.streams
        return len(fixed_windows(self.stream.numel() // total, self.bptt))

    def __iter__(self) -> Iterator[Window]:
        # A generator: the rank and the epoch are read at the first ``next``. Lightning
        # prefetches the first window of a run before it calls ``set_epoch``, so the epoch
        # comes from the trainer (restored from the checkpoint by then) when there is one.
        skip, self._skip = self._skip, 0
        self._yielded, self._exhausted = skip, False
        for i, window in enumerate(self.loader()):
            if i >= skip:
                self._yielded += 1
                yield window
        self._exhausted = True

    def state_dict(self) -> dict[str, int]:
        """Where the next iteration starts: ``epoch`` and the windows of it already trained on.

        Lightning restores it for a checkpoint taken mid-epoch (a step budget); its fetcher
        runs one window ahead of the one being trained on.
        """
        if self._exhausted:
            return {"epoch": self.sampler.epoch + 1, "position": 0}
        return {"epoch": self.sampler.epoch, "position": max(0, self._yielded - 1)}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.sampler.epoch, self._skip = int(state["epoch"]), int(state["position"])


class PTBDataModule(TaskData):
    """Word-level PTB from ``data_dir/ptb.{train,valid,test}.txt`` (see :mod:`tasks.lm.corpus`).

    Args:
        data_dir: folder holding the three files.
        vocab_size: the vocabulary size the model was built for (``dataset.num_classes``);
            a corpus with another vocabulary is a one-line error.
        batch_size: training columns per device (the runner divides the global batch).
        eval_batch_size / test_batch_size: validation / test columns (global).
        bptt: window length (training base length, and the evaluation length).
        variable_bptt: AWD-LSTM's random window lengths with the lr scaled per step.
        seed: seeds the window lengths (with the epoch).
        cache_dir: where the token cache goes (default: beside the text).
        train_tokens: read only the first ``train_tokens`` tokens of the training split
            (a CPU-sized epoch on the real files; ``null``: all of it).
        smoke: windows of at most ``SMOKE_BPTT`` rows (the runner also limits the batches).
    """

    def __init__(self, data_dir: str, vocab_size: int | None = None, batch_size: int = 20,
                 eval_batch_size: int = 10, test_batch_size: int = 1, bptt: int = 70,
                 variable_bptt: bool = False, seed: int = 0, cache_dir: str | None = None,
                 train_tokens: int | None = None, smoke: bool = False) -> None:
        super().__init__()
        for key, value in (("batch_size", batch_size), ("eval_batch_size", eval_batch_size),
                           ("test_batch_size", test_batch_size), ("bptt", bptt),
                           ("train_tokens", 2 if train_tokens is None else train_tokens)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"dataset.{key}={value!r} is invalid: must be an integer >= 1")
        self.data_dir = Path(data_dir)
        self.vocab_size = vocab_size
        self.batch_size = batch_size
        self.eval_batch_size, self.test_batch_size = eval_batch_size, test_batch_size
        self.bptt = min(bptt, SMOKE_BPTT) if smoke else bptt
        self.variable_bptt = variable_bptt
        self.seed = seed
        self.cache_dir = cache_dir
        self.train_tokens = train_tokens
        self.corpus: Corpus | None = None

    # --- files --------------------------------------------------------------------------
    def preflight(self) -> list[str]:
        """Missing or malformed files, and a vocabulary that is not the model's: one line each."""
        problems = check_files(self.data_dir)
        if problems:
            return problems
        try:
            corpus = self._load()
        except CorpusError as exc:
            return [str(exc)]
        if self.vocab_size is not None and corpus.vocab_size != self.vocab_size:
            return [f"dataset.num_classes={self.vocab_size} but the corpus in {self.data_dir} has a "
                    f"{corpus.vocab_size}-word vocabulary (with <eos>); set dataset.num_classes={corpus.vocab_size}"]
        tokens = self._train_stream().numel()
        if tokens // self.batch_size < 3:
            return [f"{self.data_dir}/ptb.train.txt: {tokens} training tokens are too few for "
                    f"dataset.batch_size={self.batch_size} parallel streams"]
        return []

    def _train_stream(self) -> torch.Tensor:
        train = self._load().train
        return train if self.train_tokens is None else train[: self.train_tokens]

    def _load(self) -> Corpus:
        if self.corpus is None:
            self.corpus = load_corpus(self.data_dir, self.cache_dir)
        return self.corpus

    def setup(self, stage: str | None = None) -> None:
        problems = self.preflight()
        if problems:
            raise CorpusError(problems[0])

    # --- loaders ------------------------------------------------------------------------
    def _trainer_epoch(self) -> int | None:
        """The epoch Lightning hands to ``set_epoch`` (``epoch_progress.current.processed``).

        Read from the trainer because Lightning prefetches the first window of a run before
        it calls ``set_epoch``: a run resumed at epoch 2 would otherwise read epoch 0's windows
        (``trainer.current_epoch`` is still 1 at that point).
        """
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return None
        return int(trainer.fit_loop.epoch_progress.current.processed)

    def split_loader(self, split: str) -> SplitLoader:
        corpus = self._load()
        if split == "train":
            return SplitLoader(self._train_stream(), self.batch_size, self.bptt, self.rank_and_world,
                               variable_bptt=self.variable_bptt, seed=self.seed, per_rank=True,
                               epoch=self._trainer_epoch)
        streams = self.eval_batch_size if split == "val" else self.test_batch_size
        return SplitLoader(corpus.split(split), streams, self.bptt, self.rank_and_world)

    def example_batch(self) -> Window:
        """A training window (int64 token ids, ``batch_size`` streams) with no file access.

        Two time steps, not ``bptt``: the fit check runs on the meta device, where an LSTM
        costs a dispatch per time step, and window lengths vary anyway.
        """
        shape = (2, self.batch_size)
        return Window(torch.zeros(shape, dtype=torch.long), torch.zeros(shape, dtype=torch.long))
