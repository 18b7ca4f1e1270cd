"""Pictures people look at: one colour convention (:mod:`~depthpipe.viz.style`), depth and error maps
(:mod:`~depthpipe.viz.maps`) and charts with units (:mod:`~depthpipe.viz.charts`)."""
