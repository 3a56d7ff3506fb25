"""One module per model family; ``select_decoder`` picks one from the model's tensors."""
