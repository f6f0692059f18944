"""Fraud detection: IEEE-CIS schema, featurizer, data generator, graph dataset and the RGCN."""
