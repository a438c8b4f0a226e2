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

"""Drawing the procedural world: 24 object classes on cluttered backgrounds.

A class is a shape (circle, square, triangle, star, cross, crescent) times an
appearance (red solid, green striped, blue dotted, yellow checkered): a
classifier must see both the outline and the colour/texture. The large
upstream label space (`LARGE_CLASSES`, the "JFT" of this world) crosses 10
shapes, 6 colours and 4 textures: 240 finer classes that include the 24. Objects are
polygons; the pixels painted for an object are exactly the pycocotools
rasterisation of its polygon, so the COCO polygon masks and areas are exact.
Backgrounds are smooth colour gradients with cloudy low-frequency noise and
desaturated distractor strokes, rings and blobs that belong to no class.

Used by `make_procedural_dataset` (run `backbone-reuse-make-dataset --help`);
not a command of its own.
"""

import dataclasses
import io
from typing import List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw
from pycocotools import mask as mask_utils

SHAPES = ('circle', 'square', 'triangle', 'star', 'cross', 'crescent')
COLOURS = {'red': (215, 40, 40), 'green': (40, 175, 65),
           'blue': (45, 85, 220), 'yellow': (240, 200, 30),
           'orange': (245, 130, 25), 'purple': (145, 55, 200)}
# The world's (colour, texture) pairs
APPEARANCES = (('red', 'solid'), ('green', 'striped'), ('blue', 'dotted'),
               ('yellow', 'checkered'))
LARGE_SHAPES = SHAPES + ('pentagon', 'hexagon', 'diamond', 'arrow')
TEXTURES = ('solid', 'striped', 'dotted', 'checkered')
JPEG_QUALITY = 95


@dataclasses.dataclass(frozen=True)
class ObjectClass:
  """A class of the world (or of the large label space); `name` is `<colour>_<texture>_<shape>`."""
  shape: str
  colour: str
  rgb: Tuple[int, int, int]
  texture: str

  @property
  def name(self) -> str:
    return f'{self.colour}_{self.texture}_{self.shape}'

  @property
  def definition(self) -> str:
    return f'a {self.texture} {self.colour} {self.shape}'


CLASSES = tuple(ObjectClass(shape, colour, COLOURS[colour], texture)
                for shape in SHAPES for colour, texture in APPEARANCES)
LARGE_CLASSES = tuple(ObjectClass(shape, colour, rgb, texture)
                      for shape in LARGE_SHAPES
                      for colour, rgb in COLOURS.items()
                      for texture in TEXTURES)


def _regular(n: int, phase: float = np.pi / 2, radius=1.0) -> np.ndarray:
  angles = phase + 2 * np.pi * np.arange(n) / n
  return np.stack([np.cos(angles), -np.sin(angles)], axis=1) * np.reshape(
      radius, (-1, 1))


def _crescent() -> np.ndarray:
  """Unit disc minus a disc of radius 0.8 centred at (0.5, 0)."""
  d, r = 0.5, 0.8
  x = (1 - r * r + d * d) / (2 * d)
  y = np.sqrt(1 - x * x)
  outer = np.linspace(np.arctan2(y, x), 2 * np.pi - np.arctan2(y, x), 28)
  inner_edge = np.arctan2(y, x - d)
  inner = np.linspace(2 * np.pi - inner_edge, inner_edge, 20)[1:-1]
  return np.concatenate([
      np.stack([np.cos(outer), np.sin(outer)], axis=1),
      np.stack([d + r * np.cos(inner), r * np.sin(inner)], axis=1)])


def _unit_polygon(shape: str) -> np.ndarray:
  """Vertices (K, 2) of `shape`, centred and scaled to span [-1, 1]."""
  if shape == 'circle':
    points = _regular(40)
  elif shape == 'square':
    points = _regular(4, np.pi / 4)
  elif shape == 'triangle':
    points = _regular(3)
  elif shape == 'star':
    points = _regular(10, radius=np.tile([1.0, 0.42], 5))
  elif shape in ('pentagon', 'hexagon'):
    points = _regular(5 if shape == 'pentagon' else 6)
  elif shape == 'diamond':
    points = _regular(4) * (0.6, 1.0)
  elif shape == 'arrow':
    points = np.array([(0, -1), (0.9, -0.1), (0.35, -0.1), (0.35, 1),
                       (-0.35, 1), (-0.35, -0.1), (-0.9, -0.1)])
  elif shape == 'cross':
    a = 0.34
    points = np.array([(-a, -1), (a, -1), (a, -a), (1, -a), (1, a), (a, a),
                       (a, 1), (-a, 1), (-a, a), (-1, a), (-1, -a), (-a, -a)])
  else:
    points = _crescent()
  low, high = points.min(axis=0), points.max(axis=0)
  return (points - (low + high) / 2) * (2 / (high - low).max())


_UNIT_POLYGONS = {shape: _unit_polygon(shape) for shape in LARGE_SHAPES}


@dataclasses.dataclass(frozen=True)
class Placement:
  """Where and how an object of some class is drawn, in pixels."""
  center: Tuple[float, float]
  size: float
  aspect: float
  angle: float

  def local_to_image(self) -> np.ndarray:
    """2x2 matrix taking unit-shape coordinates to image offsets."""
    c, s = np.cos(self.angle), np.sin(self.angle)
    rotation = np.array([[c, -s], [s, c]])
    scale = np.diag([self.aspect, 1 / self.aspect]) * self.size / 2
    return rotation @ scale

  def polygon(self, shape: str) -> np.ndarray:
    """Image-space vertices (K, 2), rounded to 0.01 px as stored in JSON."""
    points = _UNIT_POLYGONS[shape] @ self.local_to_image().T + self.center
    return np.round(points, 2)


def sample_placement(rng: np.random.Generator, size: float) -> Placement:
  """A random aspect in [0.8, 1.25] and rotation, centred at the origin."""
  return Placement((0.0, 0.0), float(size),
                   float(np.exp(rng.uniform(np.log(0.8), np.log(1.25)))),
                   float(rng.uniform(0, 2 * np.pi)))


def box_offsets(placement: Placement, shape: str) -> np.ndarray:
  """Returns the box of the object's polygon around its centre.

  [min_x, min_y, max_x, max_y] of the object's polygon relative to its
  centre (the rotated polygon's box is not centred on it)."""
  points = placement.polygon(shape) - placement.center
  return np.concatenate([points.min(axis=0), points.max(axis=0)])


def at_corner(placement: Placement, shape: str, x0: float,
              y0: float) -> Placement:
  """`placement` moved so that its polygon's box starts at (x0, y0)."""
  offsets = box_offsets(placement, shape)
  return dataclasses.replace(placement,
                             center=(x0 - offsets[0], y0 - offsets[1]))


def polygon_rle(polygon: np.ndarray, height: int, width: int) -> dict:
  """pycocotools RLE of a (K, 2) polygon in an image of the given size."""
  return mask_utils.frPyObjects([polygon.reshape(-1).tolist()], height,
                                width)[0]


def _background(rng: np.random.Generator, height: int,
                width: int) -> np.ndarray:
  """Gradient + cloudy noise, float32 (H, W, 3) in 0..255."""
  c0, c1 = rng.uniform(50, 205, size=(2, 3))
  theta = rng.uniform(0, 2 * np.pi)
  ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
  t = xs * np.cos(theta) + ys * np.sin(theta)
  t = (t - t.min()) / max(float(t.max() - t.min()), 1.0)
  image = c0 + t[..., None] * (c1 - c0)
  cells = rng.normal(0, 22, size=(height // 24 + 2, width // 24 + 2, 3))
  clouds = [np.asarray(Image.fromarray(cells[..., k].astype(np.float32)).resize(
      (width, height), Image.BILINEAR)) for k in range(3)]
  return (image + np.stack(clouds, axis=-1)).astype(np.float32)


def _muted_colour(rng: np.random.Generator) -> Tuple[int, int, int]:
  grey = rng.uniform(40, 215)
  return tuple(int(v) for v in grey + 0.3 * (rng.uniform(0, 255, 3) - grey))


def _draw_distractors(rng: np.random.Generator, image: np.ndarray) -> None:
  """Strokes, rings and blobs in muted colours, drawn in place."""
  height, width = image.shape[:2]
  canvas = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))
  draw = ImageDraw.Draw(canvas)
  count = int(rng.integers(3, 8) * max(1.0, height * width / 40000))
  for _ in range(count):
    kind = rng.integers(3)
    x, y = rng.uniform(0, width), rng.uniform(0, height)
    r = rng.uniform(4, max(8, min(height, width) / 5))
    colour = _muted_colour(rng)
    if kind == 0:
      steps = rng.normal(0, r / 2, size=(int(rng.integers(2, 6)), 2))
      points = [(float(px), float(py))
                for px, py in np.cumsum(steps, axis=0) + (x, y)]
      draw.line([(x, y)] + points, fill=colour,
                width=int(rng.integers(1, 4)))
    elif kind == 1:
      draw.ellipse([x - r, y - r * rng.uniform(0.4, 1), x + r, y + r],
                   outline=colour, width=int(rng.integers(1, 3)))
    else:
      angles = np.linspace(0, 2 * np.pi, 12, endpoint=False)
      radii = r * rng.uniform(0.5, 1.0, size=12)
      draw.polygon([(float(x + a * np.cos(b)), float(y + a * np.sin(b)))
                    for a, b in zip(radii, angles)], fill=colour)
  image[...] = np.asarray(canvas, dtype=np.float32)


def _texture(texture: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
  """1 where the secondary colour shows, in unit-shape coordinates."""
  if texture == 'striped':
    return (np.floor((u + 1) * 2.5) % 2).astype(np.float32)
  if texture == 'dotted':
    du, dv = (u + 1) % 0.5 - 0.25, (v + 1) % 0.5 - 0.25
    return (du * du + dv * dv < 0.15 ** 2).astype(np.float32)
  if texture == 'checkered':
    return ((np.floor((u + 1) * 2) + np.floor((v + 1) * 2)) % 2).astype(
        np.float32)
  return np.zeros_like(u)


def _paint_object(rng: np.random.Generator, image: np.ndarray,
                  object_class: ObjectClass, placement: Placement) -> None:
  """Paints the object, exactly over its polygon's rasterised mask."""
  height, width = image.shape[:2]
  polygon = placement.polygon(object_class.shape)
  mask = mask_utils.decode(polygon_rle(polygon, height, width)).astype(bool)
  ys, xs = np.nonzero(mask)
  if not len(ys):
    return
  offsets = np.stack([xs + 0.5, ys + 0.5], axis=1) - placement.center
  u, v = (offsets @ np.linalg.inv(placement.local_to_image()).T).T
  base = np.array(object_class.rgb, np.float32) * rng.uniform(0.85, 1.1)
  base = base + rng.normal(0, 12, size=3)
  second = base * 0.3 + 15
  t = _texture(object_class.texture, u, v)[:, None]
  image[ys, xs] = base * (1 - t) + second * t


def render(rng: np.random.Generator, height: int, width: int,
           objects: Sequence[Tuple[ObjectClass, Placement]]) -> np.ndarray:
  """A uint8 (H, W, 3) image of `objects` over a cluttered background."""
  image = _background(rng, height, width)
  _draw_distractors(rng, image)
  for object_class, placement in objects:
    _paint_object(rng, image, object_class, placement)
  image += rng.normal(0, rng.uniform(2, 7), size=image.shape)
  return np.clip(np.round(image), 0, 255).astype(np.uint8)


def encode_jpeg(image: np.ndarray) -> bytes:
  """JPEG bytes at quality 95 (Model Garden's parsers decode JPEG)."""
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format='JPEG', quality=JPEG_QUALITY)
  return buffer.getvalue()


def classification_image(rng: np.random.Generator, object_class: ObjectClass,
                         size: int = 64) -> np.ndarray:
  """One object filling most of a `size` x `size` cluttered image."""
  placement = sample_placement(rng, size * rng.uniform(0.7, 0.92))
  offsets = box_offsets(placement, object_class.shape)
  scale = min(1.0, (size - 2) / float((offsets[2:] - offsets[:2]).max()))
  placement = dataclasses.replace(placement, size=placement.size * scale)
  w, h = (offsets[2:] - offsets[:2]) * scale
  x0 = 1 + rng.uniform(0, max(0.0, size - 2 - w))
  y0 = 1 + rng.uniform(0, max(0.0, size - 2 - h))
  placement = at_corner(placement, object_class.shape, x0, y0)
  return render(rng, size, size, [(object_class, placement)])


def _free_spot(rng: np.random.Generator, boxes: List[Tuple[float, ...]],
               w: float, h: float, height: int, width: int, margin: float,
               attempts: int) -> Optional[Tuple[float, float]]:
  """Finds a free spot for a w x h box among `boxes`.

  A random top-left corner where a w x h box keeps `margin` from `boxes`
  and the border (the box is then added to `boxes`), or None."""
  if w + 2 * margin > width or h + 2 * margin > height:
    return None
  for _ in range(attempts):
    x0 = rng.uniform(margin, width - margin - w)
    y0 = rng.uniform(margin, height - margin - h)
    box = (x0 - margin, y0 - margin, x0 + w + margin, y0 + h + margin)
    if all(box[0] >= b[2] or box[2] <= b[0] or box[1] >= b[3] or
           box[3] <= b[1] for b in boxes):
      boxes.append(box)
      return x0, y0
  return None


def pack_boxes(rng: np.random.Generator, height: int, width: int,
               extents: Sequence[Tuple[float, float]],
               min_side: float = 12.0,
               margin: float = 3.0,
               attempts: int = 30) -> List[Tuple[int, float, float, float]]:
  """Rejection-samples non-overlapping positions for boxes of `extents`.

  Boxes are tried in the given order, `attempts` random positions each, at
  least `margin` pixels apart and from the border; a box that does not fit
  is shrunk by 0.8 and tried again unless its shorter side would fall below
  `min_side`. Returns (index into `extents`, x0, y0, scale) per box placed.
  """
  placed, boxes = [], []
  for index, (w, h) in enumerate(extents):
    scale = 1.0
    while True:
      spot = _free_spot(rng, boxes, w * scale, h * scale, height, width,
                        margin, attempts)
      if spot is not None:
        placed.append((index, *spot, scale))
        break
      if min(w, h) * scale * 0.8 < min_side:
        break
      scale *= 0.8
  return placed
