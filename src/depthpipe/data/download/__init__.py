"""Getting the data: fetching files over HTTP (resumable, checksummed) and placing each source in
``data/raw``: the labeled ``.mat`` (official, a user's, or synthetic) and the raw-derived training sets."""
