"""The YAML experiments, shipped with the package as
`official_projects_backbone_reuse.experiments` (see `configs/recipes.py`)."""
