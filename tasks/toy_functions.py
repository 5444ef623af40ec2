"""The 2-D test functions of AdaMomentum's Appendix A and AdaL Section 3.1, array-library neutral.

Each function takes ``(x, y, xp)`` where ``xp`` is the array namespace (``torch`` for the
trainable point in :mod:`tasks.toy`, ``numpy`` for the contours ``results/`` draws), so the
optimizer and the picture use one definition and ``results/`` needs no torch.

Beale with the standard 2.25 (the OCR'd AdaMomentum text reads 2.2, which does not vanish at
the stated minimum (3, 0.5)); Rastrigin with A = 10, Rosenbrock with a = 1, b = 100. Start
points: the papers give none for AdaMomentum's functions (we chose points with a clear
descent path); AdaL's follow the pytorch-optimizer visualisation it cites.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def sphere(x: Any, y: Any, xp: Any) -> Any:
    return x**2 + y**2


def three_hump_camel(x: Any, y: Any, xp: Any) -> Any:
    return 2 * x**2 - 1.05 * x**4 + x**6 / 6 + x * y + y**2


def beale(x: Any, y: Any, xp: Any) -> Any:
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def ackley(x: Any, y: Any, xp: Any) -> Any:
    r = xp.sqrt(0.5 * (x**2 + y**2))
    c = 0.5 * (xp.cos(2 * math.pi * x) + xp.cos(2 * math.pi * y))
    return -20 * xp.exp(-0.2 * r) - xp.exp(c) + 20 + math.e


def rastrigin(x: Any, y: Any, xp: Any) -> Any:
    return 20 + (x**2 - 10 * xp.cos(2 * math.pi * x)) + (y**2 - 10 * xp.cos(2 * math.pi * y))


def rosenbrock(x: Any, y: Any, xp: Any) -> Any:
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


@dataclass(frozen=True)
class ToyFunction:
    fn: Callable[[Any, Any, Any], Any]
    minimum: tuple[float, float]
    start: tuple[float, float]
    bounds: tuple[tuple[float, float], tuple[float, float]]  # plotting window (x range, y range)


FUNCTIONS: dict[str, ToyFunction] = {
    "sphere": ToyFunction(sphere, (0.0, 0.0), (-3.0, 4.0), ((-5, 5), (-5, 5))),
    "three_hump_camel": ToyFunction(three_hump_camel, (0.0, 0.0), (-0.8, 1.8), ((-2, 2), (-2, 2))),
    "beale": ToyFunction(beale, (3.0, 0.5), (1.0, 1.5), ((-1, 4.5), (-1.5, 2.5))),
    "ackley": ToyFunction(ackley, (0.0, 0.0), (-1.6, 1.4), ((-2.5, 2.5), (-2.5, 2.5))),
    "rastrigin": ToyFunction(rastrigin, (0.0, 0.0), (-2.0, 3.5), ((-4.5, 4.5), (-4.5, 4.5))),
    "rosenbrock": ToyFunction(rosenbrock, (1.0, 1.0), (-2.0, 2.0), ((-2, 2), (-1, 3))),
}


def get_function(name: str) -> ToyFunction:
    if name not in FUNCTIONS:
        raise ValueError(f"dataset.function={name!r} is unknown; choose one of: {', '.join(FUNCTIONS)}")
    return FUNCTIONS[name]
