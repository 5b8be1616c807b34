"""What `hmb-ops capacity` does, as one call: resolve the inputs, run or read, analyse, report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hmb_ops.errors import UsageError
from hmb_ops.gates.slo import shipped_slo

from . import knee as kn
from .runner import CapacityRequest, analyse, default_out_dir, finish, parse_steps, parse_tiers, run_capacity
from .users import load_model


def capacity(*, tiers: str, slo: tuple[str, ...], users_model: str | None, target_users: int | None,
             profile: str, steps: str | None, step_seconds: float | None, seed_scale: str,
             results_files: tuple[str, ...], out_dir: str | None, state_dir: str, database_url: str | None,
             config_files: tuple[str, ...], progress: Callable[[str], None] | None = None,
             scenario: str | None = None, locustfile: str | None = None):
    expressions = tuple(slo) or shipped_slo(config_files).checks
    if not expressions:
        raise UsageError("no SLO: give --slo 'p95<100ms' or a 'thresholds: checks:' list in a --config file "
                         "(the shipped hmb_ops/configs/slo.yaml and --config files leave it empty)")
    slo_t = kn.slo_for_steps(expressions)
    model = load_model(config_files, users_model)
    stages = parse_steps(steps, step_seconds)
    if results_files:
        return _from_results(results_files, slo_t, model, target_users, out_dir, state_dir, seed_scale)
    req = CapacityRequest(tiers=tuple(parse_tiers(tiers)), slo=expressions, model=model, target_users=target_users,
                          profile=profile, stages=stages, out_dir=out_dir, state_dir=state_dir,
                          database_url=database_url, config_files=tuple(config_files), seed_scale=seed_scale,
                          scenario=scenario, locustfile=locustfile)
    return run_capacity(req, progress=progress)


def _from_results(files, slo_t, model, target_users, out_dir, state_dir, seed_scale):
    from hmb_ops.documents import read_results

    caps = []
    docs = [(f, read_results(f)) for f in files]
    for f, doc in docs:
        if not doc.steps:
            raise UsageError(f"{f}: these results have no load steps (profile '{doc.profile}')",
                             hint="capacity needs a stepped run, e.g. hmb-ops loadtest --profile step")
    names = [doc.tier or Path(f).parent.name for f, doc in docs]
    for i, name in enumerate(names):
        if names.count(name) > 1:
            names[i] = f"{name} ({Path(docs[i][0]).parent.name})"
    for (f, doc), name in zip(docs, names, strict=True):
        caps.append(analyse(doc, slo_t, model, target_users=target_users, tier=name, results_path=str(f)))
    out = Path(out_dir) if out_dir else default_out_dir(state_dir)
    out.mkdir(parents=True, exist_ok=True)
    # The machine that measured is not necessarily this one: say only what the files say.
    conds = {"source": "existing results", "files": [str(f) for f, _ in docs],
             "profile": docs[0][1].profile, "measured_at": docs[0][1].started_at}
    return finish(caps, slo_t, model, target_users, out, conds)
