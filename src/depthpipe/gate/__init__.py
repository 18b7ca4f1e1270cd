"""The merge gate: per-frame evidence, paired bootstrap, verdicts, the report, seed studies and promotion."""
