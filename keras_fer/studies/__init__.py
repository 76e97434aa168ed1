"""Study grids: variants x label-noise levels x seeds of ordinary training runs, their figures and paired tests."""

from keras_fer.studies.runner import read_predictions, read_results, run_study
from keras_fer.studies.study import Cell, Study, load_study, shipped_studies
from keras_fer.studies.summary import write_summary

__all__ = ["Cell", "Study", "load_study", "read_predictions", "read_results", "run_study", "shipped_studies", "write_summary"]
