"""From a user's own video to a dataset in the authors' on-disk format, with no downloaded models."""
