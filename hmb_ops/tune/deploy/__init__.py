"""tune's deploy files: reading every kind a project uses (`sources`, one module per file kind) and
writing tune's own files beside the user's (`writer`).

`hmb_ops.tune.deploy.prepare/apply/...` stay importable from here: the writer is the entry point
`tune --out` and the api use.
"""

from hmb_ops.tune.deploy.writer import (  # noqa: F401  (re-exported)
    MERGE_CONF,
    MODES,
    DeployPlan,
    ExistingWeb,
    FileWrite,
    MergeReport,
    Override,
    WebCommand,
    apply,
    backup_name,
    existing_web,
    mask_secrets,
    merge_env,
    merge_procfile,
    merge_render_yaml,
    parse_web_command,
    prepare,
    refusal_error,
)
