"""Symbolic regression targets built from sympy expressions, as the KAN papers' function fitting.

Each target is a formula (a string sympy parses) with a range per variable; inputs are drawn
uniformly in the ranges and the target is the formula evaluated by sympy's lambdify in float64,
never a hand-written copy (pykan's own torch versions of three Feynman formulas disagree with
their symbolic forms). The Feynman equations are as in the Feynman Lectures, with the variable
ranges of the AI Feynman benchmark as pykan lists them; the toy functions are the KAN paper's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kbench.data.tasks import DataError, Task, require, split

SAMPLES = 2000  # split 60/20/20: 1,200 to train, as the KAN papers' 1,000-point sets
TWO_PI = 2 * np.pi


@dataclass(frozen=True)
class Formula:
    expression: str
    ranges: tuple[tuple[float, float], ...]  # one per variable, in the order of `variables`
    variables: tuple[str, ...]
    family: str  # "feynman" or "toy"


def _f(expression: str, family: str, **ranges: tuple[float, float]) -> Formula:
    return Formula(expression, tuple(ranges.values()), tuple(ranges), family)


FORMULAS: dict[str, Formula] = {
    "I.6.20a": _f("exp(-theta**2/2)/sqrt(2*pi)", "feynman", theta=(-3, 3)),
    "I.6.20": _f("exp(-theta**2/(2*sigma**2))/sqrt(2*pi*sigma**2)", "feynman", theta=(-1, 1), sigma=(0.5, 2)),
    "I.8.4": _f("sqrt((x2-x1)**2+(y2-y1)**2)", "feynman", x1=(-1, 1), x2=(-1, 1), y1=(-1, 1), y2=(-1, 1)),
    "I.10.7": _f("m0/sqrt(1-v**2/c**2)", "feynman", m0=(0, 1), v=(0, 1), c=(1, 2)),
    "I.12.11": _f("q*(Ef+B*v*sin(theta))", "feynman", q=(-1, 1), Ef=(-1, 1), B=(-1, 1), v=(-1, 1),
                  theta=(0, TWO_PI)),
    "I.13.12": _f("G*m1*m2*(1/r2-1/r1)", "feynman", G=(0, 1), m1=(0, 1), m2=(0, 1), r1=(0.5, 2), r2=(0.5, 2)),
    "I.15.3x": _f("(x-u*t)/sqrt(1-u**2/c**2)", "feynman", x=(-1, 1), u=(-1, 1), t=(-1, 1), c=(1, 2)),
    "I.16.6": _f("(u+v)/(1+u*v/c**2)", "feynman", u=(-0.8, 0.8), v=(-0.8, 0.8), c=(1, 2)),
    "I.18.16": _f("m*r*v*sin(theta)", "feynman", m=(-1, 1), r=(-1, 1), v=(-1, 1), theta=(0, TWO_PI)),
    "I.26.2": _f("asin(n*sin(theta2))", "feynman", n=(0, 0.99), theta2=(0, TWO_PI)),
    "I.29.16": _f("sqrt(x1**2+x2**2-2*x1*x2*cos(theta1-theta2))", "feynman", x1=(-1, 1), x2=(-1, 1),
                  theta1=(0, TWO_PI), theta2=(0, TWO_PI)),
    "I.37.4": _f("I1+I2+2*sqrt(I1*I2)*cos(delta)", "feynman", I1=(0.1, 1), I2=(0.1, 1), delta=(0, TWO_PI)),
    "toy-bessel": _f("besselj(0, 20*x)", "toy", x=(-1, 1)),
    "toy-exp-sin": _f("exp(sin(pi*x)+y**2)", "toy", x=(-1, 1), y=(-1, 1)),
    "toy-product": _f("x*y", "toy", x=(-1, 1), y=(-1, 1)),
    "toy-4d": _f("exp((sin(pi*(x1**2+x2**2))+sin(pi*(x3**2+x4**2)))/2)", "toy", x1=(-1, 1), x2=(-1, 1),
                 x3=(-1, 1), x4=(-1, 1)),
}


def evaluate(name: str, x: np.ndarray) -> np.ndarray:
    """The formula at the points x (n, variables), in float64, by sympy's lambdify."""
    sympy = require("sympy")
    formula = FORMULAS[name]
    symbols = sympy.symbols(formula.variables)
    expression = sympy.sympify(formula.expression, locals={v: s for v, s in zip(formula.variables, symbols,
                                                                                strict=True)})
    fn = sympy.lambdify(symbols, expression, modules=["scipy", "numpy"])
    return np.asarray(fn(*x.T.astype(np.float64)), dtype=np.float64) * np.ones(len(x))


def task(name: str, seed: int) -> Task:
    if name not in FORMULAS:
        raise DataError(f"unknown symbolic target {name!r}; known: {', '.join(FORMULAS)}")
    formula = FORMULAS[name]
    rng = np.random.default_rng(1000 + seed)
    lo, hi = np.array(formula.ranges).T
    x = rng.uniform(lo, hi, size=(SAMPLES, len(formula.ranges)))
    y = evaluate(name, x)
    if not np.all(np.isfinite(y)):
        raise DataError(f"symbolic target {name!r} is not finite on its ranges")
    ranges = dict(zip(formula.variables, formula.ranges, strict=True))
    return split(f"symbolic/{name}", "regression", x, y.astype(np.float32), seed, (x.shape[1],), 1,
                 f"{formula.family} formula {formula.expression} on {ranges}")
