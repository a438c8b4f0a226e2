# Copyright 2026 The TensorFlow Authors. All Rights Reserved.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""Reading user images: a documented size limit, and one rule per kind.

A few bytes of JPEG or PNG can declare gigabytes of pixels. Every command
that reads user images (the converters, detect) opens them here, so one
limit is checked from the file's header before any pixel is decoded.

What is stored and what is shown, for each kind of image real datasets hold
(the one rule; the converters store `stored_jpeg`, detect feeds the model
`read_rgb`, and both go through `to_rgb`):
  * The format is the file's content, never its extension: a PNG named .jpg
    (ImageNet holds one) is a PNG, a JPEG named .png a JPEG.
  * A JPEG of 8-bit RGB or grey pixels, baseline or progressive, is stored
    byte for byte: TensorFlow's decoders (`tf.io.decode_image(channels=3)`
    in Model Garden's TfExampleDecoder, `decode_and_crop_jpeg` in its
    classification parser) give the pixels Pillow gives, up to rounding.
  * Anything else Pillow reads is decoded to 8-bit RGB (`to_rgb`) and stored
    as a JPEG at quality 95: CMYK JPEG (TensorFlow 2.20 does decode Adobe
    CMYK as Pillow does, but ImageNet's converters turned them into RGB and
    other JPEG readers differ), PNG of any mode (the classification parser
    reads JPEG only), GIF (its first frame), BMP, TIFF, WebP, a camera's
    MPO. Alpha is dropped, as `decode_image(channels=3)` drops it; 16-bit
    samples become value >> 8, as TensorFlow's `convert_image_dtype` makes
    them (Pillow's own `convert` would clip them at 255: a white image).
  * 32-bit integer or floating-point pixels (TIFF modes I and F) are
    refused: how they map to 8 bits is not known.
  * EXIF orientation is never applied: pixels and boxes stay in the stored
    layout, the one COCO's boxes refer to (pycocotools and TensorFlow's
    decoders ignore the tag; Detectron2's `read_image` applies it, and its
    users with COCO-style sets asked for a way not to). The detection
    converters refuse an annotated size that is the rotated view of the
    stored one, saying so; detect says when it ignores a tag.
Errors are ValueErrors whose message completes "<file>: ...".
"""
import contextlib
import dataclasses
import io
from typing import BinaryIO, Iterator, Tuple, Union

import numpy as np
from PIL import Image

# The largest image accepted, in pixels (8192 x 8192, 67 MP); COCO, LVIS and
# Pascal VOC images are under 1 MP.
MAX_IMAGE_PIXELS = 8192 * 8192
JPEG_QUALITY = 95
EXIF_ORIENTATION = 0x0112  # the EXIF tag; 1 is "as stored"
# Orientations that turn the picture by 90 degrees (width and height swap).
SWAPPING_ORIENTATIONS = (5, 6, 7, 8)
_KEPT_JPEG_MODES = ('RGB', 'L')
_SIXTEEN_BIT_MODES = ('I;16', 'I;16L', 'I;16B', 'I;16N')
_REFUSED_MODES = {'I': '32-bit integer pixels (mode I)',
                  'F': '32-bit floating-point pixels (mode F)'}


@contextlib.contextmanager
def open_image(source: Union[str, BinaryIO]) -> Iterator[Image.Image]:
  """Opens an image file, refusing one too large or no image.

  `PIL.Image.open`, refusing an image over MAX_IMAGE_PIXELS with a
  ValueError that gives its size, before its pixels are decoded, and a file
  that is no image with one that says so."""
  try:
    image = Image.open(source)
  except Image.DecompressionBombError as e:  # PIL's own, larger limit
    raise ValueError(f'{e}; the limit here is {MAX_IMAGE_PIXELS:,} '
                     'pixels') from e
  except Image.UnidentifiedImageError as e:
    raise ValueError('its content is no image format Pillow reads (JPEG, '
                     'PNG, GIF, BMP, TIFF, WebP, ...; the extension does not '
                     'decide)') from e
  with image:
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS:
      raise ValueError(f'it declares {width}x{height} pixels, over the limit '
                       f'of {MAX_IMAGE_PIXELS:,}')
    yield image


def _reason(error: Exception) -> str:
  """Says on one line why Pillow cannot read a file.

  Pillow's message of a file it cannot read, on one line; a truncated
  file said plainly (Pillow words it differently in the header, 'Truncated
  File Read' and a libjpeg state, and in the pixels)."""
  text = ' '.join(str(error).split())
  if 'truncated' in text.lower():
    return 'the file is truncated: it ends before its pixels do'
  return text


def orientation(image: Image.Image) -> int:
  """The image's EXIF orientation (1, as stored, when it has none)."""
  try:
    value = image.getexif().get(EXIF_ORIENTATION, 1)
  except Exception:  # pylint: disable=broad-except
    return 1  # unreadable EXIF: nothing to ignore
  return value if isinstance(value, int) else 1


def to_rgb(image: Image.Image) -> Image.Image:
  """Converts a loaded image to 8-bit RGB.

  The loaded image as 8-bit RGB in its stored layout (module docstring:
  16-bit samples >> 8, alpha dropped; modes I and F refused)."""
  if image.mode in _SIXTEEN_BIT_MODES:
    grey = (np.asarray(image).astype(np.uint16) >> 8).astype(np.uint8)
    return Image.fromarray(grey).convert('RGB')
  if image.mode in _REFUSED_MODES:
    raise ValueError(f'its {_REFUSED_MODES[image.mode]} have no known scale '
                     'to 8 bits; expected 8- or 16-bit samples')
  return image.convert('RGB')


@dataclasses.dataclass(frozen=True)
class StoredImage:
  """What a converter stores of an image file.

  JPEG bytes (the file's own, or the re-encoded RGB picture) and the
  stored layout's size."""
  encoded: bytes
  width: int
  height: int
  orientation: int  # EXIF, ignored (see the module docstring)
  kept: bool  # the file's own bytes


def stored_jpeg(content: bytes) -> StoredImage:
  """Returns the JPEG to store for an image file's `content`.

  See the module docstring. ValueError when it cannot be read."""
  try:
    with open_image(io.BytesIO(content)) as image:
      width, height = image.size
      kept = image.format == 'JPEG' and image.mode in _KEPT_JPEG_MODES
      if kept:  # its pixels are only checked: decode them at 1/8 scale,
        # which still reads every byte of the entropy-coded data (a
        # truncated or broken file fails as in a full decode), at half
        # the work.
        image.draft(image.mode, (max(1, width // 8), max(1, height // 8)))
      image.load()
      if not kept:
        buffer = io.BytesIO()
        to_rgb(image).save(buffer, format='JPEG', quality=JPEG_QUALITY)
      return StoredImage(content if kept else buffer.getvalue(), width,
                         height, orientation(image), kept)
  except (OSError, SyntaxError, ValueError) as e:  # Pillow raises all three
    raise ValueError(_reason(e)) from e


def read_rgb(path: str) -> Tuple[np.ndarray, int]:
  """Reads an image file's RGB pixels and EXIF orientation.

  An image file's uint8 RGB [height, width, 3] pixels in the stored
  layout and its EXIF orientation (ignored); ValueError when it cannot be
  read."""
  try:
    with open_image(path) as image:
      image.load()
      return np.asarray(to_rgb(image)), orientation(image)
  except (OSError, SyntaxError, ValueError) as e:
    raise ValueError(_reason(e)) from e
