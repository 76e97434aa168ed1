"""Expressions of faces in photos and streams: face detection, alignment and the `Recognizer`."""

from keras_fer.data.framing import FER2013_CROP, FaceCrop
from keras_fer.inference.alignment import aligned_crop
from keras_fer.inference.blazeface import BlazeFaceDetector
from keras_fer.inference.classifiers import Classifier, load_classifier
from keras_fer.inference.detection import DETECTORS, HaarFaceDetector, make_detector
from keras_fer.inference.faces import Detection
from keras_fer.inference.recognizer import Recognizer

__all__ = [
    "DETECTORS",
    "FER2013_CROP",
    "BlazeFaceDetector",
    "Classifier",
    "Detection",
    "FaceCrop",
    "HaarFaceDetector",
    "Recognizer",
    "aligned_crop",
    "load_classifier",
    "make_detector",
]
