"""Benchmark suites (TOML data files), installed as ``igc_triton.suite_data``; read them with
``igc_triton.lab.suites.load(name)``."""
