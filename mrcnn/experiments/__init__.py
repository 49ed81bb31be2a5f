"""Experiments over trained heads: one run (train + load), the head comparison runner,
the config overrides its command line takes, and levers (changes to a setting judged
against it)."""
