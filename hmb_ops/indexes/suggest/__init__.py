"""`hmb-ops indexes suggest`: indexes the real workload is missing, kept only when the planner proves them.

workload.py reads the statements (pg_stat_statements or a file), conditions.py walks each generic
plan into the columns it filters, joins and sorts on, candidates.py turns those into candidate
indexes, whatif_hypo.py / whatif_copy.py ask the planner about them (hypothetical indexes, or real
ones on a scratch copy that never touches the user's tables), service.py decides with dexter's
rule (the plan uses it and the cost at least halves) and spec_out.py writes the survivors as spec
entries. model.py holds the typed result the CLI formats.
"""
