"""Heads: the region proposal network, the box/class head and the mask heads."""
