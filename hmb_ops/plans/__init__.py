"""Hosting plans (Render, Heroku, Railway, Fly.io, the seed's tiers): the shipped catalog
hmb_ops/configs/plans.yaml plus user files, validated with file:line errors, and a plan as a tier."""

from hmb_ops.plans.as_tier import plan_tier_entry, plans_config_file, tune_args_for_plan  # noqa: F401 - public
from hmb_ops.plans.catalog import Plan, get_plan, load_plans, parse_plan_names  # noqa: F401 - public names
