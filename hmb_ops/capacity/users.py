"""From requests per second to people: the users model and every assumption it rests on.

    daily active        = registered × daily_active_share
    peak-hour sessions  = daily active × sessions_per_day × peak_hour_share
    concurrent users    ≈ peak-hour sessions × session length (s) / 3600        (Little's law)
    requests/s          = concurrent users × requests per active minute / 60

Run backwards, a sustainable requests/s gives the registered users a tier supports. Shares are
written as fractions (0.3) or percentages ("30%"); a share above 100 % is impossible (exit 2).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import Field, field_validator

from hmb_ops.settings.loader import StrictModel, load_section, load_yaml, parse_model

DEFAULT_TARGET_USERS = 100_000


def _share(value) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a share such as 0.3 or '30%'")
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text[:-1]) / 100.0 if text.endswith("%") else float(text)
        except ValueError:
            raise ValueError(f"'{value}' is not a share (write 0.3 or '30%')") from None
    elif isinstance(value, (int, float)):
        number = float(value)
    else:
        raise ValueError("expected a share such as 0.3 or '30%'")
    if not 0.0 < number <= 1.0:
        raise ValueError(f"share {value!r} is impossible: it must be above 0 and at most 100%")
    return number


class UsersModel(StrictModel):
    registered_users: int = Field(DEFAULT_TARGET_USERS, gt=0, description="target registered users")
    daily_active_share: float = Field(0.30, description="share of registered users active on a day")
    sessions_per_day: float = Field(1.0, gt=0, description="sessions per daily active user")
    peak_hour_share: float = Field(0.10, description="share of a day's sessions that start in the peak hour")
    session_minutes: float = Field(10.0, gt=0, le=24 * 60, description="average session length")
    requests_per_active_minute: float = Field(12.0, gt=0, description="API requests per user per minute in a session")
    # The short form: when given, these replace what the session figures above imply.
    requests_per_user_hour: float | None = Field(None, gt=0, le=1_000_000,
                                                 description="requests per registered user per hour, averaged "
                                                             "over the day")
    peak_to_average: float | None = Field(None, ge=1, le=24, description="peak-hour traffic / average traffic")

    @property
    def user_hour_rate(self) -> float:
        """Requests per registered user per hour, averaged over a day (stated or implied)."""
        if self.requests_per_user_hour is not None:
            return self.requests_per_user_hour
        return (self.daily_active_share * self.sessions_per_day * self.session_minutes
                * self.requests_per_active_minute / 24)

    @property
    def peak_factor(self) -> float:
        """Peak-hour rate over the day's average rate (stated or implied by the peak-hour share)."""
        return self.peak_to_average if self.peak_to_average is not None else self.peak_hour_share * 24

    @field_validator("daily_active_share", "peak_hour_share", mode="before")
    @classmethod
    def _shares(cls, value):
        return _share(value)


@dataclass(frozen=True)
class UsersEstimate:
    model: UsersModel
    rps: float
    target_users: int
    concurrent_users: float
    peak_hour_sessions: float
    daily_active_users: float
    registered_users: float
    target_rps: float
    headroom: float | None        # supported / target users (1.0 = exactly the target)

    def assumptions(self) -> list[str]:
        m = self.model
        stated = m.requests_per_user_hour is not None or m.peak_to_average is not None
        rate_from = "" if m.requests_per_user_hour is not None else "; implied by the session figures below"
        peak_from = "stated" if m.peak_to_average is not None else "implied: peak-hour share × 24"
        head = [f"requests per registered user per hour: {m.user_hour_rate:.3g} (averaged over a day{rate_from})",
                f"peak-to-average factor: {m.peak_factor:.3g}× ({peak_from})",
                "required req/s = registered users × requests per user per hour × peak factor / 3600"]
        if stated:
            target = f"target: {self.target_users:,} registered users → {self.target_rps:.1f} req/s at the peak hour"
            return [*head, target]
        return head + [
            f"daily active share: {m.daily_active_share * 100:g}% of registered users",
            f"sessions per active user per day: {m.sessions_per_day:g}",
            f"peak-hour share: {m.peak_hour_share * 100:g}% of a day's sessions start in the busiest hour",
            f"session length: {m.session_minutes:g} min",
            f"requests per active minute: {m.requests_per_active_minute:g}",
            "concurrent users ≈ peak-hour sessions × session length (s) / 3600",
            "requests/s = concurrent users × requests per active minute / 60",
            f"target: {self.target_users:,} registered users → {self.target_rps:.1f} req/s at the peak hour",
        ]

    def to_dict(self) -> dict:
        return {"rps": self.rps, "concurrent_users": self.concurrent_users,
                "peak_hour_sessions": self.peak_hour_sessions, "daily_active_users": self.daily_active_users,
                "registered_users": self.registered_users, "target_users": self.target_users,
                "target_rps": self.target_rps, "headroom": self.headroom,
                "model": self.model.model_dump(), "assumptions": self.assumptions()}


def required_rps(model: UsersModel, registered: float) -> float:
    # The same as the session chain (daily active × peak-hour share × session length × requests per
    # minute) when the short form is not given; one formula so both forms agree exactly.
    return registered * model.user_hour_rate * model.peak_factor / 3600


def users_supported(model: UsersModel, rps: float, target_users: int | None = None) -> UsersEstimate:
    target = int(target_users or model.registered_users)
    registered = rps * 3600 / (model.user_hour_rate * model.peak_factor)
    concurrent = rps * 60 / model.requests_per_active_minute
    peak_sessions = concurrent * 3600 / (model.session_minutes * 60)
    daily = registered * model.daily_active_share
    return UsersEstimate(model=model, rps=rps, target_users=target, concurrent_users=concurrent,
                         peak_hour_sessions=peak_sessions, daily_active_users=daily,
                         registered_users=registered, target_rps=required_rps(model, target),
                         headroom=registered / target if target else None)


def load_model(config_files: Iterable[str] = (), users_model_file: str | None = None) -> UsersModel:
    """hmb_ops/configs/users.yaml < --config files < --users-model FILE (its `users_model` section, or the
    whole file)."""
    model = load_section("users_model", UsersModel, user_files=tuple(config_files), shipped_name="users.yaml")
    if users_model_file:
        data, lines = load_yaml(users_model_file)
        prefix: tuple = ()
        if isinstance(data, dict) and "users_model" in data:
            data, prefix = data["users_model"], ("users_model",)
        if not isinstance(data, dict):
            data = {"": data}
        merged = {**model.model_dump(), **data}
        model = parse_model(merged, UsersModel, source=str(users_model_file), lines=lines, prefix=prefix)
    return model
