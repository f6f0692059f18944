"""CDK constructs of the Fraud detection (RGCN on Neptune) system."""
