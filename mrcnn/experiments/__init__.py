"""Experiments over trained heads: one run (train + load), the head comparison runner
and the config overrides its command line takes."""
