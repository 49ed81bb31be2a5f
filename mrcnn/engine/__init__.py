"""The training engine: the trainer, its tf.data input pipeline, the multi-worker loop
and training checkpoints. It drives a model through its public methods and imports none."""
