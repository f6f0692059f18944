"""The fraud training pipeline's parts, one module per phase; ``cdk/fraud/training_pipeline.py``
assembles them into the one state machine."""
