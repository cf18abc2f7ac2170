from model.raster import *  # noqa
