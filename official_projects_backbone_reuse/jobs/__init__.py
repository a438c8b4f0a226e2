"""The jobs: the paper's pipelines end to end on the small world, each step a
command a user would run."""
