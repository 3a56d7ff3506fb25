"""Loading a TFLite model and running frames through it."""
