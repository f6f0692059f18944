#!/usr/bin/env python3
"""Vigil CDK app: read context → build one stack per system → attach cdk-nag → synth."""

from aws_cdk import App

import cdk  # noqa: F401  (first: quiets jsii's Node-version banner before aws_cdk loads)
from cdk.app_builder import build_app

app = App()
build_app(app)
app.synth()
