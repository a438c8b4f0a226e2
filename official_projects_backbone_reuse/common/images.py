"""Opening image files with a documented size limit.

A few bytes of JPEG or PNG can declare gigabytes of pixels. Every command
that reads user images (the converters, detect) opens them here, so one
limit is checked from the file's header before any pixel is decoded.
"""
import contextlib
from typing import BinaryIO, Iterator, Union

from PIL import Image

# The largest image accepted, in pixels (8192 x 8192, 67 MP); COCO, LVIS and
# Pascal VOC images are under 1 MP.
MAX_IMAGE_PIXELS = 8192 * 8192


@contextlib.contextmanager
def open_image(source: Union[str, BinaryIO]) -> Iterator[Image.Image]:
  """`PIL.Image.open`, refusing an image over MAX_IMAGE_PIXELS with a
  ValueError that gives its size, before its pixels are decoded."""
  try:
    image = Image.open(source)
  except Image.DecompressionBombError as e:  # PIL's own, larger limit
    raise ValueError(f'{e}; the limit here is {MAX_IMAGE_PIXELS:,} '
                     'pixels') from e
  with image:
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS:
      raise ValueError(f'it declares {width}x{height} pixels, over the limit '
                       f'of {MAX_IMAGE_PIXELS:,}')
    yield image
