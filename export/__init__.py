"""Desktop side: Keras models to quantized TFLite files with standard metadata (needs the
``train`` extra)."""
