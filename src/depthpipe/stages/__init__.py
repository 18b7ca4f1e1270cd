"""One module per DVC stage: the work behind each thin script of ``pipeline/``, as ``main(params, workspace)``.

:mod:`~depthpipe.stages.runner` runs one (params from the workspace, one-line errors); each stage reads only
the params sections ``dvc.yaml`` declares for it.
"""
