"""Models built from the CNF: the VAE with an amortised FFJORD posterior (and its baselines)."""
