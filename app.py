#!/usr/bin/env python3
"""Vigil CDK app: read context → build one stack per system → attach cdk-nag → synth."""

import os

# This machine runs Node 20, which jsii marks end-of-life; its banner on every synth is noise.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from aws_cdk import App

from cdk.app_builder import build_app

app = App()
build_app(app)
app.synth()
