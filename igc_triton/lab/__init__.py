"""The benchmark lab: suites, providers, the harness that checks then times them, reports,
the paper's tables, tuning, training, verify, selfcheck, merge, the sm_90 compile check and
``inspect`` (machine code and a static cost model without a GPU).

The lab uses the library (``igc_triton``: functional API, ops, modules, models, the launch
layer); the library never imports the lab. ``igc_triton.cli`` (``igc-lab``) is the one entry
point to both.
"""
