"""Shared machinery for the optimizers in this package.

Every optimizer here subclasses :class:`BaseOptimizer`, which owns the parts that are
the same for all of them:

* argument validation (``check_*``): a bad value raises ``ValueError`` naming the
  argument and its allowed range; groups added later are validated the same way;
* the step loop: parameters without a gradient are skipped (so ``requires_grad=False``
  parameters and unused parameters are left untouched), state is created lazily,
  the per-parameter step counter is a Python ``int`` (so ``state_dict`` round trips
  are exact);
* the dispatch between the multi-tensor path (``torch._foreach_*`` over tensors that
  share device, dtype and step count) and the plain per-tensor path.

State tensors are kept in the parameter's dtype (as ``torch.optim`` does), so a
bfloat16 model has bfloat16 optimizer state.
"""

from __future__ import annotations

import math
import numbers
import types
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch
from torch import Tensor

Params = Iterable[Tensor] | Iterable[dict[str, Any]]


# ----------------------------------------------------------------------------- validation


def _range_text(name: str, low: float | None, high: float | None, low_inclusive: bool, high_inclusive: bool) -> str:
    parts = []
    if low is not None:
        parts.append(f"{low} {'<=' if low_inclusive else '<'} ")
    parts.append(name)
    if high is not None:
        parts.append(f" {'<=' if high_inclusive else '<'} {high}")
    return "".join(parts)


def check_real(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = False,
) -> float:
    """Return ``value`` as float, or raise ``ValueError`` naming ``name`` and the allowed range."""
    allowed = _range_text(name, low, high, low_inclusive, high_inclusive)
    if isinstance(value, Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"Invalid {name}: {value!r} is not a real number; allowed: {allowed}")
    number = float(value)
    ok = not math.isnan(number)
    if ok and low is not None:
        ok = number >= low if low_inclusive else number > low
    if ok and high is not None:
        ok = number <= high if high_inclusive else number < high
    if not ok:
        raise ValueError(f"Invalid {name}: {value!r}; allowed: {allowed}")
    return number


def check_betas(name: str, value: Any, count: int = 2) -> tuple[float, ...]:
    """Validate a sequence of ``count`` coefficients each in [0, 1); lists are accepted (YAML)."""
    if isinstance(value, Tensor) or not isinstance(value, Sequence) or len(value) != count:
        raise ValueError(
            f"Invalid {name}: {value!r}; allowed: a sequence of {count} numbers, each 0.0 <= {name}[i] < 1.0"
        )
    return tuple(check_real(f"{name}[{i}]", v, low=0.0, high=1.0) for i, v in enumerate(value))


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"Invalid {name}: {value!r}; allowed: True or False")
    return value


def check_optional_bool(name: str, value: Any) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise ValueError(f"Invalid {name}: {value!r}; allowed: None, True or False")
    return value


def check_common(group: dict[str, Any]) -> None:
    """Validate the options every optimizer here has: lr, weight_decay, foreach."""
    group["lr"] = check_real("lr", group["lr"], low=0.0)
    group["weight_decay"] = check_real("weight_decay", group["weight_decay"], low=0.0)
    group["foreach"] = check_optional_bool("foreach", group.get("foreach"))
    group["compile"] = check_bool("compile", group.get("compile", False))
    if group["compile"] and group["foreach"] is not None:
        raise ValueError(
            f"Invalid foreach: {group['foreach']!r} with compile=True; allowed: None (the compiled step has its own kernels)"
        )


def check_adam_common(group: dict[str, Any]) -> None:
    """:func:`check_common` plus the Adam-family options ``betas`` (2 in [0, 1)) and ``eps >= 0``."""
    check_common(group)
    group["betas"] = check_betas("betas", group["betas"])
    group["eps"] = check_real("eps", group["eps"], low=0.0)


# ----------------------------------------------------------------------------- numerics


def nonzero_floor(dtype: torch.dtype) -> float:
    """Smallest magnitude that is safe to divide by (and take roots of) in ``dtype``.

    float16 arithmetic runs in float32 on CPU and CUDA, so its subnormals are usable.
    """
    if dtype == torch.float16:
        return 2.0**-24
    return torch.finfo(dtype).tiny


_ROOT_DEPTH = {1.0: 0, 0.5: 1, 0.25: 2, 0.125: 3, 0.0625: 4}


def root_(x: Tensor, exponent: float) -> Tensor:
    """In place ``x ** exponent`` for ``x >= 0``; exponents 2**-k use repeated sqrt (pow is ~10x slower on CPU)."""
    depth = _ROOT_DEPTH.get(exponent)
    if depth is None:
        return x.pow_(exponent)
    for _ in range(depth):
        x.sqrt_()
    return x


def foreach_root_(xs: list[Tensor], exponent: float) -> None:
    """Multi-tensor :func:`root_`."""
    depth = _ROOT_DEPTH.get(exponent)
    if depth is None:
        torch._foreach_pow_(xs, exponent)
        return
    for _ in range(depth):
        torch._foreach_sqrt_(xs)


def foreach_abs_max(tensors: list[Tensor]) -> list[Tensor]:
    """Per-tensor ``max |x|`` as 0-dim tensors, without a host sync.

    CUDA has a fused multi-tensor inf-norm; on CPU ``aminmax`` is ~10x faster than
    ``_foreach_norm(ord=inf)`` and gives the identical number.
    """
    if tensors[0].is_cuda:
        return list(torch._foreach_norm(tensors, float("inf")))
    return [abs_max(t) for t in tensors]


def abs_max(t: Tensor) -> Tensor:
    """``max |t|`` as a 0-dim tensor (see :func:`foreach_abs_max`)."""
    low, high = torch.aminmax(t)
    return torch.maximum(high, low.neg())


_SCALARS: dict[tuple[float, torch.device, torch.dtype], Tensor] = {}


def scale_add_(x: Tensor, scale: Tensor | float, value: float) -> Tensor:
    """In place ``x <- x * scale + value``.

    With ``scale`` a Python float (what CPU callers pass: reading a CPU 0-dim tensor costs
    nothing) this is one fused multiply-add pass over ``x`` instead of two: ~1.4x faster on CPU,
    and rounded once. With a tensor ``scale`` (CUDA: no host sync) it is ``mul_`` then ``add_``.
    """
    if isinstance(scale, Tensor):
        return x.mul_(scale).add_(value)
    key = (value, x.device, x.dtype)
    offset = _SCALARS.get(key)
    if offset is None:  # a 0-dim tensor, cached: torch.add takes a scalar only as ``other``
        offset = _SCALARS[key] = torch.tensor(value, device=x.device, dtype=x.dtype)
    return torch.add(offset, x, alpha=scale, out=x)


NORM_CHUNK = 1 << 18
"""Elements per partial dot product in :func:`l2_norm`."""


def l2_norm(t: Tensor) -> Tensor:
    """``||t||_2`` as a 0-dim tensor of ``t``'s dtype (float32 for narrower floats): dot products
    of slices of ``NORM_CHUNK`` elements, summed in float64.

    On CPU (torch 2.14) ``torch.linalg.vector_norm`` of float32 runs on one thread and
    accumulates serially: up to 4.2e-5 short of the float64 norm on ResNet-18's conv weights.
    One ``torch.dot`` of a whole tensor is 1.5e-5 short at 1 thread (5.4e-6 at 2). The slices
    keep it within 7.2e-7 at either thread count, for 1.1x (1 thread) to 1.3x (2 threads) one
    dot's time, still faster than ``vector_norm`` at 2 threads. (The compiled kernels keep ``vector_norm``: inductor writes
    its own reduction.)
    """
    flat = t.reshape(-1)
    if flat.dtype not in (torch.float32, torch.float64):
        flat = flat.float()  # a bfloat16/float16 dot accumulates in the narrow type
    if flat.numel() <= NORM_CHUNK:
        return torch.dot(flat, flat).sqrt()
    parts = torch.stack([torch.dot(part, part) for part in flat.split(NORM_CHUNK)])
    return parts.to(torch.float64).sum().sqrt().to(flat.dtype)


CHUNK = 1 << 16
"""Elements per slice in :func:`chunks`: 64Ki float32 = 256 KiB, so a slice of each operand
and the scratch buffers stay in a core's L2 cache across the several ops of one step."""


def chunks(*tensors: Tensor, size: int | None = None) -> Iterator[tuple[Tensor, ...]]:
    """Yield matching 1-D slices of same-shape tensors, ``size`` (default :data:`CHUNK`) elements at a time.

    A cache-blocking aid for the per-tensor path: an update of several element-wise ops run
    slice by slice touches main memory about once per operand instead of once per op (on the
    2-core dev VM this took AdaRem-S from 0.88x to 0.68x of Adam-foreach at 1 thread). Only at
    one intra-op thread: with more, each op on a slice is a parallel region of its own, and
    beside busy neighbours every region waits for a descheduled sibling thread (AdaRem at 2
    threads, sliced: 1.8-5.3x Adam-foreach). Small or non-contiguous tensors, and all tensors
    at more than one thread, are yielded whole. Only for element-wise work: a reduction over
    the tensor must be taken outside the loop.
    """
    n, size = tensors[0].numel(), size or CHUNK
    if n <= size or torch.get_num_threads() > 1 or not all(t.is_contiguous() for t in tensors):
        yield tensors
        return
    flat = [t.view(-1) for t in tensors]
    for start in range(0, n, size):
        yield tuple(f[start : start + size] for f in flat)


def zeros_like(p: Tensor) -> Tensor:
    return torch.zeros_like(p, memory_format=torch.preserve_format)


# ----------------------------------------------------------------------------- Adam-style moments
# Shared by the optimizers whose first/second moments are literally Adam's (state keys
# ``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq``); the op sequence is fixed, so results are
# bit-identical to the inline code they replace.


def adam_state(p: Tensor, amsgrad: bool = False) -> dict[str, Any]:
    """Zero ``exp_avg`` and ``exp_avg_sq`` (plus ``max_exp_avg_sq`` with ``amsgrad``) shaped like ``p``."""
    state = {"exp_avg": zeros_like(p), "exp_avg_sq": zeros_like(p)}
    if amsgrad:
        state["max_exp_avg_sq"] = zeros_like(p)
    return state


def adam_step_size(group: dict[str, Any], step: int) -> float:
    """``lr * sqrt(1 - beta2**t) / (1 - beta1**t)``: Adam's bias corrections folded into the step."""
    beta1, beta2 = group["betas"]
    return group["lr"] * math.sqrt(1 - beta2**step) / (1 - beta1**step)


def adam_folded_scalars(group: dict[str, Any], step: int) -> tuple[float, float]:
    """``(step_size, eps')`` for ``x -= step_size * m / (sqrt(v) + eps')``, Adam's update with its
    bias corrections folded into scalars: ``lr/c1 * m/(sqrt(v)/c2 + eps) = (lr*c2/c1) * m/(sqrt(v) + eps*c2)``
    with ``c1 = 1 - beta1**t``, ``c2 = sqrt(1 - beta2**t)`` (one tensor pass fewer than dividing by ``c2``)."""
    beta1, beta2 = group["betas"]
    c2 = math.sqrt(1 - beta2**step)
    return group["lr"] * c2 / (1 - beta1**step), group["eps"] * c2


def adam_moments_(
    state: dict[str, Any], grad: Tensor, beta1: float, beta2: float, amsgrad: bool = False
) -> tuple[Tensor, Tensor]:
    """In place ``m <- lerp(m, g, 1-beta1)``, ``v <- beta2 v + (1-beta2) g**2`` [, ``v_max <- max(v_max, v)``].

    Returns ``(exp_avg, second)`` where ``second`` is ``max_exp_avg_sq`` with ``amsgrad``, else ``exp_avg_sq``.
    """
    exp_avg, second = state["exp_avg"], state["exp_avg_sq"]
    exp_avg.lerp_(grad, 1 - beta1)
    second.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    if amsgrad:
        torch.maximum(state["max_exp_avg_sq"], second, out=state["max_exp_avg_sq"])
        second = state["max_exp_avg_sq"]
    return exp_avg, second


def foreach_adam_moments_(
    states: list[dict[str, Any]],
    grads: list[Tensor],
    beta1: float,
    beta2: float | list[float],
    amsgrad: bool = False,
) -> tuple[list[Tensor], list[Tensor]]:
    """Multi-tensor :func:`adam_moments_`; ``beta2`` may be one value per tensor."""
    exp_avgs = [s["exp_avg"] for s in states]
    seconds = [s["exp_avg_sq"] for s in states]
    torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
    torch._foreach_mul_(seconds, beta2)
    torch._foreach_addcmul_(seconds, grads, grads, [1 - b for b in beta2] if isinstance(beta2, list) else 1 - beta2)
    if amsgrad:
        maxes = [s["max_exp_avg_sq"] for s in states]
        torch._foreach_maximum_(maxes, seconds)
        seconds = maxes
    return exp_avgs, seconds


def foreach_with_l2(params: list[Tensor], grads: list[Tensor], weight_decay: float) -> list[Tensor]:
    """``g + weight_decay * x`` as new tensors (``grads`` itself when ``weight_decay == 0``)."""
    if weight_decay != 0:
        return torch._foreach_add(grads, params, alpha=weight_decay)
    return grads


def foreach_adam_denom(seconds: list[Tensor], eps: float) -> list[Tensor]:
    """New tensors ``sqrt(v) + eps`` (see :func:`adam_folded_scalars` for the bias correction)."""
    denom = torch._foreach_sqrt(seconds)
    torch._foreach_add_(denom, eps)
    return denom


# ----------------------------------------------------------------------------- compiled path
# One loop over the tensors of a bucket; dynamo unrolls it into one graph whose inputs are the
# tensors themselves plus a vector of step scalars, so nothing a step changes (lr, step count,
# bias corrections, epoch) is a Python constant in the graph. Each optimizer class gets its
# own copy of the loop's code object (dynamo keeps its cache per code object), so a class's
# graphs are reused by every instance over tensors of the same shapes.


def _group_step(kernel, flags, kinds, params, grads, states, scalars, per_tensor):  # type: ignore[no-untyped-def]
    outs = []
    for i in range(len(params)):
        row = None if per_tensor is None else per_tensor[i]
        out = kernel(params[i], grads[i], states[i], scalars, row, flags, None if kinds is None else kinds[i])
        if out is not None:
            outs.append(out)
    return outs


_COMPILED_STEPS: dict[tuple[type, str, str], Callable[..., list[Tensor]]] = {}


def compiled_group_step(cls: type, backend: str = "inductor", phase: str = "step") -> Callable[..., list[Tensor]]:
    """``torch.compile(fullgraph=True)`` of :func:`_group_step` with a code object of ``cls``'s
    own, one per ``phase`` (the step and the optional post-step pass)."""
    fn = _COMPILED_STEPS.get((cls, backend, phase))
    if fn is None:
        code = _group_step.__code__.replace(co_name=f"{cls.__name__}_group_{phase}_{backend}")
        loop = types.FunctionType(code, _group_step.__globals__, code.co_name)
        fn = _COMPILED_STEPS[cls, backend, phase] = torch.compile(loop, fullgraph=True, dynamic=False, backend=backend)
    return fn


def _at_least_1d(t: Tensor) -> Tensor:
    """A 0-dim tensor as a 1-element view: with 0-dim operands only, the float64 step
    scalars would promote the result to float64 (a 0-dim tensor never promotes a 1-D one)."""
    return t.view(1) if t.dim() == 0 else t


def scalar_dtype(device: torch.device) -> torch.dtype:
    """float64 for the step scalars (the host computes them in double), float32 where a device has no float64."""
    return torch.float32 if device.type == "mps" else torch.float64


def root(x: Tensor, exponent: float) -> Tensor:
    """Functional :func:`root_` for the compiled kernels (repeated sqrt for 2**-k, else pow)."""
    depth = _ROOT_DEPTH.get(exponent)
    if depth is None:
        return x.pow(exponent)
    for _ in range(depth):
        x = x.sqrt()
    return x


def compiled_adam_moments_(p: Tensor, g: Tensor, st: list[Tensor], s: Tensor, amsgrad: bool) -> tuple[Tensor, Tensor]:
    """Kernel piece: ``g + s[0]*x`` (L2), ``m <- lerp(m, g, s[1])``, ``v <- s[2]*v + s[3]*g**2``
    [, ``v_max <- max(v_max, v)``], as :func:`adam_moments_`; returns ``(m, v or v_max)``."""
    g = g + s[0] * p
    exp_avg, exp_avg_sq = st[0], st[1]
    exp_avg.lerp_(g, s[1].to(exp_avg.dtype))
    exp_avg_sq.mul_(s[2]).add_(s[3] * g * g)
    if amsgrad:
        st[2].copy_(torch.maximum(st[2], exp_avg_sq))
        return exp_avg, st[2]
    return exp_avg, exp_avg_sq


# ----------------------------------------------------------------------------- base class


class BaseOptimizer(torch.optim.Optimizer):
    """Step loop shared by all optimizers of this package.

    Subclasses implement:

    * ``_check_group(group)``: validate/normalise one param group in place;
    * ``_init_state(p, group) -> dict``: initial state of one parameter (step is added here);
    * ``_single_tensor_update(group, p, grad, state)``: the plain per-tensor path;
    * ``_multi_tensor_update(group, params, grads, states, step)``: the ``torch._foreach_*``
      path, called with tensors that share device, dtype and step count.

    and, for the compiled path (``compile=True``):

    * ``_state_keys(group) -> tuple[str, ...]``: the state tensors the kernel gets, in order;
    * ``_kernel(p, g, state, s, row, flags, kind)`` (static): one tensor's update written with
      plain torch ops (in place on ``p`` and the state tensors), no Python branch on a value
      that changes between steps; ``s`` is the group's scalar vector, ``row`` a per-tensor
      scalar vector or None; returns None or a 0-dim tensor handed to ``_compiled_finish``;
    * ``_compiled_inputs(group, states, step) -> (scalars, rows, kinds)``: the host-side
      scalars (computed as the eager path computes them), optional per-tensor rows and
      per-tensor static kinds; ``_compiled_flags(group)``: the group's structural options;
    * optionally ``_post_kernel`` (static, same signature as ``_kernel``): a second pass over
      the tensors with a true ``kind``, compiled as a graph of its own and run after the step
      graph; what it returns goes to ``_compiled_finish``. For an update that needs a
      reduction of its own result (AdaRem-S's projection onto the sphere): in one graph,
      inductor keeps the unprojected result in a fresh temporary per tensor, which on CPU
      costs a page fault per 4 KiB every step (AdaRem-S on ResNet-18 shapes: 11k faults and
      ~3.7x fused Adam per step in one graph, none and 1.4x in two).

    ``group["foreach"]``: ``True`` selects the multi-tensor path, ``False`` the per-tensor
    path, ``None`` (default) the multi-tensor path for CUDA tensors and the per-tensor path
    otherwise. That default is measured, not assumed: on CPU the foreach ops hold one
    temporary per parameter at once and the fresh memory costs more than the Python loop
    (``python -m bench.perf optimizers --both-paths``), while the per-tensor path reuses
    scratch buffers (:meth:`_scratch`).

    ``group["compile"]`` (constructor flag ``compile=True``): the step of each param group is
    one ``torch.compile(fullgraph=True)`` graph built from ``_kernel`` per tensor, without the
    shared scratch buffer (inductor turns slices of one flat buffer into masked loops over
    all of it). lr, step-dependent factors (bias corrections, ``decay**epoch``) and every
    hyperparameter enter as a float64 tensor computed on the host each step, so steps, LR
    schedules, ``set_epoch`` and ``state_dict`` round trips reuse the graph; what recompiles
    is a change of the tensors' shapes/dtypes/devices, of which parameters have gradients, or
    of a structural option (``amsgrad``, ``q`` of RAME, ...). The state layout is the eager
    one, so a checkpoint moves freely between the paths. The first step compiles (seconds;
    inductor needs a C++ compiler on CPU, Triton on CUDA); the same code is the CUDA fast path.
    Dynamo keeps at most ``torch._dynamo.config.recompile_limit`` graphs per optimizer class
    per process; past that it falls back to running the kernels eagerly.
    """

    _compile_backend = "inductor"  # torch.compile backend of the compiled path (tests trace with "eager")
    _post_kernel: Callable[..., Tensor | None] | None = None  # see the class docstring

    def __init__(self, params: Params, defaults: dict[str, Any]) -> None:
        super().__init__(params, defaults)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """As torch's, but the path switches ``foreach`` and ``compile`` stay this optimizer's:
        a checkpoint written by an eager run resumes compiled (and vice versa), and one
        written before ``compile`` existed loads as it is."""
        switches = [(g["foreach"], g["compile"]) for g in self.param_groups]
        super().load_state_dict(state_dict)
        for group, (foreach, compile) in zip(self.param_groups, switches):
            group["foreach"], group["compile"] = foreach, compile

    # validation runs for the constructor's groups and for groups added later
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        for p in group["params"]:
            if torch.is_complex(p):
                raise ValueError(f"{type(self).__name__} does not support complex parameters")
        self._check_group(group)

    def _check_group(self, group: dict[str, Any]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:  # pragma: no cover
        raise NotImplementedError

    def _single_tensor_update(self, group: dict[str, Any], p: Tensor, grad: Tensor, state: dict[str, Any]) -> None:
        raise NotImplementedError  # pragma: no cover

    def _multi_tensor_update(
        self,
        group: dict[str, Any],
        params: list[Tensor],
        grads: list[Tensor],
        states: list[dict[str, Any]],
        step: int,
    ) -> None:
        raise NotImplementedError  # pragma: no cover

    def _scratch(self, p: Tensor, slot: int = 0) -> Tensor:
        """A reusable temporary shaped like ``p`` for the per-tensor path (not optimizer state).

        One flat buffer per (device, dtype, slot), sized to the largest parameter. On CPU,
        allocating fresh temporaries every step costs page faults that double the step
        time; reusing one buffer avoids them.
        """
        buffers: dict[tuple[torch.device, torch.dtype, int], Tensor] = self.__dict__.setdefault("_scratch_buffers", {})
        key = (p.device, p.dtype, slot)
        n = p.numel()
        buf = buffers.get(key)
        if buf is None or buf.numel() < n:
            kind = (p.device, p.dtype)
            same_kind = (q for g in self.param_groups for q in g["params"] if (q.device, q.dtype) == kind)
            size = max([n] + [q.numel() for q in same_kind])
            buf = torch.empty(size, device=p.device, dtype=p.dtype)
            buffers[key] = buf
        return buf[:n].view(p.shape)

    def _with_l2(self, p: Tensor, grad: Tensor, weight_decay: float) -> Tensor:
        """``g + weight_decay * x`` in scratch slot 1 (``grad`` itself when ``weight_decay == 0``)."""
        if weight_decay != 0:
            return torch.add(grad, p, alpha=weight_decay, out=self._scratch(p, 1))
        return grad

    def _adam_denom(self, p: Tensor, second: Tensor, eps: float) -> Tensor:
        """``sqrt(v) + eps`` in scratch slot 0 (see :func:`adam_folded_scalars` for the bias correction)."""
        return torch.sqrt(second, out=self._scratch(p)).add_(eps)

    def _collect(self, group: dict[str, Any]) -> tuple[list[Tensor], list[Tensor], list[dict[str, Any]]]:
        params, grads, states = [], [], []
        for p in group["params"]:
            grad = p.grad
            if grad is None:
                continue
            if grad.is_sparse:
                raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
            state = self.state[p]
            if "step" not in state:
                state.update(self._init_state(p, group))
                state["step"] = 0
            state["step"] += 1
            params.append(p)
            grads.append(grad)
            states.append(state)
        return params, grads, states

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one optimisation step; ``closure`` re-evaluates the loss (optional)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params, grads, states = self._collect(group)
            if not params:
                continue
            foreach = group["foreach"]
            if foreach is None:  # measured: per-tensor is faster on CPU, foreach on CUDA
                foreach = params[0].is_cuda
            if not foreach and not group["compile"]:
                for p, g, s in zip(params, grads, states):
                    self._single_tensor_update(group, p, g, s)
                continue
            update = self._compiled_update if group["compile"] else self._multi_tensor_update
            buckets: dict[tuple[torch.device, torch.dtype, int], list[int]] = {}
            for i, (p, s) in enumerate(zip(params, states)):
                buckets.setdefault((p.device, p.dtype, s["step"]), []).append(i)
            for (_, _, step), idx in buckets.items():
                update(
                    group,
                    [params[i] for i in idx],
                    [grads[i] for i in idx],
                    [states[i] for i in idx],
                    step,
                )
        return loss

    # --- compiled path -------------------------------------------------------------------
    def _state_keys(self, group: dict[str, Any]) -> tuple[str, ...]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _compiled_inputs(
        self, group: dict[str, Any], states: list[dict[str, Any]], step: int
    ) -> tuple[list[float], list[list[float]] | None, tuple[Any, ...] | None]:  # pragma: no cover
        raise NotImplementedError

    def _compiled_flags(self, group: dict[str, Any]) -> tuple[Any, ...]:
        return ()

    def _compiled_finish(self, group: dict[str, Any], states: list[dict[str, Any]], outs: list[Tensor]) -> None:
        pass

    def _compiled_update(
        self,
        group: dict[str, Any],
        params: list[Tensor],
        grads: list[Tensor],
        states: list[dict[str, Any]],
        step: int,
    ) -> None:
        scalars, rows, kinds = self._compiled_inputs(group, states, step)
        device = params[0].device
        dtype = scalar_dtype(device)
        s = torch.tensor(scalars, dtype=dtype, device=device)
        per_tensor = None if rows is None else torch.tensor(rows, dtype=dtype, device=device)
        keys = self._state_keys(group)
        tensors = [[_at_least_1d(state[k]) for k in keys] for state in states]
        params, grads = [_at_least_1d(p) for p in params], [_at_least_1d(g) for g in grads]
        cls, flags = type(self), self._compiled_flags(group)
        step_fn = compiled_group_step(cls, self._compile_backend)
        outs = step_fn(cls._kernel, flags, kinds, params, grads, tensors, s, per_tensor)
        if cls._post_kernel is not None and kinds is not None and any(kinds):
            post_fn = compiled_group_step(cls, self._compile_backend, "post")
            outs = [*outs, *post_fn(cls._post_kernel, flags, kinds, params, grads, tensors, s, per_tensor)]
        self._compiled_finish(group, states, outs)
