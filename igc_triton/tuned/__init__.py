"""Tuned launch configs shipped with the package, one JSON file per GPU name
(``igc_triton.launch.autotune.slug(torch.cuda.get_device_name())``), written by
``igc-lab tune --suite NAME --ship``. Used in ``IGC_TRITON_AUTOTUNE=cached`` mode (the
default) for problems the user's own tuning cache does not hold.

No GPU has tuned these kernels yet: this package ships no file until one does.
"""
