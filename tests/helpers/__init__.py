"""What the tests share: paths, real and synthetic NYU frames, a local HTTP server, whole-project runs."""
