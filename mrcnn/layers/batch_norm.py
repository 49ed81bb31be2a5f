"""Batch normalisation that can be frozen in inference mode (small detection batches)."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="mrcnn")
class BatchNorm(keras.layers.BatchNormalization):
    """``BatchNormalization`` whose training mode is fixed by ``train_bn``.

    ``train_bn=False`` always normalises with the moving statistics (the classic
    Mask R-CNN default: batches of 1-2 images give poor batch statistics);
    ``train_bn=True`` follows Keras' ``training`` flag; ``None`` is the same as ``True``.
    """

    def __init__(self, train_bn: bool | None = False, **kwargs):
        super().__init__(**kwargs)
        self.train_bn = train_bn

    def call(self, inputs, training=None):
        if self.train_bn is False:
            training = False
        return super().call(inputs, training=training)

    def get_config(self):
        return {**super().get_config(), "train_bn": self.train_bn}
