"""Universal Scalability Law fit: X(N) = λN / (1 + σ(N−1) + κN(N−1)).

N is the load we control (users of each step), X the throughput measured at it. Fitted by bounded
non-linear least squares (σ, κ ≥ 0, σ ≤ 1, λ > 0) on at least six points, as usl4j does: with
three parameters, fewer points fit anything and prove nothing. The fit is a cross-check on the
knee, not the capacity itself: it predicts where throughput peaks, not where latency breaks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hmb_ops.documents import Step

MIN_POINTS = 6
POOR_FIT_R2 = 0.7  # below this the fitted curve explains too little of the data to cross-check anything
# The fit cross-checks the knee only at R² ≥ 0.9 ("good"): between 0.7 and 0.9 the curve follows the
# trend but its peak can be off by a whole step, so it is shown and not used (docs/capacity.md).
GOOD_FIT_R2 = 0.9
CROSS_CHECK_TOLERANCE = 0.25  # knee throughput within ±25 % of the fit's throughput at that load: agree


@dataclass(frozen=True)
class UslFit:
    points: int
    ok: bool
    reason: str
    sigma: float | None = None      # contention (serialised share)
    kappa: float | None = None      # coherency (crosstalk) cost
    lambda_: float | None = None    # throughput of one unit of load without contention
    n_max: float | None = None      # load at peak throughput (None: no retrograde region, κ = 0)
    x_max: float | None = None      # predicted peak throughput
    r_squared: float | None = None

    @property
    def quality(self) -> str:
        if not self.ok or self.r_squared is None:
            return "none"
        return "good" if self.r_squared >= GOOD_FIT_R2 else ("fair" if self.r_squared >= POOR_FIT_R2 else "poor")

    def predict(self, n: float) -> float:
        return _usl(n, self.lambda_, self.sigma, self.kappa)

    def to_dict(self) -> dict:
        return {"points": self.points, "ok": self.ok, "reason": self.reason, "sigma": self.sigma,
                "kappa": self.kappa, "lambda": self.lambda_, "n_max": self.n_max, "x_max": self.x_max,
                "r_squared": self.r_squared, "quality": self.quality}


def _usl(n, lam, sigma, kappa):
    return lam * n / (1 + sigma * (n - 1) + kappa * n * (n - 1))


def fit(loads: list[float], throughputs: list[float]) -> UslFit:
    pts = [(float(n), float(x)) for n, x in zip(loads, throughputs, strict=True)
           if n and n > 0 and x is not None and x >= 0]
    if len(pts) < MIN_POINTS:
        return UslFit(len(pts), False, f"{len(pts)} load step{'s' if len(pts) != 1 else ''} with data; the USL fit "
                                       f"needs at least {MIN_POINTS}: reporting the knee alone")
    if len({n for n, _ in pts}) < 3:
        return UslFit(len(pts), False, "fewer than 3 distinct load levels: the USL fit is undetermined")
    import numpy as np
    from scipy.optimize import least_squares

    n = np.array([p[0] for p in pts])
    x = np.array([p[1] for p in pts])
    # λ starts at the best per-unit throughput seen: at low load X ≈ λN.
    lam0 = float(max(x / n))
    if lam0 <= 0:
        return UslFit(len(pts), False, "no throughput was measured: nothing to fit")

    def residuals(p):
        return _usl(n, p[0], p[1], p[2]) - x

    best = None
    for sigma0, kappa0 in ((0.05, 1e-4), (0.3, 1e-3), (0.01, 1e-6)):
        res = least_squares(residuals, x0=[lam0, sigma0, kappa0],
                            bounds=([1e-9, 0.0, 0.0], [lam0 * 10 + 1, 1.0, 1.0]), method="trf",
                            x_scale="jac", max_nfev=5000)
        if best is None or res.cost < best.cost:
            best = res
    assert best is not None  # the loop ran at least once
    lam, sigma, kappa = (float(v) for v in best.x)
    pred = _usl(n, lam, sigma, kappa)
    ss_res = float(np.sum((x - pred) ** 2))
    ss_tot = float(np.sum((x - x.mean()) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else (1.0 if ss_res == 0 else 0.0)
    n_top = float(n.max())
    peak = float(math.floor(math.sqrt((1 - sigma) / kappa))) if kappa > 0 and sigma < 1.0 else math.inf
    n_max: float | None
    x_max: float | None
    if peak <= 100 * n_top:
        n_max = max(peak, 1.0)
        x_max = float(_usl(n_max, lam, sigma, kappa))
        reason = f"fit on {len(pts)} steps, R² = {r2:.3f}; throughput peaks near {n_max:g} users"
    else:
        # No retrograde region within reach: X rises towards the asymptote λ/σ and never falls.
        n_max = None
        x_max = float(lam / sigma) if sigma > 1e-6 else None
        reason = (f"fit on {len(pts)} steps, R² = {r2:.3f}; no throughput peak within 100× the tested load "
                  f"(κ ≈ 0)")
    if r2 < POOR_FIT_R2:
        reason += "; poor fit: the steps do not follow the USL, so it cannot cross-check the knee"
        first = min(pts)[1]
        if first >= 0.8 * float(x.max()):
            reason += " (throughput is already near its peak at the first step: add lower steps)"
    return UslFit(len(pts), True, reason, sigma, kappa, lam, n_max, x_max, r2)


def fit_steps(steps: list[Step]) -> UslFit:
    return fit([s.users for s in steps], [s.rps for s in steps])


@dataclass(frozen=True)
class CrossCheck:
    used: bool
    predicted_rps: float | None
    text: str

    def to_dict(self) -> dict:
        return {"used_as_cross_check": self.used, "good_fit_r2": GOOD_FIT_R2,
                "predicted_rps_at_knee": self.predicted_rps, "cross_check": self.text}


def cross_check(fit_: UslFit, knee_users: float | None, knee_rps: float) -> CrossCheck:
    """The fit's throughput at the knee's load against the knee's: used only when the fit is good."""
    if not fit_.ok:
        return CrossCheck(False, None, f"no fit ({fit_.reason})")
    if fit_.quality != "good":
        r2 = f"{fit_.r_squared:.2f}" if fit_.r_squared is not None else "?"
        return CrossCheck(False, None, f"not used: R² {r2} is below {GOOD_FIT_R2} (a good fit)")
    if knee_users is None or knee_rps <= 0:
        return CrossCheck(False, None, "not used: no step met the SLO, nothing to cross-check")
    predicted = float(fit_.predict(knee_users))
    ratio = knee_rps / predicted if predicted > 0 else math.inf
    agree = abs(ratio - 1) <= CROSS_CHECK_TOLERANCE
    text = (f"USL predicts {predicted:.1f} req/s at {knee_users:g} users; the knee's {knee_rps:.1f} req/s is "
            f"{ratio:.2f}× that: {'agrees' if agree else 'DISAGREES'} (within ±{CROSS_CHECK_TOLERANCE:.0%} agrees)")
    return CrossCheck(True, predicted, text)
