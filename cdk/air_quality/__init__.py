"""CDK constructs of the Air-quality anomaly detection system."""
