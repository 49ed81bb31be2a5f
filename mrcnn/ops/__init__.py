"""Pure TensorFlow functions on boxes, anchors and masks (each has a numpy twin in tests)."""
