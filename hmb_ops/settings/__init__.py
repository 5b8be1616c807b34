"""Loading configs/*.yaml and user files into typed models, with file:line errors."""

from hmb_ops.settings.loader import (  # noqa: F401
    StrictModel,
    load_section,
    load_yaml,
    parse_model,
    shipped_config_dir,
)
