"""How a kernel is launched and tuned: the forward and backward launchers (which kernel and
form a call takes, its grid and arguments), the config spaces (``configs``), the candidates
per problem (``tuning``), the autotuner with its caches and the cost model's ranking
(``autotune``), and the CUDA-event timer it uses (``timing``). Device code is in
``igc_triton.kernels``."""
