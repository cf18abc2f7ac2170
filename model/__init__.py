"""Doodle Arena's drawing classifier: one rasterizer shared by training and serving, and a
small MLP trained on Google's Quick, Draw! data (CC BY 4.0).

    from model import load_classifier
    clf = load_classifier()            # the shipped artifact
    probs = clf.predict(drawings)      # (len(drawings), len(clf.labels)), rows sum to 1
    belief = clf.new_belief()          # one per player: reset() on clear / a new drawing
    row = belief.update(probs[0], t_ms)  # the live belief after this update (t: drawing time)
    clf.recognizes(row, "cat")         # the game's calibrated recognition rule
"""

from model.artifact import ATTRIBUTION, DEFAULT_ARTIFACT, ArtifactError
from model.belief import Belief, BeliefFilter, update_beliefs
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
from model.recognition import RecognitionRule

__all__ = [
    "ATTRIBUTION",
    "DEFAULT_ARTIFACT",
    "IMAGE_SIZE",
    "RASTER_VERSION",
    "ArtifactError",
    "Belief",
    "BeliefFilter",
    "Classifier",
    "DrawingError",
    "IncrementalRaster",
    "RecognitionRule",
    "drawing_to_image",
    "drawings_to_images",
    "load_classifier",
    "normalize",
    "rasterize",
    "update_beliefs",
]
