"""Model pieces: the reuse policy and the detector builder."""
