"""Toxicity classification: data preparation, subword embeddings, BiLSTM and transformer
classifiers, losses, metrics, serving and moderation logic (one definition of each)."""
