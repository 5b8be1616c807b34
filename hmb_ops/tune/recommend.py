"""Resources × tier × app profile → TunePlan. Pure: no I/O, no clock, same inputs → same plan.

Each value says how it was computed and which constraint bound it, so `tune --explain` can show
why a 2-CPU container gets 4 workers and not the host's 129.
"""

from __future__ import annotations

import math

from hmb_ops.errors import ConfigError, UsageError
from hmb_ops.resources import Resources, format_size, parse_cpus, parse_size
from hmb_ops.tune.budget import DB_USABLE_FRACTION, DEPLOY_COPIES, PG_DEFAULT_MAX_CONNECTIONS, connection_budget
from hmb_ops.tune.plan import APP, CPU, DB, DEFAULT, FLAG, MEMORY, PLATFORM, TIER, AppProfile, PlanValue, TunePlan
from hmb_ops.tune.pools import ASYNCPG, SQLALCHEMY, SQLALCHEMY_POOL_TIMEOUT_S, worker_pool
from hmb_ops.tune.tiers import Tier
from hmb_ops.tune.worker_classes import ASGI, SYNC, THREADS, ignored_settings, lookup

MiB = 1024 * 1024
# Until measured: a Flask + psycopg2 worker with a few threads sits well under this.
ESTIMATED_WORKER_MEMORY = 128 * MiB
ESTIMATED_MASTER_MEMORY = 48 * MiB
# Leave 10 % for the kernel, page cache and allocation spikes; an OOM kill costs more than a worker.
MEMORY_USABLE_FRACTION = 0.9
DEFAULT_THREADS = 4        # the seed's gthread setting
# A worker restart (Gunicorn max_requests) costs the reference app about 0.8 s of a CPU's work (a fresh
# import, new pool connections): at the seed's max_requests 1000 a 1-CPU plan restarted each worker
# every ~10 s and lost 13 % of its capacity (render-standard, 206 vs 236 req/s; 20 restarts per 120 s
# run; bench/capacity_repeat.py with the seed's value and with recycling off). Recycling is kept under
# 1 % of a worker's time at the ~120 req/s a reference-app worker serves at saturation.
RESTART_COST_S = 0.8
WORKER_RPS_AT_SATURATION = 120
RECYCLE_BUDGET = 0.01
MAX_REQUESTS = int(round(RESTART_COST_S * WORKER_RPS_AT_SATURATION / RECYCLE_BUDGET, -3))


def _cpu_workers(cpus: float, kind: str) -> tuple[int, str]:
    """(workers, formula) from CPUs alone; fractional CPUs count, the result is never 0.

    Sync-style workers: Gunicorn's (2 × cores) + 1, the +1 covering a worker blocked on I/O.
    gthread workers overlap I/O with their threads already, so the +1 only adds a process competing
    for the same cores: 2 × CPUs (which is also the seed's own ratio: 1 → 2, 2 → 4, 4 → 8). On this
    project's 2-CPU bench machine 4 × 4 beat 5 × 4 in every round (bench/tune_vs_defaults.py).
    ASGI workers (one event loop each) overlap every request's I/O wait inside the loop, so a worker
    is busy only while it runs Python code: CPU-bound, one per CPU. ⌈CPUs⌉ rather than ⌊CPUs⌋ because
    a fractional quota (1.5 CPUs) is used whole only by as many single-threaded loops as it rounds up to.
    """
    if kind == ASGI:
        n = max(1, math.ceil(cpus))
        return n, (f"⌈CPUs⌉ = ⌈{cpus:g}⌉ → {n} (one event loop per CPU: the loop already overlaps "
                   "I/O waits, not 2n+1)")
    if kind == THREADS:
        n = max(1, math.floor(2 * cpus))
        return n, f"2 × CPUs = 2 × {cpus:g} → {n} (threads already overlap I/O)"
    n = max(1, math.floor(2 * cpus + 1))
    return n, f"(2 × CPUs) + 1 = (2 × {cpus:g}) + 1 → {n}"


def recommend(resources: Resources, profile: AppProfile, *, tier: Tier | None = None,
              tier_name: str | None = None) -> TunePlan:
    # Every parser bounds these already; a Resources built some other way must not overflow
    # math.floor below (an OverflowError is a crash, exit 70, not a usage error): same parsers, same bounds.
    parse_cpus(resources.cpus)
    parse_size(resources.memory_bytes)
    items: list[PlanValue] = []
    warnings: list[str] = []

    def add(name, value, formula, binding, reason=""):
        items.append(PlanValue(name, value, formula, binding, reason))

    # Worker class and threads first: they decide the pool size, which decides the DB budget.
    if profile.worker_class:
        worker_class, wc_binding, wc_formula = profile.worker_class, FLAG, "--worker-class"
    elif tier is not None and tier.worker_class:
        worker_class, wc_binding, wc_formula = tier.worker_class, TIER, f"tier {tier_name}"
    else:
        worker_class, wc_binding, wc_formula = "gthread", APP, "WSGI app doing blocking database I/O"
    registered = lookup(worker_class)
    kind = registered.kind if registered else SYNC
    threaded, asgi = kind == THREADS, kind == ASGI
    if registered is not None:
        warnings.extend(registered.notes())

    if asgi:
        threads, th_binding, th_formula = 1, APP, "one event loop per worker, no request threads"
        for source, value in (("--threads", profile.threads),
                              (f"tier {tier_name}'s threads", tier.threads if tier is not None else None)):
            for line in ignored_settings(worker_class, {"threads": value}):
                warnings.append(f"{source}: {line}")
    elif not threaded:
        threads, th_binding, th_formula = 1, APP, f"{worker_class} workers do not use threads"
        if profile.threads and profile.threads > 1:
            warnings.append(f"--threads {profile.threads} ignored: only gthread workers use threads")
    elif profile.threads:
        threads, th_binding, th_formula = profile.threads, FLAG, "--threads"
    elif tier is not None and tier.threads:
        threads, th_binding, th_formula = tier.threads, TIER, f"tier {tier_name}"
    else:
        threads, th_binding, th_formula = DEFAULT_THREADS, DEFAULT, "seed's 4 threads per gthread worker"

    pool = worker_pool(profile.pool, asgi=asgi, threads=threads,
                       tier_pool_max=tier.db_pool_max if tier is not None else None,
                       tier_pool_min=tier.db_pool_min if tier is not None else None, tier_name=tier_name)
    pool_max, pool_min = pool.max, pool.min
    if threaded and pool_max < threads:
        warnings.append(f"pool max {pool_max} < {threads} threads: threads will queue for a connection "
                        f"(up to DB_POOL_TIMEOUT={profile.pool_timeout_s}s)")

    if profile.background_workers is not None:
        background, bg_binding, bg_formula = profile.background_workers, FLAG, "--background-workers"
    elif tier is not None:
        background, bg_binding, bg_formula = tier.background_workers, TIER, f"tier {tier_name}"
    else:
        background = min(8, max(2, round(2 * resources.cpus)))
        bg_binding, bg_formula = CPU, f"2 × CPUs within the seed's 2..8 = 2 × {resources.cpus:g}"

    # Memory budget.
    worker_mem = profile.worker_memory_bytes or ESTIMATED_WORKER_MEMORY
    worker_mem_source = profile.worker_memory_source or (
        f"estimate {format_size(ESTIMATED_WORKER_MEMORY)} (not measured; use --worker-memory or --measure-memory)")
    master_mem = profile.master_memory_bytes or ESTIMATED_MASTER_MEMORY
    usable = int(resources.memory_bytes * MEMORY_USABLE_FRACTION)
    mem_workers = (usable - master_mem) // worker_mem
    if mem_workers < 1:
        needed = math.ceil((master_mem + worker_mem) / MEMORY_USABLE_FRACTION)
        raise UsageError(
            f"memory {format_size(resources.memory_bytes)} is too small for even one worker: "
            f"needs at least {format_size(needed)} (master {format_size(master_mem)} + one worker "
            f"{format_size(worker_mem)}, using {MEMORY_USABLE_FRACTION:.0%} of memory)",
            hint="give more memory (--memory) or declare a smaller --worker-memory if the app really is smaller")

    # Database connection budget.
    max_conn = profile.max_connections
    conn_known = max_conn is not None
    conn_source = profile.max_connections_source if conn_known else (
        f"assumed PostgreSQL default {PG_DEFAULT_MAX_CONNECTIONS} "
        "(declare --max-connections or read it with --live-db)")
    connections = connection_budget(max_conn)
    max_conn, conn_budget = connections.max_connections, connections.budget
    db_workers = connections.max_workers(pool_max, background)

    def db_error(workers: int) -> ConfigError:
        fit_pool = connections.max_pool(workers, background)
        return ConfigError(
            f"database connections over budget: ({workers} workers × pool max {pool_max} + {background} "
            f"background) × {DEPLOY_COPIES} during deploys = {connections.peak(workers, pool_max, background)} > "
            f"{DB_USABLE_FRACTION:g} × max_connections {max_conn} = {conn_budget}",
            hint=(f"use a smaller pool (--pool-max {fit_pool})" if fit_pool >= 1 else "a smaller pool cannot fit")
            + f", fewer workers (at most {max(db_workers, 0)} with this pool), fewer background workers, "
              "or put PgBouncer in front (--pgbouncer writes a pgbouncer.ini sized from this plan)")

    cpu_workers, cpu_formula = _cpu_workers(resources.cpus, kind)
    if tier is not None and tier.workers:
        workers, w_binding = tier.workers, TIER
        w_formula = f"tier {tier_name} fixes {tier.workers}"
        if tier.workers > mem_workers:
            workers, w_binding = mem_workers, MEMORY
            w_formula = (f"tier {tier_name} fixes {tier.workers}, memory allows ({format_size(usable)} − "
                         f"{format_size(master_mem)}) ÷ {format_size(worker_mem)} = {mem_workers}")
            warnings.append(
                f"tier {tier_name}'s {tier.workers} workers would need "
                f"{format_size(master_mem + tier.workers * worker_mem)} "
                f"but the memory budget is {format_size(usable)}; using {mem_workers}")
        if not connections.fits(workers, pool_max, background):
            if conn_known:
                raise db_error(workers)
            warnings.append(
                f"database connections: ({workers} × {pool_max} + {background}) × {DEPLOY_COPIES} = "
                f"{connections.peak(workers, pool_max, background)} would exceed {DB_USABLE_FRACTION:g} × "
                f"{max_conn} = {conn_budget} on a server with PostgreSQL's default max_connections; "
                "declare the real value with --max-connections")
    else:
        if db_workers < 1:
            raise db_error(1)
        workers = min(cpu_workers, mem_workers, db_workers)
        if workers == cpu_workers:
            w_binding, w_formula = CPU, cpu_formula
        elif workers == mem_workers:
            w_binding = MEMORY
            w_formula = (f"({format_size(usable)} − {format_size(master_mem)}) ÷ {format_size(worker_mem)} = "
                         f"{mem_workers} (CPU rule gave {cpu_workers})")
        else:
            w_binding = DB
            w_formula = (f"(⌊{DB_USABLE_FRACTION:g} × {max_conn}⌋ ÷ {DEPLOY_COPIES} − {background}) ÷ {pool_max} = "
                         f"{db_workers} (CPU rule gave {cpu_workers})")
    add("workers", workers, w_formula, w_binding,
        "web worker processes (WEB_CONCURRENCY overrides at run time)")
    add("threads", threads, th_formula, th_binding,
        "not written: Gunicorn's threads do nothing for this worker class" if asgi
        else "request threads per worker (WEB_THREADS overrides)")
    add("worker_class", worker_class, wc_formula, wc_binding,
        "threads let one process overlap requests waiting on PostgreSQL" if threaded
        else "one asyncio event loop per worker overlaps requests waiting on PostgreSQL" if asgi else "")
    if asgi:
        add("concurrency", workers * pool_max,
            f"workers × pool max = {workers} × {pool_max}", DB,
            "requests that can hold a database connection at once; a request past its worker's pool waits "
            "for a connection (pool timeout) and then fails; the app's own limits (semaphores, uvicorn's "
            "limit_concurrency when run without Gunicorn) bound it further")

    statement_s = profile.statement_timeout_ms / 1000
    if tier is not None and tier.timeout:
        timeout, t_binding, t_formula = tier.timeout, TIER, f"tier {tier_name}"
    else:
        timeout = max(30, math.ceil(2 * statement_s))
        t_binding, t_formula = APP, f"2 × DB_STATEMENT_TIMEOUT ({statement_s:g} s)"
    add("timeout", timeout, t_formula, t_binding,
        "above the statement timeout so PostgreSQL cancels a slow query before Gunicorn kills the worker")
    graceful = min(timeout, 30)
    add("graceful_timeout", graceful, "min(timeout, 30)", PLATFORM,
        "PaaS platforms send SIGKILL about 30 s after SIGTERM; in-flight requests and queued background jobs "
        "drain inside it")
    add("keepalive", 5, "seed's value", DEFAULT,
        "behind a PaaS proxy; short so idle keep-alive connections do not hold gthread threads")
    add("max_requests", MAX_REQUESTS,
        f"restart cost {RESTART_COST_S:g} s × {WORKER_RPS_AT_SATURATION} req/s per worker ÷ "
        f"{RECYCLE_BUDGET:.0%} → {MAX_REQUESTS:,}", DEFAULT,
        "recycle workers to bound slow memory growth, rarely enough that restarts cost under 1 % of a "
        "worker's time (the seed's 1000 restarted each worker every ~10 s on a 1-CPU plan: 13 % of its capacity)")
    add("max_requests_jitter", MAX_REQUESTS // 10, "max_requests ÷ 10", DEFAULT,
        "so workers do not all restart at once")
    if profile.opens_db_at_import is False:
        add("preload_app", True, "app opens no pools or threads at import", APP,
            "share the imported code copy-on-write between workers")
    else:
        why = ("the app opens database pools at import" if profile.opens_db_at_import
               else "not known whether the app opens pools or threads at import")
        add("preload_app", False, why, APP,
            "a pool or thread created in the master before fork would be shared by every worker")
    if resources.dev_shm:
        add("worker_tmp_dir", "/dev/shm", "/dev/shm exists", PLATFORM,
            "the worker heartbeat file on a container's disk can block workers; tmpfs never does")
    else:
        add("worker_tmp_dir", None, "no /dev/shm", PLATFORM, "Gunicorn's default temporary directory")
    backlog = min(2048, resources.somaxconn) if resources.somaxconn else 2048
    add("backlog", backlog,
        f"min(2048, net.core.somaxconn {resources.somaxconn})" if resources.somaxconn else "Gunicorn default 2048",
        PLATFORM if resources.somaxconn and resources.somaxconn < 2048 else DEFAULT,
        "the kernel silently truncates a listen backlog above somaxconn")
    add("db_pool_min", pool_min, pool.min_formula, pool.min_binding,
        "DB_POOL_MIN: connections each worker opens up front")
    add("db_pool_max", pool_max, pool.max_formula, pool.max_binding,
        "DB_POOL_MAX: connections per worker process at most")
    if pool.library == SQLALCHEMY:
        # Formulas name the flag without starting with "--": regenerate_flags carries the pool flags.
        req = profile.pool
        add("db_pool_size", pool.pool_size,
            "declared with --pool-size" if req.pool_size is not None else "SQLAlchemy's default",
            FLAG if req.pool_size is not None else DEFAULT,
            "SQLALCHEMY_POOL_SIZE: pool_size, connections kept open once opened")
        add("db_max_overflow", pool.max_overflow,
            "declared with --max-overflow" if req.max_overflow is not None else "SQLAlchemy's default",
            FLAG if req.max_overflow is not None else DEFAULT,
            "SQLALCHEMY_MAX_OVERFLOW: max_overflow, opened past pool_size under load, closed when returned")
    # The reference apps (Flask and the FastAPI variant) read DB_POOL_TIMEOUT with their own default;
    # another SQLAlchemy app waits SQLAlchemy's pool_timeout unless it says otherwise.
    if pool.library == SQLALCHEMY and not profile.app.startswith("hmb_ops.refapp"):
        add("db_pool_timeout", SQLALCHEMY_POOL_TIMEOUT_S, "SQLAlchemy's default pool_timeout", DEFAULT,
            "DB_POOL_TIMEOUT: seconds a request waits for a free connection before it fails")
    elif pool.library == ASYNCPG and not profile.app.startswith("hmb_ops.refapp"):
        add("db_pool_timeout", profile.pool_timeout_s,
            "asyncpg's acquire() waits forever by default: the reference apps' bound", APP,
            "DB_POOL_TIMEOUT: pass it as pool.acquire(timeout=...) so a request fails instead of hanging")
    else:
        add("db_pool_timeout", profile.pool_timeout_s, "reference app default", APP,
            "DB_POOL_TIMEOUT: seconds a thread waits for a free connection")
    add("db_statement_timeout_ms", profile.statement_timeout_ms, "reference app default", APP,
        "DB_STATEMENT_TIMEOUT_MS")
    add("background_workers", background, bg_formula, bg_binding,
        "BACKGROUND_WORKERS: background job threads (fan-out, e-mail, push)")

    per_copy = workers * pool_max + background
    budgets = {
        "memory": {
            "memory_bytes": resources.memory_bytes,
            "usable_bytes": usable,
            "usable_fraction": MEMORY_USABLE_FRACTION,
            "master_bytes": master_mem,
            "worker_bytes": worker_mem,
            "worker_source": worker_mem_source,
            "planned_bytes": master_mem + workers * worker_mem,
            "max_workers": mem_workers,
            "ok": master_mem + workers * worker_mem <= usable,
        },
        "db_connections": {
            "max_connections": max_conn,
            "source": conn_source,
            "declared": conn_known,
            "budget": conn_budget,
            "per_release": per_copy,
            "peak_during_deploy": connections.peak(workers, pool_max, background),
            "formula": f"({workers} workers × pool max {pool_max} + {background} background) × {DEPLOY_COPIES} "
                       f"≤ {DB_USABLE_FRACTION:g} × max_connections",
            "max_workers": max(db_workers, 0),
            "ok": connections.fits(workers, pool_max, background),
        },
        "cpu": {"cpus": resources.cpus, "cpu_rule_workers": cpu_workers},
    }
    budgets["pool"] = pool.to_dict()
    return TunePlan(tier=tier_name, app=profile.app, resources=resources, items=tuple(items),
                    budgets=budgets, warnings=tuple(warnings), regenerate_flags=profile.pool_flags())
