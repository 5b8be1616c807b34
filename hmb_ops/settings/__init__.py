"""Loading the shipped hmb_ops/configs/*.yaml (package data) and user files into typed models, with file:line errors."""

from hmb_ops.settings.loader import (  # noqa: F401 - the package's public names
    StrictModel,
    load_section,
    load_shipped_yaml,
    load_yaml,
    load_yaml_text,
    parse_model,
)
from hmb_ops.settings.shipped import shipped_display, shipped_names, shipped_text  # noqa: F401 - public names
