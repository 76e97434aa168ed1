"""Expressions of faces in photos: face detection and the `Recognizer`."""

from keras_fer.inference.classifiers import Classifier, load_classifier
from keras_fer.inference.detection import HaarFaceDetector
from keras_fer.inference.recognizer import Recognizer

__all__ = ["Classifier", "HaarFaceDetector", "Recognizer", "load_classifier"]
