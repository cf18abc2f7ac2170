"""Doodle Arena's drawing classifier: one rasterizer shared by training and serving, and a
small MLP trained on Google's Quick, Draw! data (CC BY 4.0).

    from model import load_classifier
    clf = load_classifier()            # the shipped artifact
    probs = clf.predict(drawings)      # (len(drawings), len(clf.labels)), rows sum to 1
"""

from model.artifact import ATTRIBUTION, DEFAULT_ARTIFACT, ArtifactError
from model.classifier import Classifier, load_classifier
from model.incremental import IncrementalRaster
from model.raster import (
    IMAGE_SIZE,
    RASTER_VERSION,
    DrawingError,
    drawing_to_image,
    drawings_to_images,
    normalize,
    rasterize,
)

__all__ = [
    "ATTRIBUTION",
    "DEFAULT_ARTIFACT",
    "IMAGE_SIZE",
    "RASTER_VERSION",
    "ArtifactError",
    "Classifier",
    "DrawingError",
    "IncrementalRaster",
    "drawing_to_image",
    "drawings_to_images",
    "load_classifier",
    "normalize",
    "rasterize",
]
