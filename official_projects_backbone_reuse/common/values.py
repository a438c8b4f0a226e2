"""What counts as a number in a user's JSON or YAML.

JSON `true` is a bool in Python and so an int, and a string never is
one; every check of a value read from a file asks here."""
import math


def is_integer(value) -> bool:
  """An int, not a bool."""
  return isinstance(value, int) and not isinstance(value, bool)


def is_number(value) -> bool:
  """A finite int or float, not a bool."""
  return is_integer(value) or (isinstance(value, float) and
                               math.isfinite(value))
