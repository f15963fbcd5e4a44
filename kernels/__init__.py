"""Device code of igc-triton: ``@triton.jit`` kernels and their config spaces only.

This folder is installed as ``igc_triton.kernels`` (see ``pyproject.toml``); import it under
that name. There is deliberately no top-level ``kernels`` package: that name belongs to
another PyPI project.
"""
