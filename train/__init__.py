"""Desktop training (Keras 3 on TensorFlow): recipes, data readers and the shipped models.

Imported only with the ``train`` extra installed; the device runtime never imports it.
"""
