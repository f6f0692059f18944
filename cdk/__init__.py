"""CDK constructs and stacks for Vigil. Only app.py reads context; everything here takes typed settings."""

import os

# This machine runs Node 20, which jsii marks end-of-life; its banner on every synth is noise.
# Import this package before aws_cdk (app.py and the tests do).
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
