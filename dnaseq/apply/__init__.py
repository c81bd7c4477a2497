"""Stage 7, applying a trained model through the inference engine: predict, evaluate and compare,
score-variants (scores, writers, run report) and in-silico mutagenesis."""
