"""Load profiles: typed models loaded from hmb_ops/configs/profiles.yaml (section `profiles`) and the run plan.

A profile declares users, spawn rate, a duration or stages, think time and a traffic mix. The
effective plan applies command-line overrides on top and is validated once, here, so the CLI and
the API refuse the same nonsense with the same message.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache

from pydantic import Field, RootModel, field_validator, model_validator

from hmb_ops.errors import ConfigError, UsageError
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
    # The open model with a ramping rate (loadtest.arrival): requests per second during the stage,
    # sent by a pool of `users`; every stage gives one, or none does.
    rate: float | None = Field(default=None, ge=0, le=MAX_ARRIVAL_RATE)


class Profile(StrictModel):
    description: str = ""
    users: int | None = Field(default=None, ge=1, le=MAX_USERS)
    spawn_rate: float = Field(gt=0, le=MAX_SPAWN_RATE)
    duration: float | None = Field(default=None, gt=0, le=MAX_DURATION_S)
    stages: tuple[Stage, ...] | None = None
    think_time: tuple[float, float] | None = None  # None: the scenario's
    mix: dict[str, float] | None = None            # None: the scenario's own weights
    request_timeout: float = Field(default=DEFAULT_TIMEOUT_S, gt=0, le=300)

    @field_validator("mix")
    @classmethod
    def _known_endpoints(cls, mix: dict[str, float] | None) -> dict[str, float] | None:
        if mix is None:
            return None
        if any(w < 0 for w in mix.values()) or not any(w > 0 for w in mix.values()):
            raise ValueError("weights must be >= 0 with at least one above 0")
        names, reference, reference_names = _MIX_NAMES.get() or (_reference_names(), True, _reference_names())
        unknown = sorted(set(mix) - names)
        if unknown and not (not reference and set(mix) <= reference_names):
            # Another scenario ignores a mix written for the reference app (the shipped profiles).
            raise ValueError(f"unknown endpoint {unknown[0]!r} (a request of the scenario); "
                             f"known: {', '.join(sorted(names))}")
        return mix

    @field_validator("think_time")
    @classmethod
    def _think(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is None:
            return None
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
            rates = [s.rate for s in self.stages]
            if any(r is not None for r in rates) and (None in rates or not any(r for r in rates if r)):
                raise ValueError("give every stage a rate (at least one above 0), or none")
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


# The request names and keys a profile's mix may use while profiles load: those of the run's
# scenario (set by load_profiles), else the reference scenario's.
_MIX_NAMES: ContextVar[tuple[frozenset[str], bool, frozenset[str]] | None] = ContextVar("mix_names", default=None)


def _names_of(loaded) -> frozenset[str]:
    return frozenset([r.name for r in loaded.model.requests] + [r.key for r in loaded.model.requests if r.key])


@lru_cache(maxsize=1)
def _reference_names() -> frozenset[str]:
    from hmb_ops.loadtest.scenario.load import read_scenario

    return _names_of(read_scenario(None))


@contextmanager
def _mix_names_of(scenario: str | None) -> Iterator[None]:
    from hmb_ops.loadtest.scenario.load import read_scenario

    names = _reference_names() if scenario is None else _names_of(read_scenario(scenario))
    token = _MIX_NAMES.set((names, scenario is None, _reference_names()))
    try:
        yield
    finally:
        _MIX_NAMES.reset(token)


def load_profiles(config_files: tuple[str, ...] = (), scenario: str | None = None) -> dict[str, Profile]:
    """Profiles by name; a mix must name requests of `scenario` (None: the reference scenario) or,
    for another scenario, be a reference mix (which that scenario ignores)."""
    with _mix_names_of(scenario):
        return load_section("profiles", _ProfileMap, user_files=config_files, shipped_name="profiles.yaml").root


class _ProfileMap(RootModel[dict[str, Profile]]):
    model_config = {"frozen": True}


def get_profile(name: str, config_files: tuple[str, ...] = (), scenario: str | None = None) -> Profile:
    profiles = load_profiles(config_files, scenario)
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
    mix: dict[str, float] | None  # None: the scenario's own weights
    request_timeout: float
    arrival_rate: float | None = None
    processes: int = 1
    stepped: bool = False
    scenario: str | None = None   # a scenario file; None: the shipped reference scenario
    scenario_name: str = "hiremebahamas"
    stage_rates: tuple[float, ...] | None = None  # the profile's ramping arrival rate, one per stage
    think_source: str = "scenario"  # whose think_time runs: "profile" or "scenario"
    scenario_think: tuple[float, float] | None = None  # a user scenario's own think_time the profile's replaced

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
               stages: tuple | None = None, scenario: str | None = None) -> RunPlan:
    _check(users, "users", 1, MAX_USERS, integer=True)
    _check(spawn_rate, "spawn-rate", 0.01, MAX_SPAWN_RATE)
    _check(duration, "duration", 1, MAX_DURATION_S)
    _check(arrival_rate, "arrival-rate", 0.1, MAX_ARRIVAL_RATE)
    _check(processes, "processes", 1, MAX_PROCESSES, integer=True)
    from hmb_ops.loadtest.scenario.load import load_scenario

    prof = get_profile(profile_name, config_files, scenario)
    # Compiled here, in the parent, so every scenario problem is a file:line error before anything starts.
    compiled = load_scenario(scenario, mix=prof.mix)
    mix = None if compiled.mix_ignored or prof.mix is None else dict(prof.mix)
    rate = float(spawn_rate or prof.spawn_rate)
    stage_rates: tuple[float, ...] | None = None
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
        if prof.stages[0].rate is not None and not arrival_rate:  # --arrival-rate overrides with one rate
            stage_rates = tuple(float(s.rate or 0.0) for s in prof.stages)
            arrival_rate = sum(r * s for r, (_, s) in zip(stage_rates, shaped, strict=True)) / sum(
                s for _, s in shaped)
    if max(u for u, _ in shaped) < 1:
        raise UsageError("a run needs at least one user")
    if sum(s for _, s in shaped) > MAX_DURATION_S:
        raise UsageError(f"the run would last over {MAX_DURATION_S} s; shorten the stages")
    problem = ramp_problem(shaped, rate)
    if problem:
        raise UsageError(problem, hint="raise --spawn-rate or lengthen the stage")
    replaced = (compiled.think if scenario is not None and compiled.think_declared and prof.think_time is not None
                and tuple(prof.think_time) != tuple(compiled.think) else None)
    return RunPlan(profile=profile_name, stages=shaped, spawn_rate=rate,
                   think_time=prof.think_time if prof.think_time is not None else compiled.think,
                   think_source="profile" if prof.think_time is not None else "scenario", scenario_think=replaced,
                   mix=mix, request_timeout=prof.request_timeout,
                   arrival_rate=float(arrival_rate) if arrival_rate else None,
                   processes=int(processes or 1), stepped=stepped, scenario=scenario,
                   scenario_name=compiled.name, stage_rates=stage_rates)
