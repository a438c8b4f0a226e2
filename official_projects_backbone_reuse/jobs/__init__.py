"""The jobs: the paper's pipelines end to end on the small world.

Each step is a command a user would run."""
