"""Reports: parameters, resources, per-class statistics."""
