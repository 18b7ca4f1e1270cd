"""Everything MLflow: the store, the pipeline's runs, provenance tags, the registry and the served model.

This package is the only place that imports ``mlflow`` (``tests/unit/test_architecture.py`` checks it); the
rest of depthpipe calls these modules. :mod:`~depthpipe.tracking.store` and
:mod:`~depthpipe.tracking.provenance` load without MLflow, so a stage can check its params and reach its store
before paying for MLflow's import.
"""
