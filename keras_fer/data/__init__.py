"""Datasets as `FERDataset`s: FER2013, FER+, RAF-DB, AffectNet, image folders, synthetic faces; prepared shards; audits."""

from keras_fer.data import augment, synthetic
from keras_fer.data.affectnet import load_affectnet
from keras_fer.data.audit import audit
from keras_fer.data.classes import EXPRESSIONS, EXPRESSIONS_WITH_CONTEMPT
from keras_fer.data.dataset import FERDataset
from keras_fer.data.fer2013 import load_fer2013
from keras_fer.data.ferplus import load_ferplus
from keras_fer.data.folders import load_image_folder
from keras_fer.data.images import DataError
from keras_fer.data.prepared import PreparedDataset, load_prepared, prepare
from keras_fer.data.rafdb import load_rafdb
from keras_fer.data.registry import DATASETS, load_split

__all__ = [
    "DATASETS",
    "DataError",
    "EXPRESSIONS",
    "EXPRESSIONS_WITH_CONTEMPT",
    "FERDataset",
    "PreparedDataset",
    "audit",
    "augment",
    "load_affectnet",
    "load_fer2013",
    "load_ferplus",
    "load_image_folder",
    "load_prepared",
    "load_rafdb",
    "load_split",
    "prepare",
    "synthetic",
]
