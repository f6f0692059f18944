"""CDK constructs of the Toxicity classification system."""
