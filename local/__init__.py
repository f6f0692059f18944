"""Offline Vigil: ``standins/`` (real engines on 127.0.0.1 in place of AWS) and ``demos/``."""
