"""Hardware-facing pieces: the TFLite runtime import and accelerator delegates."""
