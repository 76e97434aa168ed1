"""Placeholder."""
def write_summary(study, results_dir):
    raise NotImplementedError
