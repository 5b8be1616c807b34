"""Load profiles: typed models loaded from hmb_ops/configs/profiles.yaml (section `profiles`) and the run plan.

A profile declares users, spawn rate, a duration or stages, think time and a traffic mix. The
effective plan applies command-line overrides on top and is validated once, here, so the CLI and
the API refuse the same nonsense with the same message.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import Field, RootModel, field_validator, model_validator

from hmb_ops.errors import ConfigError, UsageError
from hmb_ops.loadtest.endpoints import ENDPOINTS
from hmb_ops.settings.loader import StrictModel, load_section

MAX_USERS = 5000
MAX_DURATION_S = 24 * 3600
MAX_SPAWN_RATE = 10000.0
MAX_ARRIVAL_RATE = 100000.0
MAX_PROCESSES = 64
DEFAULT_TIMEOUT_S = 10.0


class Stage(StrictModel):
    users: int = Field(ge=0, le=MAX_USERS)
    duration: float = Field(gt=0, le=MAX_DURATION_S)


class Profile(StrictModel):
    description: str = ""
    users: int | None = Field(default=None, ge=1, le=MAX_USERS)
    spawn_rate: float = Field(gt=0, le=MAX_SPAWN_RATE)
    duration: float | None = Field(default=None, gt=0, le=MAX_DURATION_S)
    stages: tuple[Stage, ...] | None = None
    think_time: tuple[float, float] = (0.0, 0.0)
    mix: dict[str, float]
    request_timeout: float = Field(default=DEFAULT_TIMEOUT_S, gt=0, le=300)

    @field_validator("mix")
    @classmethod
    def _known_endpoints(cls, mix: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(mix) - set(ENDPOINTS))
        if unknown:
            raise ValueError(f"unknown endpoint {unknown[0]!r}; known: {', '.join(sorted(ENDPOINTS))}")
        if any(w < 0 for w in mix.values()) or not any(w > 0 for w in mix.values()):
            raise ValueError("weights must be >= 0 with at least one above 0")
        return mix

    @field_validator("think_time")
    @classmethod
    def _think(cls, value: tuple[float, float]) -> tuple[float, float]:
        lo, hi = value
        if lo < 0 or hi < lo or hi > 600:
            raise ValueError("think_time must be [min, max] seconds with 0 <= min <= max <= 600")
        return value

    @model_validator(mode="after")
    def _shape(self) -> Profile:
        if self.stages:
            if self.users is not None or self.duration is not None:
                raise ValueError("give either stages or users + duration, not both")
            problem = ramp_problem([(s.users, s.duration) for s in self.stages], self.spawn_rate)
            if problem:
                raise ValueError(problem)
        elif self.users is None or self.duration is None:
            raise ValueError("a profile needs users and duration, or stages")
        return self


def ramp_problem(stages: Iterable[tuple[int, float]], spawn_rate: float) -> str | None:
    """Why these stages cannot run as declared, or None.

    Locust's shape runner does not move to the next stage until the current ramp has finished, so a
    ramp longer than its stage silently eats the following stages.
    """
    previous = 0
    for i, (users, seconds) in enumerate(stages):
        need = abs(users - previous) / spawn_rate
        if need >= seconds:
            return (f"stage {i} ramps {previous}->{users} users at spawn_rate {spawn_rate:g}/s, which takes "
                    f"{need:.1f} s but the stage lasts {seconds:g} s; spawn_rate must be above "
                    f"{abs(users - previous) / seconds:.1f}")
        previous = users
    return None


def load_profiles(config_files: tuple[str, ...] = ()) -> dict[str, Profile]:
    return load_section("profiles", _ProfileMap, user_files=config_files, shipped_name="profiles.yaml").root


class _ProfileMap(RootModel[dict[str, Profile]]):
    model_config = {"frozen": True}


def get_profile(name: str, config_files: tuple[str, ...] = ()) -> Profile:
    profiles = load_profiles(config_files)
    if name not in profiles:
        raise ConfigError(f"unknown profile {name!r}",
                          hint=f"known: {', '.join(sorted(profiles))}; add one with --config FILE")
    return profiles[name]


@dataclass(frozen=True)
class RunPlan:
    """What the generator will do, after command-line overrides; validated."""

    profile: str
    stages: tuple[tuple[int, float], ...]
    spawn_rate: float
    think_time: tuple[float, float]
    mix: dict[str, float]
    request_timeout: float
    arrival_rate: float | None = None
    processes: int = 1
    stepped: bool = False

    @property
    def duration(self) -> float:
        return float(sum(s for _, s in self.stages))

    @property
    def max_users(self) -> int:
        return max(u for u, _ in self.stages)

    @property
    def model(self) -> str:
        return "open" if self.arrival_rate else "closed"


def _check(value, name: str, lo, hi, *, integer: bool = False) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and int(value) != value):
        raise UsageError(f"--{name} must be a number, got {value!r}")
    if not (lo <= value <= hi):
        raise UsageError(f"--{name} {value:g} is out of range; use {lo:g}..{hi:g}")


def build_plan(profile_name: str, *, config_files: tuple[str, ...] = (), users: int | None = None,
               spawn_rate: float | None = None, duration: float | None = None,
               arrival_rate: float | None = None, processes: int | None = None,
               stages: tuple | None = None) -> RunPlan:
    _check(users, "users", 1, MAX_USERS, integer=True)
    _check(spawn_rate, "spawn-rate", 0.01, MAX_SPAWN_RATE)
    _check(duration, "duration", 1, MAX_DURATION_S)
    _check(arrival_rate, "arrival-rate", 0.1, MAX_ARRIVAL_RATE)
    _check(processes, "processes", 1, MAX_PROCESSES, integer=True)
    prof = get_profile(profile_name, config_files)
    rate = float(spawn_rate or prof.spawn_rate)
    if stages:
        try:
            shaped = tuple((int(u), float(s)) for u, s in stages)
        except (TypeError, ValueError):
            raise UsageError("stages must be ((users, seconds), ...)") from None
        for u, s in shaped:
            _check(u, "users", 0, MAX_USERS, integer=True)
            _check(s, "duration", 0.1, MAX_DURATION_S)
        stepped = len(shaped) > 1
    elif users is not None or duration is not None or not prof.stages:
        # Overriding users or duration of a stepped profile runs it flat: one stage.
        steps = prof.stages or ()  # a profile without stages has users and duration
        u = users or prof.users or max(s.users for s in steps)
        d = duration or prof.duration or sum(s.duration for s in steps)
        shaped = ((int(u), float(d)),)
        stepped = False
    else:
        shaped = tuple((s.users, s.duration) for s in prof.stages)
        stepped = True
    if max(u for u, _ in shaped) < 1:
        raise UsageError("a run needs at least one user")
    if sum(s for _, s in shaped) > MAX_DURATION_S:
        raise UsageError(f"the run would last over {MAX_DURATION_S} s; shorten the stages")
    problem = ramp_problem(shaped, rate)
    if problem:
        raise UsageError(problem, hint="raise --spawn-rate or lengthen the stage")
    return RunPlan(profile=profile_name, stages=shaped, spawn_rate=rate, think_time=prof.think_time,
                   mix=dict(prof.mix), request_timeout=prof.request_timeout,
                   arrival_rate=float(arrival_rate) if arrival_rate else None,
                   processes=int(processes or 1), stepped=stepped)
