"""Per-element GR-KAN arithmetic shared by the Triton kernels (jit helpers, no launches).

Forward, with |b| taken once and Horner's rule in x (numerator) and |x| (denominator):

.. math::
    P = \\sum_{k=0}^{5} a_k x^k, \\qquad Q = 1 + \\sum_{j=0}^{3} |b_j| |x|^{j+1}, \\qquad y = P / Q

Backward, for upstream gradient g (sign(0) = +1, as KAT's kernels):

.. math::
    \\frac{\\partial L}{\\partial x} = g \\frac{P' - Q' y}{Q}, \\quad
    \\frac{\\partial L}{\\partial a_k} = g \\frac{x^k}{Q}, \\quad
    \\frac{\\partial L}{\\partial b_j} = -g \\frac{y}{Q} \\operatorname{sign}(b_j) |x|^{j+1}

with P' = a1 + 2 a2 x + 3 a3 x^2 + 4 a4 x^3 + 5 a5 x^4 and
Q' = sign(x) (|b0| + 2|b1||x| + 3|b2||x|^2 + 4|b3||x|^3).
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def rational_fwd(x, a0, a1, a2, a3, a4, a5, b0, b1, b2, b3):
    """y = P(x) / Q(x); the b's are the raw (signed) coefficients."""
    ax = tl.abs(x)
    p = ((((a5 * x + a4) * x + a3) * x + a2) * x + a1) * x + a0
    q = (((tl.abs(b3) * ax + tl.abs(b2)) * ax + tl.abs(b1)) * ax + tl.abs(b0)) * ax + 1.0
    return p / q


@triton.jit
def rational_vjp(x, g, a0, a1, a2, a3, a4, a5, b0, b1, b2, b3):
    """dx and the ten per-element coefficient contributions (da0..da5, db0..db3)."""
    ax = tl.abs(x)
    sx = tl.where(x < 0, -1.0, 1.0)
    p = ((((a5 * x + a4) * x + a3) * x + a2) * x + a1) * x + a0
    q = (((tl.abs(b3) * ax + tl.abs(b2)) * ax + tl.abs(b1)) * ax + tl.abs(b0)) * ax + 1.0
    dp = (((5.0 * a5 * x + 4.0 * a4) * x + 3.0 * a3) * x + 2.0 * a2) * x + a1
    dq = sx * (((4.0 * tl.abs(b3) * ax + 3.0 * tl.abs(b2)) * ax + 2.0 * tl.abs(b1)) * ax + tl.abs(b0))
    inv_q = 1.0 / q
    y = p * inv_q
    g_q = g * inv_q  # g / Q: the common factor of every gradient
    dx = g_q * (dp - dq * y)
    da0 = g_q
    da1 = da0 * x
    da2 = da1 * x
    da3 = da2 * x
    da4 = da3 * x
    da5 = da4 * x
    gy = -g_q * y * ax  # -g y |x| / Q
    db0 = gy * tl.where(b0 < 0, -1.0, 1.0)
    db1 = gy * ax * tl.where(b1 < 0, -1.0, 1.0)
    db2 = gy * ax * ax * tl.where(b2 < 0, -1.0, 1.0)
    db3 = gy * ax * ax * ax * tl.where(b3 < 0, -1.0, 1.0)
    return dx, da0, da1, da2, da3, da4, da5, db0, db1, db2, db3
