"""Training and evaluation: configs, `model.fit` runs, reports."""

from keras_fer.training.batch_norm import RecalibrateBatchNorm, recalibrate_batch_norm
from keras_fer.training.config import Config, config_from_dict, config_to_dict, load_config, preset_names, write_config
from keras_fer.training.distillation import distillation_targets
from keras_fer.training.fit import fit, save_for_inference
from keras_fer.training.metrics import BalancedAccuracy, MacroF1
from keras_fer.training.optimizers import make_optimizer
from keras_fer.training.report import write_report
from keras_fer.training.run import build_model, distribution_strategy, train
from keras_fer.training.run_directory import prepare_run_directory
from keras_fer.training.scoring import classification_report, confusion_matrix, per_class_recall
from keras_fer.training.splits import load_splits

__all__ = [
    "BalancedAccuracy",
    "Config",
    "MacroF1",
    "RecalibrateBatchNorm",
    "build_model",
    "classification_report",
    "config_from_dict",
    "config_to_dict",
    "confusion_matrix",
    "distillation_targets",
    "distribution_strategy",
    "fit",
    "load_config",
    "load_splits",
    "make_optimizer",
    "per_class_recall",
    "prepare_run_directory",
    "preset_names",
    "recalibrate_batch_norm",
    "save_for_inference",
    "train",
    "write_config",
    "write_report",
]
