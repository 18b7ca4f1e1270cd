"""Readers of every NYU layout the pipeline accepts, each a :class:`~depthpipe.data.sources.base.FrameSource`.

- :mod:`~depthpipe.data.sources.base`: the frame and source types every reader shares;
- :mod:`~depthpipe.data.sources.nyu_mat`: the labeled ``.mat`` (official, a user's, or synthetic);
- :mod:`~depthpipe.data.sources.metadata`: ``splits.mat`` and ``classMapping40.mat``;
- :mod:`~depthpipe.data.sources.nyu50k`: DenseDepth's ``nyu_data.zip``;
- :mod:`~depthpipe.data.sources.nyu_test_zip`: DenseDepth's ``nyu_test.zip`` (the test set its evaluate.py scores);
- :mod:`~depthpipe.data.sources.nyu_h5_tree`: the sparse-to-dense ``nyudepthv2`` tree of ``.h5`` files;
- :mod:`~depthpipe.data.sources.raw_folder`: what ``data/raw`` holds per source, opened as one of the above.
"""
