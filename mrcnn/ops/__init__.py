"""Pure TensorFlow functions on boxes, anchors and masks (each has a numpy twin in tests),
and the image-meta layout (:mod:`mrcnn.ops.image_meta`)."""
