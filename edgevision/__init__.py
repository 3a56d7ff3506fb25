"""edgevision: real-time video recognition with quantized TFLite models on edge devices.

The runtime package never imports TensorFlow; training and export live in ``train`` and
``export`` and need the ``train`` extra.
"""

__version__ = "0.1.0"
