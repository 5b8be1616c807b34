"""Say when "users supported" is extrapolated far beyond the data the runs measured.

A database seeded with 1,000 users answers the feed and search queries from small tables; a
figure of 331,000 users supported says nothing about how those queries behave at 331,000. When
the claim is more than FAR_BELOW_FACTOR × the seeded users, the report says so and names the next
scale with the command that seeds it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hmb_ops.documents.capacity import DataScale

FAR_BELOW_FACTOR = 10


def data_scale(scale: str | None, claimed_users: int) -> DataScale:
    from hmb_ops.db.seed import SCALES
    from hmb_ops.documents.capacity import DataScale

    if scale is None:
        return DataScale(scale="unknown", claimed_users=claimed_users or None,
                         message=f"data scale unknown (the results do not record it): users supported (up to "
                                 f"{claimed_users:,}) is extrapolated from whatever data those runs had; name it "
                                 "with --seed-scale")

    info = SCALES.get(scale)
    seeded = info.users if info is not None else None
    if seeded is None or claimed_users <= FAR_BELOW_FACTOR * seeded:
        return DataScale(scale=scale, seeded_users=seeded, claimed_users=claimed_users or None)
    bigger = [name for name, s in sorted(SCALES.items(), key=lambda kv: kv[1].users) if s.users > seeded]
    # The smallest scale that covers the claim, else the largest there is.
    larger = next((n for n in bigger if SCALES[n].users * FAR_BELOW_FACTOR >= claimed_users), bigger[-1] if bigger
                  else None)
    msg = (f"data scale: measured on '{scale}' data ({seeded:,} seeded users) but up to {claimed_users:,} users are "
           f"claimed ({claimed_users / seeded:.0f}× the data): the queries were timed on far smaller tables")
    command = None
    if larger:
        command = f"hmb-ops db seed --scale {larger}"
        msg += (f"; measure on '{larger}' data ({SCALES[larger].users:,} users): run `{command}` once, then "
                f"rerun with --seed-scale {larger}")
    return DataScale(scale=scale, seeded_users=seeded, claimed_users=claimed_users, far_below=True, message=msg,
                     larger_scale=larger, seed_command=command)
