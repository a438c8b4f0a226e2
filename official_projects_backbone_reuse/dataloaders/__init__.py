"""Input pipeline pieces Model Garden lacks: Copy-Paste augmentation."""
